import CopsLinkMessages
import CopsLinkCore
import Foundation
import Testing

/// A small deterministic generator (SplitMix64), so that random inputs are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Vectors {
    /// The bytes `protoc --encode` produced for `Vectors/<name>.bin` (see scripts/make-test-vectors).
    static func bytes(_ name: String) throws -> [UInt8] {
        let directory = try #require(Bundle.module.url(forResource: "Vectors", withExtension: nil))
        return Array(try Data(contentsOf: directory.appendingPathComponent("\(name).bin")))
    }
}

/// Decodes `bytes` as `T`; for tests whose input must be valid.
func decode<T: RPCMessage>(_ type: T.Type, _ bytes: [UInt8]) throws(RPCError) -> T {
    try T(from: bytes)
}

/// Encodes then decodes `value`.
func roundTrip<T: RPCMessage>(_ value: T) throws(RPCError) -> T {
    try T(from: value.serializedBytes())
}

extension Array where Element == UInt8 {
    var hex: String { map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ") }
}

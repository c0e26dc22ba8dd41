import CopsLinkCore
import CopsLinkMessages
import Foundation
import Testing

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
    var hex: String {
        map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
    }
}

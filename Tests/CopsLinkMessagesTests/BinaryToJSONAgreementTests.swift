import CopsLinkCore
import Testing

@testable import CopsLinkMessages

/// The binary → JSON transcoder agrees byte for byte with `ReferenceBinaryToJSON`, the version it replaced: on every
/// message of proto/ with every field set, with fields out of order, repeated and merged, and on damaged bytes, where
/// both must refuse with the same error.
@Suite struct BinaryToJSONAgreementTests {
    static let optionSets = [
        ProtoJSON.Options(), ProtoJSON.Options(protoFieldNames: true), ProtoJSON.Options(defaultValues: true),
        ProtoJSON.Options(protoFieldNames: true, defaultValues: true)
    ]

    /// Both transcoders' answers for `bytes`: the JSON text, or the error.
    static func both(
        _ bytes: [UInt8], _ name: String, _ options: ProtoJSON.Options
    ) -> (new: Result<[UInt8], ProtoJSONError>, reference: Result<[UInt8], ProtoJSONError>) {
        let new = Result { () throws(ProtoJSONError) in try ProtoJSON.json(fromBinary: bytes, messageName: name, options: options) }
        let reference = Result { () throws(ProtoJSONError) -> [UInt8] in
            guard let schema = ProtoSchema.message(name) else { throw ProtoJSONError("no message named \(name)") }
            var writer = JSONWriter()
            try ReferenceBinaryToJSON(options: options).write(bytes[...], schema, into: &writer, depth: 0)
            return writer.bytes
        }
        return (new, reference)
    }

    static func expectAgreement(_ bytes: [UInt8], _ name: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for options in optionSets {
            let (new, reference) = both(bytes, name, options)
            #expect(new == reference, "\(name) \(what) \(options)", sourceLocation: sourceLocation)
        }
    }

    /// The top-level fields of `bytes`, each with its tag, as they lie on the wire.
    static func wireFields(_ bytes: [UInt8]) throws -> [[UInt8]] {
        try bytes.withUnsafeBytes { buffer in
            var reader = WireBytesReader(buffer)
            var fields: [[UInt8]] = []
            var start = reader.offset
            while let (_, wireType) = try reader.nextTag() {
                _ = try reader.value(wireType)
                fields.append(Array(bytes[start..<reader.offset]))
                start = reader.offset
            }
            return fields
        }
    }

    @Test(arguments: AccountCodecTests.samples)
    func everyMessageWithEveryFieldSet(_ sample: AnyAccountMessage) throws {
        let name = type(of: sample.value).protoName
        Self.expectAgreement(try sample.value.serializedBytes(), name, "as encoded")
    }

    @Test(arguments: AccountCodecTests.samples)
    func fieldsOutOfOrderRepeatedAndDamaged(_ sample: AnyAccountMessage) throws {
        let name = type(of: sample.value).protoName
        let bytes = try sample.value.serializedBytes()
        let fields = try Self.wireFields(bytes)
        var random = SplitMix64(seed: UInt64(bytes.count))
        // Reversed and shuffled: the counting sort puts them back in declaration order, repeated values in wire order.
        Self.expectAgreement(fields.reversed().flatMap { $0 }, name, "reversed")
        for round in 0..<3 { Self.expectAgreement(fields.shuffled(using: &random).flatMap { $0 }, name, "shuffled \(round)") }
        // Every field twice: singular scalars take the last, message fields merge, repeated fields double.
        Self.expectAgreement(bytes + fields.reversed().flatMap { $0 }, name, "twice")
        // Damaged: cut short, a byte changed, a byte dropped.
        for round in 0..<40 where !bytes.isEmpty {
            var damaged = bytes
            let position = Int.random(in: 0..<damaged.count, using: &random)
            switch round % 3 {
            case 0: damaged.removeLast(damaged.count - position)
            case 1: damaged[position] = UInt8.random(in: 0...255, using: &random)
            default: damaged.remove(at: position)
            }
            Self.expectAgreement(damaged, name, "damaged \(round)")
        }
    }

    @Test func hostileShapesAgreeToo() {
        // An unknown wire type; a varint of 11 bytes; a field number of 0; a string that is UTF-8 and one cut inside a
        // character; a length past the end.
        let shapes: [([UInt8], String)] = [
            ([0x0F], Account.protoName), ([0x0A, 0x7F, 0x41], GetAccountRequest.protoName),
            (Array(repeating: 0xFF, count: 10) + [0x01], Account.protoName), ([0x00, 0x00], Account.protoName),
            ([0x0A, 0x03, 0xE2, 0x82, 0xAC], GetAccountRequest.protoName), ([0x0A, 0x02, 0xE2, 0x82], GetAccountRequest.protoName)
        ]
        for (bytes, name) in shapes {
            Self.expectAgreement(bytes, name, "hostile \(bytes.prefix(12))")
        }
    }
}

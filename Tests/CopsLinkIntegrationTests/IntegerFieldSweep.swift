import CCopsLinkProtos
import CProtobufC

/// The integer fields a message can carry, read from its protobuf-c descriptor (nested messages included), and the
/// extreme values of each field's type as protobuf bytes. Driven by the descriptors, so a field added to a `.proto`
/// later is swept without touching the tests.
struct IntegerField: CustomStringConvertible, Sendable {
    /// The message fields enclosing this one, outermost first: field number and the enclosed message's proto name.
    var enclosing: [(number: UInt32, messageName: String)]
    var number: UInt32
    var kind: IntegerKind
    /// Dotted proto field path from the top message, e.g. `responding_parties.priority`.
    var path: String

    var description: String { "\(path) (\(kind.rawValue))" }

    /// `(label, bytes)` per swept value: the encoding of this one field set to the value, wrapped in its enclosing
    /// sub-messages. `templates` gives bytes put in front of a sub-message's own field (a valid sub-message, so that
    /// the request gets past validation); protobuf's last-one-wins lets the swept field override the template's.
    func encodings(templates: [String: [UInt8]] = [:]) -> [(label: String, bytes: [UInt8])] {
        kind.values.map { label, wireType, payload in
            var bytes = ProtobufBytes.tag(number, wireType) + payload
            for (number, messageName) in enclosing.reversed() {
                let content = (templates[messageName] ?? []) + bytes
                bytes = ProtobufBytes.tag(number, 2) + ProtobufBytes.varint(UInt64(content.count)) + content
            }
            return ("\(path)=\(label)", bytes)
        }
    }

    /// Every integer field of `descriptor` and of the messages it contains (to `maximumDepth`; a recursive schema
    /// would stop there).
    static func all(in descriptor: UnsafePointer<ProtobufCMessageDescriptor>, maximumDepth: Int = 6) -> [IntegerField] {
        var found: [IntegerField] = []
        collect(descriptor, enclosing: [], prefix: "", depth: 0, maximumDepth: maximumDepth, into: &found)
        return found
    }

    private static func collect(
        _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, enclosing: [(number: UInt32, messageName: String)],
        prefix: String, depth: Int, maximumDepth: Int, into found: inout [IntegerField]
    ) {
        let fields = UnsafeBufferPointer(start: descriptor.pointee.fields, count: Int(descriptor.pointee.n_fields))
        for field in fields {
            let name = prefix + String(cString: field.name)
            if let kind = IntegerKind(field.type) {
                found.append(IntegerField(enclosing: enclosing, number: field.id, kind: kind, path: name))
            } else if field.type == PROTOBUF_C_TYPE_MESSAGE, depth < maximumDepth {
                let nested = field.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
                collect(
                    nested, enclosing: enclosing + [(field.id, String(cString: nested.pointee.name))], prefix: name + ".",
                    depth: depth + 1, maximumDepth: maximumDepth, into: &found)
            }
        }
    }
}

/// The protobuf integer types, enums as int32.
enum IntegerKind: String, Sendable {
    case int32, int64, uint32, uint64, sint32, sint64, fixed32, fixed64, sfixed32, sfixed64
    case enumeration = "enum"

    init?(_ type: ProtobufCType) {
        switch type {
        case PROTOBUF_C_TYPE_INT32: self = .int32
        case PROTOBUF_C_TYPE_INT64: self = .int64
        case PROTOBUF_C_TYPE_UINT32: self = .uint32
        case PROTOBUF_C_TYPE_UINT64: self = .uint64
        case PROTOBUF_C_TYPE_SINT32: self = .sint32
        case PROTOBUF_C_TYPE_SINT64: self = .sint64
        case PROTOBUF_C_TYPE_FIXED32: self = .fixed32
        case PROTOBUF_C_TYPE_FIXED64: self = .fixed64
        case PROTOBUF_C_TYPE_SFIXED32: self = .sfixed32
        case PROTOBUF_C_TYPE_SFIXED64: self = .sfixed64
        case PROTOBUF_C_TYPE_ENUM: self = .enumeration
        default: return nil
        }
    }

    /// min, max, −1, 0 and 1 of the type; for unsigned types 0, 1 and max, the 64-bit pattern of −1, and 2^63 and
    /// 2^63−1 (the edges of a conversion to Int64). As `(label, wire type, payload)`.
    var values: [(String, UInt64, [UInt8])] {
        typealias P = ProtobufBytes
        func signed32(_ encode: (Int32) -> (UInt64, [UInt8])) -> [(String, UInt64, [UInt8])] {
            [Int32.min, .max, -1, 0, 1].map {
                let (wire, bytes) = encode($0)
                return ("\($0)", wire, bytes)
            }
        }
        func signed64(_ encode: (Int64) -> (UInt64, [UInt8])) -> [(String, UInt64, [UInt8])] {
            [Int64.min, .max, -1, 0, 1].map {
                let (wire, bytes) = encode($0)
                return ("\($0)", wire, bytes)
            }
        }
        let unsigned64: [UInt64] = [0, 1, .max, 1 << 63, UInt64(Int64.max)]
        switch self {
        case .int32, .enumeration: return signed32 { (0, P.varint(UInt64(bitPattern: Int64($0)))) }
        case .int64: return signed64 { (0, P.varint(UInt64(bitPattern: $0))) }
        case .sint32: return signed32 { (0, P.varint(UInt64(UInt32(bitPattern: ($0 << 1) ^ ($0 >> 31))))) }
        case .sint64: return signed64 { (0, P.varint(UInt64(bitPattern: ($0 << 1) ^ ($0 >> 63)))) }
        case .sfixed32: return signed32 { (5, P.littleEndian(UInt32(bitPattern: $0))) }
        case .sfixed64: return signed64 { (1, P.littleEndian(UInt64(bitPattern: $0))) }
        case .uint32:
            return [UInt32(0), 1, .max, 1 << 31].map { ("\($0)", 0, P.varint(UInt64($0))) }
                + [("-1 (64-bit varint)", 0, P.varint(.max))]
        case .uint64: return unsigned64.map { ("\($0)", 0, P.varint($0)) }
        case .fixed32: return [UInt32(0), 1, .max, 1 << 31].map { ("\($0)", 5, P.littleEndian($0)) }
        case .fixed64: return unsigned64.map { ("\($0)", 1, P.littleEndian($0)) }
        }
    }
}

/// Hand encoding of the few protobuf pieces the sweeps need.
enum ProtobufBytes {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }

    static func tag(_ number: UInt32, _ wireType: UInt64) -> [UInt8] { varint(UInt64(number) << 3 | wireType) }

    static func littleEndian(_ value: some FixedWidthInteger) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    /// A length-delimited field (string, bytes or sub-message).
    static func field(_ number: UInt32, _ content: [UInt8]) -> [UInt8] {
        tag(number, 2) + varint(UInt64(content.count)) + content
    }

    static func field(_ number: UInt32, _ text: String) -> [UInt8] { field(number, Array(text.utf8)) }

    static func field(_ number: UInt32, varint value: UInt64) -> [UInt8] { tag(number, 0) + varint(value) }
}

/// The protobuf wire format as the JSON transcoder reads and writes it.
enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

extension ProtoFieldSchema.Kind {
    /// The wire type of one value (packed repeated fields wrap these in one length-delimited value).
    var wireType: WireType {
        switch self {
        case .bool, .int32, .int64, .uint32, .uint64, .sint32, .sint64, .enumeration: .varint
        case .fixed32, .sfixed32, .float: .fixed32
        case .fixed64, .sfixed64, .double: .fixed64
        case .string, .bytes, .message: .lengthDelimited
        }
    }

    /// Scalars are packed when repeated (proto3's default).
    var isPackable: Bool { wireType != .lengthDelimited }
}

/// Writes tags and values.
extension [UInt8] {
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        append(UInt8(value))
    }

    mutating func appendTag(_ number: UInt32, _ wireType: WireType) {
        appendVarint(UInt64(number) << 3 | UInt64(wireType.rawValue))
    }

    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var value = value.littleEndian
        Swift.withUnsafeBytes(of: &value) { append(contentsOf: $0) }
    }
}

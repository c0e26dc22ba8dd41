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

/// One field value as it came off the wire.
enum RawValue {
    case varint(UInt64)
    case fixed32(UInt32)
    case fixed64(UInt64)
    case bytes(ArraySlice<UInt8>)

    var isDefault: Bool {
        switch self {
        case .varint(let value): value == 0
        case .fixed32(let value): value == 0
        case .fixed64(let value): value == 0
        case .bytes(let bytes): bytes.isEmpty
        }
    }
}

/// Reads tags and values with every length checked against what is left.
struct WireReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    var atEnd: Bool { index >= bytes.endIndex }

    mutating func nextTag() throws(ProtoJSONError) -> (number: UInt32, wireType: UInt8)? {
        guard !atEnd else { return nil }
        let tag = try varint()
        let number = tag >> 3
        guard number > 0, number <= 536_870_911 else { throw ProtoJSONError("malformed protobuf: field number \(number)") }
        return (UInt32(number), UInt8(tag & 7))
    }

    mutating func value(_ wireType: UInt8) throws(ProtoJSONError) -> RawValue {
        switch WireType(rawValue: wireType) {
        case .varint: return .varint(try varint())
        case .fixed32:
            guard bytes.endIndex - index >= 4 else { throw truncated }
            var value: UInt32 = 0
            for shift in 0..<4 { value |= UInt32(bytes[index + shift]) << (8 * shift) }
            index += 4
            return .fixed32(value)
        case .fixed64:
            guard bytes.endIndex - index >= 8 else { throw truncated }
            var value: UInt64 = 0
            for shift in 0..<8 { value |= UInt64(bytes[index + shift]) << (8 * shift) }
            index += 8
            return .fixed64(value)
        case .lengthDelimited:
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - index) else { throw truncated }
            let start = index
            index += Int(length)
            return .bytes(bytes[start..<index])
        case nil: throw ProtoJSONError("malformed protobuf: wire type \(wireType)")
        }
    }

    mutating func varint() throws(ProtoJSONError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard index < bytes.endIndex else { throw truncated }
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw ProtoJSONError("malformed protobuf: a varint longer than 10 bytes")
    }

    private var truncated: ProtoJSONError { ProtoJSONError("malformed protobuf: truncated") }
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

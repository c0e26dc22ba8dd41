/// Reads protobuf wire format: enough to walk a FileDescriptorSet (varints, length-delimited fields, and skipping
/// fixed32/fixed64). The input is protoc's output for our own proto/, not a client's, but a malformed file still
/// ends in an error rather than a trap.
struct ProtobufReader {
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    struct Field {
        let number: Int
        let wireType: WireType
        /// The value of a varint field.
        let varint: UInt64
        /// The bytes of a length-delimited field.
        let bytes: ArraySlice<UInt8>

        var string: String { String(decoding: bytes, as: UTF8.self) }
        var bool: Bool { varint != 0 }
        var int: Int { Int(truncatingIfNeeded: varint) }
    }

    struct MalformedInput: Error, CustomStringConvertible {
        let description: String
    }

    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    /// Every field of the message, in wire order.
    static func fields(of bytes: ArraySlice<UInt8>) throws -> [Field] {
        var reader = ProtobufReader(bytes)
        var fields: [Field] = []
        while let field = try reader.next() { fields.append(field) }
        return fields
    }

    /// The values of a packed (or unpacked) repeated varint field.
    static func packedVarints(_ field: Field) throws -> [UInt64] {
        guard field.wireType == .lengthDelimited else { return [field.varint] }
        var reader = ProtobufReader(field.bytes)
        var values: [UInt64] = []
        while !reader.atEnd { values.append(try reader.readVarint()) }
        return values
    }

    private var atEnd: Bool { index >= bytes.endIndex }

    private mutating func next() throws -> Field? {
        guard !atEnd else { return nil }
        let key = try readVarint()
        guard let wireType = WireType(rawValue: UInt8(key & 7)), key >> 3 > 0, key >> 3 <= 536_870_911 else {
            throw MalformedInput(description: "bad field key \(key) at byte \(index)")
        }
        let number = Int(key >> 3)
        switch wireType {
        case .varint:
            return Field(number: number, wireType: wireType, varint: try readVarint(), bytes: [])
        case .fixed64:
            return Field(number: number, wireType: wireType, varint: 0, bytes: try take(8))
        case .fixed32:
            return Field(number: number, wireType: wireType, varint: 0, bytes: try take(4))
        case .lengthDelimited:
            let length = try readVarint()
            guard length <= UInt64(bytes.endIndex - index) else {
                throw MalformedInput(description: "field \(number) claims \(length) bytes past the end")
            }
            return Field(number: number, wireType: wireType, varint: 0, bytes: try take(Int(length)))
        }
    }

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count <= bytes.endIndex - index else { throw MalformedInput(description: "truncated field at byte \(index)") }
        defer { index += count }
        return bytes[index..<index + count]
    }

    private mutating func readVarint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while !atEnd, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw MalformedInput(description: "truncated or overlong varint at byte \(index)")
    }
}

/// Protobuf's encoding of one length-delimited field (wire type 2): the tag, the length as a varint, the bytes.
///
/// A repeated message field is one of these per element, so a message whose elements are already encoded (rows a
/// store keeps in wire form) is built by appending them, without decoding them into messages and encoding again.
/// Everything else is encoded by the codecs.
public enum LengthDelimitedField {
    /// Appends field `fieldNumber` holding `bytes` to `buffer`.
    @inlinable
    public static func append(fieldNumber: UInt32, _ bytes: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        appendVarint(UInt64(fieldNumber) << 3 | 2, to: &buffer)
        appendVarint(UInt64(bytes.count), to: &buffer)
        buffer.append(contentsOf: bytes)
    }

    /// The bytes `append` writes for `count` bytes of field `fieldNumber`.
    @inlinable
    public static func encodedSize(fieldNumber: UInt32, count: Int) -> Int {
        varintSize(UInt64(fieldNumber) << 3 | 2) + varintSize(UInt64(count)) + count
    }

    @inlinable
    static func appendVarint(_ value: UInt64, to buffer: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        buffer.append(UInt8(truncatingIfNeeded: rest))
    }

    @inlinable
    static func varintSize(_ value: UInt64) -> Int {
        // 7 bits a byte; 0 takes one byte.
        (64 - (value | 1).leadingZeroBitCount + 6) / 7
    }
}

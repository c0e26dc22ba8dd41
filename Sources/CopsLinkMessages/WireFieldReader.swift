/// Reading protobuf's wire format a field at a time, without decoding: the keys, varints and lengths that walks over
/// encoded messages need (`ReceivedStrings`; `AccountPage.replaceAuthorities` in the account service). Each function
/// moves `cursor` past what it read and never reads at or past `end`.
public enum WireFieldReader {
    /// A base-128 varint of at most 10 bytes; nil if it runs past `end` or is longer.
    public static func readVarint(_ cursor: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while cursor < end, shift < 70 {
            let byte = cursor.pointee
            cursor += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }

    /// A length-delimited value (wire type 2); nil if it runs past `end`.
    public static func readLengthDelimited(
        _ cursor: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>
    ) -> UnsafeBufferPointer<UInt8>? {
        guard let length = readVarint(&cursor, end), length <= UInt64(end - cursor) else { return nil }
        let value = UnsafeBufferPointer(start: cursor, count: Int(length))
        cursor += Int(length)
        return value
    }

    /// Moves past a varint, 64-bit or 32-bit value (wire types 0, 1, 5); false if it runs past `end` or the wire type
    /// is another.
    public static func skipScalar(wireType: UInt64, _ cursor: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Bool {
        switch wireType {
        case 0: return readVarint(&cursor, end) != nil
        case 1, 5:
            let size = wireType == 1 ? 8 : 4
            guard end - cursor >= size else { return false }
            cursor += size
            return true
        default: return false
        }
    }

    /// Moves past the value of a field of `wireType` (0, 1, 2 or 5); false if it runs past `end` or the wire type is
    /// another (groups included).
    public static func skipValue(wireType: UInt64, _ cursor: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Bool {
        wireType == 2 ? readLengthDelimited(&cursor, end) != nil : skipScalar(wireType: wireType, &cursor, end)
    }
}

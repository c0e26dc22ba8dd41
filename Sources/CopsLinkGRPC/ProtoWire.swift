import CopsLinkCore

/// The protobuf wire format, as much as the messages CopsLinkGRPC handles itself need (reflection): varints and
/// length-delimited fields. Reading is bounds-checked: malformed bytes are INVALID_ARGUMENT, never a trap.
struct ProtoWireReader {
    enum Value {
        case varint(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed
    }

    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    /// The next field, nil at the end.
    mutating func next() throws(RPCError) -> (number: UInt64, value: Value)? {
        guard index < bytes.endIndex else { return nil }
        let tag = try varint()
        let number = tag >> 3
        guard number > 0 else { throw Self.malformed("a field number 0") }
        switch tag & 7 {
        case 0: return (number, .varint(try varint()))
        case 1: try skip(8)
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - index) else { throw Self.malformed("a length past the end") }
            let start = index
            index += Int(length)
            return (number, .bytes(bytes[start..<index]))
        case 5: try skip(4)
        default: throw Self.malformed("wire type \(tag & 7)")
        }
        return (number, .fixed)
    }

    private mutating func skip(_ count: Int) throws(RPCError) {
        guard bytes.endIndex - index >= count else { throw Self.malformed("a fixed-size value past the end") }
        index += count
    }

    private mutating func varint() throws(RPCError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw Self.malformed("a truncated or overlong varint")
    }

    private static func malformed(_ what: String) -> RPCError {
        RPCError(code: .invalidArgument, message: "the request message is not valid protobuf: \(what)")
    }
}

/// Writes protobuf fields into `bytes`.
struct ProtoWire {
    var bytes: [UInt8] = []

    mutating func varint(_ number: UInt32, _ value: UInt64) {
        appendVarint(UInt64(number) << 3)
        appendVarint(value)
    }

    mutating func bytes(_ number: UInt32, _ value: some Collection<UInt8>) {
        appendVarint(UInt64(number) << 3 | 2)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A string field, left out when empty (proto3).
    mutating func string(_ number: UInt32, _ value: String) {
        if !value.isEmpty { bytes(number, Array(value.utf8)) }
    }

    mutating func repeatedBytes(_ number: UInt32, _ values: [[UInt8]]) {
        for value in values { bytes(number, value) }
    }

    /// A nested message written by `body`.
    mutating func message(_ number: UInt32, _ body: (inout ProtoWire) -> Void) {
        var inner = ProtoWire()
        body(&inner)
        bytes(number, inner.bytes)
    }

    private mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}

import CCopsLinkProtos
import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds a `string` field that protobuf-c would not keep as it was sent.
///
/// protobuf-c holds a `string` as a NUL-terminated C string and does not check UTF-8: a value containing U+0000 is
/// cut at it, and invalid UTF-8 is repaired when read into Swift. A server that decoded such a request would act on
/// a value its client never sent (`GetAccount` of "cust-1\0x" reads "cust-1"). So the server checks the wire bytes
/// of every request it receives, in one pass guided by the message's protobuf-c descriptor, and refuses such a
/// request. Bytes that are not well-formed protobuf stop the walk without a finding: unpack reports them.
enum ReceivedStrings {
    /// Message nesting the walk follows; deeper sub-messages are not looked into (no message of proto/ nests this
    /// deep, and protobuf-c would unpack them all the same).
    static let maximumDepth = 32

    /// What is wrong with one string value, and where.
    struct Finding {
        enum Kind {
            case nul
            case invalidUTF8
        }

        var kind: Kind
        /// Byte offset of the first offending byte within the value.
        var offset: Int
        /// Field names from the top-level message down, with indices for repeated fields.
        var path: [String]

        var description: String {
            let field = path.joined(separator: ".")
            switch kind {
            case .nul:
                return "\(field) contains U+0000 (at byte \(offset) of its value), which this server's protobuf strings cannot hold"
            case .invalidUTF8:
                return "\(field) is not valid UTF-8 (at byte \(offset) of its value); protobuf strings must be UTF-8"
            }
        }
    }

    /// The first string field of `bytes`, a message of `descriptor`, that protobuf-c would change; nil if none.
    static func firstFinding(
        in bytes: UnsafeRawBufferPointer, descriptor: UnsafePointer<ProtobufCMessageDescriptor>
    ) -> Finding? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
        let start = base.assumingMemoryBound(to: UInt8.self)
        guard var finding = walk(start, start + bytes.count, descriptor, depth: 0) else { return nil }
        finding.path.reverse()
        return finding
    }

    /// Walks one message's fields; the finding's path is built leaf first.
    private static func walk(
        _ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        depth: Int
    ) -> Finding? {
        var cursor = start
        while cursor < end {
            let fieldStart = cursor
            guard let key = WireFieldReader.readVarint(&cursor, end), key >> 3 <= UInt64(UInt32.max) else { return nil }
            switch key & 7 {
            case 2:
                guard let value = WireFieldReader.readLengthDelimited(&cursor, end) else { return nil }
                let number = UInt32(key >> 3)
                guard let field = protobuf_c_message_descriptor_get_field(descriptor, number) else { continue }
                var finding: Finding
                switch field.pointee.type {
                case PROTOBUF_C_TYPE_STRING:
                    guard let found = check(UnsafeRawBufferPointer(value)) else { continue }
                    finding = found
                case PROTOBUF_C_TYPE_MESSAGE:
                    guard depth < maximumDepth, let nested = field.pointee.descriptor, let nestedStart = value.baseAddress,
                        let found = walk(
                            nestedStart, cursor, nested.assumingMemoryBound(to: ProtobufCMessageDescriptor.self), depth: depth + 1)
                    else { continue }
                    finding = found
                default:
                    continue
                }
                var name = String(cString: field.pointee.name)
                if field.pointee.label == PROTOBUF_C_LABEL_REPEATED {
                    name += "[\(occurrences(of: number, from: start, to: fieldStart))]"
                }
                finding.path.append(name)
                return finding
            case let wireType:
                // Groups and invalid wire types stop the walk too: unpack refuses them.
                guard WireFieldReader.skipScalar(wireType: wireType, &cursor, end) else { return nil }
            }
        }
        return nil
    }

    /// Checks one string value: no NUL, valid UTF-8.
    static func check(_ value: UnsafeRawBufferPointer) -> Finding? {
        guard let base = value.baseAddress, !value.isEmpty else { return nil }
        if let nul = memchr(base, 0, value.count) {
            return Finding(kind: .nul, offset: base.distance(to: UnsafeRawPointer(nul)), path: [])
        }
        do {
            _ = try UTF8Span(validating: value.assumingMemoryBound(to: UInt8.self).span)
            return nil
        } catch {
            return Finding(kind: .invalidUTF8, offset: error.byteOffsets.lowerBound, path: [])
        }
    }

    /// How many fields numbered `number` come before `limit` in a message that starts at `start` (only called for a
    /// finding, whose message was well formed up to it).
    private static func occurrences(of number: UInt32, from start: UnsafePointer<UInt8>, to limit: UnsafePointer<UInt8>) -> Int {
        var cursor = start
        var count = 0
        while cursor < limit, let key = WireFieldReader.readVarint(&cursor, limit) {
            if key >> 3 == UInt64(number) { count += 1 }
            guard WireFieldReader.skipValue(wireType: key & 7, &cursor, limit) else { return count }
        }
        return count
    }
}

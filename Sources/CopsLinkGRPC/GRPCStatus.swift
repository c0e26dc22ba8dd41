public import CopsLinkCore

/// `grpc-status` and `grpc-message` as gRPC's PROTOCOL-HTTP2 writes them: the status as a decimal number (the same 17
/// codes as the native protocol), the message percent-encoded (every byte outside 0x20...0x7E, and `%` itself, as
/// `%XX` of its UTF-8).
public enum GRPCStatus {
    public static func percentEncoded(_ message: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in message.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The message a peer percent-encoded; a `%` not followed by two hex digits stays as it is (as the spec asks).
    public static func percentDecoded(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
                let low = hexValue(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The trailer fields of a final status: `grpc-status`, `grpc-message` (when there is one) and the metadata,
    /// `-bin` values in base64.
    public static func trailerFields(code: StatusCode, message: String, metadata: Metadata) -> [(String, String)] {
        var fields = [("grpc-status", String(code.rawValue))]
        if !message.isEmpty { fields.append(("grpc-message", percentEncoded(message))) }
        fields += GRPCMetadata.fields(metadata)
        return fields
    }
}

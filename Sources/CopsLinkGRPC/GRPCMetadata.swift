public import CopsLinkCore
import CopsLinkMessages

/// Request headers as call metadata and metadata as response fields. Pseudo-headers, `te`, `content-type` and the
/// `grpc-` fields gRPC reserves are the protocol's, not the call's; `-bin` values are base64 (padded or not).
public enum GRPCMetadata {
    public static func metadata(_ fields: some Sequence<(String, String)>) throws(RPCError) -> Metadata {
        var metadata = Metadata()
        for (name, value) in fields {
            if name.hasPrefix(":") || name.hasPrefix("grpc-") || name == "te" || name == "content-type" { continue }
            if name.hasSuffix("-bin") {
                guard let bytes = decodeBase64(value) else {
                    throw RPCError(code: .invalidArgument, message: "header \(ClientText.excerpt(name)) ends in -bin but is not base64")
                }
                metadata.add(name, binary: bytes)
            } else {
                metadata.add(name, value)
            }
        }
        return metadata
    }

    /// gRPC lets senders leave out base64's padding; `Base64.decode` wants it.
    static func decodeBase64(_ text: String) -> [UInt8]? {
        let remainder = text.utf8.count % 4
        guard remainder != 1 else { return nil }
        return Base64.decode(remainder == 0 ? text : text + String(repeating: "=", count: 4 - remainder))
    }

    public static func fields(_ metadata: Metadata) -> [(String, String)] {
        metadata.map { entry in
            switch entry.value {
            case .text(let text): return (entry.key, text)
            case .binary(let bytes):
                var writer = JSONWriter()
                Base64.encode(bytes, into: &writer)
                return (entry.key, String(decoding: writer.bytes, as: UTF8.self))
            }
        }
    }
}

import CopsLinkCore
import CopsLinkMessages
import NIOHTTP1

/// Request headers as call metadata, and metadata as response headers: names lower-cased, `-bin` values in base64
/// (as gRPC carries them), HTTP's own headers left out. `grpc-timeout` (gRPC's syntax: up to 8 digits and a unit
/// H, M, S, m, u or n) is the call's deadline.
enum HTTPJSONMetadata {
    /// Headers about the HTTP exchange itself, not the call.
    static let transportHeaders: Set<String> = [
        "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "content-length", "content-type", "content-encoding", "accept", "accept-encoding", "expect", "grpc-timeout"
    ]

    static func parse(_ headers: HTTPHeaders) throws(RPCError) -> (Metadata, Duration?) {
        var metadata = Metadata()
        var timeout: Duration?
        for (name, value) in headers {
            let key = name.lowercased()
            if key == "grpc-timeout" {
                guard let parsed = parseTimeout(value) else {
                    throw RPCError(
                        code: .invalidArgument,
                        message: "grpc-timeout '\(ClientText.excerpt(value))' must be 1 to 8 digits and a unit (H, M, S, m, u, n)")
                }
                timeout = parsed
                continue
            }
            if transportHeaders.contains(key) { continue }
            if key.hasSuffix("-bin") {
                guard let bytes = Base64.decode(value) else {
                    throw RPCError(code: .invalidArgument, message: "header \(ClientText.excerpt(key)) ends in -bin but is not base64")
                }
                metadata.add(key, binary: bytes)
            } else {
                metadata.add(key, value)
            }
        }
        return (metadata, timeout)
    }

    static func headers(_ metadata: Metadata) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for entry in metadata {
            switch entry.value {
            case .text(let text): headers.add(name: entry.key, value: text)
            case .binary(let bytes):
                var writer = JSONWriter()
                Base64.encode(bytes, into: &writer)
                headers.add(name: entry.key, value: String(decoding: writer.bytes, as: UTF8.self))
            }
        }
        return headers
    }

    static func parseTimeout(_ value: String) -> Duration? {
        let utf8 = Array(value.utf8)
        guard utf8.count >= 2, utf8.count <= 9, let unit = utf8.last else { return nil }
        var amount: Int64 = 0
        for digit in utf8.dropLast() {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(digit - UInt8(ascii: "0"))  // at most 8 digits: no overflow
        }
        switch unit {
        case UInt8(ascii: "H"): return .seconds(amount * 3600)
        case UInt8(ascii: "M"): return .seconds(amount * 60)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        default: return nil
        }
    }
}

/// `grpc-timeout`'s syntax (up to 8 digits and a unit H, M, S, m, u or n), shared with the gRPC module.
public enum GRPCTimeoutHeader {
    /// The duration `value` states; nil when it is not the syntax.
    public static func parse(_ value: String) -> Duration? { HTTPJSONMetadata.parseTimeout(value) }
}

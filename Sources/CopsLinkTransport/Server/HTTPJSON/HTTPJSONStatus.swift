import CopsLinkCore
import CopsLinkMessages
import NIOHTTP1

/// How a call's status reads over HTTP/JSON: the HTTP status of gRPC's usual mapping (google.rpc.Code), and a JSON
/// body naming the code, its name and the message (PROTOCOL.md §16).
enum HTTPJSONStatus {
    static func httpStatus(_ code: StatusCode) -> HTTPResponseStatus {
        switch code {
        case .ok: .ok
        case .cancelled: .custom(code: 499, reasonPhrase: "Client Closed Request")
        case .invalidArgument, .failedPrecondition, .outOfRange: .badRequest
        case .deadlineExceeded: .gatewayTimeout
        case .notFound: .notFound
        case .alreadyExists, .aborted: .conflict
        case .permissionDenied: .forbidden
        case .unauthenticated: .unauthorized
        case .resourceExhausted: .tooManyRequests
        case .unimplemented: .notImplemented
        case .unavailable: .serviceUnavailable
        default: .internalServerError  // unknown, internal, data loss, and codes this server never sends
        }
    }

    /// `{"code":5,"status":"NOT_FOUND","message":"…"}`, with `details` (base64) when the error carries any.
    static func body(_ error: RPCError) -> [UInt8] {
        var writer = JSONWriter()
        writer.raw("{\"code\":")
        writer.raw(String(error.code.rawValue))
        writer.raw(",\"status\":")
        writer.string(error.code.name)
        writer.raw(",\"message\":")
        writer.string(error.message)
        if !error.details.isEmpty {
            writer.raw(",\"details\":\"")
            Base64.encode(error.details, into: &writer)
            writer.raw("\"")
        }
        writer.raw("}")
        return writer.bytes
    }
}

/// A call that ended with a status other than OK.
///
/// Handlers throw it to choose the status a caller sees; clients receive it for every failed call.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: StatusCode
    /// UTF-8 text, carried byte-exact.
    public var message: String
    /// Optional opaque details (for example a serialized detail message).
    public var details: [UInt8]
    /// Trailing metadata sent with the status.
    public var metadata: Metadata

    public init(code: StatusCode, message: String, details: [UInt8] = [], metadata: Metadata = [:]) {
        precondition(code != .ok, "an RPCError cannot have status OK")
        self.code = code
        self.message = message
        self.details = details
        self.metadata = metadata
    }

    public var description: String { message.isEmpty ? code.name : "\(code.name): \(message)" }
}

/// A domain error that knows which status it should become.
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError {
    /// The status a caller sees for any error thrown by a handler.
    ///
    /// Errors that are not `RPCError` or `RPCErrorConvertible` become UNKNOWN without their text, which may hold
    /// details the caller must not see.
    public init(handlerError error: any Error) {
        switch error {
        case let error as RPCError: self = error
        case let error as any RPCErrorConvertible: self = error.rpcError
        case is CancellationError: self = RPCError(code: .cancelled, message: "call was cancelled")
        default: self = RPCError(code: .unknown, message: "the handler failed with an unexpected error")
        }
    }
}

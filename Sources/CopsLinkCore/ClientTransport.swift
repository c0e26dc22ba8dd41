/// The final part of a successful call as a client transport delivers it.
public struct RawUnaryResponse: Sendable {
    public var message: any MessageBytes
    public var trailers: Metadata

    public init(message: any MessageBytes, trailers: Metadata) {
        self.message = message
        self.trailers = trailers
    }
}

/// What a client reads from a streaming call.
public enum ClientStreamPart: Sendable {
    case message(any MessageBytes)
    /// The call ended with OK and these trailers.
    case end(trailers: Metadata)
}

/// One open streaming call on the client side.
public protocol ClientCallStream: Sendable {
    /// Sends a request message; suspends while the server's window is exhausted; throws once the call is over.
    func send(_ message: some RPCMessage) async throws(RPCError)
    /// Ends the request stream (END_STREAM).
    func finishSending()
    /// The next response message or the end; throws `RPCError` when the call ends with another status.
    func next() async throws(RPCError) -> ClientStreamPart
    /// Abandons the call (CANCEL). Harmless after the call ended.
    func cancel()
    /// The single response message and the trailers of a unary or client-streaming call, once the call ended with
    /// OK; throws its failure, or INTERNAL for no response or more than one.
    func readSingleResponse() async throws(RPCError) -> RawUnaryResponse
}

extension ClientCallStream {
    /// Reads the single response message and the OK end of a unary or client-streaming call, part by part.
    public func readSingleResponse() async throws(RPCError) -> RawUnaryResponse {
        guard case .message(let message) = try await next() else {
            throw RPCError(code: .internalError, message: "the server ended the call without a response message")
        }
        guard case .end(let trailers) = try await next() else {
            throw RPCError(code: .internalError, message: "the server sent more than one response message")
        }
        return RawUnaryResponse(message: message, trailers: trailers)
    }
}

/// A way to reach a server: one TCP connection (`TCPClientTransport`) or in-process.
public protocol ClientTransport: Sendable {
    /// One request, one response: the fast path (one frame each way on TCP).
    func unary(
        _ descriptor: MethodDescriptor, request: some RPCMessage, options: CallOptions
    ) async throws(RPCError) -> RawUnaryResponse

    /// Opens a streaming call for the duration of `body`; the call is cancelled if `body` returns before it ended.
    func withStreamingCall<Result: Sendable>(
        _ descriptor: MethodDescriptor,
        options: CallOptions,
        body: (any ClientCallStream) async throws -> Result
    ) async throws -> Result
}

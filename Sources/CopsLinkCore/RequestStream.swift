/// The request messages of a client-streaming or bidirectional call, decoded as they are read.
///
/// Reading grants the client flow-control credit, so a handler that stops reading stops the client.
public struct RequestStream<Message: RPCMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    public typealias Failure = RPCError

    let stream: any ServerCallStream

    public init(stream: any ServerCallStream) { self.stream = stream }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: any ServerCallStream

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(RPCError) -> Message? {
            guard let bytes = try await stream.nextRequest() else { return nil }
            return try Message(receivedRequest: bytes)
        }

        public mutating func next() async throws(RPCError) -> Message? {
            try await next(isolation: nil)
        }

        /// The next message, or why it did not decode: each message is framed on its own, so one that does not
        /// decode is `.failure` and the stream goes on, for a handler that rejects that one message and reads the
        /// rest (ReportSignals). Errors of the stream itself (cancelled, past its deadline, a limit) are thrown.
        /// nil at the end of the stream.
        public mutating func nextDecoded(
            isolation actor: isolated (any Actor)? = #isolation
        ) async throws(RPCError) -> Result<Message, RPCError>? {
            switch try await stream.nextRequestOrUnusable() {
            case nil: return nil
            case .failure(let error): return .failure(error)
            case .success(let bytes):
                do {
                    return .success(try Message(receivedRequest: bytes))
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: stream) }
}

/// Sends the response messages of a server-streaming or bidirectional call.
public struct ResponseWriter<Message: RPCMessage>: Sendable {
    let stream: any ServerCallStream

    public init(stream: any ServerCallStream) { self.stream = stream }

    /// Sends one message; suspends while the client's window is exhausted; throws once the call is over.
    public func write(_ message: Message) async throws(RPCError) {
        try await stream.write(message)
    }
}

/// A unary or client-streaming handler's answer: the message and optional trailing metadata.
public struct ServerResponse<Message: RPCMessage>: Sendable {
    public var message: Message
    public var trailers: Metadata

    public init(message: Message, trailers: Metadata = [:]) {
        self.message = message
        self.trailers = trailers
    }
}

/// A successful call's response and trailing metadata.
public struct ClientResponse<Message: RPCMessage>: Sendable {
    public var message: Message
    public var trailers: Metadata

    public init(message: Message, trailers: Metadata) {
        self.message = message
        self.trailers = trailers
    }

    /// Whether the server answered from the stored first answer to an earlier request with the same request id
    /// (the `copslink-replayed: true` trailer): nothing was changed by this call.
    public var isReplay: Bool { trailers[text: Metadata.replayedKey] == Metadata.replayedValue }
}

/// Typed calls over any `ClientTransport`; the generated-style service clients wrap one of these.
public struct RPCClient: Sendable {
    public let transport: any ClientTransport
    /// Metadata sent with every call (credentials, say), under any the call's options carry for the same keys.
    public let metadata: Metadata

    public init(transport: any ClientTransport, metadata: Metadata = [:]) {
        self.transport = transport
        self.metadata = metadata
    }

    /// A client that sends `authorization: Bearer <token>` with every call.
    public init(transport: any ClientTransport, bearerToken: String) {
        self.init(transport: transport, metadata: [AuthInterceptor.metadataKey: .text("Bearer \(bearerToken)")])
    }

    /// `options` with this client's metadata added where the call sets none for a key.
    @inlinable
    func withClientMetadata(_ options: CallOptions) -> CallOptions {
        guard !metadata.isEmpty else { return options }
        var options = options
        for entry in metadata where options.metadata[entry.key].isEmpty { options.metadata.add(entry.key, entry.value) }
        return options
    }

    /// Inlinable so that a service client compiles it for its own message types.
    @inlinable
    public func unary<Request: RPCMessage, Response: RPCMessage>(
        _ descriptor: MethodDescriptor, request: Request, as response: Response.Type = Response.self,
        options: CallOptions = .defaults
    ) async throws(RPCError) -> ClientResponse<Response> {
        let raw = try await transport.unary(descriptor, request: request, options: withClientMetadata(options))
        return ClientResponse(message: try Self.decode(raw.message), trailers: raw.trailers)
    }

    /// Sends one request and hands the responses to `body` as an async sequence.
    public func serverStreaming<Request: RPCMessage, Response: RPCMessage, Result: Sendable>(
        _ descriptor: MethodDescriptor, request: Request, as response: Response.Type = Response.self,
        options: CallOptions = .defaults,
        body: (ResponseStream<Response>) async throws -> Result
    ) async throws -> Result {
        try await transport.withStreamingCall(descriptor, options: withClientMetadata(options)) { call in
            try await call.send(request)
            call.finishSending()
            return try await body(ResponseStream(call: call))
        }
    }

    /// Sends every element of `requests`, then returns the single response.
    public func clientStreaming<Requests: AsyncSequence & Sendable, Response: RPCMessage>(
        _ descriptor: MethodDescriptor, requests: Requests, as response: Response.Type = Response.self,
        options: CallOptions = .defaults
    ) async throws -> ClientResponse<Response> where Requests.Element: RPCMessage {
        try await transport.withStreamingCall(descriptor, options: withClientMetadata(options)) { call in
            do {
                for try await request in requests { try await call.send(request) }
                call.finishSending()
            } catch let error as RPCError where error.code == .cancelled || error.code == .unavailable {
                // The server may have ended the call early; its status, read below, says why.
            }
            return try await Self.readSingleResponse(call)
        }
    }

    /// Sends `requests` while `body` reads the responses.
    public func bidirectionalStreaming<Requests: AsyncSequence & Sendable, Response: RPCMessage, Result: Sendable>(
        _ descriptor: MethodDescriptor, requests: Requests, as response: Response.Type = Response.self,
        options: CallOptions = .defaults,
        body: @Sendable (ResponseStream<Response>) async throws -> Result
    ) async throws -> Result where Requests.Element: RPCMessage {
        try await transport.withStreamingCall(descriptor, options: withClientMetadata(options)) { call in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await request in requests { try await call.send(request) }
                    call.finishSending()
                }
                let result = try await body(ResponseStream(call: call))
                try await group.waitForAll()
                return result
            }
        }
    }

    @usableFromInline
    static func decode<Response: RPCMessage>(_ bytes: any MessageBytes) throws(RPCError) -> Response {
        do {
            return try Response(from: bytes)
        } catch {
            let suffix = error.code == .resourceExhausted ? ": \(error.message)" : ""
            throw RPCError(code: .internalError, message: "response message is not a valid \(Response.protoName)\(suffix)")
        }
    }

    private static func readSingleResponse<Response: RPCMessage>(
        _ call: any ClientCallStream
    ) async throws(RPCError) -> ClientResponse<Response> {
        let raw = try await call.readSingleResponse()
        return ClientResponse(message: try decode(raw.message), trailers: raw.trailers)
    }
}

/// The responses of a streaming call, decoded as they are read. Reading grants the server flow-control credit.
/// After the sequence ends, `trailers` holds the trailing metadata.
public final class ResponseStream<Message: RPCMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    public typealias Failure = RPCError

    let call: any ClientCallStream
    private let endTrailers = LockedBox<Metadata?>(nil)

    init(call: any ClientCallStream) { self.call = call }

    /// Trailing metadata, once the stream has ended with OK.
    public var trailers: Metadata? { endTrailers.value }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: ResponseStream

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(RPCError) -> Message? {
            guard stream.endTrailers.value == nil else { return nil }
            switch try await stream.call.next() {
            case .message(let bytes):
                return try RPCClient.decode(bytes)
            case .end(let trailers):
                stream.endTrailers.value = trailers
                return nil
            }
        }

        public mutating func next() async throws(RPCError) -> Message? { try await next(isolation: nil) }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }

    /// Reads every remaining message.
    public func collect() async throws(RPCError) -> [Message] {
        var messages: [Message] = []
        var iterator = makeAsyncIterator()
        while let message = try await iterator.next() { messages.append(message) }
        return messages
    }
}

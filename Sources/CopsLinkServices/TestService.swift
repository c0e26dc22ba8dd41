public import CopsLinkMessages
public import CopsLinkCore

/// `copslink.rpc.v1.TestService`: the conformance service (after gRPC's interop TestService).
public enum TestService {
    public static let serviceName = "copslink.rpc.v1.TestService"

    public enum Method {
        public static let emptyCall = MethodDescriptor(service: serviceName, method: "EmptyCall")
        public static let unaryCall = MethodDescriptor(service: serviceName, method: "UnaryCall")
        public static let streamingOutputCall = MethodDescriptor(service: serviceName, method: "StreamingOutputCall")
        public static let streamingInputCall = MethodDescriptor(service: serviceName, method: "StreamingInputCall")
        public static let fullDuplexCall = MethodDescriptor(service: serviceName, method: "FullDuplexCall")
    }

    public protocol ServiceProtocol: RegistrableRPCService {
        func emptyCall(_ request: EmptyMessage, context: ServerContext) async throws -> ServerResponse<EmptyMessage>
        func unaryCall(_ request: SimpleRequest, context: ServerContext) async throws -> ServerResponse<SimpleResponse>
        func streamingOutputCall(
            _ request: StreamingOutputCallRequest, responses: ResponseWriter<StreamingOutputCallResponse>, context: ServerContext
        ) async throws -> Metadata
        func streamingInputCall(
            _ requests: RequestStream<StreamingInputCallRequest>, context: ServerContext
        ) async throws -> ServerResponse<StreamingInputCallResponse>
        func fullDuplexCall(
            _ requests: RequestStream<StreamingOutputCallRequest>, responses: ResponseWriter<StreamingOutputCallResponse>,
            context: ServerContext
        ) async throws -> Metadata
    }

    public struct Client: Sendable {
        public let client: RPCClient
        public init(wrapping client: RPCClient) { self.client = client }

        public func emptyCall(_ request: EmptyMessage = EmptyMessage(), options: CallOptions = .defaults) async throws(RPCError) -> EmptyMessage {
            try await client.unary(Method.emptyCall, request: request, options: options).message
        }

        public func unaryCall(_ request: SimpleRequest, options: CallOptions = .defaults) async throws(RPCError) -> SimpleResponse {
            try await client.unary(Method.unaryCall, request: request, options: options).message
        }

        /// The full response, trailers included.
        public func unaryCallResponse(_ request: SimpleRequest, options: CallOptions = .defaults) async throws(RPCError) -> ClientResponse<SimpleResponse> {
            try await client.unary(Method.unaryCall, request: request, options: options)
        }

        public func streamingOutputCall<Result: Sendable>(
            _ request: StreamingOutputCallRequest, options: CallOptions = .defaults,
            body: (ResponseStream<StreamingOutputCallResponse>) async throws -> Result
        ) async throws -> Result {
            try await client.serverStreaming(Method.streamingOutputCall, request: request, options: options, body: body)
        }

        public func streamingInputCall<Requests: AsyncSequence & Sendable>(
            _ requests: Requests, options: CallOptions = .defaults
        ) async throws -> ClientResponse<StreamingInputCallResponse> where Requests.Element == StreamingInputCallRequest {
            try await client.clientStreaming(Method.streamingInputCall, requests: requests, options: options)
        }

        public func fullDuplexCall<Requests: AsyncSequence & Sendable, Result: Sendable>(
            _ requests: Requests, options: CallOptions = .defaults,
            body: @Sendable (ResponseStream<StreamingOutputCallResponse>) async throws -> Result
        ) async throws -> Result where Requests.Element == StreamingOutputCallRequest {
            try await client.bidirectionalStreaming(Method.fullDuplexCall, requests: requests, options: options, body: body)
        }
    }
}

extension TestService.ServiceProtocol {
    public func registerMethods(with router: inout RPCRouter) {
        router.registerUnary(TestService.Method.emptyCall) { (request: EmptyMessage, context) in
            try await self.emptyCall(request, context: context)
        }
        router.registerUnary(TestService.Method.unaryCall) { (request: SimpleRequest, context) in
            try await self.unaryCall(request, context: context)
        }
        router.registerServerStreaming(TestService.Method.streamingOutputCall) {
            (request: StreamingOutputCallRequest, writer: ResponseWriter<StreamingOutputCallResponse>, context) in
            try await self.streamingOutputCall(request, responses: writer, context: context)
        }
        router.registerClientStreaming(TestService.Method.streamingInputCall) {
            (requests: RequestStream<StreamingInputCallRequest>, context) in
            try await self.streamingInputCall(requests, context: context)
        }
        router.registerBidirectionalStreaming(TestService.Method.fullDuplexCall) {
            (requests: RequestStream<StreamingOutputCallRequest>, writer: ResponseWriter<StreamingOutputCallResponse>, context) in
            try await self.fullDuplexCall(requests, responses: writer, context: context)
        }
    }
}

/// The conformance behaviour: sizes on request, cancellable sleeps, chosen statuses, and request metadata
/// (except the protocol's own `copslink-` keys) echoed as trailers.
public struct ConformanceService: TestService.ServiceProtocol {
    /// Largest response payload a request may ask for; larger sizes fail RESOURCE_EXHAUSTED before anything is
    /// allocated. Without it one 70-byte UnaryCall asking for `response_size` 4294967280 made the server allocate
    /// 4 GiB (found with the fuzz-connection harness; FUZZING.md). Default 4 MiB, the default maximum frame size;
    /// copslink-server passes its `--max-frame-size`.
    public let maxResponseSize: Int

    public init(maxResponseSize: Int = 4 << 20) {
        self.maxResponseSize = maxResponseSize
    }

    public func emptyCall(_ request: EmptyMessage, context: ServerContext) async throws -> ServerResponse<EmptyMessage> {
        ServerResponse(message: EmptyMessage(), trailers: Self.echo(context))
    }

    public func unaryCall(_ request: SimpleRequest, context: ServerContext) async throws -> ServerResponse<SimpleResponse> {
        try checkResponseSize(request.responseSize)
        if request.sleepMillis > 0 { try await Task.sleep(for: .milliseconds(request.sleepMillis)) }
        try Self.failIfAsked(request.responseStatus, context)
        let response = SimpleResponse(
            payload: Self.body(request.responseSize), receivedSize: UInt32(request.payload?.count ?? 0))
        return ServerResponse(message: response, trailers: Self.echo(context))
    }

    public func streamingOutputCall(
        _ request: StreamingOutputCallRequest, responses: ResponseWriter<StreamingOutputCallResponse>, context: ServerContext
    ) async throws -> Metadata {
        try await respond(to: request, responses)
        try Self.failIfAsked(request.responseStatus, context)
        return Self.echo(context)
    }

    public func streamingInputCall(
        _ requests: RequestStream<StreamingInputCallRequest>, context: ServerContext
    ) async throws -> ServerResponse<StreamingInputCallResponse> {
        var total: UInt32 = 0
        var count: UInt32 = 0
        // Saturating: a long enough stream would otherwise trap at 2^32 bytes or messages and stop the server.
        for try await request in requests {
            total.addSaturating(UInt32(clamping: request.payload?.count ?? 0))
            count.addSaturating(1)
        }
        return ServerResponse(
            message: StreamingInputCallResponse(aggregatedPayloadSize: total, messageCount: count), trailers: Self.echo(context))
    }

    public func fullDuplexCall(
        _ requests: RequestStream<StreamingOutputCallRequest>, responses: ResponseWriter<StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws -> Metadata {
        for try await request in requests {
            try Self.failIfAsked(request.responseStatus, context)
            try await respond(to: request, responses)
        }
        return Self.echo(context)
    }

    private func respond(
        to request: StreamingOutputCallRequest, _ responses: ResponseWriter<StreamingOutputCallResponse>
    ) async throws {
        for parameters in request.responseParameters { try checkResponseSize(parameters.size) }
        for parameters in request.responseParameters {
            if parameters.intervalMillis > 0 { try await Task.sleep(for: .milliseconds(parameters.intervalMillis)) }
            try await responses.write(StreamingOutputCallResponse(payload: Self.body(parameters.size)))
        }
    }

    private func checkResponseSize(_ size: UInt32) throws {
        guard Int(size) > maxResponseSize else { return }
        throw RPCError(
            code: .resourceExhausted,
            message: "a response of \(size) bytes exceeds the conformance service's limit of \(maxResponseSize) bytes")
    }

    private static func failIfAsked(_ status: EchoStatus?, _ context: ServerContext) throws {
        guard let status, status.code != 0 else { return }
        throw RPCError(code: StatusCode(rawValue: status.code) ?? .unknown, message: status.message, metadata: echo(context))
    }

    /// Bytes 0, 1, 2, … 255, 0, … so that a receiver can check them.
    private static func body(_ size: UInt32) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, count in
            for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: index) }
            count = buffer.count
        }
    }

    private static func echo(_ context: ServerContext) -> Metadata {
        var trailers = Metadata()
        for entry in context.metadata where !entry.key.hasPrefix("copslink-") { trailers.add(entry.key, entry.value) }
        return trailers
    }
}

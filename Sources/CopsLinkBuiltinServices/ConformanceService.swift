public import CopsLinkCore
public import CopsLinkMessages
public import CopsLinkServices

/// The conformance behaviour: sizes on request, cancellable sleeps, chosen statuses, and request metadata
/// (except the protocol's own `copslink-` keys and the caller's `authorization`, a credential) echoed as trailers.
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
        for entry in context.metadata where !entry.key.hasPrefix("copslink-") && entry.key != "authorization" {
            trailers.add(entry.key, entry.value)
        }
        return trailers
    }
}

import CopsLinkCore
import Testing

/// A message that is its own bytes; decoding fails on a leading 0xFF.
struct RawMessage: RPCMessage, Equatable {
    static let protoName = "copslink.test.RawMessage"
    var bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(RPCError) {
        if bytes.first == 0xFF { throw RPCError(code: .invalidArgument, message: "bad raw message") }
        self.bytes = Array(bytes)
    }
    func serialize(into sink: inout some MessageSink) {
        bytes.withUnsafeBytes { source in sink.appendBytes(count: source.count) { $0.copyMemory(from: source) } }
    }
    /// A byte 0xFD stands for a value the codec would not keep as sent.
    static func alteredField(inReceived bytes: UnsafeRawBufferPointer) -> String? {
        bytes.contains(0xFD) ? "byte 0xFD would be lost" : nil
    }
}

struct OtherMessage: RPCMessage {
    static let protoName = "copslink.test.OtherMessage"
    init() {}
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(RPCError) {}
    func serialize(into sink: inout some MessageSink) {}
}

/// A server call stream fed from a fixed list of request messages, recording what the handler writes.
final class FakeServerCallStream: ServerCallStream {
    private let requests: LockedBox<[[UInt8]]>
    let written = LockedBox<[[UInt8]]>([])
    let outcomes = LockedBox<Int>(0)
    /// The error of the last failed outcome.
    let failure = LockedBox<RPCError?>(nil)

    /// The request `takeOnlyRequest` hands over (a unary call whose REQUEST frame carried it and ended the stream).
    private let onlyRequest: LockedBox<[UInt8]?>
    let nextRequestCalls = LockedBox(0)

    init(requests: [[UInt8]], onlyRequest: [UInt8]? = nil) {
        self.requests = LockedBox(requests)
        self.onlyRequest = LockedBox(onlyRequest)
    }

    func nextRequest() async throws(RPCError) -> (any MessageBytes)? {
        nextRequestCalls.withLock { $0 += 1 }
        return requests.withLock { requests in requests.isEmpty ? nil : requests.removeFirst() }
    }

    func takeOnlyRequest() -> (any MessageBytes)? {
        onlyRequest.withLock { only in
            defer { only = nil }
            return only
        }
    }

    func write(_ message: some RPCMessage) async throws(RPCError) {
        let bytes = message.serializedBytes()
        written.withLock { $0.append(bytes) }
    }

    func finish(_ outcome: CallOutcome) {
        outcomes.withLock { $0 += 1 }
        if case .failure(let error) = outcome { failure.value = error }
    }
}

@Suite struct RPCRouterTests {
    static let echo = MethodDescriptor(service: "copslink.test.EchoService", method: "Echo")
    static let expand = MethodDescriptor(service: "copslink.test.EchoService", method: "Expand")
    static let collect = MethodDescriptor(service: "copslink.test.EchoService", method: "Collect")
    static let chat = MethodDescriptor(service: "copslink.test.ChatService", method: "Chat")

    static func context(_ descriptor: MethodDescriptor) -> ServerContext {
        ServerContext(descriptor: descriptor, metadata: [:], deadline: nil, peer: "test", callID: 1)
    }

    static func makeRouter() -> RPCRouter {
        var router = RPCRouter()
        router.registerUnary(echo) { (request: RawMessage, _) in
            ServerResponse(message: RawMessage(request.bytes + [0xEE]), trailers: ["t": .text("u")])
        }
        router.registerServerStreaming(expand) { (request: RawMessage, writer: ResponseWriter<RawMessage>, _) in
            for byte in request.bytes { try await writer.write(RawMessage([byte])) }
            return ["count": .text("\(request.bytes.count)")]
        }
        router.registerClientStreaming(collect) { (requests: RequestStream<RawMessage>, _) in
            var all: [UInt8] = []
            for try await request in requests { all += request.bytes }
            return ServerResponse(message: OtherMessage())
        }
        router.registerBidirectionalStreaming(chat) { (requests: RequestStream<RawMessage>, writer: ResponseWriter<OtherMessage>, _) in
            for try await _ in requests { try await writer.write(OtherMessage()) }
            return [:]
        }
        return router
    }

    /// Trailers a handler adds through its context follow its own, on success only.
    @Test func trailersAddedThroughTheContextFollowTheHandlersOwn() async throws {
        var router = RPCRouter()
        router.registerUnary(Self.echo) { (request: RawMessage, context) in
            context.responseTrailers.add("added", "1")
            if request.bytes == [0] { throw RPCError(code: .aborted, message: "no") }
            return ServerResponse(message: request, trailers: ["own": .text("0")])
        }
        router.registerServerStreaming(Self.expand) { (_: RawMessage, _: ResponseWriter<RawMessage>, context) in
            context.responseTrailers.add("added", "2")
            return [:]
        }
        let echo = try #require(router.route(forPath: Self.echo.path))
        let outcome = try await echo.handler(FakeServerCallStream(requests: [[1]]), Self.context(Self.echo))
        guard case .success(_, let trailers) = outcome else {
            Issue.record("expected success, got \(outcome)")
            return
        }
        #expect(trailers == ["own": .text("0"), "added": .text("1")])
        let expand = try #require(router.route(forPath: Self.expand.path))
        let streamed = try await expand.handler(FakeServerCallStream(requests: [[1]]), Self.context(Self.expand))
        guard case .success(_, let streamTrailers) = streamed else {
            Issue.record("expected success, got \(streamed)")
            return
        }
        #expect(streamTrailers == ["added": .text("2")])
        // A failed call carries only its error's metadata.
        let error = await #expect(throws: RPCError.self) {
            try await echo.handler(FakeServerCallStream(requests: [[0]]), Self.context(Self.echo))
        }
        #expect(error?.metadata.isEmpty == true)
    }

    @Test func registeredRoutesAreFoundByPath() throws {
        let router = Self.makeRouter()
        let echo = try #require(router.route(forPath: "/copslink.test.EchoService/Echo"))
        #expect(echo.descriptor == Self.echo)
        #expect(echo.kind == .unary)
        #expect(echo.requestType == "copslink.test.RawMessage")
        #expect(echo.responseType == "copslink.test.RawMessage")

        #expect(router.route(forPath: Self.expand.path)?.kind == .serverStreaming)
        let collect = try #require(router.route(forPath: Self.collect.path))
        #expect(collect.kind == .clientStreaming)
        #expect(collect.responseType == "copslink.test.OtherMessage")
        let chat = try #require(router.route(forPath: Self.chat.path))
        #expect(chat.kind == .bidirectionalStreaming)
        #expect(chat.requestType == "copslink.test.RawMessage")
        #expect(chat.responseType == "copslink.test.OtherMessage")

        #expect(router.route(forPath: "/copslink.test.EchoService/Missing") == nil)
        #expect(router.route(forPath: "/copslink.test.echoservice/Echo") == nil)
        #expect(router.route(forPath: "copslink.test.EchoService/Echo") == nil)
    }

    @Test func methodsAndServicesAreListedSorted() {
        let router = Self.makeRouter()
        #expect(
            router.methods.map(\.descriptor.path) == [
                "/copslink.test.ChatService/Chat",
                "/copslink.test.EchoService/Collect",
                "/copslink.test.EchoService/Echo",
                "/copslink.test.EchoService/Expand"
            ])
        #expect(router.services == ["copslink.test.ChatService", "copslink.test.EchoService"])
        #expect(RPCRouter().methods.isEmpty)
        #expect(RPCRouter().services.isEmpty)
    }

    @Test func unimplementedErrorForUnknownService() {
        let error = Self.makeRouter().unimplementedError(forPath: "/copslink.test.Nope/Echo")
        #expect(error.code == .unimplemented)
        #expect(error.message == "unknown service copslink.test.Nope")
    }

    @Test func unimplementedErrorForUnknownMethodOfKnownService() {
        let error = Self.makeRouter().unimplementedError(forPath: "/copslink.test.EchoService/Shout")
        #expect(error.code == .unimplemented)
        #expect(error.message == "service copslink.test.EchoService has no method Shout")
    }

    @Test(arguments: ["", "Echo", "/copslink.test.EchoService", "/copslink.test.EchoService/Echo/extra", "//Echo"])
    func unimplementedErrorForMalformedPath(_ path: String) {
        let error = Self.makeRouter().unimplementedError(forPath: path)
        #expect(error.code == .unimplemented)
        #expect(error.message == "malformed method path '\(path)'; expected /package.Service/Method")
    }

    @Test func unaryHandlerDecodesTheSingleRequestAndReturnsTheResponse() async throws {
        let route = try #require(Self.makeRouter().route(forPath: Self.echo.path))
        let stream = FakeServerCallStream(requests: [[1, 2, 3]])
        let outcome = try await route.handler(stream, Self.context(Self.echo))
        guard case .success(let finalMessage, let trailers) = outcome else {
            Issue.record("expected success, got \(outcome)")
            return
        }
        let message = try #require(finalMessage as? RawMessage)
        #expect(message.bytes == [1, 2, 3, 0xEE])
        #expect(trailers[text: "t"] == "u")
    }

    @Test func handlersTakingOneRequestTakeACompleteOneWithoutReading() async throws {
        let router = Self.makeRouter()
        let echo = try #require(router.route(forPath: Self.echo.path))
        let stream = FakeServerCallStream(requests: [], onlyRequest: [4, 5])
        let outcome = try await echo.handler(stream, Self.context(Self.echo))
        guard case .success(let finalMessage, _) = outcome else {
            Issue.record("expected success, got \(outcome)")
            return
        }
        #expect((finalMessage as? RawMessage)?.bytes == [4, 5, 0xEE])
        #expect(stream.nextRequestCalls.value == 0)

        let expand = try #require(router.route(forPath: Self.expand.path))
        let streaming = FakeServerCallStream(requests: [], onlyRequest: [1, 2])
        _ = try await expand.handler(streaming, Self.context(Self.expand))
        #expect(streaming.written.value == [[1], [2]])
        #expect(streaming.nextRequestCalls.value == 0)

        let undecodable = FakeServerCallStream(requests: [], onlyRequest: [0xFF])
        let error = await #expect(throws: RPCError.self) { try await echo.handler(undecodable, Self.context(Self.echo)) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "request message is not a valid copslink.test.RawMessage")
    }

    @Test func unaryHandlerRejectsZeroOrTwoRequestsAndUndecodableOnes() async throws {
        let route = try #require(Self.makeRouter().route(forPath: Self.echo.path))
        let cases: [([[UInt8]], String)] = [
            ([], "the call expects one request message and got none"),
            ([[1], [2]], "the call expects one request message and got more"),
            ([[0xFF]], "request message is not a valid copslink.test.RawMessage"),
            ([[1, 0xFD]], "request message is not a valid copslink.test.RawMessage: byte 0xFD would be lost")
        ]
        for (requests, message) in cases {
            let stream = FakeServerCallStream(requests: requests)
            let error = await #expect(throws: RPCError.self) { try await route.handler(stream, Self.context(Self.echo)) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == message)
        }
    }

    /// Every way a handler takes requests refuses one its codec would not keep as sent (`alteredField`): server
    /// streaming from the one request, client streaming and bidirectional from the request stream.
    @Test func everyRequestPathRefusesAlteredValues() async throws {
        let router = Self.makeRouter()
        for method in [Self.expand, Self.collect, Self.chat] {
            let route = try #require(router.route(forPath: method.path))
            let stream = FakeServerCallStream(requests: [[1], [2, 0xFD]])
            let single = FakeServerCallStream(requests: [], onlyRequest: [2, 0xFD])
            let error = await #expect(throws: RPCError.self) {
                try await route.handler(method == Self.expand ? single : stream, Self.context(method))
            }
            #expect(error?.code == .invalidArgument, "\(method.path)")
            #expect(error?.message == "request message is not a valid copslink.test.RawMessage: byte 0xFD would be lost", "\(method.path)")
        }
    }

    @Test func serverStreamingHandlerWritesResponsesAndReturnsTrailers() async throws {
        let route = try #require(Self.makeRouter().route(forPath: Self.expand.path))
        let stream = FakeServerCallStream(requests: [[7, 8, 9]])
        let outcome = try await route.handler(stream, Self.context(Self.expand))
        guard case .success(let finalMessage, let trailers) = outcome else {
            Issue.record("expected success, got \(outcome)")
            return
        }
        #expect(finalMessage == nil)
        #expect(trailers[text: "count"] == "3")
        #expect(stream.written.value == [[7], [8], [9]])
    }

    @Test func dispatcherMapsHandlerErrorsToStatuses() async throws {
        struct Boom: Error {}
        var router = RPCRouter()
        let failing = MethodDescriptor(service: "s.S", method: "Fail")
        router.registerUnary(failing) { (_: RawMessage, _) -> ServerResponse<RawMessage> in throw Boom() }
        let route = try #require(router.route(forPath: failing.path))

        final class RecordingStream: ServerCallStream {
            let remaining = LockedBox(1)
            let outcome = LockedBox<RPCError?>(nil)
            let finishes = LockedBox(0)
            func nextRequest() async throws(RPCError) -> (any MessageBytes)? {
                remaining.withLock { remaining in
                    guard remaining > 0 else { return nil }
                    remaining -= 1
                    return [UInt8]([1])
                }
            }
            func write(_ message: some RPCMessage) async throws(RPCError) {}
            func finish(_ outcome: CallOutcome) {
                finishes.withLock { $0 += 1 }
                if case .failure(let error) = outcome { self.outcome.value = error }
            }
        }
        let stream = RecordingStream()
        await CallDispatcher(router: router).run(route, stream: stream, context: Self.context(failing))
        #expect(stream.finishes.value == 1)
        #expect(stream.outcome.value?.code == .unknown)
        #expect(stream.outcome.value?.message == "the handler failed with an unexpected error")
    }

    /// Interceptors see the kind of the route being run (`AuthInterceptor` bounds open streaming calls by it).
    @Test func theDispatcherTellsInterceptorsTheMethodsKind() async throws {
        struct Recorder: ServerInterceptor {
            let kinds: LockedBox<[MethodKind]>
            func intercept(
                context: ServerContext, next: @Sendable (ServerContext) async throws -> CallOutcome
            ) async throws -> CallOutcome {
                kinds.withLock { $0.append(context.methodKind) }
                return try await next(context)
            }
        }
        let kinds = LockedBox<[MethodKind]>([])
        let router = Self.makeRouter()
        let dispatcher = CallDispatcher(router: router, interceptors: [Recorder(kinds: kinds)])
        for descriptor in [Self.echo, Self.expand, Self.collect, Self.chat] {
            let route = try #require(router.route(forPath: descriptor.path))
            await dispatcher.run(route, stream: FakeServerCallStream(requests: [[1]]), context: Self.context(descriptor))
        }
        #expect(kinds.value == [.unary, .serverStreaming, .clientStreaming, .bidirectionalStreaming])
    }

    /// A call whose task was cancelled before the dispatcher ran it (its client cancelled it, or its connection closed)
    /// runs no interceptor and no handler; it is finished CANCELLED and leaves its place.
    @Test func aCallCancelledBeforeItRunsRunsNothing() async throws {
        let ran = LockedBox(0)
        var router = RPCRouter()
        router.registerUnary(Self.echo) { (request: RawMessage, _) in
            ran.withLock { $0 += 1 }
            return ServerResponse(message: request)
        }
        let dispatcher = CallDispatcher(router: router, interceptors: [CountingInterceptor(count: ran)], maxConcurrentCalls: 10)
        let route = try #require(router.route(forPath: Self.echo.path))
        let stream = FakeServerCallStream(requests: [[1]])
        let call = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await dispatcher.run(route, stream: stream, context: Self.context(Self.echo))
        }
        await call.value
        #expect(ran.value == 0, "an interceptor or the handler ran")
        #expect(stream.failure.value?.code == .cancelled)
        #expect(dispatcher.running.count == 0)
        await dispatcher.run(route, stream: FakeServerCallStream(requests: [[2]]), context: Self.context(Self.echo))
        #expect(ran.value == 2, "the next call runs as always")
    }

    /// A call whose deadline had passed when it was to run (a timeout of 0 or a few nanoseconds) runs no handler and
    /// ends DEADLINE_EXCEEDED, after its interceptors (authentication, logging) ran as for any call; one with time
    /// left runs.
    @Test func aCallWhoseDeadlinePassedRunsNoHandler() async throws {
        let ran = LockedBox(0)
        let intercepted = LockedBox(0)
        var router = RPCRouter()
        router.registerUnary(Self.echo) { (request: RawMessage, _) in
            ran.withLock { $0 += 1 }
            return ServerResponse(message: request)
        }
        let dispatcher = CallDispatcher(router: router, interceptors: [CountingInterceptor(count: intercepted)])
        let route = try #require(router.route(forPath: Self.echo.path))
        var context = Self.context(Self.echo)
        context.deadline = .now
        let stream = FakeServerCallStream(requests: [[1]])
        await dispatcher.run(route, stream: stream, context: context)
        #expect(ran.value == 0, "the handler ran past the deadline")
        #expect(intercepted.value == 1, "the interceptors run first")
        #expect(stream.failure.value?.code == .deadlineExceeded)
        #expect(stream.failure.value?.message == CallDispatcher.deadlinePassedBeforeStart.message)
        context.deadline = .now + .seconds(60)
        await dispatcher.run(route, stream: FakeServerCallStream(requests: [[2]]), context: context)
        #expect(ran.value == 1)
    }

    /// The dispatcher bounds the calls running through it server-wide: past the limit a call is answered
    /// RESOURCE_EXHAUSTED without running (no interceptor, no handler), and a call that ends makes room.
    @Test func callsRunningAtOncePastTheServersLimitAreRefused() async throws {
        let (entered, enteredContinuation) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseContinuation) = AsyncStream.makeStream(of: Void.self)
        let ran = LockedBox(0)
        var router = RPCRouter()
        router.registerUnary(Self.echo) { (request: RawMessage, context) in
            ran.withLock { $0 += 1 }
            if context.callID == 1 {
                enteredContinuation.yield()
                for await _ in release { break }
            }
            return ServerResponse(message: request)
        }
        let dispatcher = CallDispatcher(router: router, maxConcurrentCalls: 1)
        let route = try #require(router.route(forPath: Self.echo.path))
        let first = FakeServerCallStream(requests: [[1]])
        let held = Task { await dispatcher.run(route, stream: first, context: Self.context(Self.echo)) }
        var iterator = entered.makeAsyncIterator()
        _ = await iterator.next()
        #expect(dispatcher.running.count == 1)

        let refused = FakeServerCallStream(requests: [[2]])
        let second = ServerContext(descriptor: Self.echo, metadata: [:], deadline: nil, peer: "test", callID: 2)
        await dispatcher.run(route, stream: refused, context: second)
        #expect(refused.failure.value?.code == .resourceExhausted)
        #expect(refused.failure.value?.message == "the server is running its limit of 1 calls; retry later or on another server")
        #expect(ran.value == 1, "the refused call's handler ran")

        // A method open without a key (its own request limit) has bounds of its own: a probe is answered at the limit.
        var openRouter = router
        openRouter.limitRequestMessages(ofPaths: [Self.echo.path], toBytes: 64)
        let probe = FakeServerCallStream(requests: [[4]])
        await dispatcher.run(try #require(openRouter.route(forPath: Self.echo.path)), stream: probe, context: second)
        #expect(probe.failure.value == nil && probe.outcomes.value == 1, "a probe was refused at the server's call limit")
        #expect(dispatcher.running.count == 1)

        releaseContinuation.finish()
        await held.value
        #expect(first.failure.value == nil && dispatcher.running.count == 0)
        let later = FakeServerCallStream(requests: [[3]])
        await dispatcher.run(route, stream: later, context: second)
        #expect(later.failure.value == nil && later.written.value.isEmpty && later.outcomes.value == 1)
    }

    /// `limitRequestMessages` sets the limit on the routes registered, and keeps it for routes served elsewhere.
    @Test func requestMessageLimitsByPath() {
        var router = Self.makeRouter()
        router.limitRequestMessages(ofPaths: [Self.echo.path, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"], toBytes: 64)
        #expect(router.route(forPath: Self.echo.path)?.maxRequestMessageSize == 64)
        #expect(router.route(forPath: Self.expand.path)?.maxRequestMessageSize == nil)
        #expect(router.requestMessageLimit(forPath: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo") == 64)
        let error = router.route(forPath: Self.echo.path)?.messageTooLarge(65)
        #expect(error?.code == .resourceExhausted)
        #expect(
            error?.message
                == "the request message of 65 bytes is larger than the open (keyless) method /copslink.test.EchoService/Echo's limit of 64 bytes"
        )
    }

    // Registering a path twice traps (a programming error). There is no exit test for it: on Linux, Swift Testing's
    // exit-test monitor thread waits with `waitid(P_ALL, …, WNOWAIT)` and spins on every child it did not start,
    // and this test binary starts many (copslink-server, copslink), so one exit test made the whole suite spin
    // and hang under load. Same for `RPCError(code: .ok)`.
}

/// Counts the calls it sees in `count`, then passes each on.
private struct CountingInterceptor: ServerInterceptor {
    let count: LockedBox<Int>
    func intercept(
        context: ServerContext, next: @Sendable (ServerContext) async throws -> CallOutcome
    ) async throws -> CallOutcome {
        count.withLock { $0 += 1 }
        return try await next(context)
    }
}

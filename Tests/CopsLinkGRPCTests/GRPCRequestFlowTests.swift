import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Prometheus
import Synchronization
import Testing

@testable import CopsLinkGRPC

/// A client-streaming call whose client sends faster than its handler reads: the stream handler stops reading once
/// the call holds the per-call window's bytes (so swift-nio-http2 withholds WINDOW_UPDATE and flow control stops the
/// client), counts what it holds against the server's inbound budget, and reads again when the handler takes
/// messages. On an EmbeddedChannel carrying HTTP/2 frame payloads; a handler in front counts the reads asked for.
@Suite("gRPC request-stream flow control")
struct GRPCRequestFlowTests {
    /// Counts `read()` calls that reach the stream channel (what the stream handler asks of it).
    final class ReadCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = Any
        let reads = Atomic<Int>(0)
        func read(context: ChannelHandlerContext) {
            reads.add(1, ordering: .relaxed)
            context.read()
        }
    }

    /// Opened by the test: the handler reads no request before.
    /// Opened by the test. A waiter is resumed by `open()`, on the test's thread, or by its task's cancellation, never
    /// by a timer: a handler resumed from a timer thread queued itself onto the EmbeddedEventLoop from that thread,
    /// which NIO reports as API misuse (thousands of times a run) and will make a crash.
    final class Gate: Sendable {
        private struct State {
            var opened = false
            var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
            var nextID = 0
        }
        private let state = Mutex(State())

        func open() {
            let waiters = state.withLock { state in
                state.opened = true
                defer { state.waiters = [:] }
                return Array(state.waiters.values)
            }
            for waiter in waiters { waiter.resume() }
        }

        func wait() async {
            let id = state.withLock { state in
                defer { state.nextID += 1 }
                return state.nextID
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { state in
                        guard !state.opened, !Task.isCancelled else { return true }
                        state.waiters[id] = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }

    static let method = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "StreamingInputCall")

    /// A router whose client-streaming handler waits for `gate`, then reads every request, recording each one's
    /// first payload byte in `received`.
    static func recordingRouter(gate: Gate, received: LockedBox<[UInt8]>) -> RPCRouter {
        var router = RPCRouter()
        router.registerClientStreaming(method) {
            (requests: RequestStream<StreamingInputCallRequest>, _) async throws -> ServerResponse<StreamingInputCallResponse> in
            await gate.wait()
            var count: UInt32 = 0
            for try await request in requests {
                received.withLock { $0.append(request.payload?.first ?? 0) }
                count += 1
            }
            return ServerResponse(message: StreamingInputCallResponse(messageCount: count))
        }
        return router
    }

    /// A connected stream channel: `counter` in front of a `GRPCStreamHandler`, the call's request HEADERS written.
    static func streamChannel(
        router: RPCRouter, configuration: ServerConfiguration, budget: InboundMemoryBudget, counter: ReadCounter
    ) async throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(
            GRPCStreamHandler(
                dispatcher: CallDispatcher(router: router), configuration: configuration,
                connection: GRPCConnectionState(configuration: configuration), budget: budget))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": method.path, ":authority": "x", "content-type": "application/grpc",
            "te": "trailers"
        ]
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
        return channel
    }

    @Test @EmbeddedTestActor func aSlowHandlersRequestsStayWithinTheWindowAndAllArriveInOrder() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.initialWindowSize = 1_000
        let gate = Gate()
        let received = LockedBox<[UInt8]>([])
        let budget = InboundMemoryBudget(limit: 1 << 20)
        let counter = ReadCounter()
        let channel = try await Self.streamChannel(
            router: Self.recordingRouter(gate: gate, received: received), configuration: configuration, budget: budget,
            counter: counter)
        // Ten messages of 200 payload bytes, the first byte numbering them; each counts its place in the queue too.
        let size = StreamingInputCallRequest(payload: [UInt8](repeating: 7, count: 200)).serializedBytes().count
        let cost = size + InboundMemoryBudget.waitingMessageOverhead
        func data(_ index: Int, endStream: Bool = false) -> HTTP2Frame.FramePayload {
            let message = StreamingInputCallRequest(payload: [UInt8(index)] + [UInt8](repeating: 7, count: 199)).serializedBytes()
            return .data(.init(data: .byteBuffer(GRPCMessageReader.frame(message, allocator: channel.allocator)), endStream: endStream))
        }
        var readsBefore = counter.reads.load(ordering: .relaxed)
        for index in 0..<4 {
            try channel.writeInbound(data(index))
            let reads = counter.reads.load(ordering: .relaxed)
            if index < 3 {
                #expect(reads > readsBefore, "message \(index): under the window, the handler reads on")
            } else {
                #expect(reads == readsBefore, "at 4 messages (≥ 1,000 bytes) the handler stops reading")
            }
            readsBefore = reads
        }
        #expect(3 * cost < 1_000 && 4 * cost >= 1_000)
        #expect(budget.usedBytes == 4 * cost, "the waiting messages count against the budget")

        gate.open()
        // The handler takes the messages; the call asks the stream handler (on its loop) to read again.
        for _ in 0..<500 where counter.reads.load(ordering: .relaxed) == readsBefore {
            channel.embeddedEventLoop.run()
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(counter.reads.load(ordering: .relaxed) > readsBefore, "reading resumes once the handler took messages")
        for index in 4..<10 { try channel.writeInbound(data(index, endStream: index == 9)) }

        var trailers: HPACKHeaders?
        for _ in 0..<500 where trailers == nil {
            channel.embeddedEventLoop.run()
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                if case .headers(let headers) = frame, headers.endStream { trailers = headers.headers }
            }
            if trailers == nil { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(trailers?.first(name: "grpc-status") == "0")
        #expect(received.withLock { $0 } == Array(0..<10), "every message, in order")
        #expect(budget.usedBytes == 0, "nothing is held once the call is over")
        _ = try? channel.finish()
    }

    /// Empty messages take five bytes of HTTP/2 window each, which comes back as the stream is read: were they to
    /// count nothing, the stream would be read on without end while the handler takes none. Each counts its place in
    /// the queue, so the stream stops being read after as many as fill the window.
    @Test @EmbeddedTestActor func emptyMessagesStopTheStreamOnceTheirPlacesFillTheWindow() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.initialWindowSize = 1_000
        let gate = Gate()
        let budget = InboundMemoryBudget(limit: 1 << 20)
        let counter = ReadCounter()
        let channel = try await Self.streamChannel(
            router: Self.recordingRouter(gate: gate, received: LockedBox([])), configuration: configuration, budget: budget,
            counter: counter)
        let overhead = InboundMemoryBudget.waitingMessageOverhead
        let stopsAt = (1_000 + overhead - 1) / overhead  // the first count of places that reaches the window
        var readsBefore = counter.reads.load(ordering: .relaxed)
        for index in 1...stopsAt {
            let frame = GRPCMessageReader.frame([], allocator: channel.allocator)
            try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(frame))))
            let reads = counter.reads.load(ordering: .relaxed)
            #expect((reads > readsBefore) == (index < stopsAt), "after \(index) empty messages")
            readsBefore = reads
        }
        #expect(budget.usedBytes == stopsAt * overhead, "each waiting empty message counts its place")
        gate.open()
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
        for _ in 0..<500 where budget.usedBytes > 0 {
            channel.embeddedEventLoop.run()
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(budget.usedBytes == 0, "nothing is held once the handler took them")
        _ = try? channel.finish()
    }

    /// A call that ends while its stream is paused (the handler answered without reading every request) reads on,
    /// dropping what the client still sends, so that the client's side of the stream can end.
    @Test @EmbeddedTestActor func aCallEndingWhilePausedReadsOnAndReleasesWhatItHeld() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.initialWindowSize = 1_000
        let gate = Gate()
        var router = RPCRouter()
        router.registerClientStreaming(Self.method) {
            (_: RequestStream<StreamingInputCallRequest>, _) async throws -> ServerResponse<StreamingInputCallResponse> in
            await gate.wait()
            return ServerResponse(message: StreamingInputCallResponse(messageCount: 0))
        }
        let budget = InboundMemoryBudget(limit: 1 << 20)
        let counter = ReadCounter()
        let channel = try await Self.streamChannel(router: router, configuration: configuration, budget: budget, counter: counter)
        let message = StreamingInputCallRequest(payload: [UInt8](repeating: 7, count: 600)).serializedBytes()
        for _ in 0..<2 {
            try channel.writeInbound(
                HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(GRPCMessageReader.frame(message, allocator: channel.allocator)))))
        }
        let paused = counter.reads.load(ordering: .relaxed)
        #expect(budget.usedBytes == 2 * (message.count + InboundMemoryBudget.waitingMessageOverhead))
        gate.open()
        var ended = false
        for _ in 0..<500 where !ended {
            channel.embeddedEventLoop.run()
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                if case .headers(let answer) = frame, answer.endStream { ended = true }
            }
            if !ended { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(ended)
        #expect(counter.reads.load(ordering: .relaxed) > paused, "the stream is read again once the call is over")
        #expect(budget.usedBytes == 0, "the unread messages left the budget")
        _ = try? channel.finish()
    }

    /// A connection's calls together hold at most `maxUnfinishedRequestBytesPerConnection` request bytes, as on a
    /// native connection: the call whose DATA takes the connection past it ends RESOURCE_EXHAUSTED, the other goes on.
    @Test @EmbeddedTestActor func aCallTakingTheConnectionPastItsLimitIsResourceExhaustedAndTheOtherGoesOn() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.initialWindowSize = 1 << 20
        configuration.maxUnfinishedRequestBytesPerConnection = 1_000
        let gate = Gate()
        let received = Mutex<Int>(0)
        var router = RPCRouter()
        router.registerClientStreaming(Self.method) {
            (requests: RequestStream<StreamingInputCallRequest>, _) async throws -> ServerResponse<StreamingInputCallResponse> in
            await gate.wait()
            for try await _ in requests { received.withLock { $0 += 1 } }
            return ServerResponse(message: StreamingInputCallResponse(messageCount: 0))
        }
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(router: router, factory: PrometheusMetricsFactory(registry: registry))
        let budget = InboundMemoryBudget(limit: 1 << 20)
        let connection = GRPCConnectionState(configuration: configuration)
        func stream() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(
                GRPCStreamHandler(
                    dispatcher: CallDispatcher(router: router), configuration: configuration, connection: connection, budget: budget,
                    metrics: metrics))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            let headers: HPACKHeaders = [
                ":method": "POST", ":scheme": "http", ":path": Self.method.path, ":authority": "x", "content-type": "application/grpc",
                "te": "trailers"
            ]
            try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
            return channel
        }
        let message = StreamingInputCallRequest(payload: [UInt8](repeating: 7, count: 200)).serializedBytes()
        let cost = message.count + InboundMemoryBudget.waitingMessageOverhead
        func send(_ channel: EmbeddedChannel, endStream: Bool = false) throws {
            let frame = GRPCMessageReader.frame(message, allocator: channel.allocator)
            try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(frame), endStream: endStream)))
        }
        func status(_ channel: EmbeddedChannel) async throws -> HPACKHeaders? {
            for _ in 0..<500 {
                channel.embeddedEventLoop.run()
                while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                    if case .headers(let answer) = frame, answer.endStream { return answer.headers }
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            return nil
        }

        let (first, second) = (try stream(), try stream())
        try send(first)
        try send(first)
        try send(second)
        #expect(connection.inbound.usedBytes == 3 * cost && 3 * cost <= 1_000)
        try send(second)  // 4 × 267 bytes: past the connection's 1,000
        let refused = try await status(second)
        #expect(refused?.first(name: "grpc-status") == "8")
        #expect(
            refused?.first(name: "grpc-message")
                == "the connection holds \(3 * cost) bytes of unfinished requests; \(cost) more would pass its limit of 1000"
        )
        #expect(connection.inbound.usedBytes == 2 * cost, "the refused call's bytes are released")
        try send(second)
        #expect(connection.inbound.usedBytes == 2 * cost, "what the refused call's client still sends is dropped")

        gate.open()
        try send(first, endStream: true)
        let answered = try await status(first)
        #expect(answered?.first(name: "grpc-status") == "0")
        #expect(received.withLock { $0 } == 3)
        #expect(connection.inbound.usedBytes == 0 && budget.usedBytes == 0)
        #expect(
            registry.text.contains(#"copslink_server_frames_rejected_total{reason="connection_inbound_budget"} 1"#)
        )
        _ = try? first.finish()
        _ = try? second.finish()
    }

    /// A call without `grpc-timeout` whose client leaves the request stream open and sends no complete message for
    /// the request timeout ends DEADLINE_EXCEEDED, as a native call does; each message starts the clock again.
    @Test @EmbeddedTestActor func aCallWithoutDeadlineWhoseClientSendsNothingEndsAtTheRequestTimeout() async throws {
        var router = RPCRouter()
        router.registerClientStreaming(Self.method) {
            (requests: RequestStream<StreamingInputCallRequest>, _) async throws -> ServerResponse<StreamingInputCallResponse> in
            for try await _ in requests {}
            return ServerResponse(message: StreamingInputCallResponse(messageCount: 0))
        }
        let (channel, answer) = try await Self.handlerChannel(router)
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: Self.requestHeaders(Self.method.path))))
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        let message = StreamingInputCallRequest(payload: [1, 2, 3]).serializedBytes()
        try channel.writeInbound(
            HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(GRPCMessageReader.frame(message, allocator: channel.allocator)))))
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(try answer() == nil, "a message 29 s ago keeps the call")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        let trailers = try answer()
        #expect(trailers?.first(name: "grpc-status") == "4")
        #expect(trailers?.first(name: "grpc-message") == "the client sent no complete message on the call's request stream for 30s")
        _ = try? channel.finish()
    }

    /// A stream channel running a `GRPCStreamHandler` over `router`, with a 30 s request timeout, and a function
    /// returning the trailers written so far (nil before the call ends).
    static func handlerChannel(_ router: RPCRouter) async throws -> (EmbeddedChannel, () throws -> HPACKHeaders?) {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.requestIdleTimeout = .seconds(30)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            GRPCStreamHandler(
                dispatcher: CallDispatcher(router: router), configuration: configuration,
                connection: GRPCConnectionState(configuration: configuration), budget: InboundMemoryBudget(limit: 1 << 20)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let answer = { () throws -> HPACKHeaders? in
            channel.embeddedEventLoop.run()  // what the call's task handed to the loop
            var trailers: HPACKHeaders?
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                if case .headers(let headers) = frame, headers.endStream { trailers = headers.headers }
            }
            return trailers
        }
        return (channel, answer)
    }

    static let unary = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "UnaryCall")

    static func requestHeaders(_ path: String, timeout: String? = nil) -> HPACKHeaders {
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": "x", "content-type": "application/grpc", "te": "trailers"
        ]
        if let timeout { headers.add(name: "grpc-timeout", value: timeout) }
        return headers
    }

    /// A call of a method taking one request is not held open past the request timeout by a long `grpc-timeout`: its
    /// client has no reason to wait before sending the request (a keyless health Check held this way for hours was
    /// a cheap way to pile up open streams).
    @Test @EmbeddedTestActor func aUnaryCallWithALongDeadlineWhoseClientSendsNothingEndsAtTheRequestTimeout() async throws {
        var router = RPCRouter()
        router.registerUnary(Self.unary) { (request: SimpleRequest, _) in ServerResponse(message: SimpleResponse()) }
        let (channel, answer) = try await Self.handlerChannel(router)
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: Self.requestHeaders(Self.unary.path, timeout: "99H"))))
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(try answer() == nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        let trailers = try answer()
        #expect(trailers?.first(name: "grpc-status") == "4", "a 99-hour grpc-timeout held a unary call's empty request stream")
        #expect(trailers?.first(name: "grpc-message") == "the client sent no complete message on the call's request stream for 30s")
        _ = try? channel.finish()
    }

    /// A handler still running when `grpc-timeout` passes: DEADLINE_EXCEEDED with the native protocol's text (§9),
    /// as HTTP/JSON answers it. gRPC said only "passed", which a client comparing messages across protocols saw differ.
    @Test @EmbeddedTestActor func aCallPastItsDeadlineIsAnsweredAsNativeIs() async throws {
        let gate = Gate()
        var router = RPCRouter()
        router.registerUnary(Self.unary) { (_: SimpleRequest, _) in
            await gate.wait()
            return ServerResponse(message: SimpleResponse())
        }
        let (channel, answer) = try await Self.handlerChannel(router)
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: Self.requestHeaders(Self.unary.path, timeout: "250m"))))
        let message = GRPCMessageReader.frame(SimpleRequest().serializedBytes(), allocator: channel.allocator)
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(message), endStream: true)))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(250))
        let trailers = try answer()
        gate.open()
        #expect(trailers?.first(name: "grpc-status") == "4")
        #expect(trailers?.first(name: "grpc-message") == "the call's deadline of 0.25s passed before the handler finished")
        _ = try? channel.finish()
    }

    /// A route with its own request limit (the methods open without a key) refuses a larger message from its length
    /// prefix, before the message arrives, and holds none of it; a message within the limit is served.
    @Test @EmbeddedTestActor func aRoutesOwnRequestLimitRefusesALargerMessageFromItsPrefix() async throws {
        var router = RPCRouter()
        router.registerUnary(Self.unary) { (request: SimpleRequest, _) in ServerResponse(message: SimpleResponse()) }
        router.limitRequestMessages(ofPaths: [Self.unary.path], toBytes: 64)

        let (refused, refusedAnswer) = try await Self.handlerChannel(router)
        try refused.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: Self.requestHeaders(Self.unary.path))))
        var prefix = refused.allocator.buffer(capacity: 5 + 10)
        prefix.writeInteger(UInt8(0))
        prefix.writeInteger(UInt32(4 << 20))
        prefix.writeBytes([UInt8](repeating: 7, count: 10))
        try refused.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(prefix))))
        let trailers = try refusedAnswer()
        #expect(trailers?.first(name: "grpc-status") == "8")
        #expect(
            trailers?.first(name: "grpc-message")
                == "the request message of 4194304 bytes is larger than the open (keyless) method /copslink.rpc.v1.TestService/UnaryCall's limit of 64 bytes"
        )
        _ = try? refused.finish()

        let (served, servedAnswer) = try await Self.handlerChannel(router)
        try served.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: Self.requestHeaders(Self.unary.path))))
        let message = SimpleRequest(responseSize: 3).serializedBytes()
        try served.writeInbound(
            HTTP2Frame.FramePayload.data(
                .init(data: .byteBuffer(GRPCMessageReader.frame(message, allocator: served.allocator)), endStream: true)))
        var servedTrailers: HPACKHeaders?
        for _ in 0..<1_000 where servedTrailers == nil {
            await Task.yield()
            servedTrailers = try servedAnswer()
        }
        #expect(servedTrailers?.first(name: "grpc-status") == "0", "a message within the route's limit was not served")
        _ = try? served.finish()
    }

    /// Calls of an open method whose request did not come with their HEADERS count server-wide until it comes; past
    /// the limit such a call is refused. A call that brings its request in the same read (as a probe does) is never
    /// counted, so held calls cannot crowd it out.
    @Test @EmbeddedTestActor func openCallsAwaitingTheirRequestAreBoundedButProbesAreNot() async throws {
        var router = RPCRouter()
        router.registerUnary(Self.unary) { (_: SimpleRequest, _) in ServerResponse(message: SimpleResponse()) }
        router.limitRequestMessages(ofPaths: [Self.unary.path], toBytes: 64)
        let dispatcher = CallDispatcher(router: router, maxOpenCallsAwaitingRequest: 1)
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        func stream() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(
                GRPCStreamHandler(
                    dispatcher: dispatcher, configuration: configuration, connection: GRPCConnectionState(configuration: configuration),
                    budget: InboundMemoryBudget(limit: 1 << 20)))
            channel.pipeline.fireChannelActive()
            return channel
        }
        func status(_ channel: EmbeddedChannel) async throws -> String? {
            for _ in 0..<200 {
                channel.embeddedEventLoop.run()
                while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                    if case .headers(let headers) = frame, headers.endStream { return headers.headers.first(name: "grpc-status") }
                }
                await Task.yield()
            }
            return nil
        }
        let headers = HTTP2Frame.FramePayload.headers(.init(headers: Self.requestHeaders(Self.unary.path)))
        func request(_ channel: EmbeddedChannel) -> HTTP2Frame.FramePayload {
            .data(
                .init(
                    data: .byteBuffer(GRPCMessageReader.frame(SimpleRequest().serializedBytes(), allocator: channel.allocator)),
                    endStream: true))
        }

        let held = try stream()
        try held.writeInbound(headers)  // HEADERS alone: the event loop's turn ends with the request still to come
        held.embeddedEventLoop.run()
        #expect(dispatcher.openCallsAwaitingRequest.count == 1)
        let refused = try stream()
        try refused.writeInbound(headers)
        #expect(try await status(refused) == "8", "a second held call past the limit of 1")
        #expect(dispatcher.openCallsAwaitingRequest.count == 1)
        // Its client has not ended its side: the stream is reset with NO_ERROR after the trailers, so that it does not
        // stay half-open on the server.
        guard case .rstStream(let code)? = try refused.readOutbound(as: HTTP2Frame.FramePayload.self) else {
            Issue.record("no RST_STREAM after a refusal while the client's side is open")
            return
        }
        #expect(code == .noError)

        // A probe: HEADERS and its request in the same turn of the event loop (one socket read), even as two reads
        // of the stream channel.
        let probe = try stream()
        try probe.writeInbound(headers)
        try probe.writeInbound(request(probe))
        #expect(try await status(probe) == "0", "a probe that brings its request was refused")
        #expect(try probe.readOutbound(as: HTTP2Frame.FramePayload.self) == nil, "nothing after the answer to a client that ended its side")

        // The held call's request comes: it no longer counts.
        try held.writeInbound(request(held))
        #expect(try await status(held) == "0")
        #expect(dispatcher.openCallsAwaitingRequest.count == 0)
        for channel in [held, refused, probe] { _ = try? channel.finish() }
    }

    /// A connected stream channel whose writes `HeldWrites` holds, in front of a `GRPCStreamHandler` for `router`.
    static func heldWritesChannel(
        _ router: RPCRouter, _ configuration: ServerConfiguration, metrics: ServerMetrics? = nil
    ) throws -> (EmbeddedChannel, HeldWrites) {
        let held = HeldWrites()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(held)
        try channel.pipeline.syncOperations.addHandler(
            GRPCStreamHandler(
                dispatcher: CallDispatcher(router: router), configuration: configuration,
                connection: GRPCConnectionState(configuration: configuration), budget: InboundMemoryBudget(limit: 1 << 20),
                metrics: metrics))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, held)
    }

    /// Holds the promises of the writes passing it, as swift-nio-http2 does for DATA that waits for a stream's
    /// flow-control window (a client that grants none never lets them complete).
    final class HeldWrites: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var promises: [EventLoopPromise<Void>] = []
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if let promise { promises.append(promise) }
            context.write(data, promise: nil)
        }
    }

    /// A call answered with DATA while its client's side is still open (a keyless reflection stream whose client
    /// never ends it) is reset with NO_ERROR once its trailers are sent, not before (DATA still waiting for the
    /// client's window would be dropped), so that the stream does not stay open on the server with nothing left to
    /// end it.
    @Test @EmbeddedTestActor func anAnswerWithDataResetsTheStreamStillOpenOnceItsTrailersAreSent() async throws {
        let duplex = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "FullDuplexCall")
        var router = RPCRouter()
        router.registerBidirectionalStreaming(duplex) {
            (requests: RequestStream<SimpleRequest>, responses: ResponseWriter<SimpleResponse>, _) async throws -> Metadata in
            for try await _ in requests {
                try await responses.write(SimpleResponse(payload: [1, 2, 3]))
                break
            }
            return [:]
        }
        let (channel, held) = try Self.heldWritesChannel(router, ServerConfiguration(host: "127.0.0.1", port: 0))
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: Self.requestHeaders(duplex.path))))
        try channel.writeInbound(
            HTTP2Frame.FramePayload.data(
                .init(data: .byteBuffer(GRPCMessageReader.frame(SimpleRequest().serializedBytes(), allocator: channel.allocator)))))
        var frames: [HTTP2Frame.FramePayload] = []
        func trailersWritten() -> Bool { frames.contains { if case .headers(let headers) = $0 { headers.endStream } else { false } } }
        for _ in 0..<1_000 where !trailersWritten() {
            channel.embeddedEventLoop.run()
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { frames.append(frame) }
            // The response's DATA is sent (its write returns to the handler); the trailers' write is held below.
            if !trailersWritten() {
                for promise in held.promises { promise.succeed() }
                held.promises.removeAll()
            }
            await Task.yield()
        }
        guard frames.count == 3, case .data = frames[1], case .headers(let trailers) = frames[2], trailers.endStream else {
            Issue.record("expected HEADERS, DATA and trailers: \(frames)")
            return
        }
        #expect(trailers.headers.first(name: "grpc-status") == "0")
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil, "reset before the trailers were sent")
        for promise in held.promises { promise.succeed() }  // swift-nio-http2 sends them: the client's window opened
        channel.embeddedEventLoop.run()
        guard case .rstStream(let code)? = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) else {
            Issue.record("no RST_STREAM once the trailers were sent while the client's side is open")
            return
        }
        #expect(code == .noError)
        _ = try? channel.finish()
    }

    /// An answer the client's window never lets out (INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE) does not keep its
    /// stream for ever: with none of its frames sent for the unwritable timeout, the stream is reset (its held
    /// frames dropped). Each frame sent starts the clock again.
    @Test @EmbeddedTestActor func anAnswerHeldByAZeroWindowResetsTheStreamAtTheUnwritableTimeout() async throws {
        var router = RPCRouter()
        router.registerUnary(Self.unary) { (_: SimpleRequest, _) in ServerResponse(message: SimpleResponse(payload: [1, 2, 3])) }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.unwritableTimeout = .seconds(30)
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(router: router, factory: PrometheusMetricsFactory(registry: registry))
        let (channel, held) = try Self.heldWritesChannel(router, configuration, metrics: metrics)
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: Self.requestHeaders(Self.unary.path))))
        let message = SimpleRequest().serializedBytes()
        try channel.writeInbound(
            HTTP2Frame.FramePayload.data(
                .init(data: .byteBuffer(GRPCMessageReader.frame(message, allocator: channel.allocator)), endStream: true)))
        for _ in 0..<100 where held.promises.count < 2 {
            channel.embeddedEventLoop.run()
            await Task.yield()
        }
        #expect(held.promises.count == 2, "the answer's DATA and trailers wait for the window")

        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        held.promises.removeFirst().succeed()  // the DATA goes out: the client reads, slowly
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive, "progress 29 s ago keeps the stream")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "trailers held 30 s with nothing sent: the stream is reset")
        #expect(registry.text.contains(#"copslink_server_frames_rejected_total{reason="slow_reader"} 1"#))
        for promise in held.promises { promise.fail(ChannelError.ioOnClosedChannel) }
        _ = try? channel.finish()
    }

    /// While the server's inbound budget is exhausted a gRPC connection's socket is not read; once bytes are released
    /// the withheld read goes out at the next retry.
    @Test func theConnectionIsNotReadWhileTheBudgetIsExhausted() throws {
        let budget = InboundMemoryBudget(limit: 100)
        let counter = ReadCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(GRPCReadGate(budget: budget))
        channel.read()
        #expect(counter.reads.load(ordering: .relaxed) == 1)
        budget.adjust(by: 100)
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(50))
        #expect(counter.reads.load(ordering: .relaxed) == 1, "no read while exhausted")
        budget.adjust(by: -1)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(10))
        #expect(counter.reads.load(ordering: .relaxed) == 2, "the withheld read, once there is room")
        _ = try? channel.finish()
    }

    /// Nor while the socket holds the outbound high-water mark of answers the client has not read: its further calls
    /// wait in the kernel, as on a native connection (PROTOCOL.md §19.3).
    @Test func theConnectionIsNotReadWhileItIsUnwritable() throws {
        let counter = ReadCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(GRPCReadGate(budget: InboundMemoryBudget(limit: 100)))
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(counter.reads.load(ordering: .relaxed) == 0, "a read while unwritable")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(counter.reads.load(ordering: .relaxed) == 1, "the withheld read, once the socket takes bytes")
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(counter.reads.load(ordering: .relaxed) == 1, "a read nobody asked for")
        _ = try? channel.finish()
    }
}

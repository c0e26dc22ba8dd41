import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Synchronization
import Testing

@testable import CopsLinkGRPC

/// The bound on a client-streaming call's request bytes, end to end through swift-nio-http2: a client connection
/// (swift-nio-http2 in client mode) and the server's pipeline as `GRPCServer` configures it, on two EmbeddedChannels
/// whose bytes the test carries across. The unit tests in `GRPCRequestFlowTests` show the stream handler stops
/// reading; this shows that stopping reading stops the client.
@Suite("gRPC request streams over HTTP/2")
struct GRPCHTTP2FlowTests {
    /// Counts the bytes the server's socket would have read.
    final class ByteCounter: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Atomic<Int>(0)
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes.add(unwrapInboundIn(data).readableBytes, ordering: .relaxed)
            context.fireChannelRead(data)
        }
    }

    /// Carries bytes both ways between two EmbeddedChannels and runs both loops until neither side has anything to
    /// send.
    static func exchange(_ client: EmbeddedChannel, _ server: EmbeddedChannel) throws {
        var moved = true
        while moved {
            moved = false
            client.embeddedEventLoop.run()
            server.embeddedEventLoop.run()
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                try server.writeInbound(bytes)
                moved = true
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                try client.writeInbound(bytes)
                moved = true
            }
        }
    }

    /// The client stream's answer: whether its trailers came, and their `grpc-status`.
    final class Answer: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTP2Frame.FramePayload
        let status = Mutex<String?>(nil)
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .headers(let headers) = unwrapInboundIn(data), headers.endStream {
                status.withLock { $0 = headers.headers.first(name: "grpc-status") ?? "none" }
            }
        }
    }

    /// The handshake timeout sees the client's SETTINGS through swift-nio-http2's handler: a real client connection
    /// outlives it, and a peer that sent only part of the HTTP/2 magic is closed at it.
    @Test(arguments: [true, false])
    func theHandshakeTimeoutEndsOnlyAConnectionWhosePrefaceNeverCame(completesPreface: Bool) throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.handshakeTimeout = .seconds(10)
        configuration.idleTimeout = nil
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        let server = EmbeddedChannel()
        try GRPCServer.configure(
            server.pipeline.syncOperations,
            context: ProtocolInstallContext(
                dispatcher: CallDispatcher(router: RPCRouter()), configuration: configuration,
                budget: InboundMemoryBudget(limit: 1 << 20), metrics: nil, connectedAt: server.embeddedEventLoop.now))
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        if completesPreface {
            let client = EmbeddedChannel()
            _ = try client.pipeline.syncOperations.configureHTTP2Pipeline(
                mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
            ) { $0.eventLoop.makeSucceededVoidFuture() }
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            client.embeddedEventLoop.run()
            while let bytes = try client.readOutbound(as: ByteBuffer.self) { try server.writeInbound(bytes) }
        } else {
            try server.writeInbound(ByteBuffer(string: "PRI * HTTP/2.0"))
        }
        server.embeddedEventLoop.advanceTime(by: .seconds(10))
        server.embeddedEventLoop.run()
        #expect(server.isActive == completesPreface)
        _ = try? server.finish()
    }

    /// `window` 65,535 is HTTP/2's default; with 131,072 the stream, opened before the client acknowledged the
    /// server's SETTINGS, gets swift-nio-http2's larger target (2 × window − 65,535, PROTOCOL.md §19.3).
    @Test(arguments: [65_535, 131_072]) @EmbeddedTestActor
    func aClientOutrunningItsHandlerIsStoppedByFlowControlAndEveryMessageArrives(window: Int) async throws {
        let streamWindow = window == 65_535 ? window : 2 * window - 65_535
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.initialWindowSize = window
        configuration.idleTimeout = nil
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        let gate = GRPCRequestFlowTests.Gate()
        let received = LockedBox<[UInt8]>([])
        let router = GRPCRequestFlowTests.recordingRouter(gate: gate, received: received)
        let budget = InboundMemoryBudget(limit: 1 << 30)
        let counter = ByteCounter()
        let server = EmbeddedChannel()
        try server.pipeline.syncOperations.addHandler(counter)
        try GRPCServer.configure(
            server.pipeline.syncOperations,
            context: ProtocolInstallContext(
                dispatcher: CallDispatcher(router: router), configuration: configuration, budget: budget, metrics: nil))
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()

        let client = EmbeddedChannel()
        let multiplexer = try client.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
        ) { $0.eventLoop.makeSucceededVoidFuture() }
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()

        func exchange() throws { try Self.exchange(client, server) }

        let answer = Answer()
        let streamFuture = multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(answer) }
        }
        client.embeddedEventLoop.run()
        let stream = try streamFuture.wait()
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": GRPCRequestFlowTests.method.path, ":authority": "x",
            "content-type": "application/grpc", "te": "trailers"
        ]
        stream.write(HTTP2Frame.FramePayload.headers(.init(headers: headers)), promise: nil)
        // 100 messages of about 10 KB (1 MB, 15 windows), the first payload byte numbering them.
        let count = 100
        var messageSize = 0
        for index in 0..<count {
            let message = StreamingInputCallRequest(payload: [UInt8(index)] + [UInt8](repeating: 7, count: 9_999)).serializedBytes()
            messageSize = message.count
            let frame = GRPCMessageReader.frame(message, allocator: stream.allocator)
            stream.write(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(frame), endStream: index == count - 1)), promise: nil)
        }
        stream.flush()
        try exchange()

        // The handler has read nothing: the server holds what flow control let through and the client the rest.
        let sent = counter.bytes.load(ordering: .relaxed)
        // Waiting and partial: under the window plus a message when the last read began, plus what it handed over (at
        // most the stream's window); unread: at most the stream's window.
        #expect(budget.usedBytes < window + streamWindow + messageSize, "held for the handler: \(budget.usedBytes)")
        #expect(sent < window + 2 * streamWindow + messageSize + 4_096, "received: \(sent)")
        #expect(budget.usedBytes >= window, "the call filled its window before it stopped reading: \(budget.usedBytes)")
        #expect(answer.status.withLock { $0 } == nil)

        // The handler takes the messages; each time the call drains below its window the stream is read again.
        gate.open()
        for _ in 0..<2_000 where answer.status.withLock({ $0 }) == nil {
            try exchange()
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(answer.status.withLock { $0 } == "0")
        #expect(received.withLock { $0 } == (0..<count).map { UInt8($0) }, "every message, in order")
        #expect(counter.bytes.load(ordering: .relaxed) > count * messageSize)
        #expect(budget.usedBytes == 0, "nothing is held once the call is over")
        _ = try? client.finish()
        _ = try? server.finish()
    }

    /// What a test's handlers saw, in the order they saw it.
    final class EventLog: Sendable {
        let entries = Mutex<[String]>([])
    }

    /// Root-stream frames the client's connection receives (GOAWAY, PING).
    final class RootFrames: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTP2Frame
        let goAways = Mutex<[HTTP2StreamID]>([])
        let goAwayCodes = Mutex<[HTTP2ErrorCode]>([])
        /// Where to note each GOAWAY among the streams' answers (`Ending.log`), if anywhere.
        let log: EventLog?
        init(log: EventLog? = nil) { self.log = log }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .goAway(let last, let code, _) = unwrapInboundIn(data).payload {
                goAways.withLock { $0.append(last) }
                goAwayCodes.withLock { $0.append(code) }
                log?.entries.withLock { $0.append("goaway") }
            }
            context.fireChannelRead(data)
        }
    }

    /// A graceful shutdown through swift-nio-http2 on both sides: GOAWAY naming every stream and a PING, which the
    /// client's swift-nio-http2 answers, then the final GOAWAY naming the open stream; the call finishes, then the
    /// connection closes.
    @Test @EmbeddedTestActor func aGracefulShutdownSendsTwoGoAwaysAndLetsTheOpenCallFinish() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.idleTimeout = nil
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        let gate = GRPCRequestFlowTests.Gate()
        var router = RPCRouter()
        router.registerClientStreaming(GRPCRequestFlowTests.method) {
            (requests: RequestStream<StreamingInputCallRequest>, _) async throws -> ServerResponse<StreamingInputCallResponse> in
            await gate.wait()
            for try await _ in requests {}
            return ServerResponse(message: StreamingInputCallResponse(messageCount: 0))
        }
        let server = EmbeddedChannel()
        try GRPCServer.configure(
            server.pipeline.syncOperations,
            context: ProtocolInstallContext(
                dispatcher: CallDispatcher(router: router), configuration: configuration, budget: InboundMemoryBudget(limit: 1 << 20),
                metrics: nil))
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let client = EmbeddedChannel()
        let multiplexer = try client.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
        ) { $0.eventLoop.makeSucceededVoidFuture() }
        let root = RootFrames()
        try client.pipeline.syncOperations.addHandler(root)
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        func exchange() throws { try Self.exchange(client, server) }
        let answer = Answer()
        let streamFuture = multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(answer) }
        }
        client.embeddedEventLoop.run()
        let stream = try streamFuture.wait()
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": GRPCRequestFlowTests.method.path, ":authority": "x",
            "content-type": "application/grpc", "te": "trailers"
        ]
        stream.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: headers)), promise: nil)
        try exchange()

        server.pipeline.triggerUserOutboundEvent(GracefulShutdownEvent(deadline: .now() + .seconds(60)), promise: nil)
        try exchange()
        #expect(root.goAways.withLock { $0 } == [.maxID, 1], "GOAWAY for every stream, then for stream 1 once the PING came back")
        #expect(server.isActive, "the open call may finish")

        gate.open()
        let message = GRPCMessageReader.frame(StreamingInputCallRequest(payload: [1]).serializedBytes(), allocator: stream.allocator)
        stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(message), endStream: true)), promise: nil)
        for _ in 0..<500 where answer.status.withLock({ $0 }) == nil {
            try exchange()
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(answer.status.withLock { $0 } == "0")
        try exchange()
        #expect(!server.isActive, "closed once the last stream ended")
        _ = try? client.finish()
        _ = try? server.finish()
    }

    /// A client stream's end: the `grpc-status` of its trailers, or the code of the RST_STREAM that ended it.
    final class Ending: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTP2Frame.FramePayload
        let status = Mutex<String?>(nil)
        let reset = Mutex<HTTP2ErrorCode?>(nil)
        /// Where to note the answer among the connection's GOAWAYs (`RootFrames.log`), if anywhere.
        let log: EventLog?
        init(log: EventLog? = nil) { self.log = log }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .headers(let headers) = unwrapInboundIn(data), headers.endStream {
                let code = headers.headers.first(name: "grpc-status") ?? "none"
                status.withLock { $0 = code }
                log?.entries.withLock { $0.append("status \(code)") }
            }
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let closed = event as? StreamClosedEvent, let reason = closed.reason { reset.withLock { $0 = reason } }
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Ten calls with a wrong key in one write, all running before the first is answered: three UNAUTHENTICATED
    /// answers, as on the native protocol (§12: a key-guesser pays a new connection every 3 tries), then GOAWAY
    /// NO_ERROR naming the last stream opened; the other seven are reset REFUSED_STREAM unanswered, and the
    /// connection is closed. Before, every call that finished before the close took effect was answered (a real
    /// server gave a client sending 100 wrong keys 6 to 14 answers); and then the GOAWAY went out before the third
    /// answer, named 2^31 − 1, and the close cut off the calls still running (a client saw no RST_STREAM for them and a
    /// second GOAWAY, PROTOCOL_ERROR).
    @Test @EmbeddedTestActor func aConnectionAnswersNoMoreThanItsUnauthenticatedLimit() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.idleTimeout = nil
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        configuration.maxUnauthenticatedCalls = 3
        let gate = GRPCRequestFlowTests.Gate()
        let arrived = Atomic<Int>(0)
        var router = RPCRouter()
        let method = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "EmptyCall")
        router.registerUnary(method) { (_: EmptyMessage, _) async throws -> ServerResponse<EmptyMessage> in
            arrived.add(1, ordering: .relaxed)
            await gate.wait()
            throw RPCError(code: .unauthenticated, message: "unknown API key")
        }
        let server = EmbeddedChannel()
        try GRPCServer.configure(
            server.pipeline.syncOperations,
            context: ProtocolInstallContext(
                dispatcher: CallDispatcher(router: router), configuration: configuration, budget: InboundMemoryBudget(limit: 1 << 20),
                metrics: nil))
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let client = EmbeddedChannel()
        let multiplexer = try client.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
        ) { $0.eventLoop.makeSucceededVoidFuture() }
        let log = EventLog()
        let root = RootFrames(log: log)
        try client.pipeline.syncOperations.addHandler(root)
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        func exchange() throws { try Self.exchange(client, server) }
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": method.path, ":authority": "x", "content-type": "application/grpc",
            "te": "trailers"
        ]
        var endings: [Ending] = []
        for _ in 0..<10 {
            let ending = Ending(log: log)
            endings.append(ending)
            let streamFuture = multiplexer.createStreamChannel { stream in
                stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(ending) }
            }
            client.embeddedEventLoop.run()
            let stream = try streamFuture.wait()
            stream.write(HTTP2Frame.FramePayload.headers(.init(headers: headers)), promise: nil)
            let message = GRPCMessageReader.frame([], allocator: stream.allocator)
            stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(message), endStream: true)), promise: nil)
        }
        for _ in 0..<2_000 where arrived.load(ordering: .relaxed) < 10 {
            try exchange()
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(arrived.load(ordering: .relaxed) == 10, "every call runs before any is answered")
        gate.open()
        func ended() -> Int { endings.filter { $0.status.withLock { $0 } != nil || $0.reset.withLock { $0 } != nil }.count }
        for _ in 0..<2_000 where server.isActive && ended() < 10 {
            try exchange()
            try await Task.sleep(for: .milliseconds(1))
        }
        try exchange()
        let statuses = endings.compactMap { $0.status.withLock { $0 } }
        let resets = endings.compactMap { $0.reset.withLock { $0 } }
        #expect(statuses == ["16", "16", "16"], "three UNAUTHENTICATED answers: \(statuses)")
        #expect(resets.allSatisfy { $0 == .refusedStream }, "the rest are refused unanswered: \(resets)")
        #expect(log.entries.withLock { $0 } == ["status 16", "status 16", "status 16", "goaway"], "the answers, then one GOAWAY")
        #expect(root.goAways.withLock { $0 } == [HTTP2StreamID(19)], "naming the last of the ten streams")
        #expect(root.goAwayCodes.withLock { $0 } == [.noError])
        #expect(!server.isActive, "the connection is closed")
        _ = try? client.finish()
        _ = try? server.finish()
    }
}

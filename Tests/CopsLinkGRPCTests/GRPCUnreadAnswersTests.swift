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

/// A client that reads none of its answers gets no further call answered: a unary or server-streaming call is handed
/// its request's end (its handler starts working) one event-loop turn after the call before it, and only while the
/// connection's socket takes bytes, as the native protocol decodes no frame past the outbound high-water mark
/// (PROTOCOL.md §12, §19.3). Streams on EmbeddedChannels sharing one connection state; a handler in front of each
/// stands for the socket, which stops taking bytes once an answer's DATA reaches it.
@Suite("gRPC answers left unread")
struct GRPCUnreadAnswersTests {
    static let unary = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "UnaryCall")
    static let clientStreaming = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "StreamingInputCall")
    /// A unary method whose handler waits for `Harness.gate` before answering.
    static let gated = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "GatedCall")

    /// Opened by the test: the gated handler answers only then.
    typealias Gate = GRPCRequestFlowTests.Gate

    /// The socket: once an answer's DATA passes it, the connection is unwritable (its client reads nothing).
    final class FillingSocket: ChannelOutboundHandler {
        typealias OutboundIn = HTTP2Frame.FramePayload
        let connection: GRPCConnectionState
        var fills = true
        /// The socket does not take the bytes: the writes' promises wait here until the test completes them.
        var holds = false
        var held: [EventLoopPromise<Void>] = []
        init(connection: GRPCConnectionState) { self.connection = connection }
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if fills, case .data = unwrapOutboundIn(data) { connection.socketWritabilityChanged(writable: false) }
            guard holds else { return context.write(data, promise: promise) }
            if let promise { held.append(promise) }
            context.write(data, promise: nil)
        }
    }

    struct Harness {
        let loop = EmbeddedEventLoop()
        let runs = LockedBox(0)
        let streamingRuns = LockedBox(0)
        let gate = Gate()
        let dispatcher: CallDispatcher
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        let connection: GRPCConnectionState

        /// The requests' `responseSize`, in the order their handlers ran.
        let order = LockedBox<[UInt32]>([])

        /// A unary method answering 2,000 bytes (open to keyless callers, as Health's Check is, if `openUnary`), a
        /// gated one and a client-streaming one counting its requests.
        init(openUnary: Bool = false, unreadAnswers: UnreadAnswerBudget? = nil, trust: ConnectionTrust = ConnectionTrust(trusted: true)) {
            var router = RPCRouter()
            let (runs, order) = (self.runs, self.order)
            router.registerUnary(GRPCUnreadAnswersTests.unary) { (request: SimpleRequest, _) in
                runs.withLock { $0 += 1 }
                order.withLock { $0.append(request.responseSize) }
                return ServerResponse(message: SimpleResponse(payload: [UInt8](repeating: 7, count: 2_000)))
            }
            if openUnary { router.limitRequestMessages(ofPaths: [GRPCUnreadAnswersTests.unary.path], toBytes: 64) }
            let gate = self.gate
            router.registerUnary(GRPCUnreadAnswersTests.gated) { (_: SimpleRequest, _) in
                await gate.wait()
                return ServerResponse(message: SimpleResponse())
            }
            let streamingRuns = self.streamingRuns
            router.registerClientStreaming(GRPCUnreadAnswersTests.clientStreaming) {
                (requests: RequestStream<StreamingInputCallRequest>, _) async throws -> ServerResponse<StreamingInputCallResponse> in
                var count: UInt32 = 0
                for try await _ in requests { count += 1 }
                streamingRuns.withLock { $0 += 1 }
                return ServerResponse(message: StreamingInputCallResponse(messageCount: count))
            }
            dispatcher = CallDispatcher(router: router)
            connection = GRPCConnectionState(configuration: configuration, unreadAnswers: unreadAnswers, trust: trust)
        }

        /// A stream of the connection whose client sent the call's HEADERS and its whole request, without the event
        /// loop running in between: as swift-nio-http2 hands over the streams of one socket read.
        func call(
            _ method: MethodDescriptor = GRPCUnreadAnswersTests.unary, timeout: String? = nil, fills: Bool = true, number: UInt32 = 0
        ) async throws -> EmbeddedChannel {
            try await call(method, timeout: timeout, socket: { $0.fills = fills }, number: number).channel
        }

        /// `call`, returning the stream's socket stand-in too.
        func call(
            _ method: MethodDescriptor = GRPCUnreadAnswersTests.unary, timeout: String? = nil, socket configure: (FillingSocket) -> Void,
            number: UInt32 = 0
        ) async throws -> (channel: EmbeddedChannel, socket: FillingSocket) {
            let streaming = method == GRPCUnreadAnswersTests.clientStreaming
            let channel = EmbeddedChannel(loop: loop)
            let socket = FillingSocket(connection: connection)
            configure(socket)
            try channel.pipeline.syncOperations.addHandler(socket)
            try channel.pipeline.syncOperations.addHandler(
                GRPCStreamHandler(
                    dispatcher: dispatcher, configuration: configuration, connection: connection,
                    budget: InboundMemoryBudget(limit: 1 << 20)))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            var headers: HPACKHeaders = [
                ":method": "POST", ":scheme": "http",
                ":path": method.path, ":authority": "x",
                "content-type": "application/grpc", "te": "trailers"
            ]
            if let timeout { headers.add(name: "grpc-timeout", value: timeout) }
            try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
            let request = GRPCMessageReader.frame(
                streaming ? StreamingInputCallRequest().serializedBytes() : SimpleRequest(responseSize: number).serializedBytes(),
                allocator: channel.allocator)
            try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(request), endStream: true)))
            return (channel, socket)
        }

        /// The call's `grpc-status`, once its trailers are out; nil if they do not come.
        func status(_ channel: EmbeddedChannel) async throws -> String? {
            try await trailers(channel)?.first(name: "grpc-status")
        }

        /// The call's trailers, once they are out; nil if they do not come.
        func trailers(_ channel: EmbeddedChannel) async throws -> HPACKHeaders? {
            for _ in 0..<100 {
                loop.run()
                while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                    if case .headers(let headers) = frame, headers.endStream { return headers.headers }
                }
                await Task.yield()
            }
            return nil
        }

        /// The error code of the RST_STREAM the server sent, once it is out; nil if none comes.
        func reset(_ channel: EmbeddedChannel) async throws -> HTTP2ErrorCode? {
            for _ in 0..<100 {
                loop.run()
                while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                    if case .rstStream(let code) = frame { return code }
                }
                await Task.yield()
            }
            return nil
        }
    }

    /// Two calls come in one read; the first's answer fills the socket: the second is not handed its request until
    /// the socket takes bytes again.
    @Test @EmbeddedTestActor func theCallsOfOneReadAnswerOneAtATimeWhileTheSocketTakesThem() async throws {
        let harness = Harness()
        let first = try await harness.call()
        let second = try await harness.call()
        #expect(try await harness.status(first) == "0")
        #expect(try await harness.status(second) == nil, "a call ran while the answer before it filled the socket")
        #expect(harness.runs.value == 1)

        harness.connection.socketWritabilityChanged(writable: true)  // the client reads
        #expect(try await harness.status(second) == "0")
        #expect(harness.runs.value == 2)
        for channel in [first, second] { _ = try? channel.finish() }
    }

    /// Calls whose answers do not fill the socket all run, in the order their requests came.
    @Test @EmbeddedTestActor func callsRunInTurnWhileTheSocketTakesTheirAnswers() async throws {
        let harness = Harness()
        var calls: [EmbeddedChannel] = []
        for number in 0..<5 { calls.append(try await harness.call(fills: false, number: UInt32(number))) }
        for call in calls { #expect(try await harness.status(call) == "0") }
        #expect(harness.order.value == [0, 1, 2, 3, 4])
        for channel in calls { _ = try? channel.finish() }
    }

    /// A call waiting for its turn still has its deadline: it ends DEADLINE_EXCEEDED without its handler running, and
    /// does not run when the socket drains later; nor does one whose client reset its stream, and the call behind
    /// them runs then.
    @Test @EmbeddedTestActor func aWaitingCallEndsAtItsDeadlineOrResetWithoutRunning() async throws {
        let harness = Harness()
        let first = try await harness.call()
        #expect(try await harness.status(first) == "0")
        let timed = try await harness.call(timeout: "100m")
        let reset = try await harness.call()
        let last = try await harness.call(fills: false)
        harness.loop.advanceTime(by: .milliseconds(100))
        #expect(try await harness.status(timed) == "4")
        try reset.close().wait()
        harness.connection.socketWritabilityChanged(writable: true)
        #expect(try await harness.status(last) == "0")
        #expect(harness.runs.value == 2, "a call that ended at its deadline or was reset ran after all")
        for channel in [first, timed, last] { _ = try? channel.finish() }
    }

    /// A call of a method open to keyless callers (Health's Check) that waits for the socket still counts as a call
    /// awaiting its request (`CallDispatcher.maxOpenCallsAwaitingRequest`), until it is handed the request's end.
    @Test @EmbeddedTestActor func anOpenMethodsWaitingCallCountsAsAwaitingItsRequest() async throws {
        let harness = Harness(openUnary: true)
        let first = try await harness.call()
        #expect(try await harness.status(first) == "0")
        #expect(harness.dispatcher.openCallsAwaitingRequest.count == 0)
        let second = try await harness.call()
        #expect(try await harness.status(second) == nil)
        #expect(harness.dispatcher.openCallsAwaitingRequest.count == 1)
        harness.connection.socketWritabilityChanged(writable: true)
        #expect(try await harness.status(second) == "0")
        #expect(harness.dispatcher.openCallsAwaitingRequest.count == 0)
        for channel in [first, second] { _ = try? channel.finish() }
    }

    /// The connection's handler tells the streams' shared state when the socket stops and starts taking bytes.
    @Test func theConnectionHandlerPassesTheSocketsWritabilityOn() throws {
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        let connection = GRPCConnectionState(configuration: configuration)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(GRPCConnectionHandler(state: connection, configuration: configuration))
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(!connection.socketWritable)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(connection.socketWritable)
        _ = try? channel.finish()
    }

    /// Answer DATA counts in the server's unread-answer budget until the socket has taken it; an answer that would
    /// pass the budget resets its stream (ENHANCE_YOUR_CALM) instead of being held, and while the budget is spent a
    /// new call is refused before it runs (PROTOCOL.md §12).
    @Test @EmbeddedTestActor func answersCountUntilSentAndThosePastTheBudgetAreDropped() async throws {
        let budget = UnreadAnswerBudget(limit: 3_000)
        let harness = Harness(unreadAnswers: budget)
        let (first, socket) = try await harness.call(socket: {
            $0.fills = false
            $0.holds = true
        })
        #expect(try await harness.status(first) == "0")
        let held = budget.usedBytes
        #expect(held > 2_000 && held < 2_100, "the answer's DATA, not yet taken by the socket")

        let second = try await harness.call(fills: false)
        #expect(try await harness.reset(second) == .enhanceYourCalm)
        #expect(harness.runs.value == 2)
        #expect(budget.usedBytes == held)

        // Spent: a new call is refused before it runs.
        let third = try await harness.call(fills: false)
        let refusal = try await harness.trailers(third)
        #expect(refusal?.first(name: "grpc-status") == "8")
        #expect(
            refusal?.first(name: "grpc-message")
                == "the server holds \(held) bytes of answers its clients have not taken, near its limit of 3000; retry later or on another server"
        )
        #expect(harness.runs.value == 2, "the refused call ran")

        for promise in socket.held { promise.succeed() }
        #expect(budget.usedBytes == 0, "the answer left the budget once the socket took it")
        let fourth = try await harness.call(fills: false)
        #expect(try await harness.status(fourth) == "0", "calls run again once the budget has room")
        for channel in [first, second, third, fourth] { _ = try? channel.finish() }
    }

    /// Answer DATA counts in the share of the key whose caller first authenticated on the connection: past that share
    /// the stream is reset, and the budget is not spent for other keys (new calls still run).
    @Test @EmbeddedTestActor func answersCountInTheConnectionsKeysShare() async throws {
        let budget = UnreadAnswerBudget(limit: 10_000, perKeyLimit: 2_500)
        let trust = ConnectionTrust(trusted: false)
        trust.grant(keyID: "k")
        let harness = Harness(unreadAnswers: budget, trust: trust)
        let (first, socket) = try await harness.call(socket: {
            $0.fills = false
            $0.holds = true
        })
        #expect(try await harness.status(first) == "0")
        let held = budget.usedBytes(ofKey: "k")
        #expect(held > 2_000 && held == budget.usedBytes, "the answer's DATA, in k's share")
        let second = try await harness.call(fills: false)
        #expect(try await harness.reset(second) == .enhanceYourCalm, "past k's share of 2,500")
        #expect(!budget.isExhausted && budget.usedBytes == held)
        for promise in socket.held { promise.succeed() }
        #expect(budget.usedBytes(ofKey: "k") == 0 && budget.usedBytes == 0)
        for channel in [first, second] { _ = try? channel.finish() }
    }

    /// A stream that goes away with answer DATA unsent releases what it counted at once, and the writes' promises,
    /// failed or completed later, release nothing more.
    @Test @EmbeddedTestActor func aStreamThatGoesReleasesItsUnsentAnswerOnce() async throws {
        let budget = UnreadAnswerBudget(limit: 1 << 20)
        let harness = Harness(unreadAnswers: budget)
        let (call, socket) = try await harness.call(socket: {
            $0.fills = false
            $0.holds = true
        })
        #expect(try await harness.status(call) == "0")
        #expect(budget.usedBytes > 2_000)
        _ = try? call.finish()
        #expect(budget.usedBytes == 0)
        for promise in socket.held { promise.succeed() }
        #expect(budget.usedBytes == 0, "released twice")
    }

    /// A call whose handler suspends before answering (a key lookup, PostgreSQL) holds the calls behind it for one
    /// event-loop turn only, not until it answers.
    @Test @EmbeddedTestActor func aHandlerThatSuspendsDoesNotHoldTheCallsBehindIt() async throws {
        let harness = Harness()
        let gated = try await harness.call(GRPCUnreadAnswersTests.gated)
        let next = try await harness.call(fills: false)
        #expect(try await harness.status(next) == "0")
        #expect(harness.runs.value == 1)
        harness.gate.open()
        var answered: String?
        for _ in 0..<200 where answered == nil {
            answered = try await harness.status(gated)
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(answered == "0")
        for channel in [gated, next] { _ = try? channel.finish() }
    }

    /// A client-streaming call is not held: each of its answers waits for its own request stream, whose messages its
    /// handler takes as they come.
    @Test @EmbeddedTestActor func aClientStreamingCallIsNotHeld() async throws {
        let harness = Harness()
        let first = try await harness.call()
        #expect(try await harness.status(first) == "0")
        let streaming = try await harness.call(GRPCUnreadAnswersTests.clientStreaming)
        #expect(try await harness.status(streaming) == "0")
        #expect(harness.streamingRuns.value == 1)
        for channel in [first, streaming] { _ = try? channel.finish() }
    }
}

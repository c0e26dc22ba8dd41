import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import CopsLinkGRPC

/// A client that reads none of its answers gets no new call started: a call of a method taking one request starts
/// once its request is in and its connection's answers have drained below the outbound low-water mark, as the native
/// protocol stops decoding at the frame whose answer passes the high-water mark (PROTOCOL.md §12.2, §19.3). Streams
/// on EmbeddedChannels sharing one connection state; a handler in front of each holds its writes' promises, as the
/// socket does for bytes the client has not read.
@Suite("gRPC answers left unread")
struct GRPCUnreadAnswersTests {
    static let unary = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "UnaryCall")
    static let clientStreaming = MethodDescriptor(service: "copslink.rpc.v1.TestService", method: "StreamingInputCall")

    /// Holds the promises of the writes passing it: the bytes are "unsent" until the test completes them.
    final class HeldWrites: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var promises: [EventLoopPromise<Void>] = []
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if let promise { promises.append(promise) }
            context.write(data, promise: nil)
        }
    }

    struct Harness {
        let loop = EmbeddedEventLoop()
        let runs = LockedBox(0)
        /// Client-streaming handlers started.
        let started = LockedBox(0)
        let dispatcher: CallDispatcher
        let configuration: ServerConfiguration
        let connection: GRPCConnectionState

        /// A unary method answering 2,000 bytes, on a connection whose outbound marks are 1,000 and 100 bytes.
        init() {
            var router = RPCRouter()
            let runs = self.runs
            router.registerUnary(GRPCUnreadAnswersTests.unary) { (_: SimpleRequest, _) in
                runs.withLock { $0 += 1 }
                return ServerResponse(message: SimpleResponse(payload: [UInt8](repeating: 7, count: 2_000)))
            }
            let started = self.started
            router.registerClientStreaming(GRPCUnreadAnswersTests.clientStreaming) {
                (requests: RequestStream<StreamingInputCallRequest>, _) async throws -> ServerResponse<StreamingInputCallResponse> in
                started.withLock { $0 += 1 }
                var count: UInt32 = 0
                for try await _ in requests { count += 1 }
                return ServerResponse(message: StreamingInputCallResponse(messageCount: count))
            }
            dispatcher = CallDispatcher(router: router)
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            configuration.outboundHighWaterMark = 1_000
            configuration.outboundLowWaterMark = 100
            self.configuration = configuration
            connection = GRPCConnectionState(configuration: configuration)
        }

        /// A stream of the connection whose client sent the call's HEADERS and, unless `streaming`, its request.
        func call(timeout: String? = nil, streaming: Bool = false) async throws -> (EmbeddedChannel, HeldWrites) {
            let held = HeldWrites()
            let channel = EmbeddedChannel(loop: loop)
            try channel.pipeline.syncOperations.addHandler(held)
            try channel.pipeline.syncOperations.addHandler(
                GRPCStreamHandler(
                    dispatcher: dispatcher, configuration: configuration, connection: connection,
                    budget: InboundMemoryBudget(limit: 1 << 20)))
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
            var headers: HPACKHeaders = [
                ":method": "POST", ":scheme": "http",
                ":path": (streaming ? GRPCUnreadAnswersTests.clientStreaming : GRPCUnreadAnswersTests.unary).path, ":authority": "x",
                "content-type": "application/grpc", "te": "trailers"
            ]
            if let timeout { headers.add(name: "grpc-timeout", value: timeout) }
            try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
            if streaming { return (channel, held) }
            let request = GRPCMessageReader.frame(SimpleRequest().serializedBytes(), allocator: channel.allocator)
            try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(request), endStream: true)))
            return (channel, held)
        }

        /// The call's `grpc-status`, once its trailers are out; nil if they do not come.
        func status(_ channel: EmbeddedChannel) async throws -> String? {
            for _ in 0..<100 {
                loop.run()
                while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                    if case .headers(let headers) = frame, headers.endStream { return headers.headers.first(name: "grpc-status") }
                }
                await Task.yield()
            }
            return nil
        }
    }

    @Test func aCallStartsOnlyOnceTheAnswersBeforeItHaveBeenSent() async throws {
        let harness = Harness()
        let (first, firstWrites) = try await harness.call()
        #expect(try await harness.status(first) == "0")
        #expect(harness.connection.unsentAnswerBytes > 1_000, "the first answer is written and not sent")

        let (second, _) = try await harness.call()
        #expect(try await harness.status(second) == nil, "a call started while the answer before it waited unread")
        #expect(harness.runs.value == 1)

        // The client reads the first answer: the second call starts and answers.
        let firstAnswer = harness.connection.unsentAnswerBytes
        for promise in firstWrites.promises { promise.succeed() }
        #expect(try await harness.status(second) == "0")
        #expect(harness.connection.unsentAnswerBytes == firstAnswer, "now the second answer waits, as large as the first")
        #expect(harness.runs.value == 2)
        for channel in [first, second] { _ = try? channel.finish() }
    }

    /// A call of a method taking a stream of requests starts with its HEADERS, unless the answers before it wait
    /// unread: then it starts once they are sent, as a unary call does.
    @Test func aClientStreamingCallStartsOnceTheAnswersBeforeItHaveBeenSent() async throws {
        let harness = Harness()
        let (first, firstWrites) = try await harness.call()
        #expect(try await harness.status(first) == "0")
        let (streaming, _) = try await harness.call(streaming: true)
        for _ in 0..<20 {
            harness.loop.run()
            await Task.yield()
        }
        #expect(harness.started.value == 0, "a client-streaming handler started while the answer before it waited unread")
        for promise in firstWrites.promises { promise.succeed() }
        for _ in 0..<100 where harness.started.value == 0 {
            harness.loop.run()
            await Task.yield()
        }
        #expect(harness.started.value == 1)
        try streaming.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
        #expect(try await harness.status(streaming) == "0")
        for channel in [first, streaming] { _ = try? channel.finish() }
    }

    /// A call waiting to start still has its deadline: it ends DEADLINE_EXCEEDED without its handler running, and does
    /// not start when the connection drains later.
    @Test func aWaitingCallEndsAtItsDeadlineWithoutRunning() async throws {
        let harness = Harness()
        let (first, firstWrites) = try await harness.call()
        #expect(try await harness.status(first) == "0")
        let (second, _) = try await harness.call(timeout: "100m")
        harness.loop.advanceTime(by: .milliseconds(100))
        #expect(try await harness.status(second) == "4")
        for promise in firstWrites.promises { promise.succeed() }
        harness.loop.run()
        #expect(harness.runs.value == 1, "the call that ended at its deadline ran after all")
        for channel in [first, second] { _ = try? channel.finish() }
    }
}

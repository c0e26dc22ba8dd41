import CopsLinkCore
import CopsLinkMessages
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Synchronization
import Testing

@testable import CopsLinkGRPC

/// A stream the client resets leaves HTTP/2's concurrency count at once, while its call's handler may run on (a
/// write already queued behind the store's writer is committed even so). The handlers of a connection's ended calls
/// count until they return; past `ConnectionLimits.maxEndedCallsRunning` its new calls are refused, as on the native
/// protocol after CANCEL. Each stream is an EmbeddedChannel sharing one connection state; closing it stands in for
/// the client's RST_STREAM.
@Suite("gRPC handlers of ended calls")
struct GRPCEndedCallsTests {
    /// Holds every handler until the test releases them, whether or not its task was cancelled (as a write waiting for
    /// its commit does).
    final class Holder: Sendable {
        private let waiting = Mutex<[CheckedContinuation<Void, Never>]>([])

        var held: Int { waiting.withLock { $0.count } }

        func hold() async {
            await withCheckedContinuation { continuation in waiting.withLock { $0.append(continuation) } }
        }

        func releaseAll() {
            let all = waiting.withLock { waiting in
                defer { waiting = [] }
                return waiting
            }
            for continuation in all { continuation.resume() }
        }
    }

    static let method = MethodDescriptor(service: "test.Hold", method: "Write")

    @Test func aClientResettingEveryCallIsRefusedOnceItsEndedHandlersReachTheLimit() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.maxConcurrentCalls = 1
        let limit = configuration.limits.maxEndedCallsRunning
        #expect(limit == 64)
        let holder = Holder()
        var router = RPCRouter()
        router.registerUnary(Self.method) { (_: EmptyMessage, _) -> ServerResponse<EmptyMessage> in
            await holder.hold()
            return ServerResponse(message: EmptyMessage())
        }
        let dispatcher = CallDispatcher(router: router)
        let connection = GRPCConnectionState(configuration: configuration)
        let budget = InboundMemoryBudget(limit: 1 << 20)
        var streams: [EmbeddedChannel] = []
        func call() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(
                GRPCStreamHandler(dispatcher: dispatcher, configuration: configuration, connection: connection, budget: budget))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            let headers: HPACKHeaders = [
                ":method": "POST", ":scheme": "http", ":path": Self.method.path, ":authority": "x", "content-type": "application/grpc",
                "te": "trailers"
            ]
            try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
            let request = GRPCMessageReader.frame([], allocator: channel.allocator)
            try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(request), endStream: true)))
            streams.append(channel)
            return channel
        }
        func runLoops() {
            for stream in streams { stream.embeddedEventLoop.run() }
        }
        func trailers(_ channel: EmbeddedChannel) throws -> HPACKHeaders? {
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                if case .headers(let headers) = frame, headers.endStream { return headers.headers }
            }
            return nil
        }

        for _ in 0..<limit {
            let stream = try call()
            try await waitUntil {
                runLoops()
                return holder.held == streams.count
            }
            try stream.close().wait()  // the client's RST_STREAM
        }
        let refused = try call()
        runLoops()
        let answer = try #require(try trailers(refused))
        #expect(answer.first(name: "grpc-status") == "8")
        #expect(
            answer.first(name: "grpc-message")
                == "\(limit) calls of this connection that were cancelled or passed their deadline are still finishing; retry shortly")
        #expect(holder.held == limit, "the refused call's handler never ran")

        // Once the handlers return, the connection's calls run again.
        holder.releaseAll()
        try await waitUntil {
            runLoops()
            return connection.endedCallsRunning == 0
        }
        let admitted = try call()
        try await waitUntil {
            runLoops()
            return holder.held == 1
        }
        holder.releaseAll()
        var answered: HPACKHeaders?
        try await waitUntil {
            runLoops()
            answered = try trailers(admitted)
            return answered != nil
        }
        #expect(answered?.first(name: "grpc-status") == "0")
        for stream in streams { _ = try? stream.finish() }
    }

    /// Polls `condition` every 2 ms, for up to 5 s.
    private func waitUntil(_ condition: () throws -> Bool) async throws {
        for _ in 0..<2_500 {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(2))
        }
        Issue.record("the condition did not come true within 5 s")
    }
}

import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import CopsLinkGRPC
@testable import CopsLinkTransport

/// A gRPC connection of a server that authenticates callers reads small (`UntrustedReads`) until a caller
/// authenticates on it: a keyless client's megabyte of HEADERS frames once held an event loop for seconds.
@Suite("gRPC reads until a caller authenticates")
struct GRPCUntrustedReadsTests {
    /// Sets the caller of every call it sees.
    struct Authenticating: ServerInterceptor {
        var authenticatesCallers: Bool { true }
        func intercept(
            context: ServerContext, next: @Sendable (ServerContext) async throws -> CallOutcome
        ) async throws -> CallOutcome {
            var context = context
            context.caller = Caller(tenant: "demo", roles: [.read], keyID: "k")
            return try await next(context)
        }
    }

    @Test func theGateReadsSmallUntilTheConnectionIsTrusted() throws {
        let trust = ConnectionTrust(trusted: false)
        let channel = EmbeddedChannel()
        UntrustedReads.set(true, on: channel)  // as the accept does
        try channel.pipeline.syncOperations.addHandler(GRPCReadGate(budget: InboundMemoryBudget(limit: 1 << 20), trust: trust))
        func maxMessagesPerRead() throws -> UInt { try channel.syncOptions!.getOption(.maxMessagesPerRead) }
        #expect(try maxMessagesPerRead() == 1)
        channel.pipeline.fireChannelReadComplete()
        #expect(try maxMessagesPerRead() == 1, "no caller has authenticated yet")
        trust.grant()
        channel.pipeline.fireChannelReadComplete()
        #expect(try maxMessagesPerRead() == TCPServer.maxMessagesPerRead)
        _ = try? channel.finish()
    }

    @Test func aCallWhoseCallerAuthenticatesTrustsItsConnection() async throws {
        var router = RPCRouter()
        HealthService(services: []).registerMethods(with: &router)
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        let connection = GRPCConnectionState(configuration: configuration, trust: ConnectionTrust(trusted: false))
        let channel = EmbeddedChannel(
            handler: GRPCStreamHandler(
                dispatcher: CallDispatcher(router: router, interceptors: [Authenticating()]), configuration: configuration,
                connection: connection, budget: InboundMemoryBudget(limit: 1 << 20)))
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": Health.Method.check.path, ":authority": "x",
            "content-type": "application/grpc", "te": "trailers"
        ]
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
        let message = GRPCMessageReader.frame(HealthCheckRequest(service: "").serializedBytes(), allocator: channel.allocator)
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(message), endStream: true)))
        var answered = false
        for _ in 0..<500 where !answered {
            channel.embeddedEventLoop.run()
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                if case .headers(let trailers) = frame, trailers.endStream {
                    answered = true
                    #expect(trailers.headers.first(name: "grpc-status") == "0")
                }
            }
            if !answered { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(answered)
        #expect(connection.trust.isTrusted)
        _ = try? channel.finish()
    }
}

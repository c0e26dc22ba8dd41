import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkServices
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import CopsLinkGRPC

/// Requests a stream refuses before any handler runs, on an EmbeddedChannel carrying HTTP/2 frame payloads: what
/// PROTOCOL-HTTP2 asks for each (trailers-only with the gRPC status, or a plain HTTP status for what is not gRPC).
@Suite("gRPC stream refusals")
struct GRPCStreamRefusalTests {
    private func answer(
        to headers: HPACKHeaders, maxHeaderSize: Int = 16 << 10, budget: InboundMemoryBudget = InboundMemoryBudget(limit: 1 << 20)
    ) throws -> HTTP2Frame.FramePayload.Headers {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.maxHeaderSize = maxHeaderSize
        var router = RPCRouter()
        HealthService(services: []).registerMethods(with: &router)
        let connection = GRPCConnectionState(configuration: configuration)
        let channel = EmbeddedChannel(
            handler: GRPCStreamHandler(
                dispatcher: CallDispatcher(router: router), configuration: configuration, connection: connection, budget: budget))
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: true)))
        let written = try #require(try channel.readOutbound(as: HTTP2Frame.FramePayload.self))
        guard case .headers(let answer) = written else {
            Issue.record("expected HEADERS, got \(written)")
            throw CancellationError()
        }
        #expect(answer.endStream)
        #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil)
        #expect(connection.takeAnsweredSincePing(), "an answer exempts the client's next PING from the ping policy")
        _ = try? channel.finish()
        return answer
    }

    private func request(_ path: String = "/copslink.rpc.v1.Health/Check", extra: [(String, String)] = []) -> HPACKHeaders {
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": "x", "content-type": "application/grpc", "te": "trailers"
        ]
        for (name, value) in extra { headers.add(name: name, value: value) }
        return headers
    }

    @Test func anUnsupportedEncodingIsUnimplementedWithTheAcceptedOnes() throws {
        let answer = try answer(to: request(extra: [("grpc-encoding", "gzip")]))
        #expect(answer.headers.first(name: ":status") == "200")
        #expect(answer.headers.first(name: "grpc-status") == "12")
        #expect(answer.headers.first(name: "grpc-accept-encoding") == "identity")
        #expect(answer.headers.first(name: "grpc-message")?.contains("identity only") == true)
    }

    /// A client may announce a dynamic table of up to 4 GiB; answers that put each status message into it made every
    /// later answer slower (swift-nio-http2's encoder searches the whole table). Fifty answers, each with a message of
    /// its own, leave the table with `grpc-status` alone (indexed, they left 50 entries of over 3 KB).
    @Test func answersLeaveTheirMessagesOutOfTheHPACKTable() throws {
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: 1 << 30)
        var encoded = ByteBuffer()
        var messages: Set<String> = []
        for index in 0..<50 {
            let answer = try answer(to: request("/no.Such\(index)/Method"))
            messages.insert(answer.headers.first(name: "grpc-message") ?? "")
            try encoder.encode(headers: answer.headers, to: &encoded)
        }
        #expect(messages.count == 50, "each answer has a message of its own")
        #expect(encoder.dynamicTableSize < 200, "\(encoder.dynamicTableSize) bytes in the table")
    }

    @Test func anUnknownMethodIsUnimplemented() throws {
        let answer = try answer(to: request("/no.Such/Method"))
        #expect(answer.headers.first(name: "grpc-status") == "12")
        #expect(answer.headers.first(name: "content-type") == "application/grpc")
    }

    @Test func aMalformedTimeoutIsInvalidArgument() throws {
        let answer = try answer(to: request(extra: [("grpc-timeout", "soon")]))
        #expect(answer.headers.first(name: "grpc-status") == "3")
        #expect(answer.headers.first(name: "grpc-message") == "grpc-timeout 'soon' must be 1 to 8 digits and a unit (H, M, S, m, u, n)")
    }

    @Test func metadataOverTheHeaderLimitIsResourceExhausted() throws {
        let answer = try answer(to: request(extra: [("x-big", String(repeating: "a", count: 200))]), maxHeaderSize: 100)
        #expect(answer.headers.first(name: "grpc-status") == "8")
    }

    @Test func invalidMetadataIsInvalidArgument() throws {
        let answer = try answer(to: request(extra: [("x-bin", "not base64!")]))
        #expect(answer.headers.first(name: "grpc-status") == "3")
    }

    @Test func whatIsNotGRPCGetsAnHTTPStatus() throws {
        var wrongType = request()
        wrongType.replaceOrAdd(name: "content-type", value: "application/json")
        #expect(try answer(to: wrongType).headers.first(name: ":status") == "415")
        var get = request()
        get.replaceOrAdd(name: ":method", value: "GET")
        #expect(try answer(to: get).headers.first(name: ":status") == "405")
    }

    /// As on the native protocol, no call starts while the server holds all the request bytes it may.
    @Test func aCallWhileTheInboundBudgetIsExhaustedIsResourceExhausted() throws {
        let budget = InboundMemoryBudget(limit: 100)
        budget.adjust(by: 100)
        let answer = try answer(to: request(), budget: budget)
        #expect(answer.headers.first(name: "grpc-status") == "8")
        #expect(answer.headers.first(name: "grpc-message")?.hasPrefix("the server is over its inbound memory budget of 100 bytes") == true)
    }
}

import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Prometheus
import Testing

@testable import CopsLinkGRPC

/// gRPC calls count in the server's call metrics as native ones do (`copslink_server_calls_total`, by method and
/// status), refused ones included.
@Suite("gRPC call metrics")
struct GRPCMetricsTests {
    @Test func callsCountByMethodAndStatus() async throws {
        var router = RPCRouter()
        HealthService(services: []).registerMethods(with: &router)
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(router: router, factory: PrometheusMetricsFactory(registry: registry))
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0)

        func call(_ path: String) async throws -> String? {
            let connection = GRPCConnectionState(configuration: configuration)
            let channel = EmbeddedChannel(
                handler: GRPCStreamHandler(
                    dispatcher: CallDispatcher(router: router), configuration: configuration, connection: connection,
                    budget: InboundMemoryBudget(limit: 1 << 20), metrics: metrics))
            let headers: HPACKHeaders = [
                ":method": "POST", ":scheme": "http", ":path": path, ":authority": "x", "content-type": "application/grpc",
                "te": "trailers"
            ]
            try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
            let request = GRPCMessageReader.frame(HealthCheckRequest().serializedBytes(), allocator: channel.allocator)
            try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(request), endStream: true)))
            for _ in 0..<500 {
                channel.embeddedEventLoop.run()
                while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                    if case .headers(let answer) = frame, answer.endStream {
                        #expect(connection.takeAnsweredSincePing(), "an answer exempts the client's next PING (ping policy)")
                        _ = try? channel.finish()
                        return answer.headers.first(name: "grpc-status")
                    }
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            return nil
        }

        #expect(try await call("/copslink.rpc.v1.Health/Check") == "0")
        #expect(try await call("/grpc.health.v1.Health/Check") == "0")
        #expect(try await call("/copslink.rpc.v1.Health/Nope") == "12")
        let text = registry.text
        #expect(text.contains(#"copslink_server_calls_total{method="/copslink.rpc.v1.Health/Check",status="OK"} 2"#), "\(text)")
        #expect(text.contains(#"copslink_server_calls_total{method="unknown",status="UNIMPLEMENTED"} 1"#), "\(text)")
    }

    /// A request over an open method's limit, sent to gRPC's standard health path, names the path the client called
    /// (it named the CopsLink path the standard one maps to).
    @Test func aRequestOverTheHealthLimitNamesThePathCalled() throws {
        var router = RPCRouter()
        HealthService(services: []).registerMethods(with: &router)
        router.limitRequestMessages(ofPaths: [Health.Method.check.path], toBytes: 64)
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        let channel = EmbeddedChannel(
            handler: GRPCStreamHandler(
                dispatcher: CallDispatcher(router: router), configuration: configuration,
                connection: GRPCConnectionState(configuration: configuration), budget: InboundMemoryBudget(limit: 1 << 20)))
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": "/grpc.health.v1.Health/Check", ":authority": "x",
            "content-type": "application/grpc", "te": "trailers"
        ]
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
        let request = GRPCMessageReader.frame(
            HealthCheckRequest(service: String(repeating: "s", count: 100)).serializedBytes(), allocator: channel.allocator)
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(request), endStream: true)))
        channel.embeddedEventLoop.run()
        var trailers: HPACKHeaders?
        while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
            if case .headers(let answer) = frame, answer.endStream { trailers = answer.headers }
        }
        #expect(trailers?.first(name: "grpc-status") == "8")
        #expect(
            trailers?.first(name: "grpc-message")
                == "the request message of 102 bytes is larger than the open (keyless) method /grpc.health.v1.Health/Check's limit of 64 bytes"
        )
        _ = try? channel.finish()
    }
}

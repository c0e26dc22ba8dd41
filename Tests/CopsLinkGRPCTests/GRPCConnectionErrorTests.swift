import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkServices
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Prometheus
import Testing

@testable import CopsLinkGRPC

/// A client that breaks HTTP/2, through the server's pipeline as `GRPCServer` configures it, fed raw bytes: a
/// connection error closes the connection (swift-nio-http2 sends GOAWAY but would otherwise go on reading, and keep
/// every later byte in its frame decoder); a stream error resets only its stream.
@Suite("gRPC connection errors")
struct GRPCConnectionErrorTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// One HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload.
    static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + [UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    /// The server's pipeline, its client preface and SETTINGS received, and the metrics it records into.
    static func server() async throws -> (EmbeddedChannel, PrometheusCollectorRegistry) {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.idleTimeout = nil
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        let registry = PrometheusCollectorRegistry()
        var router = RPCRouter()
        HealthService(services: []).registerMethods(with: &router)
        let metrics = ServerMetrics(router: router, factory: PrometheusMetricsFactory(registry: registry))
        let server = EmbeddedChannel()
        try GRPCServer.configure(
            server.pipeline.syncOperations,
            context: ProtocolInstallContext(
                dispatcher: CallDispatcher(router: router), configuration: configuration, budget: InboundMemoryBudget(limit: 1 << 20),
                metrics: metrics))
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try server.writeInbound(ByteBuffer(bytes: preface + frame(type: 0x4, stream: 0)))
        return (server, registry)
    }

    /// The frames the server wrote, by type and, for GOAWAY and RST_STREAM, their error codes.
    static func written(_ server: EmbeddedChannel) throws -> [(type: UInt8, code: UInt32?)] {
        var bytes: [UInt8] = []
        while var buffer = try server.readOutbound(as: ByteBuffer.self) { bytes += buffer.readBytes(length: buffer.readableBytes) ?? [] }
        var frames: [(UInt8, UInt32?)] = []
        var offset = 0
        while offset + 9 <= bytes.count {
            let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            let type = bytes[offset + 3]
            let payload = Array(bytes[(offset + 9)..<min(bytes.count, offset + 9 + length)])
            func u32(_ at: Int) -> UInt32 { payload[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
            let code: UInt32? = type == 0x7 && payload.count >= 8 ? u32(4) : type == 0x3 && payload.count >= 4 ? u32(0) : nil
            frames.append((type, code))
            offset += 9 + length
        }
        return frames
    }

    @Test func aConnectionErrorClosesTheConnectionAndIsCounted() async throws {
        let (server, registry) = try await Self.server()
        // A PING of 7 bytes: a connection error of type FRAME_SIZE_ERROR (RFC 9113 §6.7).
        try server.writeInbound(ByteBuffer(bytes: Self.frame(type: 0x6, stream: 0, [UInt8](repeating: 0, count: 7))))
        server.embeddedEventLoop.run()
        let frames = try Self.written(server)
        #expect(frames.contains { $0.type == 0x7 && $0.code == 0x6 }, "GOAWAY FRAME_SIZE_ERROR, got \(frames)")
        #expect(!server.isActive, "closed, so that nothing more the client sends is read and kept")
        #expect(
            registry.text.contains(#"copslink_server_frames_rejected_total{reason="http2_connection_error"} 1"#))
    }

    /// A stream error resets its stream, and, as grpc-swift's server does, ends a connection whose client broke HTTP/2.
    @Test func aStreamErrorResetsItsStreamAndClosesTheConnection() async throws {
        let (server, _) = try await Self.server()
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
        var block = ByteBuffer()
        try encoder.encode(
            headers: [
                ":method": "POST", ":scheme": "http", ":path": "/copslink.rpc.v1.Health/Check", ":authority": "x",
                "content-type": "application/grpc", "te": "trailers"
            ], to: &block)
        // HEADERS (END_HEADERS) opens stream 1; a WINDOW_UPDATE of 0 on it is a stream error (RFC 9113 §6.9).
        let headers = Self.frame(type: 0x1, flags: 0x4, stream: 1, block.readBytes(length: block.readableBytes) ?? [])
        try server.writeInbound(ByteBuffer(bytes: headers + Self.frame(type: 0x8, stream: 1, [0, 0, 0, 0])))
        server.embeddedEventLoop.run()
        let frames = try Self.written(server)
        #expect(frames.contains { $0.type == 0x3 && $0.code == 0x1 }, "RST_STREAM PROTOCOL_ERROR, got \(frames)")
        #expect(!server.isActive)
    }

    /// What swift-nio-http2 reports without a fault of the connection: a `StreamError` (its stream is reset), and
    /// `NoSuchStream` after the server's GOAWAY (a stream the client opened as the GOAWAY crossed it).
    @Test func streamErrorsAndAStreamRacingTheGoAwayKeepTheConnection() async throws {
        let (server, _) = try await Self.server()
        server.pipeline.fireErrorCaught(
            NIOHTTP2Errors.streamError(streamID: 1, baseError: NIOHTTP2Errors.invalidWindowIncrementSize()))
        server.embeddedEventLoop.run()
        #expect(server.isActive)
        // A graceful shutdown: GOAWAY and a PING; the connection drains until the PING's ACK.
        server.pipeline.triggerUserOutboundEvent(GracefulShutdownEvent(deadline: server.embeddedEventLoop.now + .seconds(30)), promise: nil)
        server.embeddedEventLoop.run()
        server.pipeline.fireErrorCaught(NIOHTTP2Errors.noSuchStream(streamID: 99))
        server.embeddedEventLoop.run()
        #expect(server.isActive, "draining, not closed")
        server.pipeline.fireErrorCaught(NIOHTTP2Errors.unableToParseFrame())
        server.embeddedEventLoop.run()
        #expect(!server.isActive, "a connection error closes it even while it drains")
    }
}

import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkServices
@_spi(ConnectionHarness) import CopsLinkTransport
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP2
import NIOTLS
import Prometheus
import Testing

@testable import CopsLinkGRPC

/// The connection's first bytes on an EmbeddedChannel: the HTTP/2 preface installs gRPC (the server's SETTINGS come
/// back, carrying the native limits), unless gRPC is turned off, when the native protocol answers its readable line.
@Suite("gRPC detection on the shared port")
struct GRPCDetectionTests {
    private static let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    private func serverChannel(protocols: Set<ServerProtocol>, budget: InboundMemoryBudget? = nil) throws -> EmbeddedChannel {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.protocols = protocols
        configuration.limits.maxConcurrentCalls = 17
        var router = RPCRouter()
        HealthService(services: []).registerMethods(with: &router)
        let channel = EmbeddedChannel()
        try TCPServer.installConnectionHandlers(
            on: channel, configuration: configuration, dispatcher: CallDispatcher(router: router),
            logger: Logger(label: "test"), budget: budget, installers: [.grpc: GRPCServer.installer])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// The (id, value) pairs of the first frame written, which must be SETTINGS.
    private func firstSettings(_ channel: EmbeddedChannel) throws -> [UInt16: UInt32] {
        var written = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        let bytes = Array(written.readableBytesView)
        try #require(bytes.count >= 9)
        let length = Int(bytes[0]) << 16 | Int(bytes[1]) << 8 | Int(bytes[2])
        #expect(bytes[3] == 0x04, "a SETTINGS frame")
        try #require(bytes.count >= 9 + length)
        var settings: [UInt16: UInt32] = [:]
        for start in stride(from: 9, to: 9 + length, by: 6) {
            let id = UInt16(bytes[start]) << 8 | UInt16(bytes[start + 1])
            settings[id] = bytes[(start + 2)..<(start + 6)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
        return settings
    }

    @Test func theHTTP2PrefaceInstallsGRPCWithTheNativeLimits() throws {
        let channel = try serverChannel(protocols: [.native, .http, .grpc])
        // Split: the detector waits for the whole preface.
        try channel.writeInbound(ByteBuffer(string: "PRI * HTTP/2"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(ByteBuffer(string: String(Self.preface.dropFirst(12))))
        let settings = try firstSettings(channel)
        #expect(settings[3] == 17, "MAX_CONCURRENT_STREAMS is maxConcurrentCalls")
        #expect(settings[6] == 16 << 10, "MAX_HEADER_LIST_SIZE is maxHeaderSize")
        #expect(settings[4] == 256 << 10, "INITIAL_WINDOW_SIZE is initialWindowSize")
        #expect(try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self) != nil)
        _ = try? channel.finish()
    }

    /// TLS ALPN chose `h2`: gRPC is installed when the handshake completes, before any byte (its SETTINGS go out).
    @Test func alpnH2InstallsGRPCBeforeAnyByte() throws {
        let channel = try serverChannel(protocols: [.native, .http, .grpc])
        channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: "h2"))
        #expect(try firstSettings(channel)[3] == 17)
        #expect(try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self) != nil)
        _ = try? channel.finish()
    }

    /// An ALPN protocol that is turned off (or unknown) decides nothing: the bytes do, as without TLS.
    @Test func alpnForADisabledProtocolLeavesItToTheBytes() throws {
        let channel = try serverChannel(protocols: [.native, .http])
        channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: "h2"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(ByteBuffer(string: Self.preface))
        var written = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        #expect(String(buffer: written).hasPrefix("copslink: expected the CopsLink preface"), "\(String(buffer: written))")
        _ = try? channel.finish()
    }

    /// Everything the server wrote so far.
    private func written(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var written = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        return Array(written.readableBytesView)
    }

    /// A connection that comes while the server's inbound budget is spent is refused in its own protocol's words:
    /// gRPC gets the server's SETTINGS and a GOAWAY ENHANCE_YOUR_CALM saying why, HTTP/1.1 a 503 with the JSON
    /// status, native its GOAWAY REFUSED; each is then closed.
    @Test func aConnectionPastTheInboundBudgetIsRefusedInItsOwnProtocol() throws {
        let budget = InboundMemoryBudget(limit: 100)
        budget.adjust(by: 100)
        let expected = "the server is over its inbound memory budget of 100 bytes; retry later or on another server"

        let grpc = try serverChannel(protocols: [.native, .http, .grpc], budget: budget)
        try grpc.writeInbound(ByteBuffer(string: Self.preface))
        grpc.embeddedEventLoop.run()
        var bytes = try written(grpc)[...]
        var frames: [(type: UInt8, payload: [UInt8])] = []
        while bytes.count >= 9 {
            let length = Int(bytes[bytes.startIndex]) << 16 | Int(bytes[bytes.startIndex + 1]) << 8 | Int(bytes[bytes.startIndex + 2])
            try #require(bytes.count >= 9 + length)
            frames.append((bytes[bytes.startIndex + 3], Array(bytes.dropFirst(9).prefix(length))))
            bytes = bytes.dropFirst(9 + length)
        }
        #expect(frames.first?.type == 0x04, "the server's SETTINGS first")
        let goAway = try #require(frames.first { $0.type == 0x07 }?.payload)
        #expect(goAway.count >= 8 && goAway[0..<4] == [0, 0, 0, 0], "last stream id 0")
        #expect(goAway.count >= 8 && goAway[4..<8] == [0, 0, 0, 0x0b], "ENHANCE_YOUR_CALM")
        #expect(String(decoding: goAway.dropFirst(8), as: UTF8.self) == expected)
        #expect(!grpc.isActive, "the refused gRPC connection stays open")

        let http = try serverChannel(protocols: [.native, .http, .grpc], budget: budget)
        try http.writeInbound(ByteBuffer(string: "POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"))
        http.embeddedEventLoop.run()
        let answer = String(decoding: try written(http), as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
        #expect(answer.contains(#""message":"\#(expected)""#), "\(answer)")
        #expect(!http.isActive, "the refused HTTP connection stays open")

        let native = try serverChannel(protocols: [.native, .http, .grpc], budget: budget)
        try native.writeInbound(ByteBuffer(bytes: Array("COPSLINK".utf8) + [0, 0, 0, 1]))
        native.embeddedEventLoop.run()
        #expect(String(decoding: try written(native), as: UTF8.self).contains(expected), "the native GOAWAY names the budget")
        _ = try? grpc.finish()
        _ = try? http.finish()
        _ = try? native.finish()
    }

    /// A connection that never sends enough to tell its protocol is closed at the handshake timeout and counted as
    /// `handshake_timeout`, as one that chose a protocol and stalled is.
    @Test func aConnectionWhoseProtocolIsNeverKnownCountsAsAHandshakeTimeout() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(router: RPCRouter(), factory: PrometheusMetricsFactory(registry: registry))
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.handshakeTimeout = .seconds(10)
        let channel = EmbeddedChannel()
        try TCPServer.installConnectionHandlers(
            on: channel, configuration: configuration, dispatcher: CallDispatcher(router: RPCRouter()),
            logger: Logger(label: "test"), metrics: metrics, installers: [.grpc: GRPCServer.installer])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "PRI * HT"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(String(decoding: try written(channel), as: UTF8.self) == "copslink: no preface within 10s; closing\n")
        #expect(registry.text.contains(#"copslink_server_frames_rejected_total{reason="handshake_timeout"} 1"#), "\(registry.text)")
        _ = try? channel.finish()
    }

    @Test func alpnIdentifiersInTheServersOrderOfPreference() {
        #expect(ServerProtocol.alpnIdentifiers(enabled: [.native, .http, .grpc]) == ["h2", "copslink/1", "http/1.1"])
        #expect(ServerProtocol.alpnIdentifiers(enabled: [.http, .native]) == ["copslink/1", "http/1.1"])
        #expect(ServerProtocol(alpnIdentifier: "copslink/1") == .native)
        #expect(ServerProtocol(alpnIdentifier: "spdy/3") == nil)
    }

    @Test func withGRPCTurnedOffThePrefaceGetsTheReadableLine() throws {
        let channel = try serverChannel(protocols: [.native, .http])
        try channel.writeInbound(ByteBuffer(string: Self.preface))
        var written = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        #expect(String(buffer: written).hasPrefix("copslink: expected the CopsLink preface"), "\(String(buffer: written))")
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self) }
        _ = try? channel.finish()
    }
}

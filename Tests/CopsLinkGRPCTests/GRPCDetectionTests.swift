import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkServices
@_spi(ConnectionHarness) import CopsLinkTransport
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP2
import NIOTLS
import Testing

@testable import CopsLinkGRPC

/// The connection's first bytes on an EmbeddedChannel: the HTTP/2 preface installs gRPC (the server's SETTINGS come
/// back, carrying the native limits), unless gRPC is turned off, when the native protocol answers its readable line.
@Suite("gRPC detection on the shared port")
struct GRPCDetectionTests {
    private static let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    private func serverChannel(protocols: Set<ServerProtocol>) throws -> EmbeddedChannel {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.protocols = protocols
        configuration.limits.maxConcurrentCalls = 17
        var router = RPCRouter()
        HealthService(services: []).registerMethods(with: &router)
        let channel = EmbeddedChannel()
        try TCPServer.installConnectionHandlers(
            on: channel, configuration: configuration, dispatcher: CallDispatcher(router: router),
            logger: Logger(label: "test"), installers: [.grpc: GRPCServer.installer])
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

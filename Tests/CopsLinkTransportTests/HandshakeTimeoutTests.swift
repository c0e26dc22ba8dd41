import CopsLinkMessages
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// The handshake timeout (PROTOCOL.md §2.3): preface and SETTINGS within `handshakeTimeout` of connecting.
@Suite("Handshake timeout")
struct HandshakeTimeoutTests {
    private static func harness() async throws -> ServerConnectionHarness {
        var configuration = ServerConfiguration()
        configuration.handshakeTimeout = .seconds(10)
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        configuration.idleTimeout = nil
        configuration.frameReadTimeout = nil
        return try await ServerConnectionHarness(configuration: configuration)
    }

    private static var preface: ByteBuffer {
        var bytes = ByteBuffer()
        Preface.write(to: &bytes)
        return bytes
    }

    @Test func noPrefaceGetsTheTextLineAndTheConnectionCloses() async throws {
        let harness = try await Self.harness()
        // Part of the preface is no preface.
        var partial = Self.preface
        try await harness.send(partial.readSlice(length: partial.readableBytes - 1)!)
        await harness.advance(by: .milliseconds(9_900))
        #expect(try await harness.output().readableBytes == 0)
        #expect(harness.channel.isActive)
        await harness.advance(by: .milliseconds(100))
        #expect(String(buffer: try await harness.output()) == "copslink: no preface within 10s; closing\n")
        #expect(!harness.channel.isActive)
    }

    @Test func aPrefaceWithoutSettingsGetsGoAwayCountedFromTheConnect() async throws {
        let harness = try await Self.harness()
        await harness.advance(by: .seconds(5))
        try await harness.send(Self.preface)
        #expect(try await harness.frames().map(\.type) == [.settings], "the server's SETTINGS answers the preface")
        // A SETTINGS ACK is not the client's SETTINGS: it does not stop the clock.
        var ack = ByteBuffer()
        ack.writeFrame(.settings, flags: .ack, header: NoMessage.header, payload: NoMessage.payload)
        try await harness.send(ack)
        await harness.advance(by: .milliseconds(4_900))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.channel.isActive)
        await harness.advance(by: .milliseconds(100))
        let goAway = try #require(try ServerConnectionHarness.goAway(try await harness.frames()))
        #expect(goAway.code == .protocolError)
        #expect(goAway.message == "no SETTINGS within 10s of connecting")
        #expect(goAway.lastCallID == 0)
        #expect(!harness.channel.isActive)
    }

    @Test func theClientsSettingsStopsTheClock() async throws {
        let harness = try await Self.harness()
        await harness.advance(by: .seconds(9))
        try await harness.handshake()
        await harness.advance(by: .seconds(60))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.channel.isActive)
        await harness.close()
    }
}

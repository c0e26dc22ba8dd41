import CopsLinkMessages
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// The server's keepalive (PROTOCOL.md §13): a PING every interval from the handshake on, and GOAWAY
/// KEEPALIVE_TIMEOUT when one goes unanswered for the timeout.
@Suite("Server keepalive")
struct ServerKeepaliveTests {
    private static func harness(interval: Duration, timeout: Duration) async throws -> ServerConnectionHarness {
        var configuration = ServerConfiguration()
        configuration.keepalive = KeepaliveConfiguration(interval: interval, timeout: timeout)
        configuration.idleTimeout = nil
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        return harness
    }

    /// The server's PINGs among `frames` (not ACKs), by opaque value.
    private static func pings(_ frames: [Frame]) -> [UInt64] {
        frames.filter { $0.type == .ping && !$0.flags.contains(.ack) }.compactMap(ServerConnectionHarness.opaque)
    }

    @Test func aPingGoesOutEveryIntervalWhileTheClientAcknowledges() async throws {
        let harness = try await Self.harness(interval: .seconds(10), timeout: .seconds(5))
        await harness.advance(by: .milliseconds(9_900))
        #expect(try await harness.frames().isEmpty, "a PING before the first interval")
        await harness.advance(by: .milliseconds(100))
        let first = Self.pings(try await harness.frames())
        #expect(first.count == 1)

        // Acknowledged with a second to spare: the connection stays, and the next PING comes one interval after the
        // first (a fixed rate, not counted from the ACK).
        await harness.advance(by: .seconds(4))
        try await harness.send(ServerConnectionHarness.ping(try #require(first.first), ack: true))
        await harness.advance(by: .milliseconds(5_900))
        #expect(try await harness.frames().isEmpty, "closed or pinged although the PING was acknowledged in time")
        #expect(harness.channel.isActive)
        await harness.advance(by: .milliseconds(100))
        let second = Self.pings(try await harness.frames())
        #expect(second.count == 1)
        #expect(second != first, "each PING carries a value of its own")

        try await harness.send(ServerConnectionHarness.ping(try #require(second.first), ack: true))
        await harness.advance(by: .seconds(9))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.channel.isActive)
        await harness.close()
    }

    @Test func aPingNotAcknowledgedWithinTheTimeoutGetsGoAway() async throws {
        let harness = try await Self.harness(interval: .seconds(10), timeout: .seconds(5))
        await harness.advance(by: .seconds(10))
        let ping = try #require(Self.pings(try await harness.frames()).first)
        // An ACK carrying another value does not count (§13).
        try await harness.send(ServerConnectionHarness.ping(ping &+ 1, ack: true))
        await harness.advance(by: .milliseconds(4_900))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.channel.isActive)

        await harness.advance(by: .milliseconds(100))
        let goAway = try #require(try ServerConnectionHarness.goAway(try await harness.frames()))
        #expect(goAway.code == .keepaliveTimeout)
        #expect(goAway.message == "no PING ACK within 5s")
        #expect(goAway.lastCallID == 0)
        #expect(!harness.channel.isActive)
    }

    @Test func noNewPingWhileOneIsUnanswered() async throws {
        // A timeout longer than the interval: the ticks in between find the PING unanswered and send nothing.
        let harness = try await Self.harness(interval: .seconds(10), timeout: .seconds(25))
        await harness.advance(by: .seconds(10))
        #expect(Self.pings(try await harness.frames()).count == 1)
        await harness.advance(by: .milliseconds(24_900))
        #expect(try await harness.frames().isEmpty, "a second PING while the first was unanswered")
        await harness.advance(by: .milliseconds(100))
        #expect(try ServerConnectionHarness.goAway(try await harness.frames())?.message == "no PING ACK within 25s")
        #expect(!harness.channel.isActive)
    }

    @Test func theFirstPingComesOneIntervalAfterTheClientsSettings() async throws {
        var configuration = ServerConfiguration()
        configuration.keepalive = KeepaliveConfiguration(interval: .seconds(10), timeout: .seconds(5))
        configuration.idleTimeout = nil
        let harness = try await ServerConnectionHarness(configuration: configuration)
        await harness.advance(by: .seconds(4))
        try await harness.handshake()
        await harness.advance(by: .milliseconds(9_900))
        #expect(try await harness.frames().isEmpty, "counted from the connect, not from the client's SETTINGS")
        await harness.advance(by: .milliseconds(100))
        #expect(Self.pings(try await harness.frames()).count == 1)
        await harness.close()
    }

    @Test func withoutAnIntervalNoPingIsSent() async throws {
        var configuration = ServerConfiguration()
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        configuration.idleTimeout = nil
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        await harness.advance(by: .seconds(3_600))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.channel.isActive)
        await harness.close()
    }
}

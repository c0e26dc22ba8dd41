import CopsLinkMessages
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// The server's ping policy (PROTOCOL.md §13), on the event loop's clock: a client PING sooner than the minimum
/// interval after the previous one is a strike; one more than the strikes allowed gets GOAWAY ENHANCE_YOUR_CALM; a
/// PING on time clears them.
@Suite("Ping strikes")
struct PingStrikeTests {
    private static func harness() async throws -> ServerConnectionHarness {
        var configuration = ServerConfiguration()
        configuration.pingPolicy.minimumInterval = .seconds(1)
        configuration.pingPolicy.maximumStrikes = 2
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        return harness
    }

    /// Sends a PING and returns the server's answer to it.
    private static func ping(_ harness: ServerConnectionHarness, _ opaque: UInt64) async throws -> [Frame] {
        try await harness.send(ServerConnectionHarness.ping(opaque))
        return try await harness.frames()
    }

    private static func isAck(_ frames: [Frame], of opaque: UInt64) -> Bool {
        frames.count == 1 && frames[0].type == .ping && frames[0].flags.contains(.ack)
            && ServerConnectionHarness.opaque(frames[0]) == opaque
    }

    @Test func onTimePingsClearTheStrikes() async throws {
        let harness = try await Self.harness()
        var opaque: UInt64 = 0
        // Three rounds of a PING on time followed by two early ones (two strikes, the most allowed): without the
        // clearing, the second round's first early PING would be the third strike.
        for _ in 0..<3 {
            await harness.advance(by: .seconds(1))
            opaque += 1
            #expect(Self.isAck(try await Self.ping(harness, opaque), of: opaque))
            for _ in 0..<2 {
                await harness.advance(by: .milliseconds(999))
                opaque += 1
                #expect(Self.isAck(try await Self.ping(harness, opaque), of: opaque))
            }
        }
        #expect(harness.channel.isActive)
        await harness.close()
    }

    @Test func onePingMoreThanTheStrikesAllowedGetsGoAway() async throws {
        let harness = try await Self.harness()
        #expect(Self.isAck(try await Self.ping(harness, 1), of: 1), "the first PING is never a strike")
        for opaque: UInt64 in [2, 3] {
            await harness.advance(by: .milliseconds(100))
            #expect(Self.isAck(try await Self.ping(harness, opaque), of: opaque))
        }
        await harness.advance(by: .milliseconds(100))
        let frames = try await Self.ping(harness, 4)
        #expect(frames.map(\.type) == [.goAway], "the striking PING is not answered")
        let goAway = try #require(try ServerConnectionHarness.goAway(frames))
        #expect(goAway.code == .enhanceYourCalm)
        #expect(goAway.message == "too many pings: at most one per 1s")
        #expect(!harness.channel.isActive)
    }

    @Test func pingAcknowledgementsAreNoStrikes() async throws {
        let harness = try await Self.harness()
        #expect(Self.isAck(try await Self.ping(harness, 1), of: 1))
        for opaque: UInt64 in 100..<110 {
            try await harness.send(ServerConnectionHarness.ping(opaque, ack: true))
        }
        #expect(try await harness.frames().isEmpty)
        await harness.advance(by: .milliseconds(100))
        #expect(Self.isAck(try await Self.ping(harness, 2), of: 2))
        #expect(harness.channel.isActive)
        await harness.close()
    }
}

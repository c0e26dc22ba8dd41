import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// The idle timeout (PROTOCOL.md §2.4): a connection with no call running for `idleTimeout` gets GOAWAY
/// IDLE_TIMEOUT; only calls count, and the clock starts over each time the last call ends.
@Suite("Idle timeout")
struct IdleTimeoutTests {
    private static func harness() async throws -> ServerConnectionHarness {
        var configuration = ServerConfiguration()
        configuration.idleTimeout = .seconds(30)
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        configuration.pingPolicy.minimumInterval = .zero
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        return harness
    }

    private static func expectIdleGoAway(_ harness: ServerConnectionHarness, lastCallID: UInt64) async throws {
        let goAway = try #require(try ServerConnectionHarness.goAway(try await harness.frames()))
        #expect(goAway.code == .idleTimeout)
        #expect(goAway.message == "the connection was idle for 30s")
        #expect(goAway.lastCallID == lastCallID)
        #expect(!harness.channel.isActive)
    }

    @Test func aConnectionWithoutCallsGetsGoAwayAfterTheIdleTimeEvenWhilePinging() async throws {
        let harness = try await Self.harness()
        // PINGs are no activity: they do not move the clock.
        for _ in 0..<2 {
            await harness.advance(by: .seconds(10))
            try await harness.send(ServerConnectionHarness.ping(1))
        }
        await harness.advance(by: .milliseconds(9_900))
        #expect(try await harness.frames().map(\.type) == [.ping, .ping])
        #expect(harness.channel.isActive)
        await harness.advance(by: .milliseconds(100))
        try await Self.expectIdleGoAway(harness, lastCallID: 0)
    }

    @Test func aRunningCallKeepsTheConnectionAndItsEndRestartsTheClock() async throws {
        let harness = try await Self.harness()
        await harness.advance(by: .seconds(20))
        let id = harness.callID()
        try await harness.send(harness.request(id, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        await harness.advance(by: .seconds(100))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.channel.isActive, "closed for idleness while a call ran")

        harness.gate.release(id)
        await harness.settle()
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[id]?.statusCode == 0)
        await harness.advance(by: .milliseconds(29_900))
        #expect(try await harness.frames().isEmpty, "the clock did not start over when the last call ended")
        #expect(harness.channel.isActive)
        await harness.advance(by: .milliseconds(100))
        try await Self.expectIdleGoAway(harness, lastCallID: id)
    }

    @Test func aRequestAnsweredAtOnceRestartsTheClock() async throws {
        let harness = try await Self.harness()
        await harness.advance(by: .seconds(20))
        let id = harness.callID()
        try await harness.send(harness.request(id, "/test.Nothing/Here", EmptyMessage()))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[id]?.statusCode == StatusCode.unimplemented.rawValue)
        await harness.advance(by: .milliseconds(29_900))
        #expect(harness.channel.isActive)
        await harness.advance(by: .milliseconds(100))
        try await Self.expectIdleGoAway(harness, lastCallID: id)
    }

    @Test func theClockWaitsForTheLastOfSeveralCalls() async throws {
        let harness = try await Self.harness()
        let first = harness.callID(), second = harness.callID()
        try await harness.send(harness.request(first, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        try await harness.send(harness.request(second, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        harness.gate.release(first)
        await harness.settle()
        #expect(try ServerConnectionHarness.ends(try await harness.frames()).keys.sorted() == [first])
        await harness.advance(by: .seconds(60))
        #expect(harness.channel.isActive, "closed for idleness while the second call ran")
        harness.gate.release(second)
        await harness.advance(by: .seconds(30))
        let frames = try await harness.frames()
        #expect(try ServerConnectionHarness.ends(frames).keys.sorted() == [second])
        #expect(try ServerConnectionHarness.goAway(frames)?.code == .idleTimeout)
        #expect(!harness.channel.isActive)
    }
}

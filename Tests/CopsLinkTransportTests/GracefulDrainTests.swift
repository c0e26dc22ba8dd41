import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

@testable import CopsLinkTransport

/// A connection's graceful drain (PROTOCOL.md §14): GOAWAY NO_ERROR naming the last call, the calls up to it
/// finish, later REQUESTs are refused, and the connection closes after the last call or at the grace deadline.
@Suite("Graceful drain")
struct GracefulDrainTests {
    private static func harness() async throws -> ServerConnectionHarness {
        var configuration = ServerConfiguration()
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        configuration.idleTimeout = nil
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        return harness
    }

    /// Two gated calls, running.
    private static func twoRunningCalls(_ harness: ServerConnectionHarness) async throws -> (UInt64, UInt64) {
        let first = harness.callID(), second = harness.callID()
        try await harness.send(harness.request(first, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        try await harness.send(harness.request(second, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.gate.isHolding(first) && harness.gate.isHolding(second))
        return (first, second)
    }

    private static func expectShutdownGoAway(_ frames: [Frame], lastCallID: UInt64) throws {
        let goAway = try #require(try ServerConnectionHarness.goAway(frames))
        #expect(goAway.code == .noError)
        #expect(goAway.lastCallID == lastCallID)
        #expect(goAway.message == "the server is shutting down")
    }

    @Test func runningCallsFinishLaterRequestsAreRefusedAndTheLastCallClosesTheConnection() async throws {
        let harness = try await Self.harness()
        let (first, second) = try await Self.twoRunningCalls(harness)
        try await harness.beginGracefulShutdown(grace: .seconds(10))
        try Self.expectShutdownGoAway(try await harness.frames(), lastCallID: second)
        #expect(harness.channel.isActive, "closed with calls running")

        let late = harness.callID()
        try await harness.send(harness.request(late, TestService.Method.emptyCall.path, EmptyMessage()))
        let refused = try #require(try ServerConnectionHarness.ends(try await harness.frames())[late])
        #expect(refused.statusCode == StatusCode.unavailable.rawValue)
        #expect(refused.statusMessage == "the server is shutting down; retry the call on a new connection")

        harness.gate.release(first)
        await harness.settle()
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[first]?.statusCode == 0)
        #expect(harness.channel.isActive, "closed while the second call ran")
        harness.gate.release(second)
        await harness.settle()
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[second]?.statusCode == 0)
        #expect(!harness.channel.isActive, "still open after the last call ended")
    }

    @Test func withoutCallsTheConnectionClosesAtOnce() async throws {
        let harness = try await Self.harness()
        let id = harness.callID()
        try await harness.send(harness.request(id, TestService.Method.emptyCall.path, EmptyMessage()))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[id]?.statusCode == 0)
        try await harness.beginGracefulShutdown(grace: .seconds(10))
        try Self.expectShutdownGoAway(try await harness.frames(), lastCallID: id)
        #expect(!harness.channel.isActive)
    }

    @Test func theGraceDeadlineCutsOffTheCallsStillRunning() async throws {
        let harness = try await Self.harness()
        let (first, second) = try await Self.twoRunningCalls(harness)
        try await harness.beginGracefulShutdown(grace: .seconds(10))
        try Self.expectShutdownGoAway(try await harness.frames(), lastCallID: second)
        await harness.advance(by: .seconds(5))
        harness.gate.release(first)
        await harness.advance(by: .milliseconds(4_900))
        #expect(try ServerConnectionHarness.ends(try await harness.frames()).keys.sorted() == [first])
        #expect(harness.channel.isActive)

        await harness.advance(by: .milliseconds(100))
        let cut = try #require(try ServerConnectionHarness.ends(try await harness.frames())[second])
        #expect(cut.statusCode == StatusCode.unavailable.rawValue)
        #expect(cut.statusMessage == "the server shut down before the call finished")
        #expect(harness.gate.wasCancelled(second), "the handler of the call cut off was not cancelled")
        #expect(!harness.channel.isActive)
    }
}

/// A client's GOAWAY drains the connection the same way, without a GOAWAY in return (PROTOCOL.md §14).
@Suite("Client GOAWAY drain")
struct ClientGoAwayDrainTests {
    @Test func theClientsCallsFinishLaterRequestsAreRefusedAndTheLastCallCloses() async throws {
        var configuration = ServerConfiguration()
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        let running = harness.callID()
        try await harness.send(harness.request(running, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        var goAway = ByteBuffer()
        goAway.writeFrame(.goAway, header: GoAwayHeader(lastCallID: 0, code: .noError, message: "bye"), payload: NoMessage.payload)
        try await harness.send(goAway)
        #expect(try await harness.frames().isEmpty, "the server answers a client GOAWAY with nothing")
        #expect(harness.channel.isActive)

        let late = harness.callID()
        try await harness.send(harness.request(late, TestService.Method.emptyCall.path, EmptyMessage()))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[late]?.statusCode == StatusCode.unavailable.rawValue)
        #expect(harness.channel.isActive)
        harness.gate.release(running)
        await harness.settle()
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[running]?.statusCode == 0)
        #expect(!harness.channel.isActive, "still open after the client's last call ended")
    }
}

extension ServerConnectionHarness {
    /// Starts the drain as `TCPServer.shutdown` does, with the grace deadline `grace` from now on the loop's clock.
    func beginGracefulShutdown(grace: TimeAmount) async throws {
        let channel = self.channel
        let loop = self.loop
        try await loop.executeInContext {
            channel.triggerUserOutboundEvent(GracefulShutdownEvent(deadline: loop.now + grace), promise: nil)
        }
        await settle()
    }
}

/// A connection past its maximum age (`ServerConfiguration.maxConnectionAge`) drains like a shutting-down server's,
/// with its own words, so that its client reconnects (and a load balancer may send it elsewhere).
@Suite("Maximum connection age")
struct MaxConnectionAgeTests {
    private static func harness(age: Duration, grace: Duration) async throws -> ServerConnectionHarness {
        var configuration = ServerConfiguration()
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        configuration.idleTimeout = nil
        configuration.maxConnectionAge = age
        configuration.maxConnectionAgeGrace = grace
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        return harness
    }

    @Test func theAgeIsJitteredByTenPercentAtMost() {
        #expect(ServerConfiguration.jittered(.seconds(100), by: -1) == .seconds(90))
        #expect(ServerConfiguration.jittered(.seconds(100), by: 0) == .seconds(100))
        #expect(ServerConfiguration.jittered(.seconds(100), by: 1) == .seconds(110))
        #expect(ServerConfiguration.jittered(.seconds(100), by: 7) == .seconds(110))
    }

    @Test func anOldConnectionGetsGoAwayItsCallsFinishWithinTheGraceAndLaterOnesAreRefused() async throws {
        let harness = try await Self.harness(age: .seconds(100), grace: .seconds(100))
        let running = harness.callID()
        try await harness.send(harness.request(running, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        await harness.advance(by: .seconds(89))
        #expect(try await harness.frames().isEmpty, "GOAWAY before 90 % of the maximum age")

        await harness.advance(by: .seconds(22))  // past 110 %
        let goAway = try #require(try ServerConnectionHarness.goAway(try await harness.frames()))
        #expect(goAway.code == .noError)
        #expect(goAway.lastCallID == running)
        #expect(goAway.message == "the connection reached its maximum age (100s); reconnect")
        #expect(harness.channel.isActive, "closed with a call running")

        let late = harness.callID()
        try await harness.send(harness.request(late, TestService.Method.emptyCall.path, EmptyMessage()))
        let refused = try #require(try ServerConnectionHarness.ends(try await harness.frames())[late])
        #expect(refused.statusCode == StatusCode.unavailable.rawValue)
        #expect(refused.statusMessage == "the connection reached its maximum age; retry the call on a new connection")

        // The grace counts from the GOAWAY, sent between 90 and 110 s: it ends between 190 and 210 s.
        await harness.advance(by: .seconds(78))  // 189 s
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[running] == nil, "cut off before the grace ended")
        #expect(harness.channel.isActive)
        await harness.advance(by: .seconds(22))  // 211 s
        let cut = try #require(try ServerConnectionHarness.ends(try await harness.frames())[running])
        #expect(cut.statusCode == StatusCode.unavailable.rawValue)
        #expect(cut.statusMessage == "the connection reached its maximum age and its grace period ended before the call finished")
        #expect(harness.gate.wasCancelled(running), "the handler of the call cut off was not cancelled")
        #expect(!harness.channel.isActive)
    }

    @Test func withoutCallsAnOldConnectionClosesAtOnce() async throws {
        let harness = try await Self.harness(age: .seconds(10), grace: .seconds(30))
        await harness.advance(by: .seconds(12))
        #expect(try ServerConnectionHarness.goAway(try await harness.frames())?.code == .noError)
        #expect(!harness.channel.isActive)
    }
}

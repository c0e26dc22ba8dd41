import CopsLinkCore
import CopsLinkMessages
import CopsLinkTestSupport
import Synchronization
import Testing

/// The lines connections cause draw on one budget for the whole server: a client that opens connections, breaks the
/// protocol on each and reconnects gets no fresh allowance per connection.
@Suite("Server log budget")
struct ServerLogBudgetTests {
    /// Opens a connection that shares `server` and `handler`, and breaks the protocol on it (a MESSAGE for a call never
    /// opened), so that the server closes it.
    static func breakTheProtocol(server: FailureLogBudget, handler: CapturingLogHandler) async throws {
        let harness = try await ServerConnectionHarness(serverLogBudget: server, logHandler: handler)
        try await harness.handshake()
        try await harness.send(harness.message(99, EmptyMessage()))
        let goAway = try #require(try ServerConnectionHarness.goAway(try await harness.frames()))
        #expect(goAway.code == .protocolError)
    }

    @Test func closingLinesOfConnectionsPastTheServersBudgetAreCountedNotWritten() async throws {
        let clock = Mutex(ContinuousClock.now)
        let server = FailureLogBudget(burst: 2, perSecond: 1, now: { clock.withLock { $0 } })
        let handler = CapturingLogHandler()
        for _ in 0..<5 { try await Self.breakTheProtocol(server: server, handler: handler) }
        var closing = handler.records.value.filter { $0.message == "closing connection" }
        #expect(closing.count == 2)
        #expect(closing.allSatisfy { $0.metadata["server_suppressed_lines"] == nil })

        // Once the budget has earned a line back, the next one says how many were left out.
        clock.withLock { $0 += .seconds(1) }
        try await Self.breakTheProtocol(server: server, handler: handler)
        closing = handler.records.value.filter { $0.message == "closing connection" }
        #expect(closing.count == 3)
        #expect(closing.last?.metadata["server_suppressed_lines"] == "3")
        #expect(closing.last?.metadata["reason"] == "MESSAGE for call 99, which was never opened")
    }
}

import CopsLinkCore
import CopsLinkInProcess
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import Logging
import Testing

@Suite("Logging interceptor")
struct LoggingInterceptorTests {
    @Test func logsOneLinePerCallWithStatusAndRequestID() async throws {
        let handler = CapturingLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let transport = InProcessTransport(router: makeTestRouter(), interceptors: [LoggingInterceptor(logger: logger, level: .info)])
        let client = TestService.Client(wrapping: RPCClient(transport: transport))

        _ = try await client.emptyCall(options: CallOptions(requestID: "req-7"))
        await expectRPCError(.notFound) {
            _ = try await client.unaryCall(SimpleRequest(responseStatus: EchoStatus(code: 5, message: "no such thing")))
        }

        let records = handler.records.value
        #expect(records.count == 2)
        let ok = try #require(records.first)
        #expect(ok.level == .info)
        #expect(ok.metadata["method"] == "/copslink.rpc.v1.TestService/EmptyCall")
        #expect(ok.metadata["status"] == "OK")
        #expect(ok.metadata["request_id"] == "req-7")
        #expect(ok.metadata["call_id"] != nil && ok.metadata["duration_us"] != nil && ok.metadata["peer"] == "in-process")
        let failed = try #require(records.last)
        #expect(failed.level == .notice)
        #expect(failed.metadata["status"] == "NOT_FOUND")
        #expect(failed.metadata["status_message"] == "no such thing")
    }

    /// An error no status is made for answers UNKNOWN without its text; the log line names it, on one line and
    /// bounded (1,024 bytes), for the operator.
    @Test func anUnexpectedErrorIsLoggedWithItsCause() async throws {
        struct StoreBroke: Error, CustomStringConvertible {
            var description: String {
                "UNIQUE constraint failed: account_authority.account_key\nsecond line" + String(repeating: "x", count: 5000)
            }
        }
        var router = makeTestRouter()
        let failing = MethodDescriptor(service: "s.S", method: "Fail")
        router.registerUnary(failing) { (_: SimpleRequest, _) -> ServerResponse<SimpleResponse> in throw StoreBroke() }
        let handler = CapturingLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let client = RPCClient(
            transport: InProcessTransport(router: router, interceptors: [LoggingInterceptor(logger: logger, level: .info)]))
        let answered = await expectRPCError(.unknown) {
            _ = try await client.unary(failing, request: SimpleRequest(), as: SimpleResponse.self)
        }
        #expect(answered?.message == "the handler failed with an unexpected error", "the caller does not see the cause")
        let logged = try #require(handler.records.value.first?.metadata["error"]).description
        #expect(logged.hasPrefix("UNIQUE constraint failed: account_authority.account_key\\nsecond line"), "\(logged.prefix(100))")
        #expect(logged.utf8.count <= 1024 + 3 && logged.hasSuffix("…"), "\(logged.utf8.count) bytes")
        // An answer the handler chose logs none.
        await expectRPCError(.notFound) {
            _ = try await TestService.Client(wrapping: client).unaryCall(SimpleRequest(responseStatus: EchoStatus(code: 5, message: "no")))
        }
        #expect(handler.records.value.count == 2 && handler.records.value.last?.metadata["error"] == nil)
    }

    /// A request id is client text: logged as answers quote it, so that a line stays short whatever the client sends.
    @Test func aLongRequestIDIsLoggedAsAnExcerpt() async throws {
        let handler = CapturingLogHandler()
        let transport = InProcessTransport(
            router: makeTestRouter(), interceptors: [LoggingInterceptor(logger: Logger(label: "test") { _ in handler }, level: .info)])
        let client = TestService.Client(wrapping: RPCClient(transport: transport))
        _ = try await client.emptyCall(options: CallOptions(requestID: String(repeating: "\\", count: 10_000)))
        let logged = try #require(handler.records.value.first?.metadata["request_id"])
        #expect(logged == String(repeating: "\\\\", count: 64) + "…")
    }
}

/// Failed calls of one connection cannot flood the log: the connection's `FailureLogBudget` admits a burst, then one
/// line per second, and the next line written counts those left out.
@Suite("Failed-call log budget")
struct FailureLogBudgetTests {
    /// A clock the test moves.
    final class ManualClock: Sendable {
        let now = LockedBox(ContinuousClock.now)
        func advance(by duration: Duration) { now.withLock { $0 += duration } }
    }

    @Test func aBurstThenOneLinePerSecondWithTheSuppressedCount() async throws {
        let clock = ManualClock()
        let budget = FailureLogBudget(burst: 3, perSecond: 1, now: { clock.now.value })
        let handler = CapturingLogHandler()
        let interceptor = LoggingInterceptor(logger: Logger(label: "test") { _ in handler }, level: .info)
        var context = ServerContext(
            descriptor: MethodDescriptor(service: "s.S", method: "M"), metadata: [:], deadline: nil, peer: "p", callID: 1)
        context.failureLogBudget = budget
        func fail() async {
            _ = try? await interceptor.intercept(context: context) { _ in .failure(RPCError(code: .notFound, message: "no")) }
        }
        for _ in 0..<10 { await fail() }
        #expect(handler.records.value.count == 3)
        // Successful calls are not limited.
        _ = try await interceptor.intercept(context: context) { _ in .success(finalMessage: nil, trailers: [:]) }
        #expect(handler.records.value.count == 4)

        clock.advance(by: .milliseconds(1_500))
        await fail()
        await fail()
        let records = handler.records.value
        #expect(records.count == 5)
        #expect(records.last?.metadata["suppressed_failures"] == "7")
        #expect(budget.close() == FailureLogBudget.Admission(suppressed: 1))
    }

    /// Connections each have their burst, but all of them together no more than the server's budget: what it leaves
    /// out (failed calls, the lines those would have reported, connection summaries) is counted once and reported by
    /// the next line it lets through.
    @Test func connectionsDrawOnTheServersBudgetToo() async throws {
        let clock = ManualClock()
        let server = FailureLogBudget(burst: 5, perSecond: 1, now: { clock.now.value })
        let handler = CapturingLogHandler()
        let interceptor = LoggingInterceptor(logger: Logger(label: "test") { _ in handler }, level: .info)
        func fail(_ times: Int, on budget: FailureLogBudget) async {
            var context = ServerContext(
                descriptor: MethodDescriptor(service: "s.S", method: "M"), metadata: [:], deadline: nil, peer: "p", callID: 1)
            context.failureLogBudget = budget
            for _ in 0..<times {
                _ = try? await interceptor.intercept(context: context) { _ in .failure(RPCError(code: .notFound, message: "no")) }
            }
        }
        let connections = (0..<4).map { _ in FailureLogBudget(burst: 3, perSecond: 1, server: server, now: { clock.now.value }) }
        await fail(3, on: connections[0])
        await fail(3, on: connections[1])
        #expect(handler.records.value.count == 5, "the server's burst, whatever each connection's")
        await fail(3, on: connections[2])
        await fail(2, on: connections[0])  // past its own burst: counted by the connection
        #expect(handler.records.value.count == 5)
        #expect(connections[2].close() == nil, "its lines were left out by the server, which counted them")
        #expect(connections[0].close() == nil, "the summary of its 2 is left out too, and counted")
        #expect(connections[3].admitConnectionLine() == nil)
        await fail(1, on: connections[0])  // a call that ends after its connection closed: no summary will come

        clock.advance(by: .milliseconds(1_500))
        await fail(1, on: connections[3])
        let last = try #require(handler.records.value.last)
        #expect(handler.records.value.count == 6)
        // 1 of connection 1's, 3 of connection 2's, connection 0's 2, the connection line and connection 0's late one.
        #expect(last.metadata["server_suppressed_lines"] == "8")
        #expect(last.metadata["suppressed_failures"] == nil)
    }

    /// A transport that writes no summary (gRPC, HTTP/JSON) hands what its connection left out to the server's count.
    @Test func aConnectionClosedWithoutASummaryReportsToTheServer() {
        let clock = ManualClock()
        let server = FailureLogBudget(burst: 5, perSecond: 1, now: { clock.now.value })
        let connection = FailureLogBudget(burst: 1, perSecond: 1, server: server, now: { clock.now.value })
        #expect(connection.admit() == FailureLogBudget.Admission())
        #expect(connection.admit() == nil)
        #expect(connection.admit() == nil)
        connection.closeReportingToServer()
        #expect(connection.admit() == nil)
        #expect(server.admit() == FailureLogBudget.Admission(suppressed: 3))
    }

    /// Tokens are earned at the configured rate whatever the spacing of the lines: the fraction of a token earned
    /// before a line is kept for the next (at 100 a second, lines 19 ms apart were held to one in two).
    @Test func fractionsOfATokenAreNotLost() {
        let clock = ManualClock()
        let budget = FailureLogBudget(burst: 2, perSecond: 100, now: { clock.now.value })
        #expect(budget.admit() != nil && budget.admit() != nil)
        #expect(budget.admit() == nil)
        clock.advance(by: .milliseconds(19))
        #expect(budget.admit() != nil)
        clock.advance(by: .milliseconds(2))
        #expect(budget.admit() != nil, "the 9 ms left over after the first token count towards the next")
        #expect(budget.admit() == nil)
    }
}

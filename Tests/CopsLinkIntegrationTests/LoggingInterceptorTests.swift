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
        #expect(budget.takeSuppressed() == 1)
    }
}

import CopsLinkTestSupport
import CopsLinkCodecs
import CopsLinkCore
import CopsLinkInProcess
import CopsLinkServices
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

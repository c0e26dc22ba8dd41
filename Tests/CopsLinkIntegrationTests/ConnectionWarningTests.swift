import CopsLinkCore
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Logging
import Testing

@Suite("Connection warning")
struct ConnectionWarningTests {
    /// `--insecure-disable-auth` sets this warning: it must be logged for every connection, not once.
    @Test func theWarningIsLoggedForEveryConnection() async throws {
        let capture = CapturingLogHandler()
        var configuration = ServerConfiguration()
        configuration.connectionWarning = "AUTHENTICATION IS DISABLED"
        try await TCPServer.withServer(
            configuration: configuration, router: makeTestRouter(), logger: Logger(label: "test") { _ in capture }
        ) { server in
            for _ in 0..<3 {
                try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port!)) {
                    _ = try await Health.Client(wrapping: RPCClient(transport: $0)).check()
                }
            }
        }
        let warnings = capture.records.value.filter { $0.level == .warning && $0.message == "AUTHENTICATION IS DISABLED" }
        #expect(warnings.count == 3)
        #expect(warnings.allSatisfy { $0.metadata["peer"]?.hasPrefix("127.0.0.1:") == true })
    }
}

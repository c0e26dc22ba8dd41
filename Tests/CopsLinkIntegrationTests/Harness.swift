import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import Logging
import Testing

/// A router with the conformance service, the probe service, health and server info.
func makeTestRouter(probe: ProbeService = ProbeService()) -> RPCRouter {
    var router = RPCRouter()
    ConformanceService().registerMethods(with: &router)
    probe.registerMethods(with: &router)
    HealthService(services: router.services).registerMethods(with: &router)
    ServerInfo.register(into: &router, serverVersion: "test", protocolVersions: Preface.supportedVersions, limits: nil)
    return router
}

func quietLogger() -> Logger {
    var logger = Logger(label: "copslink.test")
    logger.logLevel = .critical
    return logger
}

/// Runs `body` with a client of `makeTestRouter(probe:)` over `kind` (CopsLinkTesting's `withTestClient`, the harness a
/// service built on CopsLink uses too).
func withTestClient<Result: Sendable>(
    _ kind: TestTransport,
    probe: ProbeService = ProbeService(),
    server configureServer: (inout ServerConfiguration) -> Void = { _ in },
    client configureClient: (inout ClientConfiguration) -> Void = { _ in },
    _ body: (RPCClient) async throws -> Result
) async throws -> Result {
    try await withTestClient(
        kind, serving: makeTestRouter(probe: probe), server: configureServer, client: configureClient, logger: quietLogger(), body)
}

/// Runs `body` with a TCP server of `makeTestRouter(probe:)` and its port.
func withTCPServer<Result: Sendable>(
    probe: ProbeService = ProbeService(),
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (TCPServer, Int) async throws -> Result
) async throws -> Result {
    try await withTestServer(serving: makeTestRouter(probe: probe), configure: configure, logger: quietLogger()) { server in
        try await body(server, try #require(server.port))
    }
}

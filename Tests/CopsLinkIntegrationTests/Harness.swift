import CopsLinkBuiltinServices
import CopsLinkMessages
import CopsLinkCore
import CopsLinkInProcess
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTransport
import CopsLinkWire
import Logging
import NIOCore
import NIOPosix
import Testing

/// The transports every conformance test runs over.
enum TransportKind: String, CaseIterable, CustomTestStringConvertible {
    case tcp, inProcess
    var testDescription: String { rawValue }
}

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

/// Runs `body` with a client connected to a fresh server over `kind`.
func withTestClient<Result: Sendable>(
    _ kind: TransportKind,
    probe: ProbeService = ProbeService(),
    server configureServer: (inout ServerConfiguration) -> Void = { _ in },
    client configureClient: (inout ClientConfiguration) -> Void = { _ in },
    _ body: (RPCClient) async throws -> Result
) async throws -> Result {
    let router = makeTestRouter(probe: probe)
    switch kind {
    case .inProcess:
        return try await body(RPCClient(transport: InProcessTransport(router: router)))
    case .tcp:
        var serverConfiguration = ServerConfiguration(host: "127.0.0.1", port: 0)
        serverConfiguration.handshakeTimeout = .seconds(60)
        configureServer(&serverConfiguration)
        return try await TCPServer.withServer(configuration: serverConfiguration, router: router, logger: quietLogger()) { server in
            var clientConfiguration = ClientConfiguration(host: "127.0.0.1", port: server.port!)
            configureClient(&clientConfiguration)
            return try await TCPClientTransport.withTransport(configuration: clientConfiguration) { transport in
                try await body(RPCClient(transport: transport))
            }
        }
    }
}

/// Runs `body` with a TCP server and its port.
func withTCPServer<Result: Sendable>(
    probe: ProbeService = ProbeService(),
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (TCPServer, Int) async throws -> Result
) async throws -> Result {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.handshakeTimeout = .seconds(60)  // tests on a loaded machine must not race the default 10 s
    configure(&configuration)
    return try await TCPServer.withServer(configuration: configuration, router: makeTestRouter(probe: probe), logger: quietLogger()) {
        server in try await body(server, server.port!)
    }
}

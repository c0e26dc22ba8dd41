public import CopsLinkCore
import CopsLinkInProcess
public import CopsLinkTransport
public import Logging

/// Serves `router` over `transport` for the duration of `body`, and hands `body` a client of it; the server (for
/// `.tcp`) is shut down gracefully, and the connection closed, when `body` returns. Wrap the client in your service's
/// generated client: `Greeter.Client(wrapping: client)`.
///
/// - Parameters:
///   - interceptors: the server's interceptors, on either transport (an `AuthInterceptor`, say).
///   - configureServer: adjusts the TCP server's configuration (limits, timeouts, TLS); `.tcp` only. It starts from
///     `ServerConfiguration.forTesting()`.
///   - configureClient: adjusts the TCP client's configuration (TLS, keepalive); `.tcp` only. It starts from
///     `ClientConfiguration.forTesting(port:)` with the server's port.
///   - logger: the server's logger; by default nothing is logged.
public func withTestClient<Result: Sendable>(
    _ transport: TestTransport, serving router: RPCRouter, interceptors: [any ServerInterceptor] = [],
    server configureServer: (inout ServerConfiguration) -> Void = { _ in },
    client configureClient: (inout ClientConfiguration) -> Void = { _ in },
    logger: Logger = .silentForTesting,
    _ body: (RPCClient) async throws -> Result
) async throws -> Result {
    switch transport {
    case .inProcess:
        return try await body(RPCClient(transport: InProcessTransport(router: router, interceptors: interceptors)))
    case .tcp:
        return try await withTestServer(serving: router, interceptors: interceptors, configure: configureServer, logger: logger) { server in
            var clientConfiguration = ClientConfiguration.forTesting(port: server.port ?? 0)
            configureClient(&clientConfiguration)
            return try await TCPClientTransport.withTransport(configuration: clientConfiguration) { transport in
                try await body(RPCClient(transport: transport))
            }
        }
    }
}

/// Runs a `TCPServer` serving `router` on 127.0.0.1 (port 0) for the duration of `body`, then shuts it down
/// gracefully: for tests that make their own connections (raw frames, several clients, TLS handshakes).
/// `server.port` is the bound port.
public func withTestServer<Result: Sendable>(
    serving router: RPCRouter, interceptors: [any ServerInterceptor] = [],
    configure: (inout ServerConfiguration) -> Void = { _ in }, logger: Logger = .silentForTesting,
    _ body: (TCPServer) async throws -> Result
) async throws -> Result {
    var configuration = ServerConfiguration.forTesting()
    configure(&configuration)
    return try await TCPServer.withServer(configuration: configuration, router: router, interceptors: interceptors, logger: logger, body)
}

extension ServerConfiguration {
    /// The defaults, on 127.0.0.1 and a port the system picks, with a handshake timeout of 60 s instead of 10 s:
    /// tests on a loaded machine must not race the handshake deadline.
    public static func forTesting() -> ServerConfiguration {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.handshakeTimeout = .seconds(60)
        return configuration
    }
}

extension ClientConfiguration {
    /// The defaults, for a server on `host` (127.0.0.1) and `port`, with a connect timeout of 60 s instead of 5 s.
    ///
    /// The whole suite on two cores shares two event loops with hundreds of connections, in a debug build: a loop can
    /// be busy for seconds at a time, and a handshake that is not what a test is about must not race 5 s. Tests of
    /// the timeout itself set `connectTimeout` after this.
    public static func forTesting(port: Int, host: String = "127.0.0.1") -> ClientConfiguration {
        var configuration = ClientConfiguration(host: host, port: port)
        configuration.connectTimeout = .seconds(60)
        return configuration
    }
}

extension Logger {
    /// A logger that drops everything, without touching the process-wide `LoggingSystem`.
    public static var silentForTesting: Logger { Logger(label: "copslink.testing") { _ in SwiftLogNoOpLogHandler() } }
}

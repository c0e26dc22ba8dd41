public import CopsLinkCore
public import CoreMetrics
public import Logging
import NIOCore
public import ServiceLifecycle

/// The server's lifetime, as a swift-service-lifecycle `Service` (hummingbird's `Application.run()` is the model).
extension TCPServer: Service {
    /// Binds, serves until the task's graceful shutdown (the `ServiceGroup`'s: SIGTERM or SIGINT in copslink-server)
    /// or cancellation, then drains (PROTOCOL.md §14): the listener closes, every connection gets GOAWAY `NO_ERROR`,
    /// calls it had accepted finish within `configuration.shutdownGracePeriod`, later ones are refused. Returns when
    /// every connection has closed. Throws if the bind fails or the server ran before (a server runs once).
    ///
    /// Outside a `ServiceGroup` (no graceful shutdown in the task), only cancellation ends it.
    public func run() async throws {
        try await bind()
        let gauge = recordInboundMemoryEverySecond()
        // Returns on graceful shutdown; throws CancellationError on cancellation, which drains the same way.
        try? await gracefulShutdown()
        await drain()
        gauge?.cancel()
    }

    /// Runs a server for the duration of `body`, then shuts it down gracefully and waits for `run()` to return: a
    /// scope that cannot leak a running server. The server runs in its own `ServiceGroup` (no signal handling);
    /// `body` is called once it listens, so `server.port` is set. `installers` as for `init`.
    public static func withServer<Result: Sendable>(
        configuration: ServerConfiguration, router: RPCRouter, interceptors: [any ServerInterceptor] = [],
        logger: Logger = Logger(label: "copslink.server"), metricsFactory: (any MetricsFactory)? = nil,
        installers: [ServerProtocol: ProtocolInstaller] = [:], _ body: (TCPServer) async throws -> Result
    ) async throws -> Result {
        let server = TCPServer(
            configuration: configuration, router: router, interceptors: interceptors, logger: logger, metricsFactory: metricsFactory,
            installers: installers)
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result
            do {
                _ = try await server.listeningAddress
                result = try await body(server)
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }
}

import ArgumentParser
import CopsLinkAccounts
import CopsLinkAdminHTTP
import CopsLinkCodecs
import CopsLinkCore
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import Dispatch
import Logging
import Metrics

#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serves the CopsLink RPC API over TCP (the default subcommand).",
        discussion: """
            Prints one line containing 'listening on HOST:PORT' when ready. SIGTERM or SIGINT starts a graceful
            shutdown: GOAWAY to every connection, in-flight calls finish within --grace-period seconds.

            Examples:
              copslink-server --port 7420 --database data/copslink.sqlite
              copslink-server --port 0 --database /tmp/demo.sqlite --demo
              copslink-server --port 0 --enable-test-service
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free port.") var port = 7420
    @Option(help: "Path of the SQLite database file of the account store (created if missing).") var database = "copslink.sqlite"
    @Flag(help: "Seed demo customers demo-1 … demo-4 and the sample authority directory when the store is empty.") var demo = false
    @Option(help: "Longest test a dealer may place, in hours (at most 720).") var maxTestHours = 24.0
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Option(help: "Log line format on stderr: text, or json (one JSON object per line).") var logFormat = LogFormat.text
    @Option(help: "Level of the one line per successful call (failed calls log one level higher).") var callLogLevel = "debug"
    @Option(help: "Serve /metrics (Prometheus), /healthz and /readyz over HTTP on this port; 0 picks a free port. Off by default.")
    var metricsPort: Int?
    @Option(help: "Address of the metrics endpoint.") var metricsHost = "127.0.0.1"
    @Flag(help: "Also serve copslink.rpc.v1.TestService, the conformance service.") var enableTestService = false
    @Option(help: "Maximum simultaneous connections.") var maxConnections = 10_000
    @Option(help: "Maximum concurrent calls per connection.") var maxConcurrentCalls = 100
    @Option(help: "Maximum frame size in bytes.") var maxFrameSize = 4 << 20
    @Option(help: "Maximum frame header size in bytes.") var maxHeaderSize = 16 << 10
    @Option(help: "Initial per-call flow-control window in bytes.") var initialWindowSize = 256 << 10
    @Option(help: "Seconds in-flight calls may run after shutdown begins.") var gracePeriod = 10.0
    @Option(help: "Seconds a frame may take to arrive once its first bytes have; 0 disables the limit.") var frameReadTimeout = 30.0
    @Flag(inversion: .prefixedNo, help: "Run call handlers on their connection's event loop (no thread switch per call).")
    var handlersOnEventLoop = true

    func run() async throws {
        Observability.bootstrapLogging(format: logFormat)
        let registry = metricsPort == nil ? nil : Observability.bootstrapMetrics()
        var logger = Logger(label: "copslink.server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        var configuration = ServerConfiguration(host: host, port: port)
        configuration.maxConnections = maxConnections
        configuration.limits.maxConcurrentCalls = maxConcurrentCalls
        configuration.limits.maxFrameSize = maxFrameSize
        configuration.limits.maxHeaderSize = maxHeaderSize
        configuration.limits.initialWindowSize = initialWindowSize
        configuration.shutdownGracePeriod = .milliseconds(Int64(gracePeriod * 1000))
        configuration.runsHandlersOnEventLoop = handlersOnEventLoop
        configuration.frameReadTimeout = frameReadTimeout > 0 ? .milliseconds(Int64(frameReadTimeout * 1000)) : nil

        let store = try SQLiteAccountStore(path: database)
        let clock = SystemAccountClock()
        if demo, try await DemoData.seedIfEmpty(store, nowMs: clock.nowMs()) {
            logger.notice("seeded demo customers demo-1 … demo-4", metadata: ["database": "\(database)"])
        }
        var accountConfiguration = AccountServiceConfiguration()
        accountConfiguration.maximumTestMinutes = Int64(maxTestHours * 60)
        let expiry = TestExpiryScheduler(store: store, clock: clock, logger: logger)
        let expiryTask = Task { await expiry.run() }
        defer { expiryTask.cancel() }

        var router = RPCRouter()
        AccountServiceImplementation(store: store, clock: clock, configuration: accountConfiguration, expiry: expiry)
            .registerMethods(with: &router)
        if enableTestService { ConformanceService().registerMethods(with: &router) }
        let health = HealthService(services: router.services + [Health.serviceName, ServerInfo.serviceName])
        health.registerMethods(with: &router)
        ServerInfo.register(
            into: &router, serverVersion: configuration.serverVersion, protocolVersions: Preface.supportedVersions,
            limits: configuration.limits.settingsHeader)

        let callLogging = LoggingInterceptor(logger: logger, level: Logger.Level(rawValue: callLogLevel) ?? .debug)
        let server = TCPServer(
            configuration: configuration, router: router, interceptors: [callLogging], logger: logger,
            metricsFactory: registry == nil ? nil : MetricsSystem.factory)
        // The admin endpoint starts first, so /readyz answers 503 until the RPC port listens.
        var admin: AdminHTTPServer?
        if let registry, let metricsPort {
            admin = try await Observability.startAdminEndpoint(host: metricsHost, port: metricsPort, registry: registry, server: server)
        }
        try await server.start()
        print("copslink-server listening on \(host):\(server.port ?? port)")
        if let admin { print("copslink-server metrics endpoint at http://\(metricsHost):\(admin.port ?? 0)/metrics") }
        fflush(nil)

        let signal = await Self.waitForTerminationSignal()
        logger.notice("shutting down", metadata: ["signal": "\(signal)"])
        await health.enterShutdown()
        await server.shutdown()
        await admin?.shutdown()
        expiryTask.cancel()
        try store.close()
    }

    /// Suspends until SIGTERM or SIGINT arrives.
    private static func waitForTerminationSignal() async -> Int32 {
        await withCheckedContinuation { continuation in
            let once = SignalOnce(continuation)
            for signalNumber in [SIGTERM, SIGINT] {
                Glibc.signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { once.resume(signalNumber) }
                source.resume()
                once.retain(source)
            }
        }
    }
}

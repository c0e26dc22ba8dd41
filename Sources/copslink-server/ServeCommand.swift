import ArgumentParser
import CopsLinkAccounts
import CopsLinkCodecs
import CopsLinkCore
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import Dispatch
import Logging

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
    @Flag(help: "Also serve copslink.rpc.v1.TestService, the conformance service.") var enableTestService = false
    @Option(help: "Maximum simultaneous connections.") var maxConnections = 10_000
    @Option(help: "Maximum concurrent calls per connection.") var maxConcurrentCalls = 100
    @Option(help: "Maximum frame size in bytes.") var maxFrameSize = 4 << 20
    @Option(help: "Maximum frame header size in bytes.") var maxHeaderSize = 16 << 10
    @Option(help: "Initial per-call flow-control window in bytes.") var initialWindowSize = 256 << 10
    @Option(help: "Seconds in-flight calls may run after shutdown begins.") var gracePeriod = 10.0
    @Flag(inversion: .prefixedNo, help: "Run call handlers on their connection's event loop (no thread switch per call).")
    var handlersOnEventLoop = true

    func run() async throws {
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
        if enableTestService { ConformanceService(maxResponseSize: maxFrameSize).registerMethods(with: &router) }
        let health = HealthService(services: router.services + [Health.serviceName, ServerInfo.serviceName])
        health.registerMethods(with: &router)
        ServerInfo.register(
            into: &router, serverVersion: configuration.serverVersion, protocolVersions: Preface.supportedVersions,
            limits: configuration.limits.settingsHeader)

        let server = TCPServer(
            configuration: configuration, router: router, interceptors: [LoggingInterceptor(logger: logger)], logger: logger)
        try await server.start()
        print("copslink-server listening on \(host):\(server.port ?? port)")
        fflush(nil)

        let signal = await Self.waitForTerminationSignal()
        logger.notice("shutting down", metadata: ["signal": "\(signal)"])
        await health.enterShutdown()
        await server.shutdown()
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

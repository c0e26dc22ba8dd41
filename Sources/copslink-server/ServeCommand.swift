import ArgumentParser
import CopsLinkAccounts
import CopsLinkAdminHTTP
import CopsLinkAuth
import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkGRPC
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import Dispatch
import Logging
import Metrics
import ServiceLifecycle
import UnixSignals

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
              PGPASSWORD=… copslink-server \\
                --database postgres://copslink@db.internal/copslink --database-pool-size 16
              copslink-server --port 0 --enable-test-service --insecure-disable-auth

            Every call except health and server info needs an API key ('authorization: Bearer KEY' metadata); create
            keys with 'copslink-server keys create'. --demo also creates a demo-dealer key and prints it.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port to listen on; 0 picks a free port.") var port = 7420
    @OptionGroup var databaseOptions: DatabaseOptions
    @Flag(
        help:
            "Seed demo customers demo-1 … demo-4 (dealer 'demo') and the sample authority directory when the store is empty, and print an API key for the demo dealer: the same key on every restart with this database (kept in DATABASE.demo-key), a new one with --rotate-demo-key."
    )
    var demo = false
    @Flag(help: "With --demo: revoke the earlier demo key and create a new one.") var rotateDemoKey = false
    @Flag(
        help:
            "DEVELOPMENT ONLY: accept calls without an API key, all acting for --unauthenticated-dealer. Logged as a warning at start and on every native connection (within the server's log budget)."
    )
    var insecureDisableAuth = false
    @Option(help: "The dealer that calls act for when authentication is disabled.") var unauthenticatedDealer = DealerID.demo
    @Option(help: ArgumentHelp("Serve TLS with this certificate chain (PEM, leaf first); needs --tls-key.", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("Private key (PEM) of --tls-cert.", valueName: "file")) var tlsKey: String?
    @Option(help: ArgumentHelp("Require client certificates issued by this CA (PEM): mutual TLS.", valueName: "file"))
    var tlsCa: String?
    @Option(parsing: .unconditional, help: "Longest test a dealer may place, in hours (one minute, 0.0167, to 720).") var maxTestHours =
        24.0
    @Option(
        parsing: .unconditional,
        help: "Accounts (linked or unlinked customers) one dealer may hold; LinkAccount of a new customer past it gets RESOURCE_EXHAUSTED.")
    var maxAccountsPerDealer = 1_000_000
    @Option(
        parsing: .unconditional,
        help:
            "Bytes of accounts, answers to request ids, signals and test data one dealer may store; calls that may store more get RESOURCE_EXHAUSTED while it is reached (PlaceOffTest and reads still run). 10737418240 is 10 GiB."
    )
    var maxStoredBytesPerDealer = Int(StorageQuota.defaultBytesPerDealer)
    @Option(
        parsing: .unconditional,
        help:
            "Seconds a request id's answer is kept and replayed; a retry after it runs as a new request. 86400 is 24 hours; 0 keeps them forever."
    )
    var idempotencyRetention = Double(AccountServiceConfiguration().idempotencyRetentionMs / 1000)
    @Option(
        parsing: .unconditional,
        help:
            "Seconds signals are kept, by received time; older ones are deleted and gone from RequestTestData. 34560000 is 400 days; 0 keeps them forever."
    )
    var signalRetention = Double(AccountServiceConfiguration().signalRetentionMs / 1000)
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Option(help: "Log line format on stderr: text, or json (one JSON object per line).") var logFormat = LogFormat.text
    @Option(help: "Level of the one line per successful call (failed calls log one level higher).") var callLogLevel = "debug"
    @Option(
        parsing: .unconditional,
        help: "Serve /metrics (Prometheus), /healthz and /readyz over HTTP on this port; 0 picks a free port. Off by default.")
    var metricsPort: Int?
    @Option(help: "Address of the metrics endpoint.") var metricsHost = "127.0.0.1"
    @Flag(help: "Also serve copslink.rpc.v1.TestService, the conformance service.") var enableTestService = false
    @Option(parsing: .unconditional, help: "Maximum simultaneous connections.") var maxConnections = 10_000
    @Option(parsing: .unconditional, help: "Maximum concurrent calls per connection.") var maxConcurrentCalls = 100
    @Option(
        parsing: .unconditional,
        help: "Maximum calls running at once, server-wide, over every protocol; more are answered RESOURCE_EXHAUSTED (0: no limit).")
    var maxCalls = ServerConfiguration(host: "", port: 0).maxConcurrentCalls
    @Option(
        parsing: .unconditional,
        help:
            "Maximum calls of one API key running at once, server-wide; more are answered RESOURCE_EXHAUSTED (default: a quarter of --max-calls, none when --max-calls is 0; 0: no limit)."
    )
    var maxCallsPerKey: Int?
    @Option(parsing: .unconditional, help: "Maximum frame size in bytes.") var maxFrameSize = 4 << 20
    @Option(
        help: ArgumentHelp(
            "The protocols the port speaks, comma-separated: native (the CopsLink framing), http (HTTP/JSON), grpc (gRPC over HTTP/2: h2c, or ALPN h2 with TLS). Each connection's first bytes (or its ALPN) choose; a protocol left out is not served.",
            valueName: "native,http,grpc"))
    var protocols = "native,http,grpc"
    @Option(
        parsing: .unconditional, help: "Largest HTTP/JSON request body in bytes (a larger one is answered 413 and the connection closed).")
    var httpMaxBodySize = 8 << 20
    @Option(parsing: .unconditional, help: "Maximum frame header size in bytes.") var maxHeaderSize = 16 << 10
    @Option(parsing: .unconditional, help: "Initial per-call flow-control window in bytes.") var initialWindowSize = 256 << 10
    @Option(parsing: .unconditional, help: "Seconds in-flight calls may run after shutdown begins.") var gracePeriod = 10.0
    @Option(parsing: .unconditional, help: "Seconds a frame may take to arrive once its first bytes have; 0 disables the limit.")
    var frameReadTimeout = 30.0
    @Option(
        parsing: .unconditional,
        help:
            "Outbound bytes waiting for a connection's socket above which the server stops reading from it and its streaming handlers wait."
    )
    var outboundHighWater = 256 << 10
    @Option(parsing: .unconditional, help: "Outbound bytes below which a connection paused at --outbound-high-water is read again.")
    var outboundLowWater = 64 << 10
    @Option(
        parsing: .unconditional,
        help:
            "Seconds a connection may stay above --outbound-high-water (its client reading nothing) before GOAWAY ENHANCE_YOUR_CALM; 0 disables."
    )
    var unwritableTimeout = 30.0
    @Option(
        parsing: .unconditional,
        help:
            "Bytes of messages a connection may hold in calls whose request stream is still open, each message counting its bytes plus 64; the call passing it gets RESOURCE_EXHAUSTED."
    )
    var maxConnectionInbound = 8 << 20
    @Option(
        parsing: .unconditional,
        help:
            "Server-wide bytes of partial frames and unfinished requests; past it new calls get RESOURCE_EXHAUSTED and new connections are refused (each in its own protocol)."
    )
    var maxInboundMemory = 64 << 20
    @Option(
        parsing: .unconditional,
        help:
            "Server-wide bytes of answers held for clients that do not take them (sockets of unwritable connections, messages waiting for credit, gRPC DATA not yet sent); past it such connections are closed, such messages and gRPC streams dropped, and new gRPC calls refused. At least --outbound-high-water."
    )
    var maxUnreadAnswers = 256 << 20
    @Option(
        parsing: .unconditional,
        help:
            "One API key's share of --max-unread-answers (answers waiting for its calls, and the sockets of connections it authenticated on first); past it only that key's are refused, and its new calls until it is under three quarters of it (default: a quarter of it; at least --outbound-high-water)."
    )
    var maxUnreadAnswersPerKey: Int?
    @Option(
        parsing: .unconditional,
        help:
            "Server-wide bytes of request messages running handlers hold: a request over 4 KiB counts from when its handler takes it until it returns; one that would pass this, or its API key's share, is refused RESOURCE_EXHAUSTED before its handler runs. 0: no limit."
    )
    var maxHeldRequests = 64 << 20
    @Option(
        parsing: .unconditional,
        help: "One API key's share of --max-held-requests (default: a quarter of it)."
    )
    var maxHeldRequestsPerKey: Int?
    @Option(
        parsing: .unconditional,
        help:
            "Seconds a call without a deadline (or a unary or server-streaming call, whatever its deadline) may send nothing on its open request stream before it ends DEADLINE_EXCEEDED; 0 disables."
    )
    var requestTimeout = 30.0
    @Option(
        parsing: .unconditional,
        help: "UNAUTHENTICATED answers on one connection after which it gets GOAWAY ENHANCE_YOUR_CALM and is closed; 0 disables.")
    var maxUnauthenticatedCalls = 3
    @Option(
        parsing: .unconditional,
        help:
            "The fraction of each event loop's time that connections without an authenticated caller may take together (after a 100-ms burst); past it their reads wait, least-served connection first. 1 turns this off."
    )
    var keylessShare = 0.5
    @Option(parsing: .unconditional, help: "Seconds a connection has to send its preface and SETTINGS.") var handshakeTimeout = 10.0
    @Option(parsing: .unconditional, help: "Seconds a connection without calls is kept before GOAWAY IDLE_TIMEOUT; 0 disables.")
    var idleTimeout = 300.0
    @Option(
        parsing: .unconditional,
        help:
            "Seconds after which a connection gets GOAWAY NO_ERROR and drains, so that clients reconnect and spread over the instances behind a load balancer; jittered by ±10 %. 0 (the default) disables."
    )
    var maxConnectionAge = 0.0
    @Option(
        parsing: .unconditional, help: "Seconds the calls of a connection past its maximum age may still run before they end UNAVAILABLE.")
    var maxConnectionAgeGrace = 30.0
    @Option(parsing: .unconditional, help: "Failed-call log lines one connection may cause at once; later ones are counted, not written.")
    var failedCallLogBurst = 20
    @Option(parsing: .unconditional, help: "Failed-call log lines per second a connection earns back after --failed-call-log-burst.")
    var failedCallLogRate = 1
    @Option(
        parsing: .unconditional,
        help:
            "Log lines all connections together may cause at once (failed calls, connections closed or refused at a limit); later ones are counted, not written."
    )
    var serverLogBurst = 1_000
    @Option(parsing: .unconditional, help: "Log lines per second all connections together earn back after --server-log-burst.")
    var serverLogRate = 100
    @Option(
        parsing: .unconditional,
        help:
            "API keys kept in memory, and separately ids found unknown, each least recently used first out; a key is read from the database again after 5 s."
    )
    var keyCacheSize = APIKeyAuthenticator.defaultMaximumCachedKeys
    @Option(
        parsing: .unconditional,
        help:
            "Calls of the methods open without a key, server-wide: streaming ones running at once (gRPC health Watch, reflection), and unary ones still waiting for their request (a probe's Check, which sends it at once, is never counted); more are answered RESOURCE_EXHAUSTED (0: no limit)."
    )
    var maxPublicCalls = AccessPolicy().maxConcurrentPublicCalls
    @Flag(inversion: .prefixedNo, help: "Run call handlers on their connection's event loop (no thread switch per call).")
    var handlersOnEventLoop = true

    func run() async throws {
        Observability.bootstrapLogging(format: logFormat)
        let registry = metricsPort == nil ? nil : Observability.bootstrapMetrics()
        var logger = Logger(label: "copslink.server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        var configuration = ServerConfiguration(host: host, port: port)
        configuration.maxConnections = maxConnections
        configuration.maxConcurrentCalls = maxCalls
        configuration.maxOpenCallsAwaitingRequest = maxPublicCalls
        if let descriptors = FileDescriptorLimit.raiseToHardLimit() {
            let allowed = FileDescriptorLimit.connections(allowedBy: descriptors)
            if maxConnections > allowed {
                logger.warning(
                    "--max-connections \(maxConnections) exceeds what the open-file limit allows; serving at most \(allowed)",
                    metadata: ["open_file_limit": "\(descriptors)"])
                configuration.maxConnections = allowed
            }
        }
        configuration.outboundHighWaterMark = outboundHighWater
        configuration.outboundLowWaterMark = outboundLowWater
        configuration.unwritableTimeout = Self.duration(seconds: unwritableTimeout)
        configuration.maxUnfinishedRequestBytesPerConnection = maxConnectionInbound
        configuration.maxBufferedInboundBytes = maxInboundMemory
        configuration.maxUnreadAnswerBytes = maxUnreadAnswers
        configuration.maxUnreadAnswerBytesPerKey = maxUnreadAnswersPerKey
        configuration.maxHeldRequestBytes = maxHeldRequests
        configuration.maxHeldRequestBytesPerKey = maxHeldRequestsPerKey
        configuration.requestIdleTimeout = Self.duration(seconds: requestTimeout)
        configuration.maxUnauthenticatedCalls = maxUnauthenticatedCalls
        configuration.keylessShare = keylessShare
        configuration.handshakeTimeout = .milliseconds(Int64(handshakeTimeout * 1000))
        configuration.idleTimeout = Self.duration(seconds: idleTimeout)
        configuration.maxConnectionAge = Self.duration(seconds: maxConnectionAge)
        configuration.maxConnectionAgeGrace = .milliseconds(Int64(maxConnectionAgeGrace * 1000))
        configuration.failedCallLogBurst = failedCallLogBurst
        configuration.failedCallLogPerSecond = failedCallLogRate
        configuration.serverLogBurst = serverLogBurst
        configuration.serverLogPerSecond = serverLogRate
        configuration.limits.maxConcurrentCalls = maxConcurrentCalls
        configuration.limits.maxFrameSize = maxFrameSize
        configuration.httpJSONMaxBodyBytes = httpMaxBodySize
        configuration.protocols = try Self.parseProtocols(protocols)
        configuration.limits.maxHeaderSize = maxHeaderSize
        configuration.limits.initialWindowSize = initialWindowSize
        configuration.shutdownGracePeriod = .milliseconds(Int64(gracePeriod * 1000))
        configuration.runsHandlersOnEventLoop = handlersOnEventLoop
        configuration.frameReadTimeout = Self.duration(seconds: frameReadTimeout)
        if let tlsCert, let tlsKey {
            do {
                configuration.tls = try TLSFiles.server(certificateChain: tlsCert, privateKey: tlsKey, clientCA: tlsCa)
            } catch {
                throw ValidationError("TLS files could not be loaded: \(error)")
            }
        }

        let opened = try await databaseOptions.open(logger: logger)
        let store = opened.store
        let clock = SystemAccountClock()
        if demo, try await DemoData.seedIfEmpty(store, nowMs: clock.nowMs()) {
            logger.notice("seeded demo customers demo-1 … demo-4", metadata: ["database": "\(databaseOptions.described)"])
        }
        var demoToken: String?
        if demo {
            let (token, reused) = try await DemoKeyFile.demoKey(
                store, file: opened.demoKeyFile, rotate: rotateDemoKey, nowMs: clock.nowMs())
            let age = reused ? "kept from the last start; --rotate-demo-key makes a new one" : "new"
            print("demo API key (dealer \(DealerID.demo), roles read,write,test-control, \(age)): \(token.token)")
            demoToken = token.token
        }
        var accountConfiguration = AccountServiceConfiguration()
        accountConfiguration.maximumTestMinutes = Int64(maxTestHours * 60)
        accountConfiguration.maximumAccountsPerDealer = maxAccountsPerDealer
        accountConfiguration.maximumStoredBytesPerDealer = Int64(maxStoredBytesPerDealer)
        accountConfiguration.idempotencyRetentionMs = Int64(idempotencyRetention * 1000)
        accountConfiguration.signalRetentionMs = Int64(signalRetention * 1000)
        var interceptors: [any ServerInterceptor] = []
        var policy = AccessPolicy.copsLink
        policy.maxConcurrentPublicCalls = maxPublicCalls
        policy.maxConcurrentCallsPerKey = maxCallsPerKey ?? (maxCalls == 0 ? 0 : max(1, maxCalls / 4))
        if insecureDisableAuth {
            accountConfiguration.dealerWithoutCaller = unauthenticatedDealer
            let warning = "AUTHENTICATION IS DISABLED (--insecure-disable-auth): every call acts for dealer '\(unauthenticatedDealer)'"
            logger.warning("\(warning)")
            configuration.connectionWarning = warning
        } else {
            interceptors.append(
                AuthInterceptor(
                    authenticator: APIKeyAuthenticator(
                        store: store, maximumCachedKeys: keyCacheSize,
                        maximumWaitingCallers: maxCalls == 0 ? 0 : max(1, maxCalls / 4)),
                    policy: policy))
        }
        let expiry = TestExpiryScheduler(store: store, clock: clock, logger: logger)
        let pruner = RetentionPruner(store: store, clock: clock, configuration: accountConfiguration, logger: logger)

        var router = RPCRouter()
        AccountServiceImplementation(store: store, clock: clock, configuration: accountConfiguration, expiry: expiry)
            .registerMethods(with: &router)
        if enableTestService { ConformanceService(maxResponseSize: maxFrameSize).registerMethods(with: &router) }
        let health = HealthService(services: router.services + [Health.serviceName, ServerInfo.serviceName])
        health.registerMethods(with: &router)
        ServerInfo.register(
            into: &router, serverVersion: configuration.serverVersion, protocolVersions: Preface.supportedVersions,
            limits: configuration.limits.settingsHeader)
        if !insecureDisableAuth {
            router.limitRequestMessages(ofPaths: policy.publicMethods, toBytes: policy.maxPublicRequestMessageSize)
        }

        let callLogging = LoggingInterceptor(logger: logger, level: Logger.Level(rawValue: callLogLevel) ?? .debug)
        let server = TCPServer(
            configuration: configuration, router: router, interceptors: [callLogging] + interceptors, logger: logger,
            metricsFactory: registry == nil ? nil : MetricsSystem.factory, installers: [.grpc: GRPCServer.installer])
        // The admin endpoint starts first, so /readyz answers 503 until the RPC port listens.
        var admin: AdminHTTPServer?
        if let registry, let metricsPort {
            admin = try await Observability.startAdminEndpoint(host: metricsHost, port: metricsPort, registry: registry, server: server)
        }

        // The server binds in its run(); SIGTERM or SIGINT: services stop in reverse order — health turns
        // NOT_SERVING, the server drains (GOAWAY, in-flight calls finish within the grace period), the expiry
        // scheduler and the retention pruner stop; then the admin endpoint and the store close.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: ExpiryService(scheduler: expiry)),
                    .init(service: RetentionService(pruner: pruner)),
                    .init(service: server),
                    .init(service: DrainAnnouncer(health: health, logger: logger))
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        // Linux delivers these to the group's dispatch signal sources only once their default action (terminate)
        // is off; swift-service-lifecycle does this itself only on Darwin.
        for signalNumber in [SIGTERM, SIGINT] { Glibc.signal(signalNumber, SIG_IGN) }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // A failed bind ends the group's run() with the same error, which waitForAll() rethrows.
            if (try? await server.listeningAddress) != nil {
                if let demoToken {
                    // After the bind, so that the line names the port actually listened on (--port 0 picks one);
                    // before the listening line, which tools wait for.
                    print(
                        "try: export COPSLINK_TOKEN=\(demoToken); scripts/copslink --server \(host):\(server.port ?? port) account get demo-1"
                    )
                }
                print("copslink-server listening on \(host):\(server.port ?? port)\(configuration.tls == nil ? "" : " (TLS)")")
                if let admin { print("copslink-server metrics endpoint at http://\(metricsHost):\(admin.port ?? 0)/metrics") }
                fflush(nil)
            }
            try await tasks.waitForAll()
        }
        await admin?.shutdown()
        try await opened.close()
        logger.notice("stopped")
    }

    /// A timeout flag in seconds; 0 means none.
    private static func duration(seconds: Double) -> Duration? {
        seconds > 0 ? .milliseconds(Int64(seconds * 1000)) : nil
    }

    func validate() throws {
        // 0 minutes would fail every PlaceOnTest, and a value the server would cap (or could not convert) is refused
        // rather than changed silently.
        guard maxTestHours.isFinite, maxTestHours * 60 >= 1, maxTestHours <= Double(AccountServiceConfiguration.hardMaximumTestMinutes / 60)
        else {
            throw ValidationError("--max-test-hours \(maxTestHours): give hours from 0.0167 (one minute) to 720.")
        }
        for (flag, value) in [("--port", port), ("--metrics-port", metricsPort ?? 0)] where !(0...65_535).contains(value) {
            throw ValidationError("\(flag) \(value): must be from 0 to 65535.")
        }
        for (flag, value) in [
            ("--grace-period", gracePeriod), ("--frame-read-timeout", frameReadTimeout),
            ("--unwritable-timeout", unwritableTimeout), ("--request-timeout", requestTimeout),
            ("--idle-timeout", idleTimeout), ("--max-connection-age-grace", maxConnectionAgeGrace)
        ] where !(value >= 0 && value <= 86_400) {
            throw ValidationError("\(flag) \(value): give seconds from 0 to 86400.")
        }
        guard maxConnectionAge == 0 || (maxConnectionAge >= 1 && maxConnectionAge <= 2_592_000) else {
            throw ValidationError("--max-connection-age \(maxConnectionAge): give seconds from 1 to 2592000 (30 days), or 0 for none.")
        }
        // A window shorter than a client's retries would make them run twice; one too short for a day of signals would
        // delete them as they arrive.
        guard idempotencyRetention == 0 || (idempotencyRetention >= 60 && idempotencyRetention <= 31_536_000) else {
            throw ValidationError(
                "--idempotency-retention \(idempotencyRetention): give seconds from 60 to 31536000 (365 days), or 0 to keep them forever.")
        }
        guard signalRetention == 0 || (signalRetention >= 86_400 && signalRetention <= 3_153_600_000) else {
            throw ValidationError(
                "--signal-retention \(signalRetention): give seconds from 86400 (1 day) to 3153600000 (100 years), or 0 to keep them forever."
            )
        }
        for (flag, value) in [
            ("--max-connections", maxConnections), ("--max-concurrent-calls", maxConcurrentCalls),
            ("--outbound-high-water", outboundHighWater), ("--outbound-low-water", outboundLowWater),
            ("--max-connection-inbound", maxConnectionInbound), ("--max-inbound-memory", maxInboundMemory),
            ("--max-accounts-per-dealer", maxAccountsPerDealer),
            ("--max-stored-bytes-per-dealer", maxStoredBytesPerDealer),
            ("--failed-call-log-burst", failedCallLogBurst), ("--failed-call-log-rate", failedCallLogRate),
            ("--server-log-burst", serverLogBurst), ("--server-log-rate", serverLogRate),
            ("--max-held-requests-per-key", maxHeldRequestsPerKey ?? 1),
            ("--max-unread-answers-per-key", maxUnreadAnswersPerKey ?? 1)
        ] where value < 1 {
            throw ValidationError("\(flag) \(value): must be at least 1.")
        }
        for (flag, value, range) in [
            ("--max-frame-size", maxFrameSize, ConnectionLimits.minimumMaxFrameSize...Int(UInt32.max)),
            ("--http-max-body-size", httpMaxBodySize, 1...Int(Int32.max)),
            ("--max-header-size", maxHeaderSize, ConnectionLimits.minimumMaxHeaderSize...Int(UInt32.max)),
            ("--initial-window-size", initialWindowSize, 1...Int(Int32.max)),
            ("--max-concurrent-calls", maxConcurrentCalls, 1...Int(UInt32.max))
        ] where !range.contains(value) {
            throw ValidationError("\(flag) \(value): must be from \(range.lowerBound) to \(range.upperBound).")
        }
        guard handshakeTimeout > 0, handshakeTimeout <= 3_600 else {
            throw ValidationError("--handshake-timeout \(handshakeTimeout): give seconds above 0, at most 3600.")
        }
        guard outboundLowWater <= outboundHighWater else {
            throw ValidationError("--outbound-low-water \(outboundLowWater) is above --outbound-high-water \(outboundHighWater).")
        }
        guard maxUnreadAnswers >= outboundHighWater else {
            throw ValidationError("--max-unread-answers \(maxUnreadAnswers) is below --outbound-high-water \(outboundHighWater).")
        }
        if let perKey = maxUnreadAnswersPerKey, perKey < outboundHighWater {
            throw ValidationError("--max-unread-answers-per-key \(perKey) is below --outbound-high-water \(outboundHighWater).")
        }
        guard maxHeldRequests >= 0 else { throw ValidationError("--max-held-requests \(maxHeldRequests): must be 0 or more.") }
        guard (1...10_000_000).contains(keyCacheSize) else {
            throw ValidationError("--key-cache-size \(keyCacheSize): must be from 1 to 10000000.")
        }
        _ = try Self.parseProtocols(protocols)
        guard maxUnauthenticatedCalls >= 0 else { throw ValidationError("--max-unauthenticated-calls must be 0 or more.") }
        guard keylessShare >= 0.01, keylessShare <= 1 else {
            throw ValidationError("--keyless-share \(keylessShare): give a fraction of the event loop's time from 0.01 to 1.")
        }
        guard maxPublicCalls >= 0 else { throw ValidationError("--max-public-calls must be 0 or more.") }
        guard maxCalls >= 0 else { throw ValidationError("--max-calls must be 0 or more.") }
        guard (maxCallsPerKey ?? 0) >= 0 else { throw ValidationError("--max-calls-per-key must be 0 or more.") }
        for (flag, value) in [("--log-level", logLevel), ("--call-log-level", callLogLevel)] where Logger.Level(rawValue: value) == nil {
            throw ValidationError("\(flag) '\(value)': give trace, debug, info, notice, warning, error or critical.")
        }
        guard !rotateDemoKey || demo else { throw ValidationError("--rotate-demo-key goes with --demo (it replaces the demo key).") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together.") }
        guard tlsCa == nil || tlsCert != nil else { throw ValidationError("--tls-ca needs --tls-cert and --tls-key.") }
        guard DealerID.isValid(unauthenticatedDealer) else {
            throw ValidationError("--unauthenticated-dealer '\(unauthenticatedDealer)': dealer ids are 1-64 characters of a-z 0-9 . _ -")
        }
    }

    /// `--protocols`: names from `ServerProtocol`, at least one, none twice.
    static func parseProtocols(_ text: String) throws(ValidationError) -> Set<ServerProtocol> {
        var chosen: Set<ServerProtocol> = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = String(name.filter { $0 != " " })
            guard let value = ServerProtocol(rawValue: trimmed) else {
                throw ValidationError(
                    "--protocols '\(text)': '\(trimmed)' is not one of \(ServerProtocol.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            guard chosen.insert(value).inserted else { throw ValidationError("--protocols '\(text)' names \(trimmed) twice.") }
        }
        return chosen
    }
}

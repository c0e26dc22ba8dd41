import CopsLinkAccounts
import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkGRPC
import CopsLinkMessages
import CopsLinkPostgres
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTransport
import Logging
import NIOCore
import NIOPosix
import Prometheus

/// The CopsLink side: a `TCPServer` with the conformance service (and, given a database, the account service), and
/// closed-loop drivers through the bundled client.
enum CopsLinkTarget {
    /// 191 payload bytes: with `response_size` the encoded `SimpleRequest` is exactly 200 bytes.
    static let requestPayloadSize = 191
    static let responseSize: UInt32 = 600

    static var unaryRequest: SimpleRequest {
        SimpleRequest(responseSize: responseSize, payload: [UInt8](repeating: 0x61, count: requestPayloadSize))
    }

    static var unaryRequestBytes: [UInt8] { unaryRequest.serializedBytes() }

    /// The encoded `SimpleResponse` to `unaryRequest`.
    static var unaryResponseBytes: Int {
        SimpleResponse(payload: [UInt8](repeating: 0, count: Int(responseSize)), receivedSize: UInt32(requestPayloadSize))
            .serializedBytes().count
    }

    static func printSizes() {
        let request = unaryRequest.serializedBytes().count
        let response = SimpleResponse(
            payload: [UInt8](repeating: 0, count: Int(responseSize)), receivedSize: UInt32(requestPayloadSize)
        ).serializedBytes().count
        let header = RequestHeader(method: TestService.Method.unaryCall.path).serializedBytes().count
        print("SimpleRequest \(request) bytes, SimpleResponse \(response) bytes, RequestHeader \(header) bytes")
        print("REQUEST frame \(18 + header + request) bytes, END frame \(18 + response) bytes (empty EndHeader)")
    }

    /// Serves on `database`: an SQLite file, or a `postgres://` URL (several of these processes may share one, as
    /// several copslink-server instances do).
    static func serve(
        port: Int, database: String?, poolSize: Int?, maxSpanDays: Int?, maxConnections: Int, metrics: Bool = false
    ) async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: port)
        configuration.maxConnections = maxConnections
        // gRPC on the same port, for the gRPC-endpoint rows (a grpc-swift-2 client against this and against
        // grpc-swift-2's own server).
        configuration.protocols.insert(.grpc)
        var router = RPCRouter()
        ConformanceService().registerMethods(with: &router)
        var close: @Sendable () async throws -> Void = {}
        if let database {
            let store: any AccountStore
            if PostgresStoreConfiguration.isURL(database) {
                var logger = Logger(label: "copslink-bench.postgres")
                logger.logLevel = .warning
                let opened = try await PostgresAccountStore(
                    configuration: try PostgresStoreConfiguration(
                        url: database, poolSize: poolSize ?? PostgresStoreConfiguration.defaultPoolSize),
                    logger: logger)
                store = opened
                close = { await opened.close() }
            } else {
                let opened = try SQLiteAccountStore(path: database)
                store = opened
                close = { try opened.close() }
            }
            var accountConfiguration = AccountServiceConfiguration()
            if let maxSpanDays { accountConfiguration.maximumTestDataSpanMs = Int64(maxSpanDays) * 86_400_000 }
            AccountServiceImplementation(store: store, configuration: accountConfiguration).registerMethods(with: &router)
        }
        // With metrics: the registry copslink-server exports, with its call-latency buckets (the cost on the hot path).
        var factory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
        factory.durationHistogramBuckets[ServerMetrics.callDurationLabel] = ServerMetrics.callDurationBuckets
        try await TCPServer.withServer(
            configuration: configuration, router: router, metricsFactory: metrics ? factory : nil,
            installers: [.grpc: GRPCServer.installer]
        ) { server in
            announce("copslink", port: server.port ?? port)
            await waitForever()
        }
        try await close()
    }

    /// Connects `connections` transports, alternating over `ports` (one server per port), and makes one call on
    /// each, so that the run starts connected.
    static func connect(ports: [Int], connections: Int) async throws -> [TCPClientTransport] {
        let transports = (0..<connections).map { index in
            TCPClientTransport(configuration: ClientConfiguration(host: "127.0.0.1", port: ports[index % ports.count]))
        }
        for transport in transports {
            _ = try await TestService.Client(wrapping: RPCClient(transport: transport)).unaryCall(unaryRequest)
        }
        return transports
    }

    /// Closed loop: `outstanding` workers spread over the connections, each pinned to its connection's event loop,
    /// each making one call after another.
    static func drive(
        benchmark: String, servers: Servers, outstanding: Int, connections: Int, duration: Double, warmup: Double,
        extra: [(String, Any)] = [], call: @escaping @Sendable (RPCClient, Int) async throws(RPCError) -> Void
    ) async throws {
        let transports = try await connect(ports: servers.ports, connections: connections)
        let window = Window(warmup: warmup, duration: duration)
        let sampler = ServerCPUSampler(pids: servers.pids)
        var latencies: [UInt64] = []
        var errors = 0
        try await withThrowingTaskGroup(of: ([UInt64], Int).self) { group in
            for worker in 0..<outstanding {
                let transport = transports[worker % connections]
                let client = RPCClient(transport: transport)
                group.addTask(executorPreference: transport.executor) {
                    var recorded: [UInt64] = []
                    recorded.reserveCapacity(1 << 16)
                    var failed = 0
                    var sequence = worker
                    while true {
                        let start = nowNanos()
                        if start >= window.end { break }
                        do {
                            try await call(client, sequence)
                        } catch {
                            failed += 1
                            if failed == 1 { print("copslink call failed: \(error)") }
                        }
                        let finish = nowNanos()
                        if window.records(start: start, finish: finish) { recorded.append(finish - start) }
                        sequence &+= outstanding
                    }
                    return (recorded, failed)
                }
            }
            await sampler.sample(window)
            for try await (recorded, failed) in group {
                latencies.append(contentsOf: recorded)
                errors += failed
            }
        }
        for transport in transports { await transport.close() }
        report(
            benchmark: benchmark, target: "copslink", outstanding: outstanding, connections: connections, window: window,
            latencies: latencies, errors: errors, sampler: sampler,
            extra: extra + (servers.store.map { [("store", $0), ("instances", servers.ports.count)] } ?? []))
    }

    static func driveUnary(port: Int, outstanding: Int, connections: Int, duration: Double, warmup: Double, serverPID: Int32?) async throws
    {
        let request = unaryRequest
        try await drive(
            benchmark: "unary", servers: Servers(ports: [port], pids: serverPID.map { [$0] } ?? [], store: nil),
            outstanding: outstanding, connections: connections, duration: duration, warmup: warmup
        ) { (client, _) throws(RPCError) in
            let response = try await TestService.Client(wrapping: client).unaryCall(request)
            if response.payload?.count != Int(responseSize) { throw RPCError(code: .internalError, message: "short response") }
        }
    }

    static func driveGetAccount(
        servers: Servers, accounts: Int, outstanding: Int, connections: Int, duration: Double, warmup: Double
    ) async throws {
        // The size of one answer, for the record.
        let sample = try await TCPClientTransport.withTransport(
            configuration: ClientConfiguration(host: "127.0.0.1", port: servers.ports[0])
        ) {
            try await AccountService.Client(wrapping: RPCClient(transport: $0)).getAccount(
                GetAccountRequest(customerID: Seed.customerID(0)))
        }
        // The same pseudo-random order on every run: worker i starts at a different place in it.
        try await drive(
            benchmark: "getaccount", servers: servers, outstanding: outstanding, connections: connections, duration: duration,
            warmup: warmup, extra: [("accounts", accounts), ("account_bytes", sample.serializedBytes().count)]
        ) { (client, sequence) throws(RPCError) in
            let index = Int(truncatingIfNeeded: SplitMix64.mix(UInt64(sequence)) % UInt64(accounts))
            let account = try await AccountService.Client(wrapping: client).getAccount(
                GetAccountRequest(customerID: Seed.customerID(index)))
            if account.accountNumber.isEmpty { throw RPCError(code: .internalError, message: "empty account") }
        }
    }

    /// Streams a year of test results for the seeded account, again and again for `duration` seconds, on
    /// `streams` concurrent calls; reports rows per second and the server's peak RSS.
    static func driveTestData(port: Int, streams: Int, duration: Double, serverPID: Int32?, pageSize: UInt32) async throws {
        let transport = TCPClientTransport(configuration: ClientConfiguration(host: "127.0.0.1", port: port))
        let client = AccountService.Client(wrapping: RPCClient(transport: transport))
        let stats = serverPID.map(ProcessStats.init)
        let rssBefore = stats?.rssKiB
        let peakBefore = stats?.peakRSSKiB
        let window = Window(warmup: 0, duration: duration)
        let sampler = ServerCPUSampler(pid: serverPID)
        let nowMs = nowWallMillis()
        // The seeded year ends when the store was seeded (scripts/bench reseeds stores older than 30 days): a 399-day
        // range (the bench server allows 400) covers all of it.
        let request = RequestTestDataRequest(
            customerID: Seed.testDataCustomerID, type: .results, fromMs: nowMs - 399 * 86_400_000, toMs: nowMs, pageSize: pageSize)
        var rows = 0
        var pages = 0
        var runs = 0
        var runLatencies: [UInt64] = []
        try await withThrowingTaskGroup(of: (Int, Int, Int, [UInt64]).self) { group in
            for _ in 0..<streams {
                group.addTask(executorPreference: transport.executor) {
                    var rows = 0
                    var pages = 0
                    var runs = 0
                    var latencies: [UInt64] = []
                    while nowNanos() < window.end {
                        let start = nowNanos()
                        let (runRows, runPages) = try await client.requestTestData(request) { stream in
                            var rows = 0
                            var pages = 0
                            for try await page in stream {
                                rows += page.results.count
                                pages += 1
                            }
                            return (rows, pages)
                        }
                        latencies.append(nowNanos() - start)
                        rows += runRows
                        pages += runPages
                        runs += 1
                    }
                    return (rows, pages, runs, latencies)
                }
            }
            await sampler.sample(window)
            for try await (r, p, n, l) in group {
                rows += r
                pages += p
                runs += n
                runLatencies += l
            }
        }
        let elapsed = Double(nowNanos() - window.measureStart) / 1e9
        await transport.close()
        var line = ResultLine()
        line.set("benchmark", "testdata")
        line.set("target", "copslink")
        line.set("streams", streams)
        line.set("page_size", Int(pageSize))
        line.set("seconds", elapsed)
        line.set("runs", runs)
        line.set("rows", rows)
        line.set("rows_per_run", runs > 0 ? rows / runs : 0)
        line.set("pages", pages)
        line.set("rows_per_second", Double(rows) / elapsed)
        line.set("run_p50_ms", LatencySummary(runLatencies).p50 / 1000)
        if let server = sampler.serverSeconds, rows > 0 { line.set("server_cpu_us_per_row", server * 1e6 / Double(rows)) }
        if let other = sampler.otherSeconds { line.set("other_cpu_s", other) }
        if let rssBefore { line.set("server_rss_before_kib", rssBefore) }
        if let peakBefore { line.set("server_peak_before_kib", peakBefore) }
        if let peak = stats?.peakRSSKiB { line.set("server_peak_rss_kib", peak) }
        if let rss = stats?.rssKiB { line.set("server_rss_after_kib", rss) }
        line.emit()
    }
}

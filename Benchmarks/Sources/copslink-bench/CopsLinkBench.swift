import ArgumentParser
import CopsLinkPostgres
import CopsLinkSQLite
import Logging

@main
struct CopsLinkBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copslink-bench",
        abstract: "Side-by-side benchmarks of CopsLink, grpc-swift-2 and a bare SwiftNIO echo (run through scripts/bench).",
        subcommands: [
            ServeCopsLink.self, ServeGRPC.self, ServeEcho.self, Drive.self, SeedCommand.self, DriveGetAccount.self,
            DriveWrites.self, DriveTestData.self, MigrateStore.self, DriveHTTP.self, IdleConnectionsCommand.self, Report.self, Sizes.self,
            CodecTiming.self, FsyncProbe.self
        ])
}

struct ServeCopsLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-copslink",
        abstract: "TCPServer with the conformance TestService (and the account service with --database).")
    @Option(help: "Port; 0 picks a free one.") var port = 0
    @Option(help: "The account store, an SQLite file or a postgres:// URL; serves AccountService when given.") var database: String?
    @Option(help: "PostgreSQL connections (default: copslink-server's).") var databasePoolSize: Int?
    @Option(help: "Longest RequestTestData range, in days (default: the service's 31).") var maxSpanDays: Int?
    @Option(help: "Maximum simultaneous connections.") var maxConnections = 20_000
    @Flag(help: "Record server metrics into a Prometheus registry, as copslink-server --metrics-port does.") var metrics = false

    func run() async throws {
        try await CopsLinkTarget.serve(
            port: port, database: database, poolSize: databasePoolSize, maxSpanDays: maxSpanDays, maxConnections: maxConnections,
            metrics: metrics)
    }
}

struct ServeGRPC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-grpc", abstract: "grpc-swift-2 server over HTTP/2 with one raw-bytes unary method.")
    @Option(help: "Port; 0 picks a free one.") var port = 0
    func run() async throws { try await GRPCTarget.serve(port: port) }
}

struct ServeEcho: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-echo", abstract: "Bare SwiftNIO length-prefixed echo: 200-byte request, 600-byte response.")
    @Option(help: "Port; 0 picks a free one.") var port = 0
    func run() async throws { try await EchoTarget.serve(port: port) }
}

struct LoadOptions: ParsableArguments {
    @Option(help: "Server port.") var port: Int
    @Option(help: "Calls outstanding at once, in all (spread evenly over the connections).") var outstanding = 1
    @Option(help: "Connections.") var connections = 1
    @Option(help: "Measured seconds.") var duration = 10.0
    @Option(help: "Seconds of warm-up before measuring.") var warmup = 2.0
    @Option(help: "Server process id, to measure its CPU per call.") var serverPid: Int32?
    @Option(help: "Another instance's port (repeatable): the connections alternate over --port and these.")
    var alsoPort: [Int] = []
    @Option(help: "Another instance's process id (repeatable): the servers' CPU is summed.") var alsoServerPid: [Int32] = []
    @Option(help: "The servers' store, recorded with the result (sqlite or postgres).") var store = "sqlite"

    /// The instances under load.
    var servers: Servers { Servers(ports: [port] + alsoPort, pids: (serverPid.map { [$0] } ?? []) + alsoServerPid, store: store) }

    func validate() throws {
        guard outstanding >= connections, connections >= 1 else {
            throw ValidationError("--outstanding must be at least --connections, which must be at least 1")
        }
    }
}

struct Drive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Closed-loop unary load: 200-byte requests, 600-byte responses; prints one RESULT line.")
    @Option(help: "copslink, grpc, echo, or copslink-grpc (CopsLink's gRPC endpoint driven by the grpc-swift-2 client).")
    var target: String
    @OptionGroup var load: LoadOptions

    func run() async throws {
        switch target {
        case "copslink":
            try await CopsLinkTarget.driveUnary(
                port: load.port, outstanding: load.outstanding, connections: load.connections, duration: load.duration,
                warmup: load.warmup, serverPID: load.serverPid)
        case "copslink-grpc":
            try await GRPCTarget.drive(
                .copsLink, port: load.port, outstanding: load.outstanding, connections: load.connections, duration: load.duration,
                warmup: load.warmup, serverPID: load.serverPid)
        case "grpc":
            try await GRPCTarget.drive(
                port: load.port, outstanding: load.outstanding, connections: load.connections, duration: load.duration,
                warmup: load.warmup, serverPID: load.serverPid)
        case "echo":
            try await EchoTarget.drive(
                port: load.port, outstanding: load.outstanding, connections: load.connections, duration: load.duration,
                warmup: load.warmup, serverPID: load.serverPid)
        default:
            throw ValidationError("unknown target \(target): copslink, grpc or echo")
        }
    }
}

struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Seeds linked accounts and a year of test results into an SQLite store.")
    @Option(help: "Accounts to create.") var accounts = 100_000
    @Option(help: "SQLite file (created).") var database: String
    @Option(help: "Accounts per transaction.") var batch = 5_000
    func run() async throws { try await Seed.run(database: database, accounts: accounts, batch: batch) }
}

struct DriveGetAccount: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drive-getaccount", abstract: "Closed-loop GetAccount over the seeded accounts, in a fixed pseudo-random order.")
    @Option(help: "Seeded accounts.") var accounts = 100_000
    @OptionGroup var load: LoadOptions
    func run() async throws {
        try await CopsLinkTarget.driveGetAccount(
            servers: load.servers, accounts: accounts, outstanding: load.outstanding, connections: load.connections,
            duration: load.duration, warmup: load.warmup)
    }
}

extension WriteMix: ExpressibleByArgument {}

struct DriveWrites: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drive-writes",
        abstract: "Closed-loop writes on a store of its own: PlaceOnTest + PlaceOffTest pairs, or LinkAccount of new customers.")
    @Option(help: "place-test (a pair on the worker's own seeded accounts) or link (a new customer each call).") var mix: WriteMix
    @Option(help: "Seeded accounts (place-test uses them, split among the workers).") var accounts = 1_000
    @OptionGroup var load: LoadOptions

    func validate() throws {
        guard accounts >= load.outstanding else { throw ValidationError("--accounts must be at least --outstanding") }
    }

    func run() async throws {
        try await CopsLinkTarget.driveWrites(
            servers: load.servers, mix: mix, accounts: accounts, outstanding: load.outstanding, connections: load.connections,
            duration: load.duration, warmup: load.warmup)
    }
}

struct DriveTestData: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drive-testdata", abstract: "Streams a year of test results of the seeded account, repeatedly.")
    @Option(help: "Server port.") var port: Int
    @Option(help: "Concurrent streams.") var streams = 1
    @Option(help: "Seconds to keep streaming.") var duration = 10.0
    @Option(help: "Rows per page (0: the service's default, 500).") var pageSize: UInt32 = 0
    @Option(help: "Server process id, for its CPU and peak RSS.") var serverPid: Int32?
    func run() async throws {
        try await CopsLinkTarget.driveTestData(port: port, streams: streams, duration: duration, serverPID: serverPid, pageSize: pageSize)
    }
}

struct IdleConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle-connections", abstract: "Opens idle connections (handshake done) and reads the server's RSS.")
    @Option(help: "copslink, grpc or echo.") var target = "copslink"
    @Option(help: "Server port.") var port: Int
    @Option(help: "Connections to open.") var count = 10_000
    @Option(help: "Seconds to hold them before reading the RSS.") var hold = 3.0
    @Option(help: "Server process id.") var serverPid: Int32?
    func run() async throws {
        try await IdleConnections.run(target: target, port: port, count: count, serverPID: serverPid, hold: hold)
    }
}

struct Sizes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Prints the encoded sizes of the unary benchmark's messages and frames.")
    func run() throws { CopsLinkTarget.printSizes() }
}

struct MigrateStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copies a seeded SQLite store into an empty PostgreSQL database, as copslink-server migrate-store does.")
    @Option(help: "The SQLite store.") var from: String
    @Option(help: "The PostgreSQL database: a postgres:// URL.") var to: String

    func run() async throws {
        var logger = Logger(label: "copslink-bench.migrate-store")
        logger.logLevel = .warning
        let summary = try await PostgresStoreImport.run(
            configuration: try PostgresStoreConfiguration(url: to, poolSize: 1), logger: logger,
            batchRows: PostgresStoreImport.defaultBatchRows
        ) { [from] in try SQLiteStoreSnapshot(path: from) }
        print("copied \(summary.map(\.rows).reduce(0, +)) rows in \(summary.count) tables")
    }
}

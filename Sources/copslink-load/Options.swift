import ArgumentParser
import CopsLinkCommandLine
import CopsLinkCore
import CopsLinkLoad
import Foundation

/// The options of copslink-load.
struct LoadOptions: ParsableArguments {
    static let defaultClosedConcurrency = 16
    static let defaultOpenConcurrency = 64

    @Option(
        help: ArgumentHelp(
            "Server address, or several instances of one service separated by commas, or a name with several addresses (called round-robin, failing over). Default: $\(ServerAddress.serverEnvironmentVariable), else \(ServerAddress.defaultServer).",
            valueName: "host:port[,host:port…]"))
    var server: String?

    @Option(help: ArgumentHelp("Seconds each call may take, connecting included.", valueName: "seconds"))
    var timeout: Double = 10

    @Option(
        help: ArgumentHelp(
            "Closed loop: workers, each with one call in flight (default \(defaultClosedConcurrency)). Open loop: the most calls in flight (default \(defaultOpenConcurrency)).",
            valueName: "n"))
    var concurrency: Int?

    @Option(help: ArgumentHelp("TCP connections; calls are spread over them round-robin.", valueName: "n"))
    var connections = 1

    @Option(help: ArgumentHelp("Seconds measured, after the warmup.", valueName: "seconds"))
    var duration: Double = 10

    @Option(help: ArgumentHelp("Seconds of load before the measurement starts; excluded from the results.", valueName: "seconds"))
    var warmup: Double = 2

    @Option(
        help: ArgumentHelp(
            "Open loop: start calls at this rate (calls/s) whatever the server's speed; latency counts from each call's intended start.",
            valueName: "calls/s"))
    var rate: Double?

    @Option(help: ArgumentHelp("Open loop arrivals: constant (exactly 1/rate apart) or poisson.", valueName: "constant|poisson"))
    var arrivals = "constant"

    @Option(
        help: ArgumentHelp(
            "Weighted call mix, e.g. GetAccount=80,PlaceOnTest=5,PlaceOffTest=5,RequestTestData=10. Methods: \(LoadMethod.allCases.map(\.name).joined(separator: ", ")). Default: GetAccount=100.",
            valueName: "method=weight,..."))
    var mix: String?

    @Option(
        help: ArgumentHelp(
            "Accounts the calls pick from at random: demo-1 … demo-N (at most 4), or with --seed-accounts the first N of load-0 … (default: all).",
            valueName: "n"))
    var accounts: Int?

    @Option(
        name: .customLong("seed-accounts"),
        help: ArgumentHelp(
            "First link accounts load-0 … load-{N-1} (Provo; already linked is fine) and run against them instead of the demo accounts.",
            valueName: "n"))
    var seedAccounts: Int?

    @Option(name: .customLong("json-out"), help: ArgumentHelp("Write the JSON report to FILE.", valueName: "file"))
    var jsonOut: String?
    @Option(
        help: ArgumentHelp(
            "Write every acknowledged PlaceOnTest and PlaceOffTest to this file when the run ends, one JSON line each ({\"method\",\"customer\",\"session\"}): for checking that acknowledged writes survived a crash or failover. Held in memory during the run (about 100 bytes a write).",
            valueName: "file"))
    var record: String?

    @Option(name: .customLong("html-out"), help: ArgumentHelp("Write the HTML report (inline SVG plots) to FILE.", valueName: "file"))
    var htmlOut: String?

    @Flag(help: "Print the JSON report on stdout instead of the summary (no progress line).")
    var json = false

    @Option(
        help: ArgumentHelp(
            "Bearer token sent as 'authorization: Bearer TOKEN' metadata. Default: --token-file, else $\(ServerAddress.tokenEnvironmentVariable).",
            valueName: "token"))
    var token: String?

    @Option(
        name: .customLong("token-file"),
        help: ArgumentHelp(
            "Read the token from this file (trailing newline ignored), so it does not show in ps or the shell history.", valueName: "file"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("Seed of the random choices (methods, accounts, Poisson gaps).", valueName: "n"))
    var seed: UInt64 = 0x00C0_951A_4B00_5EED

    init() {}

    func validate() throws {
        _ = try endpoints()
        try positive(timeout, "--timeout")
        try positive(duration, "--duration")
        guard warmup >= 0, warmup.isFinite else { throw ValidationError("--warmup must be 0 or more seconds.") }
        if let concurrency, concurrency < 1 || concurrency > 100_000 { throw ValidationError("--concurrency must be from 1 to 100000.") }
        guard (1...1024).contains(connections) else { throw ValidationError("--connections must be from 1 to 1024.") }
        if let rate { try positive(rate, "--rate") }
        guard let arrivalProcess = Arrivals(rawValue: arrivals.lowercased()) else {
            throw ValidationError("--arrivals must be constant or poisson, got '\(arrivals)'.")
        }
        if rate == nil, arrivalProcess != .constant { throw ValidationError("--arrivals needs --rate (open loop).") }
        _ = try callMix()
        if let seedAccounts, seedAccounts < 1 || seedAccounts > 100_000 {
            throw ValidationError("--seed-accounts must be from 1 to 100000.")
        }
        if let accounts {
            guard accounts >= 1 else { throw ValidationError("--accounts must be at least 1.") }
            if let seedAccounts {
                guard accounts <= seedAccounts else {
                    throw ValidationError("--accounts \(accounts) is more than --seed-accounts \(seedAccounts).")
                }
            } else if accounts > AccountSetup.demoCustomerIDs.count {
                throw ValidationError(
                    "--accounts: the server's demo data has \(AccountSetup.demoCustomerIDs.count) accounts (demo-1 … demo-4); use --seed-accounts \(accounts) for more."
                )
            }
        }
        _ = try metadata()
    }

    private func positive(_ value: Double, _ name: String) throws {
        guard value > 0, value.isFinite else { throw ValidationError("\(name) must be a positive number.") }
    }

    var arrivalProcess: Arrivals { Arrivals(rawValue: arrivals.lowercased()) ?? .constant }

    var effectiveConcurrency: Int { concurrency ?? (rate == nil ? Self.defaultClosedConcurrency : Self.defaultOpenConcurrency) }

    func callMix() throws -> CallMix {
        guard let mix else { return .defaultMix }
        do {
            return try CallMix.parse(mix)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The customers the run uses (before seeding).
    var customerIDs: [String] {
        if let seedAccounts {
            return (0..<(accounts ?? seedAccounts)).map(AccountSetup.seededCustomerID)
        }
        return Array(AccountSetup.demoCustomerIDs.prefix(accounts ?? AccountSetup.demoCustomerIDs.count))
    }

    /// Request metadata: the bearer token, if any.
    func metadata() throws -> Metadata {
        guard let token = try ServerAddress.token(token, file: tokenFile) else { return [:] }
        let metadata: Metadata = ["authorization": .text("Bearer \(token)")]
        do {
            try metadata.validate()
        } catch {
            throw ValidationError("--token must be printable ASCII text.")
        }
        return metadata
    }

    /// The server addresses (`ServerAddress.resolveAll`, as the copslink CLI parses them).
    func endpoints() throws(ValidationError) -> [(host: String, port: Int)] { try ServerAddress.resolveAll(server) }

    var timeoutDuration: Duration { .milliseconds(Int64((timeout * 1000).rounded())) }
}

import ArgumentParser
import CopsLinkCommandLine
import CopsLinkCore
import CopsLinkLoad
import CopsLinkServices
import CopsLinkTransport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct CopsLinkLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copslink-load",
        abstract: "Load generator for copslink-server: closed or open loop, HdrHistogram latency percentiles, JSON and HTML reports.",
        discussion: """
            Closed loop (default): --concurrency workers each send their next call as soon as the previous one ended; \
            latency runs from the send. Open loop (--rate R): calls start R times a second (--arrivals constant or \
            poisson) whatever the server's speed, with at most --concurrency in flight; latency runs from each call's \
            intended start, so waiting for a free worker counts (no coordinated omission); the latency from the \
            actual send is shown beside as 'uncorrected'.

            The run lasts --warmup + --duration seconds; calls started during the warmup are not recorded. Calls pick \
            a method from --mix by weight and an account at random: demo-1 … demo-4 (copslink-server --demo), or with \
            --seed-accounts N the accounts load-0 … load-{N-1}, linked first. PlaceOnTest/PlaceOffTest on random \
            accounts often answer FAILED_PRECONDITION: counted per status as expected, not as tool errors.

            Output: a summary table (a live progress line each second when stdout is a terminal); --json prints the \
            JSON report instead; --json-out and --html-out write the reports to files. Exit status 0 when the run \
            completed (whatever the calls answered), 1 when it could not start (server unreachable, unknown account), \
            64 for usage errors.

            Examples:
              copslink-load --server 127.0.0.1:7420 --duration 10 --concurrency 16 \\
                --json-out load.json
              copslink-load --rate 2000 --arrivals poisson --duration 30 \\
                --html-out load.html
              copslink-load --mix GetAccount=90,PlaceOnTest=5,PlaceOffTest=5 \\
                --seed-accounts 100
            """)

    @OptionGroup var options: LoadOptions
    @OptionGroup(title: "TLS") var tls: ClientTLSOptions

    func run() async throws {
        let endpoints = try options.endpoints()
        let endpoint = endpoints[0]
        let mix = try options.callMix()
        let metadata = try options.metadata()
        var configuration = ClientConfiguration(host: endpoint.host, port: endpoint.port)
        configuration.connectTimeout = min(configuration.connectTimeout, options.timeoutDuration)
        try tls.apply(to: &configuration)
        let instances = ServerInstances.configurations(for: endpoints, base: configuration)
        for instance in instances {
            if let refusal = instance.plaintextCredentialsRefusal(metadata: metadata, advice: ClientTLSOptions.plaintextAdvice) {
                Self.printError("\(refusal.code.name): \(refusal.message)")
                throw ExitCode(1)
            }
        }
        // Per connection: one TCP connection, or with several instances one to each, called round-robin.
        let transports: [any EventLoopClientTransport] = (0..<options.connections).map { _ -> any EventLoopClientTransport in
            instances.count == 1
                ? TCPClientTransport(configuration: instances[0])
                : RoundRobinClientTransport(instances: instances)
        }
        let callOptions = CallOptions(timeout: options.timeoutDuration, metadata: metadata)
        let server = endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ",")
        let startedAt = ISO8601DateFormatter().string(from: Date())

        let accounts: [LoadAccount]
        do {
            // Open every connection before the clock starts, and prepare the accounts.
            for transport in transports {
                _ = try await Health.Client(wrapping: RPCClient(transport: transport)).check(options: callOptions)
            }
            let client = AccountService.Client(wrapping: RPCClient(transport: transports[0]))
            if let seedAccounts = options.seedAccounts {
                _ = try await AccountSetup.seed(count: seedAccounts, client: client, options: callOptions)
            }
            accounts = try await AccountSetup.resolve(options.customerIDs, client: client, options: callOptions)
        } catch {
            for transport in transports { await transport.close() }
            if let error = error as? RPCError, error.code == .unavailable, error.message.hasPrefix("cannot connect to ") {
                Self.printError("UNAVAILABLE: \(ServerAddress.connectFailure(error.message))")
            } else {
                Self.printError(error is RPCError ? "cannot reach \(server): \(error)" : "\(error)")
            }
            throw ExitCode(1)
        }

        var plan = LoadPlan(
            mix: mix, workload: Workload(mix: mix, accounts: accounts, nowMs: Int64(Date().timeIntervalSince1970 * 1000)),
            concurrency: options.effectiveConcurrency, durationSeconds: options.duration, warmupSeconds: options.warmup,
            timeoutSeconds: options.timeout, options: callOptions, rate: options.rate, arrivals: options.arrivalProcess,
            seed: options.seed)
        let acknowledged = options.record.map { _ in AcknowledgedWrites() }
        plan.acknowledged = acknowledged
        let frozenPlan = plan

        let showProgress = !options.json && isatty(1) == 1
        let live = showProgress ? LiveCounters() : nil
        let progress = live.map { live in Task { await Self.showProgress(live, plan: frozenPlan) } }
        let results =
            plan.isOpenLoop
            ? await OpenLoop.run(plan, transports: transports, live: live)
            : await ClosedLoop.run(plan, transports: transports, live: live)
        if let progress {
            progress.cancel()
            await progress.value
            print("\r\u{1B}[K", terminator: "")
            fflush(nil)
        }
        for transport in transports { await transport.close() }

        let run = RunDescription(
            server: server, concurrency: plan.concurrency, connections: transports.count, rate: plan.rate, arrivals: plan.arrivals,
            durationSeconds: plan.durationSeconds, warmupSeconds: plan.warmupSeconds, timeoutSeconds: plan.timeoutSeconds, mix: mix,
            accounts: accounts.map(\.customerID), startedAt: startedAt)
        let report = LoadReport(run: run, results: results)
        do {
            if let jsonOut = options.jsonOut {
                try (report.jsonData() + Data("\n".utf8)).write(to: URL(fileURLWithPath: jsonOut))
            }
            if let record = options.record, let acknowledged {
                try Data(acknowledged.text.utf8).write(to: URL(fileURLWithPath: record))
            }
            if let htmlOut = options.htmlOut {
                try Data(HTMLReport.render(report: report, results: results).utf8).write(to: URL(fileURLWithPath: htmlOut))
            }
        } catch {
            Self.printError("writing the report failed: \(error.localizedDescription)")
            throw ExitCode(1)
        }
        print(options.json ? try report.jsonString() : HumanSummary.render(report))
        fflush(nil)
    }

    /// Rewrites one line each second: phase, elapsed time, calls, rate over the last second, errors.
    static func showProgress(_ live: LiveCounters, plan: LoadPlan) async {
        let start = ContinuousClock.now
        var lastCalls: UInt64 = 0
        var lastTime = start
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { break }
            let now = ContinuousClock.now
            let elapsed = Double((now - start).components.seconds) + Double((now - start).components.attoseconds) / 1e18
            let calls = live.calls.load(ordering: .relaxed)
            let errors = live.errors.load(ordering: .relaxed)
            let interval = now - lastTime
            let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
            let rate = seconds > 0 ? Double(calls - lastCalls) / seconds : 0
            lastCalls = calls
            lastTime = now
            let phase = elapsed < plan.warmupSeconds ? "warmup " : "measure"
            let total = plan.warmupSeconds + plan.durationSeconds
            print(
                "\r\u{1B}[K[\(phase) \(Format.number(min(elapsed, total).rounded()))/\(Format.number(total)) s] calls \(Format.count(calls))  "
                    + "\(Format.number(rate.rounded())) calls/s  errors \(Format.count(errors))",
                terminator: "")
            fflush(nil)
        }
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("copslink-load: \(message)\n".utf8))
    }
}

import ArgumentParser
import Foundation

/// GetAccount over the server's HTTP/JSON side, driven by `wrk` (the Debian package; scripts/bench installs it):
/// the same call as `drive-getaccount`, as a curl user or a script in another language makes it.
struct DriveHTTP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drive-http",
        abstract: "GetAccount over HTTP/JSON with wrk (one thread, one request at a time per connection); prints one RESULT line.")
    @Option(help: "Seeded accounts.") var accounts = 100_000
    @Option(help: "Server port.") var port: Int
    @Option(help: "Connections, each with one request outstanding.") var connections = 16
    @Option(help: "Measured seconds (whole seconds for wrk).") var duration = 10.0
    @Option(help: "Server process id, to measure its CPU per call.") var serverPid: Int32?

    func run() async throws {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("copslink-getaccount-\(getpid()).lua")
        // Customers in a pseudo-random order, as drive-getaccount calls them.
        try """
        local n = 0
        request = function()
          n = n + 1
          local id = (n * 7919) % \(accounts)
          return wrk.format("POST", "/copslink.v1.AccountService/GetAccount",
            {["Content-Type"] = "application/json"}, '{"customerId":"bench-' .. id .. '"}')
        end
        """.write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }

        // A short warm-up run, then the measured one with the server's CPU sampled around it.
        _ = try wrk(["-t1", "-c\(connections)", "-d2s", "-s", script.path, "http://127.0.0.1:\(port)"])
        let seconds = max(1, Int(duration.rounded()))
        let stats = serverPid.map(ProcessStats.init)
        let cpuBefore = stats?.cpuSeconds()
        let output = try wrk(["-t1", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script.path, "http://127.0.0.1:\(port)"])
        let cpuAfter = stats?.cpuSeconds()

        let requests = Self.value(after: "Requests/sec:", in: output) ?? .nan
        var line = ResultLine()
        line.set("benchmark", "getaccount-http")
        line.set("target", "copslink")
        line.set("connections", connections)
        line.set("outstanding", connections)
        line.set("accounts", accounts)
        line.set("seconds", seconds)
        line.set("throughput", requests)
        line.set("p50_us", Self.latencyMicros("50%", in: output) ?? .nan)
        line.set("p99_us", Self.latencyMicros("99%", in: output) ?? .nan)
        line.set("errors", Int(Self.value(after: "Non-2xx or 3xx responses:", in: output) ?? 0))
        if let cpuBefore, let cpuAfter, requests > 0 {
            line.set("server_cpu_s", cpuAfter - cpuBefore)
            line.set("server_cpu_us_per_call", (cpuAfter - cpuBefore) / (requests * Double(seconds)) * 1e6)
        }
        line.emit()
    }

    private func wrk(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("wrk exited with \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// The number after `label` on its line.
    static func value(after label: String, in output: String) -> Double? {
        for line in output.split(separator: "\n") where line.contains(label) {
            let rest = line[line.range(of: label)!.upperBound...]
            return rest.split(separator: " ").first.flatMap { Double($0) }
        }
        return nil
    }

    /// A `--latency` percentile line (`     50%  210.00us`), in µs.
    static func latencyMicros(_ percentile: String, in output: String) -> Double? {
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, parts[0] == percentile else { continue }
            let text = parts[1]
            for (unit, factor) in [("us", 1.0), ("ms", 1_000.0), ("s", 1_000_000.0)] where text.hasSuffix(unit) {
                return Double(text.dropLast(unit.count)).map { $0 * factor }
            }
        }
        return nil
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic nanoseconds (CLOCK_MONOTONIC): cheap, and comparable across tasks and threads.
@inline(__always)
func nowNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Suspends the current task until the monotonic clock reaches `deadline`.
func sleep(until deadline: UInt64) async {
    let now = nowNanos()
    if deadline > now { try? await Task.sleep(nanoseconds: deadline - now) }
}

/// Blocks the thread until `deadline` (for code that has no async context).
func blockingSleep(until deadline: UInt64) {
    let now = nowNanos()
    if deadline > now { usleep(UInt32(min((deadline - now) / 1000, UInt64(UInt32.max)))) }
}

/// The measurement plan of a closed-loop run: warm up, then measure for `duration`.
struct Window: Sendable {
    /// Calls that start at or after this instant and finish by `end` are recorded.
    let measureStart: UInt64
    /// Workers stop starting calls at this instant.
    let end: UInt64

    init(warmup: Double, duration: Double) {
        let now = nowNanos()
        measureStart = now + UInt64(warmup * 1e9)
        end = measureStart + UInt64(duration * 1e9)
    }

    var seconds: Double { Double(end - measureStart) / 1e9 }

    @inline(__always)
    func records(start: UInt64, finish: UInt64) -> Bool { start >= measureStart && finish <= end }
}

/// CPU time and memory of another process, from /proc.
struct ProcessStats {
    let pid: Int32

    /// utime + stime of every thread of the process, in seconds.
    func cpuSeconds() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A `Vm…` line of /proc/PID/status, in KiB.
    func status(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return Int(line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    var rssKiB: Int? { status("VmRSS") }
    var peakRSSKiB: Int? { status("VmHWM") }
}

/// CPU used by this process (all threads), in seconds.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

/// Busy CPU seconds of the whole machine (all cores), from /proc/stat.
func machineBusySeconds() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let first = text.split(separator: "\n").first
    else { return nil }
    let ticks = first.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard ticks.count >= 5 else { return nil }
    // user nice system idle iowait irq softirq steal …: busy = all − idle − iowait (guest time is inside user).
    let total = ticks.prefix(8).reduce(0, +)
    return (total - ticks[3] - ticks[4]) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Samples a server's CPU across the measured window (and this process's, and the whole machine's, so that load
/// from other processes shows).
final class ServerCPUSampler: @unchecked Sendable {
    /// The servers' processes: their CPU is summed (several instances of one service).
    private let servers: [ProcessStats]
    private var startCPU: Double?
    private var endCPU: Double?
    private var startOwn = 0.0
    private var endOwn = 0.0
    private var startMachine: Double?
    private var endMachine: Double?

    convenience init(pid: Int32?) { self.init(pids: pid.map { [$0] } ?? []) }

    init(pids: [Int32]) { servers = pids.map(ProcessStats.init) }

    private func serversCPUSeconds() -> Double? {
        guard !servers.isEmpty else { return nil }
        var total = 0.0
        for server in servers {
            guard let seconds = server.cpuSeconds() else { return nil }
            total += seconds
        }
        return total
    }

    /// Sleeps to the window's start, samples, sleeps to its end, samples.
    func sample(_ window: Window) async {
        await sleep(until: window.measureStart)
        startCPU = serversCPUSeconds()
        startOwn = ownCPUSeconds()
        startMachine = machineBusySeconds()
        await sleep(until: window.end)
        endCPU = serversCPUSeconds()
        endOwn = ownCPUSeconds()
        endMachine = machineBusySeconds()
    }

    /// CPU seconds that neither the server nor this driver used during the window (other processes).
    var otherSeconds: Double? {
        guard let startMachine, let endMachine else { return nil }
        return max(0, (endMachine - startMachine) - (serverSeconds ?? 0) - clientSeconds)
    }

    var serverSeconds: Double? {
        guard let startCPU, let endCPU else { return nil }
        return endCPU - startCPU
    }

    var clientSeconds: Double { endOwn - startOwn }
}

/// Latencies of one run, merged from every worker.
struct LatencySummary {
    let count: Int
    let p50: Double
    let p99: Double
    let p999: Double
    let max: Double

    /// Latencies in nanoseconds; percentiles reported in microseconds.
    init(_ samples: [UInt64]) {
        var sorted = samples
        sorted.sort()
        count = sorted.count
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return Double(sorted[Swift.max(0, Swift.min(sorted.count - 1, rank))]) / 1000
        }
        p50 = percentile(0.50)
        p99 = percentile(0.99)
        p999 = percentile(0.999)
        max = sorted.last.map { Double($0) / 1000 } ?? .nan
    }
}

/// One line of results: `RESULT {json}` on stdout, parsed by `copslink-bench report`.
struct ResultLine {
    var fields: [(String, Any)] = []

    mutating func set(_ key: String, _ value: Any) { fields.append((key, value)) }

    func emit() {
        var object: [String: Any] = [:]
        for (key, value) in fields {
            if let double = value as? Double, !double.isFinite { continue }
            object[key] = value
        }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print("RESULT " + String(decoding: data, as: UTF8.self))
        fflush(nil)
    }
}

/// Common output of a closed-loop run.
func report(
    benchmark: String, target: String, outstanding: Int, connections: Int, window: Window, latencies: [UInt64], errors: Int,
    sampler: ServerCPUSampler, extra: [(String, Any)] = []
) {
    let summary = LatencySummary(latencies)
    var line = ResultLine()
    line.set("benchmark", benchmark)
    line.set("target", target)
    line.set("outstanding", outstanding)
    line.set("connections", connections)
    line.set("seconds", window.seconds)
    line.set("calls", summary.count)
    line.set("errors", errors)
    line.set("throughput", Double(summary.count) / window.seconds)
    line.set("p50_us", summary.p50)
    line.set("p99_us", summary.p99)
    line.set("p999_us", summary.p999)
    line.set("max_us", summary.max)
    if let server = sampler.serverSeconds, summary.count > 0 {
        line.set("server_cpu_s", server)
        line.set("server_cpu_us_per_call", server * 1e6 / Double(summary.count))
    }
    line.set("client_cpu_s", sampler.clientSeconds)
    if let other = sampler.otherSeconds { line.set("other_cpu_s", other) }
    for (key, value) in extra { line.set(key, value) }
    line.emit()
}

/// Prints `listening on HOST:PORT` and flushes, so scripts can wait for it.
func announce(_ what: String, port: Int) {
    print("\(what) listening on 127.0.0.1:\(port)")
    fflush(nil)
}

/// Blocks forever (servers run until the script kills them).
func waitForever() async {
    while true { try? await Task.sleep(for: .seconds(3600)) }
}

/// Unix epoch milliseconds.
func nowWallMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// The server instances a driver loads: one port and process each (several share one database).
struct Servers: Sendable {
    var ports: [Int]
    var pids: [Int32]
    /// Recorded with the result when the drive is of the account service.
    var store: String?
}

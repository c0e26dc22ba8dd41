import CopsLinkCore
public import Foundation
public import Histogram

/// What was run: the settings a report repeats.
public struct RunDescription: Sendable {
    public var server: String
    public var concurrency: Int
    public var connections: Int
    public var rate: Double?
    public var arrivals: Arrivals
    public var durationSeconds: Double
    public var warmupSeconds: Double
    public var timeoutSeconds: Double
    public var mix: CallMix
    public var accounts: [String]
    /// ISO 8601, UTC.
    public var startedAt: String

    public init(
        server: String, concurrency: Int, connections: Int, rate: Double?, arrivals: Arrivals, durationSeconds: Double,
        warmupSeconds: Double, timeoutSeconds: Double, mix: CallMix, accounts: [String], startedAt: String
    ) {
        self.server = server
        self.concurrency = concurrency
        self.connections = connections
        self.rate = rate
        self.arrivals = arrivals
        self.durationSeconds = durationSeconds
        self.warmupSeconds = warmupSeconds
        self.timeoutSeconds = timeoutSeconds
        self.mix = mix
        self.accounts = accounts
        self.startedAt = startedAt
    }

    public var mode: String { rate == nil ? "closed" : "open" }
}

/// Latency percentiles of one histogram, in microseconds.
public struct LatencySummary: Codable, Equatable, Sendable {
    public var count: UInt64
    public var min: UInt64
    public var mean: Double
    public var p50: UInt64
    public var p90: UInt64
    public var p99: UInt64
    public var p99_9: UInt64
    public var p99_99: UInt64
    public var max: UInt64

    public init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        guard count > 0 else {
            min = 0
            mean = 0
            p50 = 0
            p90 = 0
            p99 = 0
            p99_9 = 0
            p99_99 = 0
            max = 0
            return
        }
        min = histogram.min
        mean = (histogram.mean * 10).rounded() / 10
        p50 = histogram.valueAtPercentile(50)
        p90 = histogram.valueAtPercentile(90)
        p99 = histogram.valueAtPercentile(99)
        p99_9 = histogram.valueAtPercentile(99.9)
        p99_99 = histogram.valueAtPercentile(99.99)
        max = histogram.maxRecorded  // the exact largest value; percentiles never exceed it
    }

    /// The percentiles a summary shows, with their labels.
    public var labelled: [(String, UInt64)] {
        [("p50", p50), ("p90", p90), ("p99", p99), ("p99.9", p99_9), ("p99.99", p99_99), ("max", max)]
    }
}

/// One method's part of the report.
public struct MethodReport: Codable, Equatable, Sendable {
    public var weight: UInt64
    public var calls: UInt64
    public var okCalls: UInt64
    public var errorCalls: UInt64
    public var unexpectedErrorCalls: UInt64
    public var throughputPerSecond: Double
    public var statusCounts: [String: UInt64]
    public var errorsByStatus: [String: UInt64]
    public var latencyMicros: LatencySummary
    public var latencyUncorrectedMicros: LatencySummary?

    enum CodingKeys: String, CodingKey {
        case weight, calls
        case okCalls = "ok_calls"
        case errorCalls = "error_calls"
        case unexpectedErrorCalls = "unexpected_error_calls"
        case throughputPerSecond = "throughput_per_s"
        case statusCounts = "status_counts"
        case errorsByStatus = "errors_by_status"
        case latencyMicros = "latency_us"
        case latencyUncorrectedMicros = "latency_uncorrected_us"
    }
}

/// Calls due to start in one second of the measured window.
public struct TimelineBucket: Codable, Equatable, Sendable {
    /// From 0, counted from the end of the warmup.
    public var second: Int
    public var calls: UInt64
    public var errors: UInt64
}

/// The JSON report (`--json-out FILE`, `--json`): stable field names for scripts. Latencies in microseconds; in open
/// loop `latency_us` runs from each call's intended start and `latency_uncorrected_us` from its actual send.
public struct LoadReport: Codable, Equatable, Sendable {
    public var tool = "copslink-load"
    public var reportVersion = 1
    public var startedAt: String
    public var server: String
    /// "closed" or "open".
    public var mode: String
    public var concurrency: Int
    public var connections: Int
    /// Open loop only: the target rate (calls/s) and arrival process.
    public var rate: Double?
    public var arrivals: String?
    public var durationSeconds: Double
    public var warmupSeconds: Double
    public var timeoutSeconds: Double
    public var mix: [String: UInt64]
    public var accounts: [String]
    public var totalCalls: UInt64
    public var okCalls: UInt64
    /// Calls that ended with any status but OK.
    public var errorCalls: UInt64
    /// Of those, the ones the mix makes normal (FAILED_PRECONDITION of PlaceOnTest/PlaceOffTest).
    public var expectedErrorCalls: UInt64
    public var unexpectedErrorCalls: UInt64
    public var errorsByStatus: [String: UInt64]
    public var statusCounts: [String: UInt64]
    /// Calls in the measured window divided by its length.
    public var throughputPerSecond: Double
    public var latencyMicros: LatencySummary
    public var latencyUncorrectedMicros: LatencySummary?
    public var methods: [String: MethodReport]
    /// Method names in mix order.
    public var methodOrder: [String]
    public var timeline: [TimelineBucket]
    /// Open loop only: calls due in the measured window that were never sent (every worker busy until the end).
    public var missedCalls: UInt64?

    enum CodingKeys: String, CodingKey {
        case tool, server, mode, concurrency, connections, rate, arrivals, mix, accounts, methods, timeline
        case reportVersion = "report_version"
        case startedAt = "started_at"
        case durationSeconds = "duration_s"
        case warmupSeconds = "warmup_s"
        case timeoutSeconds = "timeout_s"
        case totalCalls = "total_calls"
        case okCalls = "ok_calls"
        case errorCalls = "error_calls"
        case expectedErrorCalls = "expected_error_calls"
        case unexpectedErrorCalls = "unexpected_error_calls"
        case errorsByStatus = "errors_by_status"
        case statusCounts = "status_counts"
        case throughputPerSecond = "throughput_per_s"
        case latencyMicros = "latency_us"
        case latencyUncorrectedMicros = "latency_uncorrected_us"
        case methodOrder = "method_order"
        case missedCalls = "missed_calls"
    }

    public init(run: RunDescription, results: LoadResults) {
        startedAt = run.startedAt
        server = run.server
        mode = run.mode
        concurrency = run.concurrency
        connections = run.connections
        rate = run.rate
        arrivals = run.rate == nil ? nil : run.arrivals.rawValue
        durationSeconds = run.durationSeconds
        warmupSeconds = run.warmupSeconds
        timeoutSeconds = run.timeoutSeconds
        mix = Dictionary(uniqueKeysWithValues: run.mix.entries.map { ($0.method.name, $0.weight) })
        accounts = run.accounts
        let duration = results.durationSeconds > 0 ? results.durationSeconds : 1
        func perSecond(_ calls: UInt64) -> Double { (Double(calls) / duration * 10).rounded() / 10 }
        var allCounts = Array(repeating: UInt64(0), count: WorkerRecorder.statusCodeCount)
        var methods: [String: MethodReport] = [:]
        var expected: UInt64 = 0
        for (slot, method) in results.methods.enumerated() {
            for code in allCounts.indices { allCounts[code] += method.statusCounts[code] }
            expected += method.expectedErrors
            methods[method.method.name] = MethodReport(
                weight: run.mix.entries[slot].weight, calls: method.calls, okCalls: method.statusCounts[0], errorCalls: method.errors,
                unexpectedErrorCalls: method.errors - method.expectedErrors, throughputPerSecond: perSecond(method.calls),
                statusCounts: Self.named(method.statusCounts, includingOK: true),
                errorsByStatus: Self.named(method.statusCounts, includingOK: false),
                latencyMicros: LatencySummary(method.latency), latencyUncorrectedMicros: method.uncorrected.map(LatencySummary.init))
        }
        self.methods = methods
        methodOrder = results.methods.map(\.method.name)
        totalCalls = allCounts.reduce(0, +)
        okCalls = allCounts[0]
        errorCalls = totalCalls - okCalls
        expectedErrorCalls = expected
        unexpectedErrorCalls = errorCalls - expected
        statusCounts = Self.named(allCounts, includingOK: true)
        errorsByStatus = Self.named(allCounts, includingOK: false)
        throughputPerSecond = perSecond(totalCalls)
        latencyMicros = LatencySummary(results.overall)
        latencyUncorrectedMicros = results.overallUncorrected.map(LatencySummary.init)
        timeline = results.callsPerSecond.indices.map {
            TimelineBucket(second: $0, calls: results.callsPerSecond[$0], errors: results.errorsPerSecond[$0])
        }
        missedCalls = results.isOpenLoop ? results.missed : nil
    }

    /// Non-zero counts by status name.
    static func named(_ counts: [UInt64], includingOK: Bool) -> [String: UInt64] {
        var named: [String: UInt64] = [:]
        for (code, count) in counts.enumerated() where count > 0 && (includingOK || code != 0) {
            named[StatusCode(rawValue: UInt32(code))?.name ?? "CODE_\(code)"] = count
        }
        return named
    }

    /// Pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public func jsonString() throws -> String { String(decoding: try jsonData(), as: UTF8.self) }

    /// Method reports in mix order.
    public var orderedMethods: [(String, MethodReport)] { methodOrder.compactMap { name in methods[name].map { (name, $0) } } }
}

// MARK: - Human summary

/// The summary printed after a run: settings, totals, and aligned tables of latency percentiles and statuses.
public enum HumanSummary {
    public static func render(_ report: LoadReport) -> String {
        var lines: [String] = []
        let window = "\(Format.seconds(report.durationSeconds)) measured after \(Format.seconds(report.warmupSeconds)) warmup"
        let connections = "\(report.connections) connection\(report.connections == 1 ? "" : "s")"
        if let rate = report.rate {
            lines.append(
                "copslink-load → \(report.server): open loop, \(Format.number(rate)) calls/s (\(report.arrivals ?? "constant") arrivals), "
                    + "at most \(report.concurrency) in flight over \(connections), \(window)")
        } else {
            lines.append("copslink-load → \(report.server): closed loop, \(report.concurrency) workers over \(connections), \(window)")
        }
        let accounts =
            report.accounts.count <= 4
            ? report.accounts.joined(separator: ", ")
            : "\(report.accounts.first ?? "") … \(report.accounts.last ?? "")"
        lines.append(
            "mix \(report.orderedMethods.map { "\($0.0)=\($0.1.weight)" }.joined(separator: ",")) over \(report.accounts.count) account\(report.accounts.count == 1 ? "" : "s") (\(accounts))"
        )
        lines.append("")
        var totals =
            "calls \(Format.count(report.totalCalls))   throughput \(Format.number(report.throughputPerSecond)) calls/s   "
            + "errors \(Format.count(report.errorCalls))"
        if report.expectedErrorCalls > 0 {
            totals += " (\(Format.count(report.expectedErrorCalls)) expected, \(Format.count(report.unexpectedErrorCalls)) unexpected)"
        }
        lines.append(totals)
        if let missed = report.missedCalls, missed > 0 {
            lines.append(
                "warning: \(Format.count(missed)) calls due in the measured window were never sent: every worker was busy; "
                    + "raise --concurrency or lower --rate")
        }
        lines.append("")

        let openLoop = report.latencyUncorrectedMicros != nil
        var latency = TextTable(["LATENCY (ms)", "CALLS", "CALLS/S", "p50", "p90", "p99", "p99.9", "p99.99", "max"])
        func addRows(_ name: String, calls: UInt64, rate: Double, _ corrected: LatencySummary, _ uncorrected: LatencySummary?) {
            latency.add(
                [name, Format.count(calls), Format.number(rate)]
                    + corrected.labelled.map { corrected.count == 0 ? "-" : Format.millis($0.1) })
            if let uncorrected {
                latency.add(["  uncorrected", "", ""] + uncorrected.labelled.map { uncorrected.count == 0 ? "-" : Format.millis($0.1) })
            }
        }
        for (name, method) in report.orderedMethods {
            addRows(name, calls: method.calls, rate: method.throughputPerSecond, method.latencyMicros, method.latencyUncorrectedMicros)
        }
        if report.methods.count > 1 {
            addRows(
                "all", calls: report.totalCalls, rate: report.throughputPerSecond, report.latencyMicros, report.latencyUncorrectedMicros)
        }
        lines.append(latency.render())
        if openLoop {
            lines.append("(latency from each call's intended start; 'uncorrected': from its actual send)")
        }
        lines.append("")

        let statuses = StatusCode.allCases.map(\.name).filter { report.statusCounts[$0] != nil }
        var statusTable = TextTable(["STATUS"] + report.orderedMethods.map(\.0) + (report.methods.count > 1 ? ["all"] : []))
        for status in statuses {
            var row = [status] + report.orderedMethods.map { Format.count($0.1.statusCounts[status] ?? 0) }
            if report.methods.count > 1 { row.append(Format.count(report.statusCounts[status] ?? 0)) }
            statusTable.add(row)
        }
        if !statuses.isEmpty { lines.append(statusTable.render()) }
        return lines.joined(separator: "\n")
    }
}

/// A text table: first column left-aligned, the others right-aligned, two spaces apart.
public struct TextTable {
    var rows: [[String]]
    public init(_ header: [String]) { rows = [header] }
    public mutating func add(_ row: [String]) { rows.append(row) }

    public func render() -> String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columns)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}

/// Number formats of the summary and the HTML report.
public enum Format {
    /// 12,345
    public static func count(_ value: UInt64) -> String {
        let digits = String(value)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return result
    }

    /// 12,345.6 (one decimal), or 12,345 for whole numbers.
    public static func number(_ value: Double) -> String {
        let tenths = UInt64((abs(value) * 10).rounded())
        let whole = count(tenths / 10)
        return (value < 0 ? "-" : "") + (tenths % 10 == 0 ? whole : "\(whole).\(tenths % 10)")
    }

    /// Microseconds as milliseconds with three decimals: 0.245
    public static func millis(_ micros: UInt64) -> String {
        let fraction = String(micros % 1000)
        return "\(count(micros / 1000)).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    /// 10 s, 0.5 s
    public static func seconds(_ value: Double) -> String { "\(number(value)) s" }
}

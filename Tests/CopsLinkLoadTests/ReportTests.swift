import CopsLinkCore
import CopsLinkLoad
import CopsLinkTestSupport
import Foundation
import Histogram
import Testing

@Suite("recorder and reports")
struct ReportTests {
    static let mix = try! CallMix.parse("GetAccount=80,PlaceOnTest=10,RequestTestData=10")
    static let layout = LatencyLayout(runSeconds: 3, timeoutSeconds: 10)
    static let measureStart: UInt64 = 5_000_000_000

    /// Two workers with known calls: worker A 1000 GetAccount of 100…1099 µs, worker B PlaceOnTest (5 OK, 5
    /// FAILED_PRECONDITION), RequestTestData 1 UNAVAILABLE and 9 OK at 2 ms.
    static func results(openLoop: Bool) -> LoadResults {
        var a = WorkerRecorder(slots: 3, layout: layout, measureStart: measureStart, seconds: 2, openLoop: openLoop)
        for index in 0..<1000 {
            let start = measureStart + UInt64(index) * 1_000_000  // 1 ms apart: all in second 0
            a.record(slot: 0, status: .ok, startNanos: start, latencyNanos: UInt64(100 + index) * 1000)
            if openLoop { a.recordUncorrected(slot: 0, latencyNanos: UInt64(50 + index) * 1000) }
        }
        var b = WorkerRecorder(slots: 3, layout: layout, measureStart: measureStart, seconds: 2, openLoop: openLoop)
        for index in 0..<10 {
            let start = measureStart + 1_500_000_000
            b.record(slot: 1, status: index < 5 ? .ok : .failedPrecondition, startNanos: start, latencyNanos: 3_000_000)
            b.record(slot: 2, status: index == 0 ? .unavailable : .ok, startNanos: start, latencyNanos: 2_000_000)
            if openLoop {
                b.recordUncorrected(slot: 1, latencyNanos: 3_000_000)
                b.recordUncorrected(slot: 2, latencyNanos: 2_000_000)
            }
        }
        if openLoop { b.missed = 3 }
        return LoadResults.merge([a, b], mix: mix, layout: layout, openLoop: openLoop, durationSeconds: 2)
    }

    static let run = RunDescription(
        server: "127.0.0.1:7420", concurrency: 16, connections: 2, rate: nil, arrivals: .constant, durationSeconds: 2,
        warmupSeconds: 1, timeoutSeconds: 10, mix: mix, accounts: ["demo-1", "demo-2"], startedAt: "2026-01-01T00:00:00Z")

    @Test("merging adds up histograms, statuses and the per-second timeline")
    func merge() {
        let results = Self.results(openLoop: false)
        #expect(results.totalCalls == 1020)
        #expect(results.methods.map(\.calls) == [1000, 10, 10])
        #expect(results.overall.totalCount == 1020)
        #expect(results.methods[0].latency.valueAtPercentile(50) >= 598 && results.methods[0].latency.valueAtPercentile(50) <= 601)
        #expect(results.methods[1].statusCounts[Int(StatusCode.failedPrecondition.rawValue)] == 5)
        #expect(results.methods[1].expectedErrors == 5)
        #expect(results.methods[2].errors == 1 && results.methods[2].expectedErrors == 0)
        #expect(results.callsPerSecond == [1000, 20])
        #expect(results.errorsPerSecond == [0, 6])
        #expect(results.overallUncorrected == nil)
    }

    @Test("values above the layout's range are recorded at its top, not dropped")
    func clamps() {
        var recorder = WorkerRecorder(
            slots: 1, layout: LatencyLayout(highestTrackableMicros: 1_000_000), measureStart: 0, seconds: 1, openLoop: false)
        recorder.record(slot: 0, status: .deadlineExceeded, startNanos: 5_000_000_000, latencyNanos: 3_600_000_000_000)
        #expect(recorder.latency[0].totalCount == 1)
        #expect(recorder.callsPerSecond == [1])  // a start past the window lands in the last bucket
    }

    @Test("closed-loop JSON has totals, errors by status, throughput and ordered percentiles in µs")
    func closedJSON() throws {
        let report = LoadReport(run: Self.run, results: Self.results(openLoop: false))
        let object = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        #expect(object["tool"] as? String == "copslink-load")
        #expect(object["mode"] as? String == "closed")
        #expect(object["total_calls"] as? Int == 1020)
        #expect(object["ok_calls"] as? Int == 1014)
        #expect(object["error_calls"] as? Int == 6)
        #expect(object["expected_error_calls"] as? Int == 5)
        #expect(object["unexpected_error_calls"] as? Int == 1)
        #expect(object["errors_by_status"] as? [String: Int] == ["FAILED_PRECONDITION": 5, "UNAVAILABLE": 1])
        #expect(object["status_counts"] as? [String: Int] == ["OK": 1014, "FAILED_PRECONDITION": 5, "UNAVAILABLE": 1])
        #expect(object["throughput_per_s"] as? Double == 510)
        #expect(object["mix"] as? [String: Int] == ["GetAccount": 80, "PlaceOnTest": 10, "RequestTestData": 10])
        #expect(object["method_order"] as? [String] == ["GetAccount", "PlaceOnTest", "RequestTestData"])
        #expect(
            object["rate"] == nil && object["arrivals"] == nil && object["latency_uncorrected_us"] == nil && object["missed_calls"] == nil)
        let latency = try #require(object["latency_us"] as? [String: Any])
        let keys = ["p50", "p90", "p99", "p99_9", "p99_99", "max"]
        let values = try keys.map { try #require(latency[$0] as? Int, "latency_us.\($0)") }
        #expect(values == values.sorted(), "\(values)")
        #expect(latency["count"] as? Int == 1020)
        #expect((latency["max"] as? Int ?? 0) >= 3000)
        let methods = try #require(object["methods"] as? [String: [String: Any]])
        #expect(Set(methods.keys) == ["GetAccount", "PlaceOnTest", "RequestTestData"])
        let getAccount = try #require(methods["GetAccount"])
        #expect(getAccount["calls"] as? Int == 1000)
        #expect(getAccount["throughput_per_s"] as? Double == 500)
        let getLatency = try #require(getAccount["latency_us"] as? [String: Any])
        #expect(getLatency["min"] as? Int == 100)
        #expect(getLatency["max"] as? Int == 1099)
        #expect((getLatency["p99"] as? Int).map { (1088...1091).contains($0) } == true)
        let timeline = try #require(object["timeline"] as? [[String: Int]])
        #expect(timeline == [["second": 0, "calls": 1000, "errors": 0], ["second": 1, "calls": 20, "errors": 6]])
        // Round trip.
        #expect(try JSONDecoder().decode(LoadReport.self, from: report.jsonData()) == report)
    }

    @Test("open-loop JSON adds the rate, the uncorrected latency and missed calls")
    func openJSON() throws {
        var run = Self.run
        run.rate = 500
        run.arrivals = .poisson
        let report = LoadReport(run: run, results: Self.results(openLoop: true))
        let object = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        #expect(object["mode"] as? String == "open")
        #expect(object["rate"] as? Double == 500)
        #expect(object["arrivals"] as? String == "poisson")
        #expect(object["missed_calls"] as? Int == 3)
        let corrected = try #require(object["latency_us"] as? [String: Any])
        let uncorrected = try #require(object["latency_uncorrected_us"] as? [String: Any])
        #expect((uncorrected["p50"] as? Int ?? .max) < (corrected["p50"] as? Int ?? 0))
        let methods = try #require(object["methods"] as? [String: [String: Any]])
        #expect(methods["GetAccount"]?["latency_uncorrected_us"] != nil)
    }

    @Test("the summary is an aligned table with every method, the total and the statuses")
    func summary() {
        let text = HumanSummary.render(LoadReport(run: Self.run, results: Self.results(openLoop: false)))
        #expect(text.contains("closed loop, 16 workers over 2 connections"))
        #expect(text.contains("errors 6 (5 expected, 1 unexpected)"))
        let lines = text.split(separator: "\n").map(String.init)
        let header = try! #require(lines.first { $0.hasPrefix("LATENCY (ms)") })
        let rows = lines.filter { ["GetAccount ", "PlaceOnTest ", "RequestTestData ", "all "].contains(where: $0.hasPrefix) }
        #expect(rows.count == 4)
        // Right-aligned columns: every row ends where the header ends.
        for row in rows { #expect(row.count == header.count, "\(row)") }
        #expect(lines.contains { $0.hasPrefix("FAILED_PRECONDITION") })
        #expect(lines.contains { $0.hasPrefix("UNAVAILABLE") })
    }

    @Test("the HTML report is self-contained with a percentile plot and a throughput plot")
    func html() throws {
        var run = Self.run
        run.rate = 500
        let results = Self.results(openLoop: true)
        let html = HTMLReport.render(report: LoadReport(run: run, results: results), results: results)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 2)
        #expect(html.contains("<polyline"))
        #expect(html.contains("99.9%"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http"))
        #expect(html.contains("stroke-dasharray"))  // uncorrected curves
    }

    @Test("the percentile axis covers the nines the call count resolves")
    func nines() {
        #expect(HTMLReport.maxNines(count: 0) == 2)
        #expect(HTMLReport.maxNines(count: 50) == 2)
        #expect(HTMLReport.maxNines(count: 1000) == 3)
        #expect(HTMLReport.maxNines(count: 5000) == 4)
        #expect(HTMLReport.maxNines(count: 100_000_000) == 6)
    }

    @Test("formats")
    func formats() {
        #expect(Format.count(1_234_567) == "1,234,567")
        #expect(Format.count(999) == "999")
        #expect(Format.number(12345.64) == "12,345.6")
        #expect(Format.number(200) == "200")
        #expect(Format.millis(245) == "0.245")
        #expect(Format.millis(12_045) == "12.045")
    }
}

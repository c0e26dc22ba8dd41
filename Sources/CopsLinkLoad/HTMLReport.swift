import CopsLinkCore
import Foundation
public import Histogram

/// The HTML report (`--html-out FILE`): one self-contained file (inline SVG and CSS, no script, nothing fetched)
/// with the settings, totals, a latency-by-percentile plot on HdrHistogram's log-scale percentile axis, throughput
/// per second of the measured window, and tables of percentiles and statuses.
public enum HTMLReport {
    /// A latency-by-percentile curve: `x` is log10(1 / (1 - percentile/100)), so 90% is 1, 99% is 2, 99.9% is 3.
    public struct Curve: Sendable {
        public var name: String
        public var color: String
        public var width: Double
        public var dashed: Bool
        public var points: [(x: Double, micros: UInt64)]
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]

    /// Where the percentile axis ends: the "nines" the call count can resolve (at least 2, at most 6).
    public static func maxNines(count: UInt64) -> Int {
        guard count > 1 else { return 2 }
        return min(6, max(2, Int(log10(Double(count)).rounded(.up))))
    }

    /// Samples `histogram` along the log-scale percentile axis up to `nines` (the last point is the maximum).
    public static func curvePoints(_ histogram: Histogram<UInt64>, nines: Int) -> [(x: Double, micros: UInt64)] {
        guard histogram.totalCount > 0 else { return [] }
        let steps = nines * 40
        var points: [(x: Double, micros: UInt64)] = []
        for step in 0..<steps {
            let x = Double(step) / 40
            let percentile = 100 * (1 - pow(10, -x))
            points.append((x, histogram.valueAtPercentile(percentile)))
        }
        points.append((Double(nines), histogram.maxRecorded))
        return points
    }

    /// The curves of a run: every method (thin) and all calls (thick); in open loop also the uncorrected ones (dashed).
    public static func curves(_ results: LoadResults) -> [Curve] {
        let nines = maxNines(count: results.overall.totalCount)
        var curves: [Curve] = []
        let several = results.methods.count > 1
        for (index, method) in results.methods.enumerated() where method.latency.totalCount > 0 {
            let color = palette[index % palette.count]
            curves.append(
                Curve(
                    name: method.method.name, color: color, width: several ? 1.5 : 2.5, dashed: false,
                    points: curvePoints(method.latency, nines: nines)))
            if let uncorrected = method.uncorrected, several == false {
                curves.append(
                    Curve(
                        name: "\(method.method.name) uncorrected", color: color, width: 1.5, dashed: true,
                        points: curvePoints(uncorrected, nines: nines)))
            }
        }
        if several {
            curves.append(
                Curve(name: "all", color: "#111111", width: 2.5, dashed: false, points: curvePoints(results.overall, nines: nines)))
            if let uncorrected = results.overallUncorrected {
                curves.append(
                    Curve(
                        name: "all uncorrected", color: "#111111", width: 1.5, dashed: true, points: curvePoints(uncorrected, nines: nines))
                )
            }
        }
        return curves
    }

    public static func render(report: LoadReport, results: LoadResults) -> String {
        render(report: report, curves: curves(results), nines: maxNines(count: results.overall.totalCount))
    }

    public static func render(report: LoadReport, curves: [Curve], nines: Int) -> String {
        let title = "copslink-load \(report.mode) loop — \(report.server)"
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(escape(title))</title>
            <style>
            body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 980px; color: #222; padding: 0 1em; }
            h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
            table { border-collapse: collapse; margin: .5em 0; font-size: .92em; }
            th, td { padding: .25em .7em; border-bottom: 1px solid #eee; text-align: right; }
            th:first-child, td:first-child { text-align: left; }
            th { background: #f5f5f5; }
            .muted { color: #777; font-size: .9em; }
            .warn { color: #b00; }
            svg { display: block; margin: .5em 0; background: #fff; max-width: 100%; height: auto; }
            svg text { font-family: inherit; font-size: 12px; fill: #333; }
            </style>
            </head>
            <body>
            <h1>\(escape(title))</h1>
            <p class="muted">Started \(escape(report.startedAt)) · \(escape(settingsLine(report)))</p>

            """
        html += "<h2>Summary</h2>\n<table>\n"
        var summary: [(String, String)] = [
            ("Calls", Format.count(report.totalCalls)),
            ("Throughput", "\(Format.number(report.throughputPerSecond)) calls/s"),
            (
                "Errors",
                Format.count(report.errorCalls)
                    + (report.expectedErrorCalls > 0
                        ? " (\(Format.count(report.expectedErrorCalls)) expected, \(Format.count(report.unexpectedErrorCalls)) unexpected)"
                        : "")
            )
        ]
        if let missed = report.missedCalls { summary.append(("Missed (never sent)", Format.count(missed))) }
        for (label, summaryValue) in report.latencyMicros.labelled {
            var text = "\(Format.millis(summaryValue)) ms"
            if let uncorrected = report.latencyUncorrectedMicros {
                let other = uncorrected.labelled.first { $0.0 == label }?.1 ?? 0
                text += " <span class=\"muted\">(uncorrected \(Format.millis(other)) ms)</span>"
            }
            summary.append(("Latency \(label)", text))
        }
        for (label, text) in summary { html += "<tr><th>\(escape(label))</th><td>\(text)</td></tr>\n" }
        html += "</table>\n"
        if let missed = report.missedCalls, missed > 0 {
            html +=
                "<p class=\"warn\">\(Format.count(missed)) calls due in the measured window were never sent: every worker was busy. Raise --concurrency or lower --rate.</p>\n"
        }

        html += "<h2>Latency by percentile</h2>\n"
        html += percentilePlot(curves, nines: nines)
        if report.latencyUncorrectedMicros != nil {
            html +=
                "<p class=\"muted\">Open loop: solid lines measure from each call's intended start (no coordinated omission); dashed lines from its actual send.</p>\n"
        }

        html += "<h2>Throughput over time</h2>\n"
        html += throughputPlot(report.timeline, target: report.rate, mean: report.throughputPerSecond)

        html += "<h2>Latency per method (ms)</h2>\n<table>\n<tr><th>Method</th><th>Weight</th><th>Calls</th><th>Calls/s</th>"
        for (label, _) in report.latencyMicros.labelled { html += "<th>\(label)</th>" }
        html += "</tr>\n"
        func row(_ name: String, weight: String, calls: UInt64, rate: Double, _ latency: LatencySummary) -> String {
            "<tr><td>\(escape(name))</td><td>\(weight)</td><td>\(Format.count(calls))</td><td>\(Format.number(rate))</td>"
                + latency.labelled.map { "<td>\(Format.millis($0.1))</td>" }.joined() + "</tr>\n"
        }
        for (name, method) in report.orderedMethods {
            html += row(name, weight: "\(method.weight)", calls: method.calls, rate: method.throughputPerSecond, method.latencyMicros)
            if let uncorrected = method.latencyUncorrectedMicros {
                html += row("\(name) (uncorrected)", weight: "", calls: method.calls, rate: method.throughputPerSecond, uncorrected)
            }
        }
        html += row("all", weight: "", calls: report.totalCalls, rate: report.throughputPerSecond, report.latencyMicros)
        if let uncorrected = report.latencyUncorrectedMicros {
            html += row("all (uncorrected)", weight: "", calls: report.totalCalls, rate: report.throughputPerSecond, uncorrected)
        }
        html += "</table>\n"

        html += "<h2>Status codes</h2>\n<table>\n<tr><th>Status</th>"
        for (name, _) in report.orderedMethods { html += "<th>\(escape(name))</th>" }
        html += "<th>all</th></tr>\n"
        for status in report.statusCounts.keys.sorted(by: { statusOrder($0) < statusOrder($1) }) {
            html += "<tr><td>\(escape(status))</td>"
            for (_, method) in report.orderedMethods { html += "<td>\(Format.count(method.statusCounts[status] ?? 0))</td>" }
            html += "<td>\(Format.count(report.statusCounts[status] ?? 0))</td></tr>\n"
        }
        html += "</table>\n"
        html += "<p class=\"muted\">Accounts: \(escape(report.accounts.joined(separator: ", ")))</p>\n</body>\n</html>\n"
        return html
    }

    static func settingsLine(_ report: LoadReport) -> String {
        var parts: [String] = []
        if let rate = report.rate {
            parts.append(
                "open loop at \(Format.number(rate)) calls/s (\(report.arrivals ?? "constant") arrivals), at most \(report.concurrency) in flight"
            )
        } else {
            parts.append("closed loop, \(report.concurrency) workers")
        }
        parts.append("\(report.connections) connection\(report.connections == 1 ? "" : "s")")
        parts.append("\(Format.seconds(report.durationSeconds)) after \(Format.seconds(report.warmupSeconds)) warmup")
        parts.append("timeout \(Format.seconds(report.timeoutSeconds))")
        parts.append("mix " + report.orderedMethods.map { "\($0.0)=\($0.1.weight)" }.joined(separator: ","))
        return parts.joined(separator: " · ")
    }

    static func statusOrder(_ name: String) -> Int {
        StatusCode.allCases.firstIndex { $0.name == name } ?? 99
    }

    // MARK: SVG

    static let plotWidth = 900.0, plotHeight = 420.0
    static let left = 70.0, right = 170.0, top = 20.0, bottom = 50.0

    static func percentilePlot(_ curves: [Curve], nines: Int) -> String {
        let width = plotWidth - left - right, height = plotHeight - top - bottom
        let maxMicros = curves.flatMap { $0.points.map(\.micros) }.max() ?? 0
        let useMillis = maxMicros >= 2000
        let unit = useMillis ? 1000.0 : 1.0
        let (yMax, yStep) = niceScale(Double(max(maxMicros, 1)) / unit)
        func px(_ x: Double) -> Double { left + x / Double(nines) * width }
        func py(_ value: Double) -> Double { top + height - value / yMax * height }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(plotWidth))\" height=\"\(Int(plotHeight))\" viewBox=\"0 0 \(Int(plotWidth)) \(Int(plotHeight))\" role=\"img\" aria-label=\"Latency by percentile\">\n"
        svg += grid(width: width, height: height)
        var value = 0.0
        while value <= yMax + yStep / 2 {
            let y = py(value)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + width))\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>\n"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(axisNumber(value))</text>\n"
            value += yStep
        }
        for nine in 0...nines {
            let x = px(Double(nine))
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + height))\" stroke=\"#e5e5e5\"/>\n"
            svg += "<text x=\"\(f(x))\" y=\"\(f(top + height + 18))\" text-anchor=\"middle\">\(percentileLabel(nine))</text>\n"
        }
        svg += "<text x=\"\(f(left + width / 2))\" y=\"\(f(plotHeight - 8))\" text-anchor=\"middle\">percentile (log scale)</text>\n"
        svg +=
            "<text transform=\"translate(16 \(f(top + height / 2))) rotate(-90)\" text-anchor=\"middle\">latency (\(useMillis ? "ms" : "µs"))</text>\n"
        for curve in curves where !curve.points.isEmpty {
            let points = curve.points.map { "\(f(px($0.x))),\(f(py(Double($0.micros) / unit)))" }.joined(separator: " ")
            svg +=
                "<polyline fill=\"none\" stroke=\"\(curve.color)\" stroke-width=\"\(curve.width)\"\(curve.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(points)\"/>\n"
        }
        for (index, curve) in curves.enumerated() {
            let y = top + 10 + Double(index) * 18
            let x = left + width + 14
            svg +=
                "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 24))\" y2=\"\(f(y))\" stroke=\"\(curve.color)\" stroke-width=\"\(curve.width)\"\(curve.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            svg += "<text x=\"\(f(x + 30))\" y=\"\(f(y + 4))\">\(escape(curve.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func throughputPlot(_ timeline: [TimelineBucket], target: Double?, mean: Double) -> String {
        let width = plotWidth - left - right, height = 300.0 - top - bottom
        let totalHeight = 300.0
        let maxCalls = max(Double(timeline.map(\.calls).max() ?? 0), target ?? 0, 1)
        let (yMax, yStep) = niceScale(maxCalls)
        let count = max(timeline.count, 1)
        let slot = width / Double(count)
        func py(_ value: Double) -> Double { top + height - value / yMax * height }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(plotWidth))\" height=\"\(Int(totalHeight))\" viewBox=\"0 0 \(Int(plotWidth)) \(Int(totalHeight))\" role=\"img\" aria-label=\"Throughput per second\">\n"
        svg += grid(width: width, height: height)
        var value = 0.0
        while value <= yMax + yStep / 2 {
            let y = py(value)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + width))\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>\n"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(axisNumber(value))</text>\n"
            value += yStep
        }
        let labelEvery = max(1, Int((Double(count) / 15).rounded(.up)))
        for bucket in timeline {
            let x = left + Double(bucket.second) * slot
            let barWidth = max(1, slot * 0.8)
            let okHeight = Double(bucket.calls) / yMax * height
            svg +=
                "<rect x=\"\(f(x + slot * 0.1))\" y=\"\(f(top + height - okHeight))\" width=\"\(f(barWidth))\" height=\"\(f(okHeight))\" fill=\"#1f77b4\"><title>second \(bucket.second + 1): \(bucket.calls) calls, \(bucket.errors) errors</title></rect>\n"
            if bucket.errors > 0 {
                let errorHeight = Double(bucket.errors) / yMax * height
                svg +=
                    "<rect x=\"\(f(x + slot * 0.1))\" y=\"\(f(top + height - errorHeight))\" width=\"\(f(barWidth))\" height=\"\(f(errorHeight))\" fill=\"#d62728\"/>\n"
            }
            if bucket.second % labelEvery == 0 {
                svg += "<text x=\"\(f(x + slot / 2))\" y=\"\(f(top + height + 18))\" text-anchor=\"middle\">\(bucket.second + 1)</text>\n"
            }
        }
        svg +=
            "<text x=\"\(f(left + width / 2))\" y=\"\(f(totalHeight - 8))\" text-anchor=\"middle\">second of the measured window</text>\n"
        svg += "<text transform=\"translate(16 \(f(top + height / 2))) rotate(-90)\" text-anchor=\"middle\">calls/s</text>\n"
        var legend: [(String, String, Bool)] = [("calls", "#1f77b4", false), ("errors", "#d62728", false)]
        let meanY = py(mean)
        svg +=
            "<line x1=\"\(f(left))\" y1=\"\(f(meanY))\" x2=\"\(f(left + width))\" y2=\"\(f(meanY))\" stroke=\"#2ca02c\" stroke-width=\"1.5\"/>\n"
        legend.append(("mean \(Format.number(mean))/s", "#2ca02c", true))
        if let target {
            let y = py(target)
            svg +=
                "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + width))\" y2=\"\(f(y))\" stroke=\"#111\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n"
            legend.append(("target \(Format.number(target))/s", "#111", true))
        }
        for (index, item) in legend.enumerated() {
            let y = top + 10 + Double(index) * 18
            let x = left + width + 14
            if item.2 {
                svg +=
                    "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 24))\" y2=\"\(f(y))\" stroke=\"\(item.1)\" stroke-width=\"1.5\"\(item.0.hasPrefix("target") ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            } else {
                svg += "<rect x=\"\(f(x + 6))\" y=\"\(f(y - 6))\" width=\"12\" height=\"12\" fill=\"\(item.1)\"/>\n"
            }
            svg += "<text x=\"\(f(x + 30))\" y=\"\(f(y + 4))\">\(escape(item.0))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func grid(width: Double, height: Double) -> String {
        "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"#fcfcfc\" stroke=\"#999\"/>\n"
    }

    /// An axis maximum at or above `value` and a step that divides it in about five: 1, 2 or 5 times a power of ten.
    static func niceScale(_ value: Double) -> (max: Double, step: Double) {
        let raw = max(value, 1e-9) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        return ((value / step).rounded(.up) * step, step)
    }

    static func percentileLabel(_ nines: Int) -> String {
        switch nines {
        case 0: "0%"
        case 1: "90%"
        case 2: "99%"
        default: "99." + String(repeating: "9", count: nines - 2) + "%"
        }
    }

    static func axisNumber(_ value: Double) -> String {
        value == value.rounded() ? Format.count(UInt64(value)) : String(format: "%g", value)
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            default: result.append(character)
            }
        }
        return result
    }
}

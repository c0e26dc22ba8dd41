import CopsLinkCommandLine
import Foundation

/// Aligned plain-text tables for people; `--json` is the format for scripts.
struct Table {
    var columns: [String]
    var rows: [[String]] = []

    init(_ columns: String...) { self.columns = columns }

    mutating func add(_ cells: String...) { rows.append(cells) }

    /// Columns padded to their widest cell, two spaces apart, no trailing spaces. Cells are kept on one line.
    func render() -> String {
        let cleaned = rows.map { row in row.map(Self.oneLine) }
        var widths = columns.map(\.count)
        for row in cleaned {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                if index == cells.count - 1 {
                    text += cell
                } else {
                    text += cell + String(repeating: " ", count: widths[index] - cell.count + 2)
                }
            }
            return String(text.reversed().drop { $0 == " " }.reversed())
        }
        return ([line(columns)] + cleaned.map(line)).joined(separator: "\n")
    }

    /// The text on one line and harmless to a terminal: line breaks and tabs become spaces, every other control
    /// character (C0, DEL, C1: e.g. the ESC of an ANSI sequence stored in a comment) is shown as `\u{1B}`.
    static func oneLine(_ text: String) -> String {
        var result = ""
        var previousWasCR = false
        for scalar in text.unicodeScalars {
            defer { previousWasCR = scalar == "\r" }
            switch scalar.value {
            case 0x0A where previousWasCR: continue
            case 0x0A, 0x0D, 0x09: result.append(" ")
            case 0x00...0x1F, 0x7F...0x9F: result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// Label/value lines with the values aligned: the header block of a record.
struct Details {
    private var lines: [(String, String)] = []

    init() {}

    mutating func add(_ label: String, _ value: String) { lines.append((label, value)) }

    /// Adds the line only when `value` is not empty.
    mutating func addIfPresent(_ label: String, _ value: String) {
        if !value.isEmpty { add(label, value) }
    }

    func render() -> String {
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { label, value in
            let padded = label + String(repeating: " ", count: width - label.count + 2)
            return (padded + Table.oneLine(value)).trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}

/// Formats shared by the tables: timestamps in ISO 8601 UTC, durations for people.
enum Format {
    /// `1 test result`, `2 test results`, `0 test results`.
    static func count(_ count: some BinaryInteger, _ singular: String, _ plural: String) -> String {
        "\(count) \(count == 1 ? singular : plural)"
    }

    /// `2026-11-01T10:00:00Z`; "-" for 0 (unset).
    static func timestamp(_ ms: Int64) -> String {
        ms == 0 ? "-" : EpochMilliseconds.iso8601(ms, fractional: false)
    }

    /// With milliseconds, for JSON: `2026-11-01T10:00:00.250Z`, the same instant as `ms`.
    static func preciseTimestamp(_ ms: Int64) -> String {
        EpochMilliseconds.iso8601(ms)
    }

    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

    static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// `2h 30m`, `45m`, `1d 2h`, `30s`; minutes are the finest unit above one minute.
    static func duration(ms: Int64) -> String {
        let seconds = max(0, ms) / 1000
        if seconds < 60 { return "\(seconds)s" }
        let minutes = seconds / 60
        let days = minutes / 1440, hours = minutes % 1440 / 60, rest = minutes % 60
        var parts: [String] = []
        if days > 0 { parts.append("\(days)d") }
        if hours > 0 { parts.append("\(hours)h") }
        if rest > 0 { parts.append("\(rest)m") }
        return parts.joined(separator: " ")
    }

    /// `(in 1h 59m)` or `(2h ago)` relative to now; empty for 0.
    static func relative(_ ms: Int64, now: Int64 = nowMs()) -> String {
        guard ms != 0 else { return "" }
        if abs(ms - now) < 1000 { return "(now)" }
        return ms > now ? "(in \(duration(ms: ms - now)))" : "(\(duration(ms: now - ms)) ago)"
    }

    static func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }

    /// "-" for an empty cell.
    static func dash(_ text: String) -> String { text.isEmpty ? "-" : text }

    static func bytes(_ count: UInt32) -> String {
        if count == 0 { return "-" }
        if count % (1 << 20) == 0 { return "\(count >> 20) MiB" }
        if count % (1 << 10) == 0 { return "\(count >> 10) KiB" }
        return "\(count) bytes"
    }
}

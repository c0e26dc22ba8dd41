public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `LogHandler` that writes one JSON object per line: `timestamp` (ISO-8601, UTC, milliseconds), `level`, `label`,
/// `message`, then every metadata key at the top level (flattened, so that log pipelines index them as fields).
///
/// Metadata comes from the handler, the metadata provider and the call, later ones winning on equal keys. A metadata
/// key equal to one of the four fixed keys is written as `metadata_<key>` so it can never replace them. Nested
/// metadata (dictionaries, arrays) stays nested as JSON objects and arrays; `stringConvertible` values are written as
/// their description. Each line is written with a single `write(2)`, so lines from concurrent loggers do not
/// interleave.
public struct JSONLogHandler: LogHandler {
    /// Where the lines go.
    public enum Output: Sendable {
        case standardOutput
        case standardError
        /// Receives each line, without its newline (for tests).
        case custom(@Sendable (String) -> Void)
    }

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    private let label: String
    private let output: Output

    public init(label: String, output: Output = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.output = output
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = Self.line(
            timestamp: Self.now(), level: event.level, label: label, message: event.message.description,
            metadata: LineOutput.metadata(metadata, metadataProvider, event))
        LineOutput.write(line, to: output)
    }

    /// One log line without its newline. Metadata keys are sorted, so equal events give equal lines.
    static func line(
        timestamp: String, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var out = "{\"timestamp\":\"\(timestamp)\",\"level\":\"\(level.rawValue)\",\"label\":"
        appendString(label, to: &out)
        out += ",\"message\":"
        appendString(message, to: &out)
        for key in metadata.keys.sorted() {
            out += ","
            appendString(reservedKeys.contains(key) ? "metadata_\(key)" : key, to: &out)
            out += ":"
            appendValue(metadata[key]!, to: &out)
        }
        out += "}"
        return out
    }

    private static let reservedKeys: Set<String> = ["timestamp", "level", "label", "message"]

    private static func appendValue(_ value: Logger.MetadataValue, to out: inout String) {
        switch value {
        case .string(let string):
            appendString(string, to: &out)
        case .stringConvertible(let convertible):
            appendString(convertible.description, to: &out)
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                appendValue(element, to: &out)
            }
            out += "]"
        case .dictionary(let dictionary):
            out += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                appendString(key, to: &out)
                out += ":"
                appendValue(dictionary[key]!, to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal (RFC 8259): quote, backslash and control characters escaped, and the line separators and
    /// format characters (a right-to-left override) as `\uXXXX` too, so that a log viewer shows them for what they
    /// are; everything else, non-ASCII included, passes through as UTF-8.
    static func appendString(_ string: String, to out: inout String) {
        out.unicodeScalars.append("\"")
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _
            where scalar.value < 0x20 || scalar == "\u{2028}" || scalar == "\u{2029}"
                || (scalar.value > 0x7F && scalar.properties.generalCategory == .format):
                // Beyond the BMP (tag characters) as a UTF-16 surrogate pair, as JSON spells them.
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out.unicodeScalars.append("\"")
    }

    /// The current time as `2026-01-31T23:59:59.123Z`.
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return iso8601(secondsSinceEpoch: Int(spec.tv_sec), milliseconds: Int(spec.tv_nsec) / 1_000_000)
    }

    /// Formats a UTC time without Foundation or a shared formatter (days-from-civil inverse, H. Hinnant).
    static func iso8601(secondsSinceEpoch: Int, milliseconds: Int) -> String {
        let days = secondsSinceEpoch >= 0 ? secondsSinceEpoch / 86_400 : (secondsSinceEpoch - 86_399) / 86_400
        let secondOfDay = secondsSinceEpoch - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(milliseconds, 3))Z"
    }

    static func writeLine(_ line: String, to descriptor: Int32) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else {
                    return  // a closed or broken stream: drop the line rather than fail the caller
                }
            }
        }
    }
}

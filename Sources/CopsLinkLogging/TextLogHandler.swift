public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `LogHandler` writing swift-log's text format, `<time> <level> <label>: <key=value …> [<source>] <message>`, with
/// every control character in the message and in metadata keys and values escaped (`\n`, `\r`, `\t`, `\u{1B}`, and
/// a backslash as `\\`), and Unicode format characters too (`\u{202E}`: a right-to-left override turns what follows
/// it around on a terminal).
///
/// swift-log's `StreamLogHandler` writes them raw, so a client-supplied newline in a status message or an id started
/// a line of its own that a reader (or a log pipeline) took for a real one (CWE-117). One line per event, written
/// with a single `write(2)`.
public struct TextLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    private let label: String
    private let output: JSONLogHandler.Output

    public init(label: String, output: JSONLogHandler.Output = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
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
            metadata: LineOutput.metadata(metadata, metadataProvider, event), source: event.source)
        LineOutput.write(line, to: output)
    }

    /// One log line without its newline; metadata keys sorted.
    static func line(
        timestamp: String, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, source: String
    ) -> String {
        var out = "\(timestamp) \(level.rawValue) "
        appendEscaped(label, to: &out)
        out += ":"
        for key in metadata.keys.sorted() {
            out += " "
            appendEscaped(key, to: &out)
            out += "="
            appendEscaped(metadata[key]!.description, to: &out)
        }
        out += " ["
        appendEscaped(source, to: &out)
        out += "] "
        appendEscaped(message, to: &out)
        return out
    }

    /// Appends `text` with control characters (C0, DEL, C1, and the Unicode line and paragraph separators), format
    /// characters (bidirectional overrides, zero-width characters) and backslashes escaped: the result is always one
    /// line that reads as it is stored, and an escape in the input cannot pass for one of ours.
    static func appendEscaped(_ text: String, to out: inout String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _
            where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
                || (scalar.value > 0x9F && scalar.properties.generalCategory == .format):
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
    }

    /// The current time as swift-log's stream handler writes it: `2026-01-31T23:59:59+0000` (UTC).
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let iso = JSONLogHandler.iso8601(secondsSinceEpoch: Int(spec.tv_sec), milliseconds: 0)
        return String(iso.prefix(19)) + "+0000"
    }
}

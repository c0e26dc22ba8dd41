import Foundation
import Logging
import Synchronization
import Testing

@testable import CopsLinkLogging

@Suite("JSON log handler")
struct JSONLogHandlerTests {
    /// Logs through a `Logger` backed by the handler (no global bootstrap) and returns the lines it produced.
    private func lines(level: Logger.Level = .info, _ body: (inout Logger) -> Void) -> [String] {
        let captured = Mutex<[String]>([])
        var logger = Logger(label: "copslink.test") { label in
            JSONLogHandler(label: label, output: .custom { line in captured.withLock { $0.append(line) } })
        }
        logger.logLevel = level
        body(&logger)
        return captured.withLock { $0 }
    }

    private func object(_ line: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func oneObjectPerLineWithFixedFieldsAndFlattenedMetadata() throws {
        let output = lines { logger in
            logger[metadataKey: "handler_key"] = "from handler"
            logger.info("call", metadata: ["method": "/copslink.v1.AccountService/GetAccount", "status": "OK", "call_id": "7"])
        }
        try #require(output.count == 1)
        #expect(!output[0].contains("\n"))
        let json = try object(output[0])
        #expect(json["level"] as? String == "info")
        #expect(json["label"] as? String == "copslink.test")
        #expect(json["message"] as? String == "call")
        #expect(json["method"] as? String == "/copslink.v1.AccountService/GetAccount")
        #expect(json["status"] as? String == "OK")
        #expect(json["call_id"] as? String == "7")
        #expect(json["handler_key"] as? String == "from handler")
        #expect(json["metadata"] == nil, "flattened, not nested")
        let timestamp = try #require(json["timestamp"] as? String)
        #expect(timestamp.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(timestamp)")
    }

    @Test func escapesQuotesBackslashesAndControlCharacters() throws {
        let tricky =
            "quote \" backslash \\ newline \n tab \t cr \r nul \u{0} bell \u{7} unit \u{1F} é ✓ 🚨 rlo \u{202E} ls \u{2028} tag \u{E0041}"
        let output = lines { $0.warning("\(tricky)", metadata: ["key \"with\" quotes\n": "\(tricky)"]) }
        try #require(output.count == 1)
        #expect(!output[0].contains("\n") && !output[0].contains("\t") && !output[0].contains("\u{0}"))
        #expect(output[0].contains(#"\"with\" quotes\n""#))
        #expect(output[0].contains(#"nul \u0000 bell \u0007 unit \u001f"#))
        // Format characters and line separators too, as \uXXXX (a surrogate pair beyond the BMP), so that a viewer
        // shows them instead of obeying them; the parsed text is the same.
        #expect(output[0].contains(#"rlo \u202e ls \u2028 tag \udb40\udc41"#), "\(output[0])")
        let json = try object(output[0])
        #expect(json["message"] as? String == tricky)
        #expect(json["key \"with\" quotes\n"] as? String == tricky)
        #expect(json["level"] as? String == "warning")
    }

    @Test func nestedMetadataStaysStructuredAndReservedKeysAreRenamed() throws {
        let output = lines { logger in
            logger.error(
                "failed",
                metadata: [
                    "message": "a metadata value named message",
                    "level": "not the level",
                    "peer": .stringConvertible(42),
                    "tags": ["a", "b \"c\""],
                    "nested": ["inner": ["deep": "x"], "list": [.stringConvertible(1)]]
                ])
        }
        let json = try object(try #require(output.first))
        #expect(json["message"] as? String == "failed")
        #expect(json["level"] as? String == "error")
        #expect(json["metadata_message"] as? String == "a metadata value named message")
        #expect(json["metadata_level"] as? String == "not the level")
        #expect(json["peer"] as? String == "42")
        #expect(json["tags"] as? [String] == ["a", "b \"c\""])
        let nested = try #require(json["nested"] as? [String: Any])
        #expect((nested["inner"] as? [String: String]) == ["deep": "x"])
        #expect((nested["list"] as? [String]) == ["1"])
    }

    @Test func callMetadataOverridesHandlerMetadataAndLevelFilters() throws {
        let output = lines(level: .notice) { logger in
            logger[metadataKey: "peer"] = "handler"
            logger.info("dropped below the level")
            logger.notice("kept", metadata: ["peer": "call"])
        }
        try #require(output.count == 1)
        let json = try object(output[0])
        #expect(json["message"] as? String == "kept")
        #expect(json["peer"] as? String == "call")
    }

    @Test func linesAreDeterministicForEqualEvents() {
        let line = JSONLogHandler.line(
            timestamp: "2026-01-02T03:04:05.006Z", level: .debug, label: "l", message: "m", metadata: ["b": "2", "a": "1"])
        #expect(line == #"{"timestamp":"2026-01-02T03:04:05.006Z","level":"debug","label":"l","message":"m","a":"1","b":"2"}"#)
    }

    @Test(arguments: [
        (0, 0, "1970-01-01T00:00:00.000Z"),
        (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
        (1_767_225_599, 999, "2025-12-31T23:59:59.999Z"),
        (4_102_444_800, 123, "2100-01-01T00:00:00.123Z"),
        (-1, 0, "1969-12-31T23:59:59.000Z")
    ])
    func iso8601Timestamps(seconds: Int, milliseconds: Int, expected: String) {
        #expect(JSONLogHandler.iso8601(secondsSinceEpoch: seconds, milliseconds: milliseconds) == expected)
    }
}

/// The text format escapes control characters, so client text in a message or a metadata value stays on its line.
@Suite("Text log handler")
struct TextLogHandlerTests {
    @Test func controlCharactersCannotStartALine() {
        let line = TextLogHandler.line(
            timestamp: "2026-12-04T20:00:00+0000", level: .notice, label: "copslink.server",
            message: "call\n2026-12-04T20:00:01+0000 critical forged",
            metadata: ["status_message": "No customer 'x\r\nFORGED'", "a\nb": "\u{1B}[31m\\"],
            source: "CopsLinkCore")
        #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{1B}"))
        // A right-to-left override or another format character is shown, not obeyed.
        let bidi = TextLogHandler.line(
            timestamp: "t", level: .info, label: "l", message: "id \u{202E}gnp.exe\u{200B}", metadata: [:], source: "s")
        #expect(bidi.hasSuffix(#"id \u{202E}gnp.exe\u{200B}"#), "\(bidi)")
        #expect(
            line
                == #"2026-12-04T20:00:00+0000 notice copslink.server: a\nb=\u{1B}[31m\\ status_message=No customer 'x\r\nFORGED' [CopsLinkCore] call\n2026-12-04T20:00:01+0000 critical forged"#
        )
    }

    @Test func writesOneLinePerEvent() {
        let lines = LockedLines()
        var logger = Logger(label: "t") { label in TextLogHandler(label: label, output: .custom { lines.append($0) }) }
        logger.logLevel = .info
        logger.info("a\nb", metadata: ["k": "v\u{85}"])
        #expect(lines.all.count == 1)
        #expect(lines.all.first?.hasSuffix(#"t: k=v\u{85} [CopsLinkLoggingTests] a\nb"#) == true)
    }
}

/// Lines a `.custom` output received.
final class LockedLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

import CopsLinkCore
import CopsLinkMessages
import Testing

/// Every decode must either succeed or throw INVALID_ARGUMENT; never crash, never another code.
func expectDecodesOrRejects<T: RPCMessage & Equatable>(
    _ type: T.Type, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
) -> T? {
    do {
        let value = try T(from: bytes)
        // What decoded must survive a re-encode unchanged.
        let again = try T(from: value.serializedBytes())
        #expect(again == value, "re-encoding \(T.self) decoded from \(bytes.hex)", sourceLocation: sourceLocation)
        return value
    } catch {
        #expect(error.code == .invalidArgument, "\(T.self) from \(bytes.hex): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func expectRejected<T: RPCMessage>(_ type: T.Type, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    let error = #expect(throws: RPCError.self, "\(T.self) from \(bytes.hex)", sourceLocation: sourceLocation) {
        _ = try T(from: bytes)
    }
    #expect(error?.code == .invalidArgument, sourceLocation: sourceLocation)
}

@Suite struct MalformedInputTests {
    static let vectorNames = [
        "request_header_metadata", "request_header_minimal", "end_header_unicode", "end_header_ok", "go_away",
        "go_away_unknown_code", "settings", "cancel_header", "window_update"
    ]

    @Test func truncatedVectorsAreRejectedOrDecodeToLess() throws {
        func run<T: RPCMessage & Equatable>(_ type: T.Type, _ name: String) throws {
            let full = try Vectors.bytes(name)
            let value = try T(from: full)
            for cut in 0..<full.count {
                if let partial = expectDecodesOrRejects(T.self, Array(full.prefix(cut))) {
                    #expect(partial != value, "\(name) cut at \(cut) decoded to the full value")
                }
            }
        }
        try run(RequestHeader.self, "request_header_metadata")
        try run(RequestHeader.self, "request_header_minimal")
        try run(EndHeader.self, "end_header_unicode")
        try run(EndHeader.self, "end_header_ok")
        try run(GoAwayHeader.self, "go_away")
        try run(GoAwayHeader.self, "go_away_unknown_code")
        try run(SettingsHeader.self, "settings")
        try run(CancelHeader.self, "cancel_header")
        try run(WindowUpdateHeader.self, "window_update")
    }

    @Test func truncationInsideAFieldIsRejected() throws {
        // "0a 06 /a.B/C" without its last byte: the string's length runs past the end.
        expectRejected(RequestHeader.self, Array(try Vectors.bytes("request_header_minimal").dropLast()))
        // A tag alone, without its value.
        expectRejected(WindowUpdateHeader.self, [0x08])
        expectRejected(CancelHeader.self, [0x0A])
        // A varint cut in the middle.
        expectRejected(GoAwayHeader.self, [0x08, 0xFF, 0xFF])
        // A nested metadata entry cut short.
        expectRejected(RequestHeader.self, [0x1A, 0x05, 0x0A, 0x03, 0x61])
    }

    @Test func randomGarbageNeverCrashes() {
        var generator = SplitMix64(seed: 0xC0B5_11A7)
        var decoded = 0
        var rejected = 0
        for _ in 0..<2000 {
            let length = Int.random(in: 0...64, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let results: [Bool] = [
                expectDecodesOrRejects(SettingsHeader.self, bytes) != nil,
                expectDecodesOrRejects(RequestHeader.self, bytes) != nil,
                expectDecodesOrRejects(EndHeader.self, bytes) != nil,
                expectDecodesOrRejects(CancelHeader.self, bytes) != nil,
                expectDecodesOrRejects(WindowUpdateHeader.self, bytes) != nil,
                expectDecodesOrRejects(GoAwayHeader.self, bytes) != nil,
                expectDecodesOrRejects(Metadata.Entry.self, bytes) != nil
            ]
            for result in results { if result { decoded += 1 } else { rejected += 1 } }
        }
        // Both outcomes occur (the empty buffer is a valid message of every type).
        #expect(decoded > 0)
        #expect(rejected > 0)
    }

    @Test func mutatedValidMessagesNeverCrash() throws {
        var generator = SplitMix64(seed: 42)
        let full = try Vectors.bytes("end_header_unicode")
        let request = try Vectors.bytes("request_header_metadata")
        for _ in 0..<1000 {
            var end = full
            var req = request
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                end[Int.random(in: 0..<end.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                req[Int.random(in: 0..<req.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = expectDecodesOrRejects(EndHeader.self, end)
            _ = expectDecodesOrRejects(RequestHeader.self, req)
        }
    }

    @Test func elevenByteVarintIsRejected() {
        let tenContinuations = [UInt8](repeating: 0xFF, count: 10)
        expectRejected(WindowUpdateHeader.self, [0x08] + tenContinuations + [0x01])
        expectRejected(GoAwayHeader.self, [0x08] + tenContinuations + [0x01])
        expectRejected(RequestHeader.self, [0x10] + tenContinuations + [0x00])
        // An 11-byte varint as a length prefix.
        expectRejected(CancelHeader.self, [0x0A] + [UInt8](repeating: 0x80, count: 10) + [0x00])
    }

    @Test func tenByteVarintIsAccepted() throws {
        // UInt64.max takes exactly ten bytes.
        let bytes: [UInt8] = [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        #expect(try GoAwayHeader(from: bytes).lastCallID == .max)
        #expect(try RequestHeader(from: [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01]).timeoutMicros == .max)
    }

    @Test func lengthPastTheEndIsRejected() {
        expectRejected(RequestHeader.self, [0x0A, 0x10] + Array("/a/b".utf8))
        expectRejected(CancelHeader.self, [0x0A, 0x01])
        expectRejected(EndHeader.self, [0x12, 0x7F, 0x61])
        expectRejected(EndHeader.self, [0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00])
        expectRejected(RequestHeader.self, [0x1A, 0x03, 0x0A, 0x05, 0x61])  // entry length fits, key length does not
        expectRejected(EndHeader.self, [0x22, 0x04, 0x0A, 0x01, 0x6B])
    }

    @Test func wrongWireTypeForKnownFieldIsRejected() {
        // RequestHeader.method (string) as a varint.
        expectRejected(RequestHeader.self, [0x08, 0x05])
        // RequestHeader.timeout_micros (uint64) as length-delimited.
        expectRejected(RequestHeader.self, [0x12, 0x01, 0x00])
        // WindowUpdate.increment (uint32) as fixed32 and as fixed64.
        expectRejected(WindowUpdateHeader.self, [0x0D, 1, 0, 0, 0])
        expectRejected(WindowUpdateHeader.self, [0x09, 1, 0, 0, 0, 0, 0, 0, 0])
        // EndHeader.trailers (message) as a varint.
        expectRejected(EndHeader.self, [0x20, 0x01])
        // EndHeader.status_message (bytes) as a varint.
        expectRejected(EndHeader.self, [0x10, 0x01])
        // GoAway.code (enum) as length-delimited.
        expectRejected(GoAwayHeader.self, [0x12, 0x01, 0x01])
    }

    @Test func invalidUTF8InStatusMessageIsRejected() {
        let invalid: [[UInt8]] = [
            [0xC3, 0x28],  // bad continuation
            [0xFF],  // never valid
            [0xE2, 0x82],  // truncated sequence
            [0xED, 0xA0, 0x80],  // UTF-16 surrogate
            [0xC0, 0xAF],  // overlong
            [0xF4, 0x90, 0x80, 0x80],  // beyond U+10FFFF
            Array("ok then ".utf8) + [0x80]
        ]
        for bytes in invalid {
            let message: [UInt8] = [0x08, 0x02, 0x12, UInt8(bytes.count)] + bytes
            let error = #expect(throws: RPCError.self, "\(bytes.hex)") { try EndHeader(from: message) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("status_message") == true)
        }
    }

    @Test func unknownFieldsAreSkipped() throws {
        let unknownFields: [[UInt8]] = [
            [0x78, 0x96, 0x01],  // field 15, varint 150
            [0x7A, 0x03, 0x78, 0x79, 0x7A],  // field 15, length-delimited "xyz"
            [0x7D, 1, 2, 3, 4],  // field 15, fixed32
            [0x79, 1, 2, 3, 4, 5, 6, 7, 8],  // field 15, fixed64
            [0x7A, 0x00],  // field 15, empty
            [0xF8, 0x07, 0x01]  // field 127, varint (two-byte tag)
        ]
        func run<T: RPCMessage & Equatable>(_ type: T.Type, _ name: String) throws {
            let reference = try Vectors.bytes(name)
            let expected = try T(from: reference)
            for unknown in unknownFields {
                #expect(try T(from: reference + unknown) == expected, "\(name) + \(unknown.hex)")
                #expect(try T(from: unknown + reference) == expected, "\(unknown.hex) + \(name)")
            }
        }
        for name in Self.vectorNames {
            switch name {
            case _ where name.hasPrefix("request_header"): try run(RequestHeader.self, name)
            case _ where name.hasPrefix("end_header"): try run(EndHeader.self, name)
            case _ where name.hasPrefix("go_away"): try run(GoAwayHeader.self, name)
            case "settings": try run(SettingsHeader.self, name)
            case "cancel_header": try run(CancelHeader.self, name)
            case "window_update": try run(WindowUpdateHeader.self, name)
            default: Issue.record("no type for \(name)")
            }
        }
    }

    @Test func unknownFieldInsideANestedEntryIsSkipped() throws {
        // RequestHeader { metadata { key: "k" text: "v" <field 15: varint 1> } }
        let entry: [UInt8] = [0x0A, 0x01, 0x6B, 0x12, 0x01, 0x76, 0x78, 0x01]
        let bytes: [UInt8] = [0x1A, UInt8(entry.count)] + entry
        #expect(try RequestHeader(from: bytes) == RequestHeader(method: "", metadata: ["k": .text("v")]))
    }

    @Test func lastValueOfARepeatedScalarFieldWins() throws {
        #expect(try WindowUpdateHeader(from: [0x08, 0x01, 0x08, 0x02]) == WindowUpdateHeader(increment: 2))
        #expect(try CancelHeader(from: [0x0A, 0x01, 0x61, 0x0A, 0x01, 0x62]) == CancelHeader(reason: "b"))
    }
}

import CopsLinkCore
import CopsLinkMessages
import Testing

/// Vectors encoded by protoc, the reference implementation, from the .txtpb files next to them
/// (regenerate with scripts/make-test-vectors). protoc and protobuf-c both emit fields in field-number order,
/// so our encoding of the same value must be byte-identical.
@Suite struct ReferenceVectorTests {
    static var requestWithMetadata: RequestHeader {
        var metadata = Metadata()
        metadata.add("authorization", "Bearer abc.def")
        metadata.add("trace-bin", binary: [0x00, 0x01, 0x02, 0xFF, 0xFE])
        metadata.add("copslink-request-id", "req-42")
        metadata.add("x-empty", "")
        return RequestHeader(method: "/copslink.testing.v1.TestService/UnaryCall", timeoutMicros: 1_500_000, metadata: metadata)
    }

    static let unicodeStatusMessage = "caf\u{E9}\t\u{1F600} line1\r\nline2 \u{0} \u{4E2D}\u{6587} end"

    static var endWithUnicode: EndHeader {
        var trailers = Metadata()
        trailers.add("retry-after", "30")
        trailers.add("debug-bin", binary: [0xDE, 0xAD, 0xBE, 0xEF])
        return EndHeader(
            statusCode: 5, statusMessage: unicodeStatusMessage,
            details: [0x08, 0x01, 0x12, 0x03, 0x61, 0x62, 0x63, 0x00, 0xFF], trailers: trailers)
    }

    /// Checks that the vector decodes to `expected` and that `expected` encodes to the vector's bytes.
    func check<T: RPCMessage & Equatable>(_ name: String, _ expected: T) throws {
        let reference = try Vectors.bytes(name)
        #expect(!reference.isEmpty)
        let decoded = try T(from: reference)
        #expect(decoded == expected, "decoding \(name).bin")
        let encoded = expected.serializedBytes()
        #expect(encoded == reference, "encoding for \(name).bin\n ours:   \(encoded.hex)\n protoc: \(reference.hex)")
    }

    @Test func requestHeaderWithMetadata() throws {
        try check("request_header_metadata", Self.requestWithMetadata)
        let decoded = try RequestHeader(from: try Vectors.bytes("request_header_metadata"))
        #expect(decoded.metadata.entries == Self.requestWithMetadata.metadata.entries)
        #expect(decoded.metadata["trace-bin"] == [.binary([0x00, 0x01, 0x02, 0xFF, 0xFE])])
    }

    @Test func requestHeaderMinimal() throws {
        try check("request_header_minimal", RequestHeader(method: "/a.B/C"))
    }

    @Test func endHeaderWithUnicodeAndTrailers() throws {
        try check("end_header_unicode", Self.endWithUnicode)
        let decoded = try EndHeader(from: try Vectors.bytes("end_header_unicode"))
        #expect(Array(decoded.statusMessage.utf8) == Array(Self.unicodeStatusMessage.utf8))
        #expect(decoded.trailers.entries == Self.endWithUnicode.trailers.entries)
    }

    @Test func endHeaderOK() throws {
        try check("end_header_ok", EndHeader(statusCode: 0, trailers: ["x-total": .text("3")]))
    }

    @Test func goAway() throws {
        try check("go_away", GoAwayHeader(lastCallID: .max, code: .enhanceYourCalm, message: "too many pings"))
    }

    @Test func goAwayUnknownCode() throws {
        try check("go_away_unknown_code", GoAwayHeader(lastCallID: 7, code: .unrecognized(99), message: "from the future"))
    }

    @Test func settings() throws {
        try check(
            "settings", SettingsHeader(maxFrameSize: 4_194_304, maxConcurrentCalls: 100, initialWindowSize: 65535, maxHeaderSize: 16384))
    }

    @Test func cancel() throws {
        try check("cancel_header", CancelHeader(reason: "client gave up"))
    }

    @Test func windowUpdate() throws {
        try check("window_update", WindowUpdateHeader(increment: .max))
    }

    @Test func handWrittenEncodingOfSmallMessages() {
        // Independent of protoc: the encodings spelled out by hand.
        #expect(WindowUpdateHeader(increment: 300).serializedBytes() == [0x08, 0xAC, 0x02])
        #expect(CancelHeader(reason: "x").serializedBytes() == [0x0A, 0x01, 0x78])
        #expect(
            Metadata.Entry(key: "k-bin", value: .binary([])).serializedBytes() == [0x0A, 0x05, 0x6B, 0x2D, 0x62, 0x69, 0x6E, 0x1A, 0x00])
        #expect(Metadata.Entry(key: "k", value: .text("")).serializedBytes() == [0x0A, 0x01, 0x6B, 0x12, 0x00])
        #expect(EndHeader(statusCode: 1, statusMessage: "\u{0}").serializedBytes() == [0x08, 0x01, 0x12, 0x01, 0x00])
        #expect(GoAwayHeader(lastCallID: 0, code: .noError, message: "").serializedBytes().isEmpty)
    }
}

import CopsLinkCore
import CopsLinkMessages
import Testing

@Suite struct HeaderRoundTripTests {
    @Test(arguments: [
        SettingsHeader(),
        SettingsHeader(maxFrameSize: 4 << 20, maxConcurrentCalls: 100, initialWindowSize: 65535, maxHeaderSize: 16 << 10),
        SettingsHeader(maxFrameSize: .max, maxConcurrentCalls: .max, initialWindowSize: .max, maxHeaderSize: .max),
        SettingsHeader(maxFrameSize: 0, maxConcurrentCalls: 1, initialWindowSize: 0, maxHeaderSize: 1)
    ])
    func settings(_ value: SettingsHeader) throws {
        #expect(try roundTrip(value) == value)
    }

    @Test func defaultSettingsEncodeToNothing() {
        #expect(SettingsHeader().serializedBytes().isEmpty)
        #expect(SettingsHeader().serializedSize == 0)
    }

    @Test(arguments: [
        RequestHeader(method: "/a.B/C"),
        RequestHeader(method: "/copslink.v1.AccountService/GetAccount", timeoutMicros: 1_500_000),
        RequestHeader(
            method: "/s.S/M", timeoutMicros: .max,
            metadata: [
                "authorization": .text("Bearer x"),
                "trace-bin": .binary([0, 1, 2, 0xFF]),
                "empty": .text(""),
                "empty-bin": .binary([]),
                "authorization": .text("repeated")
            ]),
        RequestHeader(method: "")
    ])
    func request(_ value: RequestHeader) throws {
        let decoded = try roundTrip(value)
        #expect(decoded == value)
        #expect(decoded.metadata.entries == value.metadata.entries)
    }

    static let statusMessages: [String] = [
        "",
        "plain ASCII",
        "tab\there",
        "line1\r\nline2\nline3\r",
        "\u{0}",
        "before\u{0}after",
        "\u{0}\u{0}\u{0}",
        "caf\u{E9} \u{4E2D}\u{6587} \u{0414}\u{0430} \u{05E9}\u{05DC}\u{05D5}\u{05DD}",  // BMP
        "\u{1F600} \u{1D11E} \u{10FFFF} \u{1F469}\u{200D}\u{1F4BB}",  // non-BMP, ZWJ sequence
        "e\u{301} vs \u{E9}",  // canonically equivalent forms must stay distinct bytes
        "\u{FEFF}BOM\u{FFFD}\u{FFFF}",
        "\u{7F}\u{1B}[31mred\u{1B}[0m",
        String(repeating: "\u{1F680}\t\u{0}\r\n", count: 500)
    ]

    @Test(arguments: statusMessages)
    func endHeaderStatusMessageIsByteExact(_ message: String) throws {
        let value = EndHeader(statusCode: 13, statusMessage: message)
        let decoded = try roundTrip(value)
        // String == compares canonical equivalence; the wire promises the exact bytes.
        #expect(Array(decoded.statusMessage.utf8) == Array(message.utf8))
        #expect(decoded.statusCode == 13)
    }

    @Test func endHeaderAllFields() throws {
        let value = EndHeader(
            statusCode: 9, statusMessage: "precondition \u{1F6AB}\u{0}", details: Array(0...255),
            trailers: ["retry-after": .text("30"), "debug-bin": .binary([0xDE, 0xAD]), "retry-after": .text("60")])
        let decoded = try roundTrip(value)
        #expect(decoded == value)
        #expect(Array(decoded.statusMessage.utf8) == Array(value.statusMessage.utf8))
        #expect(decoded.details == Array(0...255))
        #expect(decoded.trailers.entries == value.trailers.entries)
    }

    @Test(arguments: [0, 1, 16, 17, UInt32.max])
    func endHeaderStatusCodes(_ code: UInt32) throws {
        #expect(try roundTrip(EndHeader(statusCode: code)).statusCode == code)
    }

    @Test func endHeaderFromErrorAndBack() throws {
        let error = RPCError(code: .resourceExhausted, message: "quota \u{1F4B8}", details: [1, 2], metadata: ["q": .text("1")])
        let decoded = try roundTrip(EndHeader(error: error))
        #expect(decoded.result == .failure(error))
        #expect(try roundTrip(EndHeader(statusCode: 0, trailers: ["a": .text("b")])).result == .success(["a": .text("b")]))
        guard case .failure(let unknown) = EndHeader(statusCode: 42, statusMessage: "odd").result else {
            Issue.record("status 42 must be a failure")
            return
        }
        #expect(unknown.code == .unknown)
        #expect(unknown.message.contains("42"))
        #expect(unknown.message.contains("odd"))
    }

    @Test(arguments: ["", "client gave up", "deadline \u{23F0} \u{1F600}", String(repeating: "r", count: 10_000)])
    func cancel(_ reason: String) throws {
        let decoded = try roundTrip(CancelHeader(reason: reason))
        #expect(Array(decoded.reason.utf8) == Array(reason.utf8))
    }

    @Test(arguments: [0, 1, 65535, 1 << 31, UInt32.max])
    func windowUpdate(_ increment: UInt32) throws {
        #expect(try roundTrip(WindowUpdateHeader(increment: increment)) == WindowUpdateHeader(increment: increment))
    }

    @Test(arguments: [
        GoAwayHeader(lastCallID: 0, code: .noError, message: ""),
        GoAwayHeader(lastCallID: 1, code: .protocolError, message: "bad frame"),
        GoAwayHeader(lastCallID: 2, code: .frameTooLarge, message: "too big"),
        GoAwayHeader(lastCallID: 3, code: .enhanceYourCalm, message: "calm down \u{1F9D8}"),
        GoAwayHeader(lastCallID: 4, code: .keepaliveTimeout, message: ""),
        GoAwayHeader(lastCallID: 5, code: .internalError, message: "oops"),
        GoAwayHeader(lastCallID: 6, code: .idleTimeout, message: "idle"),
        GoAwayHeader(lastCallID: .max, code: .refused, message: "refused"),
        GoAwayHeader(lastCallID: 99, code: .unrecognized(99), message: "future code"),
        GoAwayHeader(lastCallID: 8, code: .unrecognized(1 << 31), message: ""),
        GoAwayHeader(lastCallID: 9, code: .unrecognized(.max), message: "")
    ])
    func goAway(_ value: GoAwayHeader) throws {
        #expect(try roundTrip(value) == value)
    }

    @Test func goAwayUnknownCodeDecodesAsUnrecognized() throws {
        // field 2 (code), varint 99
        let decoded = try decode(GoAwayHeader.self, [0x10, 99])
        #expect(decoded.code == .unrecognized(99))
        #expect(decoded.code.rawValue == 99)
        #expect(decoded.lastCallID == 0)
    }

    @Test func goAwayCodeRawValues() {
        let known: [GoAwayHeader.Code] = [
            .noError, .protocolError, .frameTooLarge, .enhanceYourCalm, .keepaliveTimeout, .internalError, .idleTimeout, .refused
        ]
        for (raw, code) in known.enumerated() {
            #expect(code.rawValue == UInt32(raw))
            #expect(GoAwayHeader.Code(rawValue: UInt32(raw)) == code)
        }
        #expect(GoAwayHeader.Code(rawValue: 8) == .unrecognized(8))
        #expect(GoAwayHeader.Code(rawValue: 99) == .unrecognized(99))
        #expect(GoAwayHeader.Code.unrecognized(1234).rawValue == 1234)
    }

    @Test(arguments: [
        Metadata.Entry(key: "authorization", value: .text("Bearer abc")),
        Metadata.Entry(key: "empty", value: .text("")),
        Metadata.Entry(key: "x-bin", value: .binary([])),
        Metadata.Entry(key: "x-bin", value: .binary(Array(0...255))),
        Metadata.Entry(key: "nul-bin", value: .binary([0, 0, 0])),
        Metadata.Entry(key: "printable", value: .text(" !\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~"))
    ])
    func metadataEntry(_ entry: Metadata.Entry) throws {
        #expect(try roundTrip(entry) == entry)
    }

    @Test func metadataEntryWithoutValueDefaultsByKey() throws {
        // Only field 1 (key) present: the oneof is unset.
        let text = try decode(Metadata.Entry.self, [0x0A, 0x01, UInt8(ascii: "k")])
        #expect(text == Metadata.Entry(key: "k", value: .text("")))
        let binary = try decode(Metadata.Entry.self, [0x0A, 0x05] + Array("k-bin".utf8))
        #expect(binary == Metadata.Entry(key: "k-bin", value: .binary([])))
    }

    @Test func metadataEntryLastOneofMemberWins() throws {
        // text "a", then binary [1]: the later member of the oneof replaces the earlier one.
        let bytes: [UInt8] = [0x0A, 0x01, UInt8(ascii: "k"), 0x12, 0x01, UInt8(ascii: "a"), 0x1A, 0x01, 0x01]
        #expect(try decode(Metadata.Entry.self, bytes) == Metadata.Entry(key: "k", value: .binary([1])))
    }

    @Test func serializedSizeMatchesSerializedBytes() {
        let values: [any ProtobufCCodable] = [
            SettingsHeader(maxFrameSize: 1, maxConcurrentCalls: 2, initialWindowSize: 3, maxHeaderSize: 4),
            RequestHeader(method: "/a.B/C", timeoutMicros: 5, metadata: ["k": .text("v"), "k-bin": .binary([1])]),
            EndHeader(statusCode: 2, statusMessage: "\u{1F600}", details: [1], trailers: ["t": .text("u")]),
            CancelHeader(reason: "r"), WindowUpdateHeader(increment: 300),
            GoAwayHeader(lastCallID: 1 << 40, code: .unrecognized(99), message: "m")
        ]
        for value in values {
            #expect(value.serializedSize == value.serializedBytes().count, "\(type(of: value))")
        }
    }
}

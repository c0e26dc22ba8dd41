import CopsLinkCore
import Testing

@testable import CopsLinkMessages

/// proto3's JSON mapping, driven by the generated schema: every message with every field set survives
/// binary → JSON → binary, the written form is the canonical one, and hostile JSON gets a precise refusal.
@Suite struct ProtoJSONTests {
    private static func json<T: RPCMessage>(_ value: T, _ options: ProtoJSON.Options = .init()) throws -> String {
        String(decoding: try ProtoJSON.json(fromBinary: value.serializedBytes(), messageName: T.protoName, options: options), as: UTF8.self)
    }

    private static func decode<T: ProtobufCCodable>(_ type: T.Type, json: String) throws -> T {
        try decodeAccountMessage(T.self, try ProtoJSON.binary(fromJSON: Array(json.utf8), messageName: T.protoName))
    }

    @Test(arguments: AccountCodecTests.samples)
    func everyMessageSurvivesJSONBothWays(_ sample: AnyAccountMessage) throws {
        func check<T: ProtobufCCodable & Hashable>(_ value: T) throws {
            for options in [ProtoJSON.Options(), ProtoJSON.Options(protoFieldNames: true, defaultValues: true)] {
                let text = try Self.json(value, options)
                #expect(try Self.decode(T.self, json: text) == value, "\(text)")
            }
        }
        try check(sample.value)
    }

    @Test func theWrittenFormIsCanonical() throws {
        let session = TestSession(
            id: "ts-1", effectiveAtMs: 1_717_200_000_000, scope: .onlyListed, zoneNumbers: ["001", "002"],
            placedBy: UserRef(id: "u\"1\n", name: ""))
        #expect(
            try Self.json(session)
                == #"{"id":"ts-1","effectiveAtMs":"1717200000000","scope":"TEST_SCOPE_ONLY_LISTED","zoneNumbers":["001","002"],"placedBy":{"id":"u\"1\n"}}"#
        )
        #expect(try Self.json(Phone(number: "1", type: PhoneType(rawValue: 42))) == #"{"number":"1","type":42}"#)
        #expect(try Self.json(Account()) == "{}")
        #expect(try Self.json(EchoStatus(code: 3, message: "hi")) == #"{"code":3,"message":"aGk="}"#)
        #expect(
            try ProtoJSON.json(fromBinary: [0x12, 0x02, 0xFB, 0xFF], messageName: EchoStatus.protoName)
                == Array(#"{"message":"+/8="}"#.utf8))
        #expect(
            try Self.json(GetAccountRequest(customerID: "c-1"), ProtoJSON.Options(protoFieldNames: true, defaultValues: true))
                == #"{"customer_id":"c-1"}"#)
        #expect(
            try Self.json(Zone(zoneNumber: "001"), ProtoJSON.Options(defaultValues: true))
                == #"{"zoneNumber":"001","description":"","eventType":"ZONE_EVENT_TYPE_UNSPECIFIED","equipmentType":"","location":"","partition":0,"restoreRequired":false}"#
        )
    }

    /// Repeated scalars travel packed; the builtin messages go through the same mapping.
    @Test func packedRepeatedScalarsAndBuiltinMessages() throws {
        let info = ServerInfoResponse(
            serverVersion: "1.2", protocolVersions: [1, 300],
            services: [ServiceInfo(name: "copslink.rpc.v1.Health", methods: [])], limits: SettingsHeader(maxConcurrentCalls: 8))
        let text = try Self.json(info)
        #expect(
            text
                == #"{"serverVersion":"1.2","protocolVersions":[1,300],"services":[{"name":"copslink.rpc.v1.Health"}],"limits":{"maxConcurrentCalls":8}}"#
        )
        let back = try ProtoJSON.binary(fromJSON: Array(text.utf8), messageName: ServerInfoResponse.protoName)
        #expect(try back.withUnsafeBytes { try ServerInfoResponse(serializedBytes: $0) } == info)
    }

    @Test func readingAcceptsBothNamesNumbersAsStringsEnumNumbersAndNull() throws {
        let session = try Self.decode(
            TestSession.self,
            json:
                #"{"id":"ts-1","effective_at_ms":1717200000000,"expiresAtMs":"1717200000001","scope":2,"zoneNumbers":null,"placedBy":{"id":"u"}}"#
        )
        #expect(session.id == "ts-1" && session.effectiveAtMs == 1_717_200_000_000 && session.expiresAtMs == 1_717_200_000_001)
        #expect(session.scope == .onlyListed && session.zoneNumbers.isEmpty && session.placedBy?.id == "u")
        #expect(try Self.decode(Zone.self, json: #"{"partition":"7","eventType":"ZONE_EVENT_TYPE_FIRE"}"#).partition == 7)
        #expect(try Self.decode(Zone.self, json: #"{"partition":1e2}"#).partition == 100)
        #expect(
            try ProtoJSON.binary(fromJSON: Array(#"{"message":"-_8"}"#.utf8), messageName: EchoStatus.protoName) == [0x12, 0x02, 0xFB, 0xFF]
        )
        #expect(try Self.decode(Customer.self, json: #"{"firstName":"Zo\u00eb \ud83d\ude80"}"#).firstName == "Zoë 🚀")
    }

    @Test(arguments: [
        (#"{"customerId":"c","nickname":"x"}"#, "field 'nickname': copslink.v1.GetAccountRequest has no such field"),
        (#"{"customerId":"c","customer_id":"d"}"#, "field 'customerId': given twice"),
        (#"{"customerId":7}"#, "field 'customerId': expected a JSON string"),
        (#"["c"]"#, "expected a JSON object for copslink.v1.GetAccountRequest"),
        (#"{"customerId":"c"} x"#, "invalid JSON at byte 19: unexpected text after the JSON value"),
        (#"{"customerId":"c"#, "invalid JSON at byte 16: unterminated string"),
        (#"{"customerId":"\ud800"}"#, "invalid JSON at byte 21: an escaped high surrogate must be followed by an escaped low surrogate")
    ])
    func refusalsNameTheProblem(_ text: String, _ message: String) {
        #expect(throws: ProtoJSONError.self) { try ProtoJSON.binary(fromJSON: Array(text.utf8), messageName: GetAccountRequest.protoName) }
        do {
            _ = try ProtoJSON.binary(fromJSON: Array(text.utf8), messageName: GetAccountRequest.protoName)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test(arguments: [
        (#"{"partition":4294967296}"#, "field 'partition': '4294967296' is not a whole number in the range of UInt32"),
        (#"{"partition":-1}"#, "field 'partition': '-1' is not a whole number in the range of UInt32"),
        (#"{"partition":1.5}"#, "field 'partition': '1.5' is not a whole number in the range of UInt32"),
        // Decided on the digits: a Double rounds both of these to 1000.
        (
            #"{"partition":999.99999999999999999999}"#,
            "field 'partition': '999.99999999999999999999' is not a whole number in the range of UInt32"
        ),
        (
            #"{"partition":1.00000000000000000000000000001e3}"#,
            "field 'partition': '1.00000000000000000000000000001e3' is not a whole number in the range of UInt32"
        ),
        // At most 64 characters, refused as they are read (megabytes of digits held an event loop for seconds).
        (
            #"{"partition":"# + String(repeating: "1", count: 64) + "}",
            "field 'partition': '\(String(repeating: "1", count: 64))' is not a whole number in the range of UInt32"
        ),
        (#"{"partition":"# + String(repeating: "1", count: 1_000) + "}", "invalid JSON at byte 78: a number of more than 64 characters"),
        (#"{"partition":1."# + String(repeating: "0", count: 100) + "}", "invalid JSON at byte 78: a number of more than 64 characters"),
        // Client text is quoted as ClientText quotes it: 64 bytes at most, then "…", control and format characters escaped.
        (#"{"a\nb\u202e":1}"#, "field 'a\\nb\\u{202E}': copslink.v1.Zone has no such field"),
        (
            #"{"eventType":""# + String(repeating: "é", count: 100) + #""}"#,
            "field 'eventType': copslink.v1.ZoneEventType has no value '\(String(repeating: "é", count: 32))…'"
        ),
        (#"{"partition":"1.5"}"#, "field 'partition': '1.5' is not a whole number in the range of UInt32"),
        (#"{"partition":true}"#, "field 'partition': expected an integer"),
        (#"{"eventType":"ZONE_EVENT_TYPE_FLOOD"}"#, "field 'eventType': copslink.v1.ZoneEventType has no value 'ZONE_EVENT_TYPE_FLOOD'"),
        (#"{"restoreRequired":"true"}"#, "field 'restoreRequired': expected true or false")
    ])
    func numbersEnumsAndBooleansAreChecked(_ text: String, _ message: String) {
        do {
            _ = try ProtoJSON.binary(fromJSON: Array(text.utf8), messageName: Zone.protoName)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description == message)
        }
    }

    /// Whole numbers written with a fraction or exponent are integers; anything with a nonzero digit right of the
    /// point is not, however small.
    @Test func wholeDecimalsAreDecidedOnTheirDigits() {
        for whole in ["1000", "-0", "1e3", "1E+3", "5.0", "0.0000001e7", "1.5e1", "12300e-2", "0e-999999999", "-2.50e1"] {
            #expect(JSONToBinary.isWholeDecimal(whole), "\(whole)")
        }
        for fractional in ["1.5", "999.99999999999999999999", "1e-1", "1.00000000000000000000000000001e3", "1.", ".5", "1e", "1x", "", "-"]
        {
            #expect(!JSONToBinary.isWholeDecimal(fractional), "\(fractional)")
        }
    }

    /// However it is shaped, a document's tree stays small: at most 100,000 values.
    @Test func aDocumentHoldsAtMostOneHundredThousandValues() throws {
        let wide = "[" + Array(repeating: "[]", count: 100_000).joined(separator: ",") + "]"
        #expect(throws: JSONParseError(offset: 299_998, reason: "more than 100000 values in one document")) {
            try JSONValue.parse(Array(wide.utf8))
        }
        let fits = "[" + Array(repeating: "0", count: 99_999).joined(separator: ",") + "]"
        #expect(throws: Never.self) { try JSONValue.parse(Array(fits.utf8)) }
    }

    @Test func nestingAndMalformedBinaryAreBounded() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError(offset: 64, reason: "nested deeper than 64 levels")) { try JSONValue.parse(Array(deep.utf8)) }
        // A length that runs past the end, and a field of the wrong wire type.
        #expect(throws: ProtoJSONError("malformed protobuf: truncated")) {
            try ProtoJSON.json(fromBinary: [0x0A, 0x05, 0x61], messageName: GetAccountRequest.protoName)
        }
        #expect(throws: ProtoJSONError.self) { try ProtoJSON.json(fromBinary: [0x08, 0x01], messageName: GetAccountRequest.protoName) }
        #expect(throws: ProtoJSONError.self) {
            try ProtoJSON.json(fromBinary: [0x0A, 0x01, 0xFF], messageName: GetAccountRequest.protoName)
        }
        // Unknown fields are skipped, as a binary reader would.
        #expect(try ProtoJSON.json(fromBinary: [0x78, 0x01], messageName: GetAccountRequest.protoName) == Array("{}".utf8))
    }

    @Test func everyMessageOfTheCatalogHasASchema() {
        for entry in MessageCatalog.entries {
            #expect(ProtoSchema.message(entry.protoName) != nil, "\(entry.protoName)")
        }
    }
}

import CopsLinkCore
import CopsLinkMessageFixtures
import CopsLinkMessages
import Testing

/// Values of every `copslink.v1` message with every field set to a non-default value, nested messages included,
/// so that a field a codec forgets cannot survive a round trip unnoticed (`samplesSetEveryField` checks the "every").
enum AccountSamples {
    static let address = Address(street1: "12 Elm St", street2: "Suite 3", city: "Salem", state: "IL", zip: "62704")
    static func equipment(_ number: Int) -> Equipment {
        Equipment(
            id: "eq-\(number)", name: "Sensor \(number)", zoneNumber: "00\(number)", zoneDescription: "Zone \(number)", installed: true)
    }
    static let customer = Customer(
        id: "cust-1001", firstName: "Zoë", lastName: "Lovelace", companyName: "Engines — LLC 🚀", address: address,
        premisePhone: "555-0100", passcode: "hunter2", equipment: [equipment(1), equipment(2), equipment(3)])
    static let phone = Phone(number: "555-0101", type: .work, extension: "42")
    static let respondingParty = RespondingParty(
        id: "rp-1", priority: 1, firstName: "Charles", lastName: "Babbage",
        phones: [phone, Phone(number: "555-0102", type: PhoneType(rawValue: 42), extension: "9")], email: "cb@example.com",
        language: "en", passcode: "swordfish", hasKey: true, relation: "Neighbour", enhancedVerification: true, role: .keyholder)
    static let centralStationParty = CentralStationParty(
        id: "rp-2", priority: .max, firstName: "Mary", lastName: "Somerville", phones: [phone], role: PartyRole(rawValue: 42), hasKey: true)
    static let authority = Authority(
        id: "pd-1", type: .police, name: "Salem PD", phone: "555-0911", address: address, servedZips: ["62701", "", "62704"],
        jurisdiction: .city, permitRequired: true)
    static let accountAuthority = AccountAuthority(
        id: "aa-1", authority: authority, permitNumber: "P-42", addedAtMs: 1_717_171_800_000, addedBy: "jsmith", doesNotServeZip: true)
    static let zone = Zone(
        zoneNumber: "001", description: "Front door", eventType: .burglary, equipmentType: "Door", location: "Hall", partition: 1,
        restoreRequired: true)
    static let unmappedZone = Zone(
        zoneNumber: "010", description: "Panic", eventType: ZoneEventType(rawValue: 42), equipmentType: "Button", location: "Bedroom",
        partition: .max, restoreRequired: true)
    static let mappedZone = MappedZone(zone: zone, equipment: equipment(1))
    static let testCategory = TestCategory(id: "tech", description: "Tech on site", defaultDurationMinutes: 120)
    static let userRef = UserRef(id: "u-9", name: "Jane Tech")
    static let testAuthorization = TestAuthorization(respondingPartyID: "rp-1", verifiedBy: "passcode")
    static let testSession = TestSession(
        id: "ts-77", category: testCategory, effectiveAtMs: 1_717_200_000_000, expiresAtMs: .max, scope: .onlyListed,
        zoneNumbers: ["001", "003"], comment: String(repeating: "a long comment ", count: 20), placedBy: userRef,
        authorizedBy: testAuthorization, endedAtMs: -1, endReason: .placedOff, state: .ended)
    static let testStatus = TestStatus(onTest: true, current: testSession, state: .onTest)
    static let account = Account(
        customer: customer, linkState: .linked, accountNumber: "C123456", receiverNumber: "R2", line: "L1",
        linkedAtMs: 1_717_171_717_171, unlinkedAtMs: .min, respondingParties: [centralStationParty, centralStationParty],
        authorities: [accountAuthority], mappedZones: [mappedZone, MappedZone(zone: zone, equipment: equipment(2))],
        unmappedZones: [unmappedZone], testStatus: testStatus)
    static let historyEntry = TestHistoryEntry(
        atMs: 1_717_200_000_001, action: .placedOnTest, sessionID: "ts-77", category: testCategory, effectiveAtMs: 1_717_200_000_000,
        expiresAtMs: 1_717_207_200_000, user: userRef, comment: "placed")
    static let testResult = TestResult(
        receivedAtMs: 1_717_200_123_456, accountNumber: "C123456", zoneNumber: "003", zoneDescription: "Kitchen", eventCode: "111",
        qualifier: 1, eventDescription: "Smoke", userNumber: "004", partition: 1, rawMessage: "1234 18 1111 01 003 5", sessionID: "ts-77")
    static let signal = Signal(
        receiverNumber: "R2", line: "L1", accountNumber: "C123456", receivedAtMs: 1_717_200_123_456, contactID: "1234 18 1130 01 015 8",
        qualifier: 1, eventCode: "130", partition: 1, zoneOrUser: "015")

    static let linkAccountRequest = LinkAccountRequest(
        requestID: "req-1", customer: customer, respondingParties: [respondingParty, respondingParty], accountNumber: "C123456",
        receiverNumber: "R2", line: "L1")
    static let syncCustomerRequest = SyncCustomerRequest(requestID: "req-2", customer: customer, respondingParties: [respondingParty])
    static let searchAuthoritiesRequest = SearchAuthoritiesRequest(customerID: "cust-1001", type: AuthorityType(rawValue: 42), zip: "62704")
    static let addAccountAuthoritiesRequest = AddAccountAuthoritiesRequest(
        requestID: "req-3", customerID: "cust-1001",
        authorities: [AuthorityToAdd(authorityID: "pd-1", permitNumber: "P-42"), AuthorityToAdd(authorityID: "fd-7", permitNumber: "F-1")],
        addedBy: "jsmith")
    static let setCentralStationZonesRequest = SetCentralStationZonesRequest(
        requestID: "req-4", customerID: "cust-1001", zones: [zone, unmappedZone])
    static let placeOnTestRequest = PlaceOnTestRequest(
        requestID: "req-5", customerID: "cust-1001", categoryID: "tech", durationHours: 2, durationMinutes: 30,
        effectiveAtMs: 1_717_200_000_000, scope: .allExceptListed, zoneNumbers: ["010", "011"], comment: "Panel swap",
        placedBy: userRef, authorizedBy: testAuthorization)
    static let placeOffTestRequest = PlaceOffTestRequest(requestID: "req-6", customerID: "cust-1001", placedBy: userRef, comment: "done")
    static let requestTestDataRequest = RequestTestDataRequest(
        customerID: "cust-1001", type: .results, fromMs: -5, toMs: 1_717_300_000_000, pageSize: 5000)

    /// Every request type the server decodes.
    static let requests: [any ProtobufCCodable & Hashable] = [
        linkAccountRequest, GetAccountRequest(customerID: "cust-1001"), UnlinkAccountRequest(requestID: "req-7", customerID: "cust-1001"),
        syncCustomerRequest, searchAuthoritiesRequest, addAccountAuthoritiesRequest,
        RemoveAccountAuthorityRequest(requestID: "req-8", customerID: "cust-1001", accountAuthorityID: "aa-1"),
        setCentralStationZonesRequest, ListTestCategoriesRequest(), GetTestStatusRequest(customerID: "cust-1001"), placeOnTestRequest,
        placeOffTestRequest, requestTestDataRequest, signal
    ]

    static let all: [any ProtobufCCodable & Hashable] =
        requests + [
            address, equipment(1), customer, phone, respondingParty, centralStationParty, authority, accountAuthority, zone, mappedZone,
            testCategory, userRef, testAuthorization, testSession, testStatus, account, historyEntry, testResult,
            LinkAccountResponse(account: account, created: true, removedPartyIDs: ["rp-9"], removedEquipmentIDs: ["eq-9"]),
            UnlinkAccountResponse(wasLinked: true, account: account, endedTest: testSession),
            SyncCustomerResponse(account: account, removedPartyIDs: ["p-1", "p-2"], removedEquipmentIDs: ["eq-9"]),
            SearchAuthoritiesResponse(authorities: [authority, authority]),
            AuthorityToAdd(authorityID: "pd-1", permitNumber: "P-42"), AddAccountAuthoritiesResponse(added: [accountAuthority]),
            RemoveAccountAuthorityResponse(removed: accountAuthority),
            SetCentralStationZonesResponse(mappedZones: [mappedZone], unmappedZones: [unmappedZone]),
            ListTestCategoriesResponse(categories: [testCategory, testCategory]), PlaceOnTestResponse(session: testSession),
            PlaceOffTestResponse(session: testSession),
            TestDataPage(history: [historyEntry], results: [testResult, testResult], signals: [testResult]),
            SignalRejection(index: 3, reason: "bad checksum"),
            ReportSignalsResponse(
                received: 10, testResults: 7, storedAsHistory: 2, rejected: [SignalRejection(index: 3, reason: "bad")], rejectedCount: 1)
        ]
}

/// A message value as a test argument, named by its proto type.
struct AnyAccountMessage: Sendable, CustomTestStringConvertible {
    let value: any ProtobufCCodable & Hashable
    var testDescription: String { type(of: value).protoName }
}

/// Paths of the stored properties of `value`, recursively, that hold their proto default (empty, zero, false, unset).
func defaultFields(of value: Any, path: String = "") -> [String] {
    Mirror(reflecting: value).children.flatMap { child -> [String] in
        let name = path + "." + (child.label ?? "?")
        switch child.value {
        case let string as String: return string.isEmpty ? [name] : []
        case let bool as Bool: return bool ? [] : [name]
        case let number as any BinaryInteger: return number.trailingZeroBitCount == number.bitWidth ? [name] : []
        case let enumValue as any ProtoEnum: return enumValue.rawValue == 0 ? [name] : []
        default: break
        }
        let mirror = Mirror(reflecting: child.value)
        switch mirror.displayStyle {
        case .optional: return mirror.children.first.map { defaultFields(of: $0.value, path: name) } ?? [name]
        case .collection:
            // Elements that are strings may be empty: an empty element is still a value.
            if mirror.children.isEmpty { return [name] }
            return mirror.children.enumerated().flatMap { index, element in
                Mirror(reflecting: element.value).displayStyle == .struct ? defaultFields(of: element.value, path: "\(name)[\(index)]") : []
            }
        case .struct: return defaultFields(of: child.value, path: name)
        default: return []
        }
    }
}

/// Decodes `bytes` through `init(serializedBytes:)`.
func decodeAccountMessage<T: ProtobufCCodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
    try bytes.withUnsafeBytes { try T(serializedBytes: $0) }
}

@Suite struct AccountCodecTests {
    static let samples = AccountSamples.all.map(AnyAccountMessage.init)

    @Test func everyMessageTypeHasASample() {
        #expect(Set(AccountSamples.all.map { type(of: $0).protoName }).count == 46)
    }

    @Test(arguments: samples)
    func samplesSetEveryField(_ sample: AnyAccountMessage) {
        #expect(defaultFields(of: sample.value) == [])
    }

    @Test func defaultFieldsFindsUnsetFields() {
        let zone = MappedZone(zone: Zone(zoneNumber: "001", partition: 2), equipment: nil)
        #expect(
            defaultFields(of: zone) == [
                ".zone.description", ".zone.eventType", ".zone.equipmentType", ".zone.location", ".zone.restoreRequired", ".equipment"
            ])
        #expect(defaultFields(of: TestSession(id: "x", zoneNumbers: [])).contains(".zoneNumbers"))
    }

    @Test(arguments: samples)
    func roundTrip(_ sample: AnyAccountMessage) throws {
        func check<T: ProtobufCCodable & Hashable>(_ value: T) throws {
            let bytes = value.serializedBytes()
            #expect(value.serializedSize == bytes.count)
            #expect(try decodeAccountMessage(T.self, bytes) == value)
        }
        try check(sample.value)
    }

    @Test func defaultValuesEncodeToNothing() throws {
        #expect(Account().serializedBytes().isEmpty)
        #expect(TestStatus().serializedBytes().isEmpty)
        #expect(Signal().serializedBytes().isEmpty)
        #expect(TestDataPage().serializedBytes().isEmpty)
        #expect(ListTestCategoriesRequest().serializedBytes().isEmpty)
        #expect(try decodeAccountMessage(Account.self, []) == Account())
    }

    @Test func unsetAndEmptySubMessagesStayDistinct() throws {
        let empty = MappedZone(zone: Zone(zoneNumber: ""), equipment: nil)
        #expect(empty.serializedBytes() == [0x0A, 0x00])
        #expect(try decodeAccountMessage(MappedZone.self, [0x0A, 0x00]) == empty)
        #expect(try decodeAccountMessage(MappedZone.self, []) == MappedZone(zone: nil, equipment: nil))
    }

    @Test func emptyElementsOfRepeatedStringsAreKept() throws {
        let session = TestSession(id: "", zoneNumbers: ["", "001", ""])
        #expect(session.serializedBytes() == [0x32, 0x00, 0x32, 0x03, 0x30, 0x30, 0x31, 0x32, 0x00])
        #expect(try decodeAccountMessage(TestSession.self, session.serializedBytes()) == session)
    }

    @Test func stringsEndAtNUL() throws {
        // protobuf-c's string fields are `char *`: an embedded NUL ends the string, on encode and on decode.
        #expect(UserRef(id: "a\u{0}b").serializedBytes() == [0x0A, 0x01, 0x61])
        #expect(try decodeAccountMessage(UserRef.self, [0x0A, 0x03, 0x61, 0x00, 0x62]) == UserRef(id: "a"))
    }

    @Test func negativeEnumNumbersSurvive() throws {
        // proto enums are int32: -1 is a ten-byte varint, and must come back as the same ten bytes.
        let bytes: [UInt8] = [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        let request = try decodeAccountMessage(SearchAuthoritiesRequest.self, bytes)
        #expect(request.type == AuthorityType(rawValue: .max))
        #expect(request.serializedBytes() == bytes)
    }
}

/// Vectors encoded by protoc from Vectors/*.txtpb (scripts/make-test-vectors).
@Suite struct AccountReferenceVectorTests {
    static let account = MessageFixtures.account

    static let placeOnTest = PlaceOnTestRequest(
        requestID: "9b2f6c1e-4a7d-4e0b-8c55-2f1d3a6b7e90", customerID: "cust-1001", categoryID: "tech", durationHours: 2,
        durationMinutes: 30, effectiveAtMs: 1_717_200_000_000, scope: .allExceptListed, zoneNumbers: ["010", "011"],
        comment: "Panel swap — expect many signals", placedBy: UserRef(id: "u-9", name: "Jane Tech"),
        authorizedBy: TestAuthorization(respondingPartyID: "rp-1", verifiedBy: "passcode"))

    static let testDataPage = TestDataPage(results: [
        TestResult(
            receivedAtMs: 1_717_200_123_456, accountNumber: "C123456", zoneNumber: "003", zoneDescription: "Kitchen", eventCode: "111",
            qualifier: 1, eventDescription: "Smoke", partition: 1, rawMessage: "1234 18 1111 01 003 5", sessionID: "ts-77"),
        TestResult(
            receivedAtMs: 1_717_200_234_567, accountNumber: "C123456", zoneNumber: "003", zoneDescription: "Kitchen", eventCode: "111",
            qualifier: 3, eventDescription: "Smoke restore", partition: 1, rawMessage: "1234 18 3111 01 003 7", sessionID: "ts-77"),
        TestResult(
            receivedAtMs: 1_717_200_345_678, accountNumber: "C123456", eventCode: "401", qualifier: 1, eventDescription: "Opening by user",
            userNumber: "004", partition: 2, rawMessage: "1234 18 1401 02 004 6", sessionID: "ts-77")
    ])

    static let signal = Signal(
        receiverNumber: "R2", line: "L1", accountNumber: "C123456", receivedAtMs: 1_717_200_123_456, contactID: "1234 18 1130 01 015 8",
        qualifier: 1, eventCode: "130", partition: 1, zoneOrUser: "015")

    /// The vector decodes to `expected`, and `expected` encodes to the vector's bytes.
    func check<T: ProtobufCCodable & Equatable>(_ name: String, _ expected: T) throws {
        let reference = try Vectors.bytes(name)
        #expect(try decodeAccountMessage(T.self, reference) == expected, "decoding \(name).bin")
        let encoded = expected.serializedBytes()
        #expect(encoded == reference, "encoding for \(name).bin\n ours:   \(encoded.hex)\n protoc: \(reference.hex)")
    }

    @Test func account() throws {
        try check("account_full", Self.account)
        #expect(try Vectors.bytes("account_full").count > 800)
    }

    @Test func placeOnTestRequest() throws { try check("place_on_test_request", Self.placeOnTest) }
    @Test func testDataPageWithResults() throws { try check("test_data_page_results", Self.testDataPage) }
    @Test func signal() throws { try check("signal", Self.signal) }
}

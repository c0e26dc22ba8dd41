import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import Testing

/// A request type the server decodes, with a fully populated sample and the wire type of each field (numbered from 1).
struct AccountRequestCase: Sendable, CustomTestStringConvertible {
    enum WireType: UInt8, Sendable, CaseIterable {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5

        /// A well-formed value of this wire type.
        var payload: [UInt8] {
            switch self {
            case .varint: [0x01]
            case .fixed64: [1, 2, 3, 4, 5, 6, 7, 8]
            case .lengthDelimited: [0x01, 0x61]
            case .fixed32: [1, 2, 3, 4]
            }
        }
    }

    let sample: any ProtobufCCodable & Hashable
    let fields: [WireType]
    var testDescription: String { type(of: sample).protoName }

    /// A deterministic seed per type.
    var seed: UInt64 { testDescription.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 } }
}

/// The varint encoding of `value`.
func accountVarint(_ value: UInt64) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    while value >= 0x80 {
        bytes.append(UInt8(value & 0x7F) | 0x80)
        value >>= 7
    }
    return bytes + [UInt8(value)]
}

func accountTag(_ field: Int, _ wireType: AccountRequestCase.WireType) -> [UInt8] {
    accountVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
}

@Suite struct AccountMalformedInputTests {
    static let cases: [AccountRequestCase] = {
        let (v, l) = (AccountRequestCase.WireType.varint, AccountRequestCase.WireType.lengthDelimited)
        let fields: [String: [AccountRequestCase.WireType]] = [
            "copslink.v1.LinkAccountRequest": [l, l, l, l, l, l],
            "copslink.v1.GetAccountRequest": [l],
            "copslink.v1.UnlinkAccountRequest": [l, l],
            "copslink.v1.SyncCustomerRequest": [l, l, l],
            "copslink.v1.SearchAuthoritiesRequest": [l, v, l],
            "copslink.v1.AddAccountAuthoritiesRequest": [l, l, l, l],
            "copslink.v1.RemoveAccountAuthorityRequest": [l, l, l],
            "copslink.v1.SetCentralStationZonesRequest": [l, l, l],
            "copslink.v1.ListTestCategoriesRequest": [],
            "copslink.v1.GetTestStatusRequest": [l],
            "copslink.v1.PlaceOnTestRequest": [l, l, l, v, v, v, v, l, l, l, l],
            "copslink.v1.PlaceOffTestRequest": [l, l, l, l],
            "copslink.v1.RequestTestDataRequest": [l, v, v, v, v],
            "copslink.v1.Signal": [l, l, l, v, l, v, l, v, l]
        ]
        return AccountSamples.requests.map { AccountRequestCase(sample: $0, fields: fields[type(of: $0).protoName]!) }
    }()

    /// One case per request type of AccountService (the generated method list), no more, no fewer.
    @Test func everyRequestTypeIsCovered() {
        let requestTypes = AccountService.methods.map { $0.requestType.protoName }
        #expect(Self.cases.map(\.testDescription).sorted() == requestTypes.sorted())
    }

    @Test(arguments: cases)
    func truncatedEncodingsDecodeToLessOrAreRejected(_ request: AccountRequestCase) {
        func run<T: ProtobufCCodable & Hashable>(_ value: T) {
            let full = value.serializedBytes()
            for cut in 0..<full.count {
                if let partial = expectDecodesOrRejects(T.self, Array(full.prefix(cut))) {
                    #expect(partial != value, "cut at \(cut) decoded to the full value")
                }
            }
        }
        run(request.sample)
    }

    @Test(arguments: cases)
    func randomGarbageNeverCrashes(_ request: AccountRequestCase) {
        func run<T: ProtobufCCodable & Hashable>(_ value: T) {
            var generator = SplitMix64(seed: request.seed)
            for _ in 0..<500 {
                let bytes = (0..<Int.random(in: 0...96, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                _ = expectDecodesOrRejects(T.self, bytes)
            }
        }
        run(request.sample)
    }

    @Test(arguments: cases)
    func mutatedEncodingsNeverCrash(_ request: AccountRequestCase) {
        func run<T: ProtobufCCodable & Hashable>(_ value: T) {
            var generator = SplitMix64(seed: ~request.seed)
            let full = value.serializedBytes()
            guard !full.isEmpty else { return }
            for _ in 0..<500 {
                var bytes = full
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                _ = expectDecodesOrRejects(T.self, bytes)
            }
        }
        run(request.sample)
    }

    @Test(arguments: cases)
    func wrongWireTypeForAKnownFieldIsRejected(_ request: AccountRequestCase) {
        func run<T: ProtobufCCodable & Hashable>(_ value: T) {
            let valid = value.serializedBytes()
            for (index, expected) in request.fields.enumerated() {
                for wrong in AccountRequestCase.WireType.allCases where wrong != expected {
                    let field = accountTag(index + 1, wrong) + wrong.payload
                    expectRejected(T.self, field)
                    expectRejected(T.self, valid + field)
                }
            }
        }
        run(request.sample)
    }

    @Test(arguments: cases)
    func unknownFieldsAreSkipped(_ request: AccountRequestCase) throws {
        func run<T: ProtobufCCodable & Hashable>(_ value: T) throws {
            let valid = value.serializedBytes()
            for field in [request.fields.count + 1, 15, 16, 1000, 536_870_911] {
                for wireType in AccountRequestCase.WireType.allCases {
                    let unknown = accountTag(field, wireType) + wireType.payload
                    #expect(try decodeAccountMessage(T.self, valid + unknown) == value, "field \(field) \(wireType) after")
                    #expect(try decodeAccountMessage(T.self, unknown + valid) == value, "field \(field) \(wireType) before")
                }
            }
        }
        try run(request.sample)
    }

    @Test func unknownFieldsInsideNestedMessagesAreSkipped() throws {
        let unknown = accountTag(99, .varint) + [0x05] + accountTag(98, .lengthDelimited) + [0x02, 0x78, 0x79]
        // LinkAccountRequest { customer { address { <unknown> } <unknown> } }
        let address = AccountSamples.address.serializedBytes() + unknown
        let customer =
            Customer(id: "c").serializedBytes() + accountTag(5, .lengthDelimited) + accountVarint(UInt64(address.count)) + address
        let nested = customer + unknown
        let bytes = accountTag(2, .lengthDelimited) + accountVarint(UInt64(nested.count)) + nested
        let expected = LinkAccountRequest(customer: Customer(id: "c", address: AccountSamples.address))
        #expect(try decodeAccountMessage(LinkAccountRequest.self, bytes) == expected)
        // PlaceOnTestRequest { placed_by { <unknown> id: "u" } }
        let user = unknown + UserRef(id: "u").serializedBytes()
        let placeOn = accountTag(10, .lengthDelimited) + accountVarint(UInt64(user.count)) + user
        #expect(try decodeAccountMessage(PlaceOnTestRequest.self, placeOn).placedBy == UserRef(id: "u"))
    }

    @Test func wrongWireTypeInsideANestedMessageIsRejected() {
        // LinkAccountRequest { customer { address: varint 1 } }
        expectRejected(LinkAccountRequest.self, [0x12, 0x02, 0x28, 0x01])
        // LinkAccountRequest { responding_parties { phones { type: "a" } } }
        expectRejected(LinkAccountRequest.self, [0x1A, 0x05, 0x2A, 0x03, 0x12, 0x01, 0x61])
        // SetCentralStationZonesRequest { zones { partition: fixed32 } }
        expectRejected(SetCentralStationZonesRequest.self, [0x1A, 0x05, 0x35, 1, 0, 0, 0])
        // PlaceOnTestRequest { authorized_by { verified_by: varint } }
        expectRejected(PlaceOnTestRequest.self, [0x5A, 0x02, 0x10, 0x01])
    }

    @Test func lengthPastTheEndIsRejected() {
        expectRejected(GetAccountRequest.self, [0x0A, 0x05, 0x61])
        expectRejected(PlaceOnTestRequest.self, [0x42, 0x03, 0x30, 0x30])  // a zone number cut short
        expectRejected(SyncCustomerRequest.self, [0x12, 0x04, 0x0A, 0x05, 0x61, 0x62])  // customer fits, its id does not
        expectRejected(Signal.self, [0x2A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00])
    }
}

/// Requests and responses of `copslink.v1.AccountService` (proto/copslink/v1/account_service.proto).
/// `requestID` is the optional idempotency key of mutating requests. Optional sub-messages are `Optional<T>`, as in
/// AccountModel.swift (why: there).

public struct LinkAccountRequest: Hashable, Sendable {
    public var requestID: String
    public var customer: Optional<Customer>
    public var respondingParties: [RespondingParty]
    /// Empty: relink the customer's last number if it is free, else create a new central-station account; otherwise
    /// link this account number (one of the dealer's, or one new to the server, which starts empty).
    public var accountNumber: String
    public var receiverNumber: String
    public var line: String

    public init(
        requestID: String = "", customer: Customer?, respondingParties: [RespondingParty] = [], accountNumber: String = "",
        receiverNumber: String = "", line: String = ""
    ) {
        self.requestID = requestID
        self.customer = customer
        self.respondingParties = respondingParties
        self.accountNumber = accountNumber
        self.receiverNumber = receiverNumber
        self.line = line
    }
}

public struct LinkAccountResponse: Hashable, Sendable {
    public var account: Optional<Account>
    public var created: Bool
    /// On a relink: what the customer had and this request no longer sends, so it was removed.
    public var removedPartyIDs: [String]
    public var removedEquipmentIDs: [String]
    public init(account: Account?, created: Bool, removedPartyIDs: [String] = [], removedEquipmentIDs: [String] = []) {
        self.account = account
        self.created = created
        self.removedPartyIDs = removedPartyIDs
        self.removedEquipmentIDs = removedEquipmentIDs
    }
}

public struct GetAccountRequest: Hashable, Sendable {
    public var customerID: String
    public init(customerID: String) { self.customerID = customerID }
}

public struct UnlinkAccountRequest: Hashable, Sendable {
    public var requestID: String
    public var customerID: String
    public init(requestID: String = "", customerID: String) {
        self.requestID = requestID
        self.customerID = customerID
    }
}

public struct UnlinkAccountResponse: Hashable, Sendable {
    public var wasLinked: Bool
    public var account: Optional<Account>
    /// The active or scheduled test the unlink ended (no test outlives its link); nil when there was none.
    public var endedTest: Optional<TestSession>
    public init(wasLinked: Bool, account: Account?, endedTest: TestSession? = nil) {
        self.wasLinked = wasLinked
        self.account = account
        self.endedTest = endedTest
    }
}

public struct SyncCustomerRequest: Hashable, Sendable {
    public var requestID: String
    public var customer: Optional<Customer>
    public var respondingParties: [RespondingParty]
    public init(requestID: String = "", customer: Customer?, respondingParties: [RespondingParty] = []) {
        self.requestID = requestID
        self.customer = customer
        self.respondingParties = respondingParties
    }
}

public struct SyncCustomerResponse: Hashable, Sendable {
    public var account: Optional<Account>
    /// The responding parties and equipment the sync removed (the customer had them; the sync no longer sends them).
    public var removedPartyIDs: [String]
    public var removedEquipmentIDs: [String]
    public init(account: Account?, removedPartyIDs: [String] = [], removedEquipmentIDs: [String] = []) {
        self.account = account
        self.removedPartyIDs = removedPartyIDs
        self.removedEquipmentIDs = removedEquipmentIDs
    }
}

public struct SearchAuthoritiesRequest: Hashable, Sendable {
    public var customerID: String
    public var type: AuthorityType
    public var zip: String
    public init(customerID: String = "", type: AuthorityType, zip: String = "") {
        self.customerID = customerID
        self.type = type
        self.zip = zip
    }
}

public struct SearchAuthoritiesResponse: Hashable, Sendable {
    public var authorities: [Authority]
    public init(authorities: [Authority]) { self.authorities = authorities }
}

public struct AuthorityToAdd: Hashable, Sendable {
    public var authorityID: String
    public var permitNumber: String
    public init(authorityID: String, permitNumber: String = "") {
        self.authorityID = authorityID
        self.permitNumber = permitNumber
    }
}

public struct AddAccountAuthoritiesRequest: Hashable, Sendable {
    public var requestID: String
    public var customerID: String
    public var authorities: [AuthorityToAdd]
    public var addedBy: String
    public init(requestID: String = "", customerID: String, authorities: [AuthorityToAdd], addedBy: String = "") {
        self.requestID = requestID
        self.customerID = customerID
        self.authorities = authorities
        self.addedBy = addedBy
    }
}

public struct AddAccountAuthoritiesResponse: Hashable, Sendable {
    public var added: [AccountAuthority]
    public init(added: [AccountAuthority]) { self.added = added }
}

public struct RemoveAccountAuthorityRequest: Hashable, Sendable {
    public var requestID: String
    public var customerID: String
    public var accountAuthorityID: String
    public init(requestID: String = "", customerID: String, accountAuthorityID: String) {
        self.requestID = requestID
        self.customerID = customerID
        self.accountAuthorityID = accountAuthorityID
    }
}

public struct RemoveAccountAuthorityResponse: Hashable, Sendable {
    public var removed: Optional<AccountAuthority>
    public init(removed: AccountAuthority?) { self.removed = removed }
}

public struct SetCentralStationZonesRequest: Hashable, Sendable {
    public var requestID: String
    public var customerID: String
    public var zones: [Zone]
    public init(requestID: String = "", customerID: String, zones: [Zone]) {
        self.requestID = requestID
        self.customerID = customerID
        self.zones = zones
    }
}

public struct SetCentralStationZonesResponse: Hashable, Sendable {
    public var mappedZones: [MappedZone]
    public var unmappedZones: [Zone]
    public init(mappedZones: [MappedZone], unmappedZones: [Zone]) {
        self.mappedZones = mappedZones
        self.unmappedZones = unmappedZones
    }
}

public struct ListTestCategoriesRequest: Hashable, Sendable {
    public init() {}
}

public struct ListTestCategoriesResponse: Hashable, Sendable {
    public var categories: [TestCategory]
    public init(categories: [TestCategory]) { self.categories = categories }
}

public struct GetTestStatusRequest: Hashable, Sendable {
    public var customerID: String
    public init(customerID: String) { self.customerID = customerID }
}

public struct PlaceOnTestRequest: Hashable, Sendable {
    public var requestID: String
    public var customerID: String
    public var categoryID: String
    public var durationHours: UInt32
    /// 0...59
    public var durationMinutes: UInt32
    /// 0: now.
    public var effectiveAtMs: Int64
    public var scope: TestScope
    public var zoneNumbers: [String]
    public var comment: String
    public var placedBy: Optional<UserRef>
    public var authorizedBy: Optional<TestAuthorization>

    public init(
        requestID: String = "", customerID: String, categoryID: String, durationHours: UInt32 = 0, durationMinutes: UInt32 = 0,
        effectiveAtMs: Int64 = 0, scope: TestScope = .allZones, zoneNumbers: [String] = [], comment: String = "",
        placedBy: UserRef? = nil, authorizedBy: TestAuthorization? = nil
    ) {
        self.requestID = requestID
        self.customerID = customerID
        self.categoryID = categoryID
        self.durationHours = durationHours
        self.durationMinutes = durationMinutes
        self.effectiveAtMs = effectiveAtMs
        self.scope = scope
        self.zoneNumbers = zoneNumbers
        self.comment = comment
        self.placedBy = placedBy
        self.authorizedBy = authorizedBy
    }
}

public struct PlaceOnTestResponse: Hashable, Sendable {
    public var session: Optional<TestSession>
    public init(session: TestSession?) { self.session = session }
}

public struct PlaceOffTestRequest: Hashable, Sendable {
    public var requestID: String
    public var customerID: String
    public var placedBy: Optional<UserRef>
    public var comment: String
    public init(requestID: String = "", customerID: String, placedBy: UserRef? = nil, comment: String = "") {
        self.requestID = requestID
        self.customerID = customerID
        self.placedBy = placedBy
        self.comment = comment
    }
}

public struct PlaceOffTestResponse: Hashable, Sendable {
    public var session: Optional<TestSession>
    public init(session: TestSession?) { self.session = session }
}

public struct TestDataType: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = TestDataType(rawValue: 0)
    public static let history = TestDataType(rawValue: 1)
    public static let results = TestDataType(rawValue: 2)
    /// Signal history: signals that were not test results.
    public static let signals = TestDataType(rawValue: 3)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "HISTORY", 2: "RESULTS", 3: "SIGNALS"]
}

public struct RequestTestDataRequest: Hashable, Sendable {
    public var customerID: String
    public var type: TestDataType
    public var fromMs: Int64
    public var toMs: Int64
    /// 0 means 500; at most 5000.
    public var pageSize: UInt32
    public init(customerID: String, type: TestDataType, fromMs: Int64, toMs: Int64, pageSize: UInt32 = 0) {
        self.customerID = customerID
        self.type = type
        self.fromMs = fromMs
        self.toMs = toMs
        self.pageSize = pageSize
    }
}

/// One page of test data, oldest first; the list of the requested type is filled.
public struct TestDataPage: Hashable, Sendable {
    public var history: [TestHistoryEntry]
    public var results: [TestResult]
    public var signals: [TestResult]
    public init(history: [TestHistoryEntry] = [], results: [TestResult] = [], signals: [TestResult] = []) {
        self.history = history
        self.results = results
        self.signals = signals
    }
}

public struct SignalRejection: Hashable, Sendable {
    /// Index of the signal in the stream, from 0.
    public var index: UInt32
    public var reason: String
    public init(index: UInt32, reason: String) {
        self.index = index
        self.reason = reason
    }
}

public struct ReportSignalsResponse: Hashable, Sendable {
    public var received: UInt32
    public var testResults: UInt32
    public var storedAsHistory: UInt32
    /// The first rejections only (the server lists at most 100 by default).
    public var rejected: [SignalRejection]
    /// Every rejected signal, listed or not.
    public var rejectedCount: UInt32
    public init(
        received: UInt32 = 0, testResults: UInt32 = 0, storedAsHistory: UInt32 = 0, rejected: [SignalRejection] = [],
        rejectedCount: UInt32 = 0
    ) {
        self.received = received
        self.testResults = testResults
        self.storedAsHistory = storedAsHistory
        self.rejected = rejected
        self.rejectedCount = rejectedCount
    }
}

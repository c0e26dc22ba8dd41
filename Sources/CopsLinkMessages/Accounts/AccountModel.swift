/// Value types of `copslink.v1` (proto/copslink/v1/account.proto): the account model as it travels on the wire.
/// Timestamps are Unix epoch milliseconds; 0 means unset.
///
/// Optional sub-messages are declared `Optional<T>`, not `T?`: a `T?` stored property is first set to nil by every
/// initializer, and with that extra store the optimizer left a copy and destroy of the whole value in each
/// `init(cMessage:)` (a retain and release of every string in it; a tenth of decoding an `Account`).

public struct Address: Hashable, Sendable {
    public var street1: String
    public var street2: String
    public var city: String
    public var state: String
    public var zip: String

    public init(street1: String = "", street2: String = "", city: String = "", state: String = "", zip: String = "") {
        self.street1 = street1
        self.street2 = street2
        self.city = city
        self.state = state
        self.zip = zip
    }
}

public struct Equipment: Hashable, Sendable {
    public var id: String
    public var name: String
    /// Three digits, e.g. "001".
    public var zoneNumber: String
    public var zoneDescription: String
    public var installed: Bool

    public init(id: String, name: String = "", zoneNumber: String = "", zoneDescription: String = "", installed: Bool = false) {
        self.id = id
        self.name = name
        self.zoneNumber = zoneNumber
        self.zoneDescription = zoneDescription
        self.installed = installed
    }
}

public struct Customer: Hashable, Sendable {
    public var id: String
    public var firstName: String
    public var lastName: String
    public var companyName: String
    public var address: Optional<Address>
    public var premisePhone: String
    /// Stored; never returned by a read.
    public var passcode: String
    public var equipment: [Equipment]

    public init(
        id: String, firstName: String = "", lastName: String = "", companyName: String = "", address: Address? = nil,
        premisePhone: String = "", passcode: String = "", equipment: [Equipment] = []
    ) {
        self.id = id
        self.firstName = firstName
        self.lastName = lastName
        self.companyName = companyName
        self.address = address
        self.premisePhone = premisePhone
        self.passcode = passcode
        self.equipment = equipment
    }
}

public struct PhoneType: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = PhoneType(rawValue: 0)
    public static let mobile = PhoneType(rawValue: 1)
    public static let home = PhoneType(rawValue: 2)
    public static let work = PhoneType(rawValue: 3)
    public static let other = PhoneType(rawValue: 4)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "MOBILE", 2: "HOME", 3: "WORK", 4: "OTHER"]
}

public struct Phone: Hashable, Sendable {
    public var number: String
    public var type: PhoneType
    public var `extension`: String

    public init(number: String, type: PhoneType = .unspecified, extension: String = "") {
        self.number = number
        self.type = type
        self.extension = `extension`
    }
}

public struct PartyRole: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = PartyRole(rawValue: 0)
    public static let contact = PartyRole(rawValue: 1)
    public static let keyholder = PartyRole(rawValue: 2)
    public static let technician = PartyRole(rawValue: 3)
    public static let agent = PartyRole(rawValue: 4)
    public static let janitor = PartyRole(rawValue: 5)
    public static let person = PartyRole(rawValue: 6)
    public static let names: [UInt32: String] = [
        0: "UNSPECIFIED", 1: "CONTACT", 2: "KEYHOLDER", 3: "TECHNICIAN", 4: "AGENT", 5: "JANITOR", 6: "PERSON"
    ]
}

/// An emergency contact as the CRM keeps it.
public struct RespondingParty: Hashable, Sendable {
    public var id: String
    public var priority: UInt32
    public var firstName: String
    public var lastName: String
    public var phones: [Phone]
    public var email: String
    public var language: String
    public var passcode: String
    public var hasKey: Bool
    public var relation: String
    public var enhancedVerification: Bool
    public var role: PartyRole

    public init(
        id: String, priority: UInt32 = 0, firstName: String = "", lastName: String = "", phones: [Phone] = [],
        email: String = "", language: String = "", passcode: String = "", hasKey: Bool = false, relation: String = "",
        enhancedVerification: Bool = false, role: PartyRole = .unspecified
    ) {
        self.id = id
        self.priority = priority
        self.firstName = firstName
        self.lastName = lastName
        self.phones = phones
        self.email = email
        self.language = language
        self.passcode = passcode
        self.hasKey = hasKey
        self.relation = relation
        self.enhancedVerification = enhancedVerification
        self.role = role
    }
}

/// A responding party as the central station sees it.
public struct CentralStationParty: Hashable, Sendable {
    public var id: String
    public var priority: UInt32
    public var firstName: String
    public var lastName: String
    public var phones: [Phone]
    public var role: PartyRole
    public var hasKey: Bool

    public init(
        id: String, priority: UInt32 = 0, firstName: String = "", lastName: String = "", phones: [Phone] = [],
        role: PartyRole = .unspecified, hasKey: Bool = false
    ) {
        self.id = id
        self.priority = priority
        self.firstName = firstName
        self.lastName = lastName
        self.phones = phones
        self.role = role
        self.hasKey = hasKey
    }
}

public struct AuthorityType: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = AuthorityType(rawValue: 0)
    public static let police = AuthorityType(rawValue: 1)
    public static let fire = AuthorityType(rawValue: 2)
    public static let medical = AuthorityType(rawValue: 3)
    public static let guard_ = AuthorityType(rawValue: 4)
    public static let electrical = AuthorityType(rawValue: 5)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "POLICE", 2: "FIRE", 3: "MEDICAL", 4: "GUARD", 5: "ELECTRICAL"]
}

public struct Jurisdiction: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = Jurisdiction(rawValue: 0)
    public static let city = Jurisdiction(rawValue: 1)
    public static let county = Jurisdiction(rawValue: 2)
    public static let state = Jurisdiction(rawValue: 3)
    public static let military = Jurisdiction(rawValue: 4)
    public static let university = Jurisdiction(rawValue: 5)
    public static let regional = Jurisdiction(rawValue: 6)
    public static let names: [UInt32: String] = [
        0: "UNSPECIFIED", 1: "CITY", 2: "COUNTY", 3: "STATE", 4: "MILITARY", 5: "UNIVERSITY", 6: "REGIONAL"
    ]
}

/// An entry of the authority directory.
public struct Authority: Hashable, Sendable {
    public var id: String
    public var type: AuthorityType
    public var name: String
    public var phone: String
    public var address: Optional<Address>
    public var servedZips: [String]
    public var jurisdiction: Jurisdiction
    public var permitRequired: Bool

    public init(
        id: String, type: AuthorityType, name: String, phone: String = "", address: Address? = nil, servedZips: [String] = [],
        jurisdiction: Jurisdiction = .unspecified, permitRequired: Bool = false
    ) {
        self.id = id
        self.type = type
        self.name = name
        self.phone = phone
        self.address = address
        self.servedZips = servedZips
        self.jurisdiction = jurisdiction
        self.permitRequired = permitRequired
    }
}

/// An authority attached to an account.
public struct AccountAuthority: Hashable, Sendable {
    public var id: String
    public var authority: Optional<Authority>
    public var permitNumber: String
    public var addedAtMs: Int64
    public var addedBy: String
    /// The authority does not serve the customer's current zip code (set on the account page, not stored).
    public var doesNotServeZip: Bool

    public init(
        id: String, authority: Authority?, permitNumber: String = "", addedAtMs: Int64 = 0, addedBy: String = "",
        doesNotServeZip: Bool = false
    ) {
        self.id = id
        self.authority = authority
        self.permitNumber = permitNumber
        self.addedAtMs = addedAtMs
        self.addedBy = addedBy
        self.doesNotServeZip = doesNotServeZip
    }
}

public struct ZoneEventType: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = ZoneEventType(rawValue: 0)
    public static let burglary = ZoneEventType(rawValue: 1)
    public static let fire = ZoneEventType(rawValue: 2)
    public static let panic = ZoneEventType(rawValue: 3)
    public static let medical = ZoneEventType(rawValue: 4)
    public static let duress = ZoneEventType(rawValue: 5)
    public static let nonBurglary24h = ZoneEventType(rawValue: 6)
    public static let fireSupervisory = ZoneEventType(rawValue: 7)
    public static let trouble = ZoneEventType(rawValue: 8)
    public static let openClose = ZoneEventType(rawValue: 9)
    public static let test = ZoneEventType(rawValue: 10)
    public static let names: [UInt32: String] = [
        0: "UNSPECIFIED", 1: "BURGLARY", 2: "FIRE", 3: "PANIC", 4: "MEDICAL", 5: "DURESS", 6: "NON_BURGLARY_24H",
        7: "FIRE_SUPERVISORY", 8: "TROUBLE", 9: "OPEN_CLOSE", 10: "TEST"
    ]
}

/// A zone as entered at the central station.
public struct Zone: Hashable, Sendable {
    public var zoneNumber: String
    public var description: String
    public var eventType: ZoneEventType
    public var equipmentType: String
    public var location: String
    public var partition: UInt32
    public var restoreRequired: Bool

    public init(
        zoneNumber: String, description: String = "", eventType: ZoneEventType = .unspecified, equipmentType: String = "",
        location: String = "", partition: UInt32 = 0, restoreRequired: Bool = false
    ) {
        self.zoneNumber = zoneNumber
        self.description = description
        self.eventType = eventType
        self.equipmentType = equipmentType
        self.location = location
        self.partition = partition
        self.restoreRequired = restoreRequired
    }
}

/// A central-station zone mapped to the equipment with the same zone number.
public struct MappedZone: Hashable, Sendable {
    public var zone: Optional<Zone>
    public var equipment: Optional<Equipment>

    public init(zone: Zone?, equipment: Equipment?) {
        self.zone = zone
        self.equipment = equipment
    }
}

public struct LinkState: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = LinkState(rawValue: 0)
    public static let linked = LinkState(rawValue: 1)
    public static let unlinked = LinkState(rawValue: 2)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "LINKED", 2: "UNLINKED"]
}

public struct TestCategory: Hashable, Sendable {
    public var id: String
    public var description: String
    public var defaultDurationMinutes: UInt32

    public init(id: String, description: String = "", defaultDurationMinutes: UInt32 = 0) {
        self.id = id
        self.description = description
        self.defaultDurationMinutes = defaultDurationMinutes
    }
}

public struct UserRef: Hashable, Sendable {
    public var id: String
    public var name: String

    public init(id: String = "", name: String = "") {
        self.id = id
        self.name = name
    }
}

/// Who authorized a test, and how the caller was verified.
public struct TestAuthorization: Hashable, Sendable {
    public var respondingPartyID: String
    public var verifiedBy: String

    public init(respondingPartyID: String = "", verifiedBy: String = "") {
        self.respondingPartyID = respondingPartyID
        self.verifiedBy = verifiedBy
    }
}

public struct TestScope: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = TestScope(rawValue: 0)
    public static let allZones = TestScope(rawValue: 1)
    public static let onlyListed = TestScope(rawValue: 2)
    public static let allExceptListed = TestScope(rawValue: 3)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "ALL_ZONES", 2: "ONLY_LISTED", 3: "ALL_EXCEPT_LISTED"]
}

public struct TestState: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = TestState(rawValue: 0)
    public static let scheduled = TestState(rawValue: 1)
    public static let active = TestState(rawValue: 2)
    public static let expired = TestState(rawValue: 3)
    public static let ended = TestState(rawValue: 4)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "SCHEDULED", 2: "ACTIVE", 3: "EXPIRED", 4: "ENDED"]
}

public struct TestEndReason: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = TestEndReason(rawValue: 0)
    public static let placedOff = TestEndReason(rawValue: 1)
    public static let expired = TestEndReason(rawValue: 2)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "PLACED_OFF", 2: "EXPIRED"]
}

public struct TestSession: Hashable, Sendable {
    public var id: String
    public var category: Optional<TestCategory>
    public var effectiveAtMs: Int64
    public var expiresAtMs: Int64
    public var scope: TestScope
    public var zoneNumbers: [String]
    public var comment: String
    public var placedBy: Optional<UserRef>
    public var authorizedBy: Optional<TestAuthorization>
    public var endedAtMs: Int64
    public var endReason: TestEndReason
    public var state: TestState

    public init(
        id: String, category: TestCategory? = nil, effectiveAtMs: Int64 = 0, expiresAtMs: Int64 = 0, scope: TestScope = .unspecified,
        zoneNumbers: [String] = [], comment: String = "", placedBy: UserRef? = nil, authorizedBy: TestAuthorization? = nil,
        endedAtMs: Int64 = 0, endReason: TestEndReason = .unspecified, state: TestState = .unspecified
    ) {
        self.id = id
        self.category = category
        self.effectiveAtMs = effectiveAtMs
        self.expiresAtMs = expiresAtMs
        self.scope = scope
        self.zoneNumbers = zoneNumbers
        self.comment = comment
        self.placedBy = placedBy
        self.authorizedBy = authorizedBy
        self.endedAtMs = endedAtMs
        self.endReason = endReason
        self.state = state
    }
}

/// On test: `current` is the scheduled or active session.
/// Off test, a test scheduled to start later, or on test.
public struct TestStatusState: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = TestStatusState(rawValue: 0)
    public static let offTest = TestStatusState(rawValue: 1)
    public static let scheduled = TestStatusState(rawValue: 2)
    public static let onTest = TestStatusState(rawValue: 3)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "OFF_TEST", 2: "SCHEDULED", 3: "ON_TEST"]
}

public struct TestStatus: Hashable, Sendable {
    /// True only while a session is active.
    public var onTest: Bool
    /// The scheduled or active session.
    public var current: Optional<TestSession>
    public var state: TestStatusState

    public init(onTest: Bool = false, current: TestSession? = nil, state: TestStatusState = .unspecified) {
        self.onTest = onTest
        self.current = current
        self.state = state
    }
}

/// Everything the central-station account page shows.
public struct Account: Hashable, Sendable {
    /// The customer without passcode.
    public var customer: Optional<Customer>
    public var linkState: LinkState
    public var accountNumber: String
    public var receiverNumber: String
    public var line: String
    public var linkedAtMs: Int64
    public var unlinkedAtMs: Int64
    public var respondingParties: [CentralStationParty]
    public var authorities: [AccountAuthority]
    public var mappedZones: [MappedZone]
    public var unmappedZones: [Zone]
    public var testStatus: Optional<TestStatus>

    public init(
        customer: Customer? = nil, linkState: LinkState = .unspecified, accountNumber: String = "", receiverNumber: String = "",
        line: String = "", linkedAtMs: Int64 = 0, unlinkedAtMs: Int64 = 0, respondingParties: [CentralStationParty] = [],
        authorities: [AccountAuthority] = [], mappedZones: [MappedZone] = [], unmappedZones: [Zone] = [],
        testStatus: TestStatus? = nil
    ) {
        self.customer = customer
        self.linkState = linkState
        self.accountNumber = accountNumber
        self.receiverNumber = receiverNumber
        self.line = line
        self.linkedAtMs = linkedAtMs
        self.unlinkedAtMs = unlinkedAtMs
        self.respondingParties = respondingParties
        self.authorities = authorities
        self.mappedZones = mappedZones
        self.unmappedZones = unmappedZones
        self.testStatus = testStatus
    }
}

public struct TestHistoryAction: ProtoEnum {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = TestHistoryAction(rawValue: 0)
    public static let placedOnTest = TestHistoryAction(rawValue: 1)
    public static let placedOffTest = TestHistoryAction(rawValue: 2)
    public static let expired = TestHistoryAction(rawValue: 3)
    public static let names: [UInt32: String] = [0: "UNSPECIFIED", 1: "PLACED_ON_TEST", 2: "PLACED_OFF_TEST", 3: "EXPIRED"]
}

public struct TestHistoryEntry: Hashable, Sendable {
    public var atMs: Int64
    public var action: TestHistoryAction
    public var sessionID: String
    public var category: Optional<TestCategory>
    public var effectiveAtMs: Int64
    public var expiresAtMs: Int64
    public var user: Optional<UserRef>
    public var comment: String

    public init(
        atMs: Int64, action: TestHistoryAction, sessionID: String, category: TestCategory? = nil, effectiveAtMs: Int64 = 0,
        expiresAtMs: Int64 = 0, user: UserRef? = nil, comment: String = ""
    ) {
        self.atMs = atMs
        self.action = action
        self.sessionID = sessionID
        self.category = category
        self.effectiveAtMs = effectiveAtMs
        self.expiresAtMs = expiresAtMs
        self.user = user
        self.comment = comment
    }
}

/// A signal received while the account was on test and the zone in the test's scope.
public struct TestResult: Hashable, Sendable {
    public var receivedAtMs: Int64
    public var accountNumber: String
    public var zoneNumber: String
    public var zoneDescription: String
    public var eventCode: String
    /// 1 new event, 3 restore, 6 still present.
    public var qualifier: UInt32
    public var eventDescription: String
    public var userNumber: String
    public var partition: UInt32
    public var rawMessage: String
    public var sessionID: String

    public init(
        receivedAtMs: Int64, accountNumber: String, zoneNumber: String = "", zoneDescription: String = "", eventCode: String,
        qualifier: UInt32, eventDescription: String = "", userNumber: String = "", partition: UInt32 = 0, rawMessage: String = "",
        sessionID: String = ""
    ) {
        self.receivedAtMs = receivedAtMs
        self.accountNumber = accountNumber
        self.zoneNumber = zoneNumber
        self.zoneDescription = zoneDescription
        self.eventCode = eventCode
        self.qualifier = qualifier
        self.eventDescription = eventDescription
        self.userNumber = userNumber
        self.partition = partition
        self.rawMessage = rawMessage
        self.sessionID = sessionID
    }
}

/// One received alarm signal: a Contact ID message, or its parsed fields.
public struct Signal: Hashable, Sendable {
    public var receiverNumber: String
    public var line: String
    public var accountNumber: String
    /// When the signal was received; 0: the server's clock on arrival. At most 5 minutes ahead of the server's clock
    /// (`AccountServiceConfiguration.signalFutureSkewMs`); a signal dated later is rejected.
    public var receivedAtMs: Int64
    /// `ACCT MT QEEE GG CCC S` (spaces optional).
    public var contactID: String
    public var qualifier: UInt32
    public var eventCode: String
    public var partition: UInt32
    public var zoneOrUser: String

    public init(
        receiverNumber: String = "", line: String = "", accountNumber: String = "", receivedAtMs: Int64 = 0, contactID: String = "",
        qualifier: UInt32 = 0, eventCode: String = "", partition: UInt32 = 0, zoneOrUser: String = ""
    ) {
        self.receiverNumber = receiverNumber
        self.line = line
        self.accountNumber = accountNumber
        self.receivedAtMs = receivedAtMs
        self.contactID = contactID
        self.qualifier = qualifier
        self.eventCode = eventCode
        self.partition = partition
        self.zoneOrUser = zoneOrUser
    }
}

import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import GRDB
import Testing

@testable import CopsLinkSQLite

/// GetAccount reads the whole account in a few statements (`SQLiteTransaction.storedAccount`): its answer must be
/// what it was when every part was read on its own (`storedAccountByParts`), for every shape of account.
@Suite("GetAccount's stored account")
struct StoredAccountTests {
    static let customerID = "cust-9"
    static let start = AccountFixture.start
    static let zip = "84601-1234"

    static let equipment = [
        Equipment(id: "eq-1", name: "Front door", zoneNumber: "001", zoneDescription: "Front door", installed: true),
        Equipment(id: "eq-2", name: "Back door", zoneNumber: "002", zoneDescription: "Back door", installed: false),
        Equipment(id: "eq-5", name: "Smoke", zoneNumber: "005", zoneDescription: "Hall smoke", installed: true)
    ]

    /// Three authorities: one serving the customer's zip among others, one serving other zips, one serving none.
    static let authorities = [
        Authority(
            id: "t-police", type: .police, name: "Provo Police", phone: "801-555-0911", servedZips: ["84606", "84601", "84604"],
            jurisdiction: .city, permitRequired: true),
        Authority(
            id: "t-fire", type: .fire, name: "Lehi Fire", phone: "801-555-0912",
            address: Address(street1: "2 Fire Rd", city: "Lehi", state: "UT", zip: "84043"), servedZips: ["84097", "84058"],
            jurisdiction: .county),
        Authority(id: "t-medical", type: .medical, name: "Nobody's Ambulance", jurisdiction: .regional)
    ]

    /// Stores one account of every kind of row under `dealer`, straight through the store so that ids and times are
    /// fixed; `firstName` tells two dealers' customers of the same id apart.
    static func seed(_ store: any AccountStore, dealer: String = DealerID.demo, firstName: String = "Ada") async throws {
        try await store.write(.dealer(dealer)) { transaction in
            try transaction.saveAuthorities(authorities)
            try transaction.saveCustomer(
                Customer(
                    id: customerID, firstName: firstName, lastName: "Lovelace", companyName: "Engines Ltd",
                    address: Address(street1: "1 Main St", street2: "Apt 2", city: "Provo", state: "UT", zip: zip),
                    premisePhone: "801-555-0100", passcode: "secret-owl", equipment: equipment))
            // Stored order p-b, p-c, p-a; the page orders by priority.
            try transaction.replaceRespondingParties(
                customerID: customerID,
                [
                    RespondingParty(
                        id: "p-b", priority: 2, firstName: "Charles", lastName: "Babbage",
                        phones: [Phone(number: "801-555-0103", type: .home), Phone(number: "801-555-0104", type: .work, extension: "9")],
                        email: "charles@example.com", language: "en", passcode: "party-secret-b", hasKey: false, relation: "friend",
                        enhancedVerification: true, role: .contact),
                    RespondingParty(id: "p-c", priority: 3, firstName: "Mary", lastName: "Somerville", role: .agent),
                    RespondingParty(
                        id: "p-a", priority: 1, firstName: "Ada", lastName: "Lovelace",
                        phones: [Phone(number: "801-555-0102", type: .mobile)],
                        passcode: "party-secret-a", hasKey: true, role: .keyholder)
                ])
            try transaction.saveLink(
                AccountLink(
                    customerID: customerID, accountNumber: dealer == DealerID.demo ? "31-4159" : "27-1828", receiverNumber: "3", line: "7",
                    state: .linked, linkedAtMs: start - 1_000))
            let accountNumber = try #require(try transaction.link(customerID: customerID)).accountNumber
            try transaction.replaceZones(
                accountNumber: accountNumber,
                [
                    Zone(zoneNumber: "010", description: "Garage", eventType: .burglary, equipmentType: "contact", location: "garage"),
                    Zone(
                        zoneNumber: "005", description: "Hall smoke", eventType: .fire, equipmentType: "smoke", partition: 2,
                        restoreRequired: true),
                    Zone(zoneNumber: "001", description: "Front door", eventType: .burglary, equipmentType: "contact", location: "front"),
                    Zone(zoneNumber: "009", description: "Panic button", eventType: .panic)
                ])
            for (id, authority, addedAt) in [
                ("aa-2", "t-fire", start - 500), ("aa-1", "t-police", start - 500), ("aa-3", "t-medical", start - 100)
            ] {
                try transaction.insertAccountAuthority(
                    accountNumber: accountNumber,
                    AccountAuthority(
                        id: dealer + id, authority: authorities.first { $0.id == authority }, permitNumber: "permit-" + id,
                        addedAtMs: addedAt,
                        addedBy: "dispatcher"))
            }
            let service = ReferenceData.testCategories[1]
            try transaction.insertSession(
                accountNumber: accountNumber,
                TestSession(
                    id: dealer + "s-old", category: service, effectiveAtMs: start - 90_000, expiresAtMs: start - 80_000, scope: .allZones))
            try transaction.endSession(id: dealer + "s-old", atMs: start - 85_000, reason: .placedOff)
            try transaction.insertSession(
                accountNumber: accountNumber,
                TestSession(
                    id: dealer + "s-open", category: service, effectiveAtMs: start - 60_000, expiresAtMs: start + 3_600_000,
                    scope: .onlyListed,
                    zoneNumbers: ["001", "005"], comment: "smoke swap", placedBy: UserRef(id: "tech-7", name: "Tess Tech"),
                    authorizedBy: TestAuthorization(respondingPartyID: "p-a", verifiedBy: "dispatcher-2")))
        }
    }

    /// The seeded account's page at `start`, written out.
    static let expected: Account = {
        let zone = { (number: String) in
            [
                "001": Zone(
                    zoneNumber: "001", description: "Front door", eventType: .burglary, equipmentType: "contact", location: "front"),
                "005": Zone(
                    zoneNumber: "005", description: "Hall smoke", eventType: .fire, equipmentType: "smoke", partition: 2,
                    restoreRequired: true),
                "009": Zone(zoneNumber: "009", description: "Panic button", eventType: .panic),
                "010": Zone(zoneNumber: "010", description: "Garage", eventType: .burglary, equipmentType: "contact", location: "garage")
            ][number]!
        }
        let service = TestCategory(id: "service", description: "Service / repair", defaultDurationMinutes: 120)
        return Account(
            customer: Customer(
                id: "cust-9", firstName: "Ada", lastName: "Lovelace", companyName: "Engines Ltd",
                address: Address(street1: "1 Main St", street2: "Apt 2", city: "Provo", state: "UT", zip: "84601-1234"),
                premisePhone: "801-555-0100", passcode: "",
                equipment: [
                    Equipment(id: "eq-1", name: "Front door", zoneNumber: "001", zoneDescription: "Front door", installed: true),
                    Equipment(id: "eq-2", name: "Back door", zoneNumber: "002", zoneDescription: "Back door", installed: false),
                    Equipment(id: "eq-5", name: "Smoke", zoneNumber: "005", zoneDescription: "Hall smoke", installed: true)
                ]),
            linkState: .linked, accountNumber: "31-4159", receiverNumber: "3", line: "7", linkedAtMs: start - 1_000, unlinkedAtMs: 0,
            respondingParties: [
                CentralStationParty(
                    id: "p-a", priority: 1, firstName: "Ada", lastName: "Lovelace", phones: [Phone(number: "801-555-0102", type: .mobile)],
                    role: .keyholder, hasKey: true),
                CentralStationParty(
                    id: "p-b", priority: 2, firstName: "Charles", lastName: "Babbage",
                    phones: [Phone(number: "801-555-0103", type: .home), Phone(number: "801-555-0104", type: .work, extension: "9")],
                    role: .contact, hasKey: false),
                CentralStationParty(id: "p-c", priority: 3, firstName: "Mary", lastName: "Somerville", role: .agent)
            ],
            authorities: [
                AccountAuthority(
                    id: "demoaa-1",
                    authority: Authority(
                        id: "t-police", type: .police, name: "Provo Police", phone: "801-555-0911", servedZips: ["84601", "84604", "84606"],
                        jurisdiction: .city, permitRequired: true),
                    permitNumber: "permit-aa-1", addedAtMs: start - 500, addedBy: "dispatcher", doesNotServeZip: false),
                AccountAuthority(
                    id: "demoaa-2",
                    authority: Authority(
                        id: "t-fire", type: .fire, name: "Lehi Fire", phone: "801-555-0912",
                        address: Address(street1: "2 Fire Rd", city: "Lehi", state: "UT", zip: "84043"), servedZips: ["84058", "84097"],
                        jurisdiction: .county),
                    permitNumber: "permit-aa-2", addedAtMs: start - 500, addedBy: "dispatcher", doesNotServeZip: true),
                AccountAuthority(
                    id: "demoaa-3",
                    authority: Authority(id: "t-medical", type: .medical, name: "Nobody's Ambulance", jurisdiction: .regional),
                    permitNumber: "permit-aa-3", addedAtMs: start - 100, addedBy: "dispatcher", doesNotServeZip: true)
            ],
            mappedZones: [
                MappedZone(
                    zone: zone("001"),
                    equipment: Equipment(
                        id: "eq-1", name: "Front door", zoneNumber: "001", zoneDescription: "Front door", installed: true)),
                MappedZone(
                    zone: zone("005"),
                    equipment: Equipment(
                        id: "eq-5", name: "Smoke", zoneNumber: "005", zoneDescription: "Hall smoke", installed: true))
            ],
            unmappedZones: [zone("009"), zone("010")],
            testStatus: TestStatus(
                onTest: true,
                current: TestSession(
                    id: "demos-open", category: service, effectiveAtMs: start - 60_000, expiresAtMs: start + 3_600_000, scope: .onlyListed,
                    zoneNumbers: ["001", "005"], comment: "smoke swap", placedBy: UserRef(id: "tech-7", name: "Tess Tech"),
                    authorizedBy: TestAuthorization(respondingPartyID: "p-a", verifiedBy: "dispatcher-2"), state: .active),
                state: .onTest))
    }()

    @Test(arguments: StoreKind.all) func getAccountAnswersTheFixedPage(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await Self.seed(fixture.store, dealer: "acme", firstName: "Other")
            try await Self.seed(fixture.store)
            let account = try await fixture.client.getAccount(GetAccountRequest(customerID: Self.customerID))
            #expect(account == Self.expected)
        }
    }

    @Test(arguments: StoreKind.all) func theJoinedReadEqualsThePartByPartRead(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await Self.seed(fixture.store, dealer: "acme", firstName: "Other")
            try await Self.seed(fixture.store)
            // A bare account (no parties, zones, authorities or session), an unlinked one, and one never linked.
            try await linkProvoCustomer(fixture, "cust-bare")
            try await linkProvoCustomer(fixture, "cust-gone")
            _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-gone"))
            try await fixture.store.write(.dealer(DealerID.demo)) { try $0.saveCustomer(Customer(id: "cust-never")) }
            for (dealer, id) in [
                (DealerID.demo, Self.customerID), ("acme", Self.customerID), (DealerID.demo, "cust-bare"), (DealerID.demo, "cust-gone"),
                (DealerID.demo, "cust-never"), ("acme", "cust-bare"), (DealerID.demo, "nobody")
            ] {
                let (joined, parts) = try await fixture.store.read(.dealer(dealer)) {
                    (try $0.storedAccount(customerID: id), try $0.storedAccountByParts(customerID: id))
                }
                #expect(joined == parts, "\(dealer)/\(id)")
                #expect((joined != nil) == (id == Self.customerID || (dealer == DealerID.demo && ["cust-bare", "cust-gone"].contains(id))))
            }
            let other = try await fixture.store.read(.dealer("acme")) { try $0.storedAccount(customerID: Self.customerID) }
            #expect(other?.customer.firstName == "Other")
            #expect(other?.authorities.map(\.id) == ["acmeaa-1", "acmeaa-2", "acmeaa-3"])
            #expect(other?.openSession?.id == "acmes-open")
        }
    }

    /// The point of the joined read: a fixed number of statements, however many authorities the account has.
    @Test func theJoinedReadRunsFiveStatements() async throws {
        try await withAccountService { fixture in
            try await Self.seed(fixture.store)
            let counts = try await #require(fixture.sqlite).pool.read { db in
                let counter = StatementCounter()
                db.trace(options: .statement) { _ in counter.count += 1 }
                defer { db.trace(options: []) { _ in } }
                let transaction = SQLiteTransaction(db: db, scope: .dealer(DealerID.demo))
                _ = try transaction.storedAccount(customerID: Self.customerID)
                let joined = counter.count
                _ = try transaction.storedAccountByParts(customerID: Self.customerID)
                return (joined, counter.count - joined)
            }
            #expect(counts.0 == 5)
            #expect(counts.1 == 8 + 2 * 3)
        }
    }
}

/// Counts trace events on the one connection a read runs on.
private final class StatementCounter {
    var count = 0
}

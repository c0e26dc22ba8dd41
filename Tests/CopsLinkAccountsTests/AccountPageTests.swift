import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import GRDB
import PostgresNIO
import Testing

@testable import CopsLinkAccounts
@testable import CopsLinkPostgres
@testable import CopsLinkSQLite

/// GetAccount's read model (`AccountPage`): after every kind of write, the page each customer's GetAccount answers
/// with must be, byte for byte, the account assembled from scratch from the rows (`storedAccountByParts`); and a
/// write that fails must leave the pages as they were.
@Suite("GetAccount's read model")
struct AccountPageTests {
    static let dealer = DealerID.demo

    /// Every customer's page, as GetAccount reads it, against the account assembled part by part from the same
    /// rows, at the clock's time; and GetAccount over the wire against both.
    static func expectPagesCurrent(
        _ fixture: AccountFixture, _ customers: [String], after step: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let now = fixture.clock.nowMs()
        for customerID in customers {
            let scratch = try await fixture.store.read(.dealer(dealer)) { try $0.storedAccountByParts(customerID: customerID) }
            let page = try await fixture.store.accountPage(.dealer(dealer), customerID: customerID)
            guard let scratch else {
                #expect(page == nil, "\(step): \(customerID) has no account, and no page", sourceLocation: sourceLocation)
                continue
            }
            let expected = AccountServiceImplementation.assemble(scratch, atMs: now)
            let answered = try #require(page, "\(step): \(customerID) has no page", sourceLocation: sourceLocation).account(atMs: now)
            #expect(answered.bytes == expected.serializedBytes(), "\(step): \(customerID)'s page is stale", sourceLocation: sourceLocation)
            let overTheWire = try await fixture.client.getAccount(GetAccountRequest(customerID: customerID))
            #expect(overTheWire == expected, "\(step): \(customerID) over the wire", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: StoreKind.all) func everyKindOfWriteKeepsEveryPageCurrent(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let client = fixture.client
            let customers = ["cust-1", "cust-2", "cust-3"]
            let check = { (step: String) in try await Self.expectPagesCurrent(fixture, customers, after: step) }
            try await check("nothing linked")

            let (ada, parties) = provoCustomer("cust-1")
            let first = try await client.linkAccount(
                LinkAccountRequest(customer: ada, respondingParties: parties, accountNumber: "1001", receiverNumber: "2", line: "3"))
            #expect(first.account?.accountNumber == "1001")
            _ = try await client.linkAccount(LinkAccountRequest(customer: provoCustomer("cust-2").0, respondingParties: []))
            try await check("link")

            _ = try await client.addAccountAuthorities(
                AddAccountAuthoritiesRequest(
                    customerID: "cust-1",
                    authorities: [
                        AuthorityToAdd(authorityID: "ut-provo-fd"), AuthorityToAdd(authorityID: "ut-provo-pd", permitNumber: "P-77")
                    ]))
            try await check("add authorities")

            let zones = [
                Zone(zoneNumber: "001", description: "Front door", eventType: .burglary, equipmentType: "contact"),
                Zone(zoneNumber: "009", description: "Panic", eventType: .panic)
            ]
            _ = try await client.setCentralStationZones(SetCentralStationZonesRequest(customerID: "cust-1", zones: zones))
            try await check("set zones")

            _ = try await client.placeOnTest(PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1))
            try await check("place on test")
            fixture.clock.advance(byMs: 30 * 60_000)
            try await check("half-way through the test (derived at read time)")
            fixture.clock.advance(byMs: 31 * 60_000)
            try await check("past the expiry, not yet marked")
            #expect(try await fixture.expiry.expireDue() == 1)
            try await check("expiry")

            _ = try await client.placeOnTest(PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 2))
            _ = try await client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1", comment: "done"))
            try await check("place off test")

            var moved = ada
            moved.address?.zip = "84043"  // the authorities no longer serve the customer's zip
            moved.equipment.removeLast()
            _ = try await client.syncCustomer(SyncCustomerRequest(customer: moved, respondingParties: Array(parties.prefix(1))))
            try await check("sync customer")

            let account = try await client.getAccount(GetAccountRequest(customerID: "cust-1"))
            let fire = try #require(account.authorities.first { $0.authority?.type == .fire })
            _ = try await client.removeAccountAuthority(RemoveAccountAuthorityRequest(customerID: "cust-1", accountAuthorityID: fire.id))
            try await check("remove authority")

            // A directory import, across dealers: the police department renamed and serving 84043 too.
            var police = try #require(try await fixture.store.read(.allDealers) { try $0.authority(id: "ut-provo-pd") })
            police.name = "Provo City Police"
            police.servedZips.append("84043")
            try await fixture.store.write(.allDealers) { [police] in try $0.saveAuthorities([police]) }
            try await check("directory import")

            // Test categories: an open session shows its category's description.
            _ = try await client.placeOnTest(PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 2))
            var categories = try await fixture.store.read(.allDealers) { try $0.testCategories() }
            categories[categories.firstIndex { $0.id == "service" }!].description = "Service visit"
            try await fixture.store.write(.allDealers) { [categories] in try $0.saveTestCategories(categories) }
            try await check("test categories")

            _ = try await client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            try await check("unlink")

            // The number goes to another customer, with a new receiver: the unlinked customer's page shows no receiver
            // and line (they are the number's).
            _ = try await client.linkAccount(
                LinkAccountRequest(customer: provoCustomer("cust-3").0, respondingParties: [], accountNumber: "1001", receiverNumber: "8"))
            try await check("relink the number to another customer")

            // The number's new customer places it on test and sets its zones: the unlinked customer's page shows none of
            // it (it showed the other customer's live test and zones).
            _ = try await client.placeOnTest(PlaceOnTestRequest(customerID: "cust-3", categoryID: "service", durationHours: 1))
            try await check("the number's new customer placed on test")
            #expect(try await client.getAccount(GetAccountRequest(customerID: "cust-1")).testStatus?.onTest == false)
            _ = try await client.setCentralStationZones(SetCentralStationZonesRequest(customerID: "cust-3", zones: Array(zones.prefix(1))))
            try await check("the number's new customer sets its zones")
            let unlinked = try await client.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(unlinked.linkState == .unlinked && unlinked.accountNumber == "1001")
            #expect(unlinked.receiverNumber.isEmpty && unlinked.line.isEmpty)
            #expect(unlinked.testStatus?.onTest == false && unlinked.testStatus?.state == .offTest, "\(unlinked.testStatus as Any)")
            #expect(unlinked.mappedZones.isEmpty && unlinked.unmappedZones.isEmpty && unlinked.authorities.isEmpty)
            #expect(unlinked.customer?.id == "cust-1" && !unlinked.respondingParties.isEmpty)
            let relinked = try await client.getAccount(GetAccountRequest(customerID: "cust-3"))
            #expect(relinked.testStatus?.onTest == true && relinked.mappedZones.count + relinked.unmappedZones.count == 1)
            #expect(!relinked.authorities.isEmpty, "the number's authorities go with it")

            // Signals and history do not show on the page, but they are writes too.
            _ = try await fixture.report([contactIDSignal(account: "1001", event: "130", zoneOrUser: "001", atMs: fixture.clock.nowMs())])
            try await check("signals")
        }
    }

    /// A write to an account number rebuilds the page of the customer linked to it, and no other: every customer
    /// ever linked to the number and unlinked again used to have its page rebuilt too (it showed the number's receiver
    /// and line), so a dealer that chained customers through one number made each write to it cost all their pages.
    @Test(arguments: StoreKind.all) func aWriteToANumberRebuildsOnlyTheLinkedCustomersPage(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let client = fixture.client
            let unlinked = (1...4).map { "cust-\($0)" }
            for customerID in unlinked {
                _ = try await client.linkAccount(
                    LinkAccountRequest(customer: provoCustomer(customerID).0, accountNumber: "1001", receiverNumber: "2"))
                _ = try await client.unlinkAccount(UnlinkAccountRequest(customerID: customerID))
            }
            _ = try await client.linkAccount(
                LinkAccountRequest(customer: provoCustomer("cust-5").0, accountNumber: "1001", receiverNumber: "3"))
            // Mark the unlinked customers' pages: a rebuild would replace the mark.
            let keys = unlinked.map { "'\(Self.dealer)/\($0)'" }.joined(separator: ", ")
            try await fixture.store.write(.allDealers) { transaction in
                if let sqlite = transaction as? SQLiteTransaction {
                    try sqlite.db.execute(sql: "UPDATE account_page SET page = x'0a00' WHERE customer_key IN (\(keys))")
                } else {
                    let postgres = try #require(transaction as? PostgresTransaction)
                    _ = try postgres.connection.execute(
                        PostgresQuery(unsafeSQL: "UPDATE account_page SET page = '\\x0a00'::bytea WHERE customer_key IN (\(keys))"))
                }
            }
            _ = try await client.setCentralStationZones(
                SetCentralStationZonesRequest(customerID: "cust-5", zones: [Zone(zoneNumber: "001", description: "Front door")]))
            _ = try await client.addAccountAuthorities(
                AddAccountAuthoritiesRequest(customerID: "cust-5", authorities: [AuthorityToAdd(authorityID: "ut-provo-fd")]))
            _ = try await client.placeOnTest(PlaceOnTestRequest(customerID: "cust-5", categoryID: "service", durationHours: 1))
            for customerID in unlinked {
                let page = try await fixture.store.accountPage(.dealer(Self.dealer), customerID: customerID)
                #expect(page?.encodedAccount == [0x0A, 0x00], "\(customerID)'s page was rebuilt by a write to the number")
            }
            try await Self.expectPagesCurrent(fixture, ["cust-5"], after: "writes to the number")
        }
    }

    /// A write whose body fails after changing rows is rolled back whole: its page changes with it.
    @Test(arguments: StoreKind.all) func aFailedWriteLeavesThePagesAsTheyWere(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let (ada, parties) = provoCustomer("cust-1")
            _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: ada, respondingParties: parties))
            let before = try await fixture.store.accountPage(.dealer(Self.dealer), customerID: "cust-1")
            struct Abandoned: Error {}
            await #expect(throws: Abandoned.self) {
                try await fixture.store.write(.dealer(Self.dealer)) { transaction in
                    var renamed = ada
                    renamed.firstName = "Augusta"
                    try transaction.saveCustomer(renamed)
                    throw Abandoned()
                }
            }
            #expect(try await fixture.store.accountPage(.dealer(Self.dealer), customerID: "cust-1") == before)
            try await Self.expectPagesCurrent(fixture, ["cust-1"], after: "a failed write")
        }
    }

    /// Another dealer's customer of the same id has its own page; neither sees the other's.
    @Test(arguments: StoreKind.all) func pagesKeepTheDealerBoundary(_ kind: StoreKind) async throws {
        try await withTestStore(kind) { try await Self.expectPagesKeepTheDealerBoundary($0.store) }
    }

    static func expectPagesKeepTheDealerBoundary(_ store: any AccountStore) async throws {
        try await StoredAccountTests.seed(store, dealer: DealerID.demo, firstName: "Ada")
        try await StoredAccountTests.seed(store, dealer: "beta", firstName: "Bea")
        let now = AccountFixture.start
        let acme = try #require(try await store.accountPage(.dealer(DealerID.demo), customerID: StoredAccountTests.customerID))
        let beta = try #require(try await store.accountPage(.dealer("beta"), customerID: StoredAccountTests.customerID))
        #expect(try acme.account(atMs: now).decoded().customer?.firstName == "Ada")
        #expect(try beta.account(atMs: now).decoded().customer?.firstName == "Bea")
        #expect(try await store.accountPage(.dealer("gamma"), customerID: StoredAccountTests.customerID) == nil)
        let scratch = try #require(
            try await store.read(.dealer(DealerID.demo)) { try $0.storedAccountByParts(customerID: StoredAccountTests.customerID) })
        #expect(try acme.account(atMs: now).bytes == AccountServiceImplementation.assemble(scratch, atMs: now).serializedBytes())
    }

    /// A store from before the read model gets every linked customer's page when it is opened.
    @Test func openingAnOlderStoreBuildsThePages() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        do {
            let store = try SQLiteAccountStore(path: path)
            try await StoredAccountTests.seed(store, dealer: "acme")
            try store.close()
        }
        // What a store of the previous version has: no pages.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { try $0.execute(sql: "DELETE FROM account_page") }
        try queue.close()
        let store = try SQLiteAccountStore(path: path)
        let page = try #require(try await store.accountPage(.dealer("acme"), customerID: StoredAccountTests.customerID))
        let scratch = try #require(
            try await store.read(.dealer("acme")) { try $0.storedAccountByParts(customerID: StoredAccountTests.customerID) })
        let now = AccountFixture.start
        #expect(try page.account(atMs: now).bytes == AccountServiceImplementation.assemble(scratch, atMs: now).serializedBytes())
    }

    /// A store from before migration 9 kept station data (and the number's open test) on unlinked customers' pages:
    /// opening it builds those pages again.
    @Test func openingAStoreBeforeMigration9BuildsUnlinkedPagesAgain() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        do {
            let store = try SQLiteAccountStore(path: path)
            try await StoredAccountTests.seed(store, dealer: "acme")
            try await store.write(.dealer("acme")) { transaction in
                var link = try #require(try transaction.link(customerID: StoredAccountTests.customerID))
                link.state = .unlinked
                try transaction.saveLink(link)
            }
            try store.close()
        }
        // What such a store may hold: a stale page with an open session, and no record of migration 9.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "UPDATE account_page SET page = x'0a00', open_session = x'0a0131'")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v9-unlinked-pages'")
        }
        try queue.close()
        let store = try SQLiteAccountStore(path: path)
        let page = try #require(try await store.accountPage(.dealer("acme"), customerID: StoredAccountTests.customerID))
        #expect(page.encodedOpenSession == nil)
        let scratch = try #require(
            try await store.read(.dealer("acme")) { try $0.storedAccountByParts(customerID: StoredAccountTests.customerID) })
        let now = AccountFixture.start
        #expect(try page.account(atMs: now).bytes == AccountServiceImplementation.assemble(scratch, atMs: now).serializedBytes())
    }

    /// PostgreSQL's migration 5, as SQLite's 9: a stale page of an unlinked customer is built again when an instance
    /// migrates.
    @Test func aPostgresInstanceMigratingBuildsUnlinkedPagesAgain() async throws {
        guard StoreKind.all.contains(.postgres) else { return }
        try await withTestStore(.postgres) { testStore in
            let first = try #require(testStore.store as? PostgresAccountStore)
            try await StoredAccountTests.seed(first, dealer: "acme")
            try await first.write(.dealer("acme")) { transaction in
                var link = try #require(try transaction.link(customerID: StoredAccountTests.customerID))
                link.state = .unlinked
                try transaction.saveLink(link)
            }
            try await first.write(.allDealers) { transaction in
                let connection = (transaction as! PostgresTransaction).connection
                _ = try connection.execute("UPDATE account_page SET page = '\\x0a00'::bytea, open_session = '\\x0a0131'::bytea")
                _ = try connection.execute("DELETE FROM schema_migrations WHERE version = 5")
            }
            await first.close()

            let second = try #require(try await testStore.openAnother?())
            let page = try #require(try await second.accountPage(.dealer("acme"), customerID: StoredAccountTests.customerID))
            #expect(page.encodedOpenSession == nil)
            let scratch = try #require(
                try await second.read(.dealer("acme")) { try $0.storedAccountByParts(customerID: StoredAccountTests.customerID) })
            let now = AccountFixture.start
            #expect(try page.account(atMs: now).bytes == AccountServiceImplementation.assemble(scratch, atMs: now).serializedBytes())
        }
    }

    /// A write's page refresh may build a page from the account the write itself read (LinkAccount answers with
    /// it), but only from a read after the write's last change: a change after the read must reach the page.
    @Test(arguments: StoreKind.all) func aPageIsNeverBuiltFromAReadOlderThanTheWriteAfterIt(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            _ = try await linkProvoCustomer(fixture)
            let party = RespondingParty(id: "p-new", priority: 1, firstName: "Late", lastName: "Change")
            let readFirst = try await fixture.store.write(.dealer(Self.dealer)) { transaction in
                let read = try transaction.storedAccount(customerID: "cust-1")
                try transaction.replaceRespondingParties(customerID: "cust-1", [party])
                return read
            }
            #expect(readFirst?.respondingParties.map(\.id) != ["p-new"])
            try await Self.expectPagesCurrent(fixture, ["cust-1"], after: "a read, then a change")
            let page = try #require(try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")))
            #expect(page.respondingParties.map(\.id) == ["p-new"])

            // Read after the change: the page built from that read is the current one.
            try await fixture.store.write(.dealer(Self.dealer)) { transaction in
                try transaction.replaceRespondingParties(customerID: "cust-1", [])
                _ = try transaction.storedAccount(customerID: "cust-1")
            }
            try await Self.expectPagesCurrent(fixture, ["cust-1"], after: "a change, then a read")
        }
    }
}

/// `AccountPage.replaceAuthorities`: a write that changes only an account's authorities replaces their bytes in the
/// stored page; the result must be, byte for byte, the page encoded with the new authorities, whatever surrounds them.
@Suite("Replacing a page's authorities")
struct AccountPageAuthorityReplacementTests {
    static let fire = AccountAuthority(
        id: "a-1", authority: Authority(id: "fd", type: .fire, name: "Fire", servedZips: ["84601"]), addedAtMs: 1, addedBy: "x")
    static let police = AccountAuthority(
        id: "a-2", authority: Authority(id: "pd", type: .police, name: "Police", servedZips: ["84604"]), permitNumber: "P-1", addedAtMs: 2)

    /// The linked account's page with `authorities` as a customer in 84601 sees them, with or without the fields
    /// before (parties) and after (zones) the authorities.
    static func page(_ authorities: [AccountAuthority], parties: Bool, zones: Bool) -> [UInt8] {
        Account(
            customer: Customer(id: "c-1", firstName: "Ada", address: Address(zip: "84601")), linkState: .linked, accountNumber: "1001",
            respondingParties: parties ? [CentralStationParty(id: "p-1", priority: 1, firstName: "Grace")] : [],
            authorities: AccountServiceImplementation.pageAuthorities(authorities, customerZip: "84601"),
            unmappedZones: zones ? [Zone(zoneNumber: "009", description: "Panic")] : []
        ).serializedBytes()
    }

    @Test(arguments: [false, true], [false, true])
    func theResultIsThePageEncodedWithTheNewAuthorities(parties: Bool, zones: Bool) throws {
        let lists: [[AccountAuthority]] = [[], [Self.fire], [Self.police], [Self.fire, Self.police]]
        for before in lists {
            for after in lists {
                var page = AccountPage(encodedAccount: Self.page(before, parties: parties, zones: zones), encodedOpenSession: nil)
                try page.replaceAuthorities(after, customerZip: "84601")
                #expect(
                    page.encodedAccount == Self.page(after, parties: parties, zones: zones),
                    "\(before.map(\.id)) → \(after.map(\.id)), parties \(parties), zones \(zones)")
            }
        }
    }

    @Test func aMalformedPageIsAnInternalError() {
        // Field 9, length 5, one byte of value.
        var page = AccountPage(encodedAccount: [0x4A, 0x05, 0x01], encodedOpenSession: nil)
        #expect(throws: RPCError(code: .internalError, message: "a stored account page is malformed")) {
            try page.replaceAuthorities([Self.fire], customerZip: "84601")
        }
    }
}

import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import Testing

/// `added_by` and `placed_by` left empty record the caller: the API key's name, `key <id>` for a key without a
/// name, `anonymous` without authentication. A value the request gives wins.
@Suite("Who added or placed: the calling key")
struct ActingUserTests {
    /// The test history of acme's `cust-1`, read through `client`.
    func history(_ client: AccountService.Client) async throws -> [TestHistoryEntry] {
        try await client.requestTestData(
            RequestTestDataRequest(customerID: "cust-1", type: .history, fromMs: AccountFixture.start - dayMs, toMs: AccountFixture.start)
        ) { try await $0.collect() }.flatMap(\.history)
    }

    @Test func emptyByFieldsRecordTheKeysName() async throws {
        try await withTenantService { fixture in
            let token = try await fixture.store.createAPIKey(
                dealerID: "acme", name: "crm-sync", roles: [.read, .write, .testControl], nowMs: 1)
            let crmSync = fixture.client(token: token.token)
            let (customer, parties) = provoCustomer("cust-1")
            _ = try await crmSync.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))

            let added = try await crmSync.addAccountAuthorities(
                AddAccountAuthoritiesRequest(customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: "ut-provo-fd")]))
            #expect(added.added.map(\.addedBy) == ["crm-sync"])
            // Given, the request's value wins.
            let named = try await crmSync.addAccountAuthorities(
                AddAccountAuthoritiesRequest(
                    customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: "ut-provo-ems")], addedBy: "Dana at dispatch"))
            #expect(named.added.map(\.addedBy) == ["Dana at dispatch"])
            let account = try await crmSync.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(Set(account.authorities.map(\.addedBy)) == ["crm-sync", "Dana at dispatch"])

            let on = try await crmSync.placeOnTest(PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1))
            #expect(on.session?.placedBy == UserRef(name: "crm-sync"))
            // An empty user names nobody: the caller is recorded.
            _ = try await crmSync.placeOffTest(PlaceOffTestRequest(customerID: "cust-1", placedBy: UserRef()))
            let tech = UserRef(id: "tech-7", name: "Tess Tech")
            let second = try await crmSync.placeOnTest(
                PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1, placedBy: tech))
            #expect(second.session?.placedBy == tech)
            _ = try await crmSync.placeOffTest(PlaceOffTestRequest(customerID: "cust-1", placedBy: UserRef(id: "tech-8")))
            #expect(
                try await history(crmSync).map(\.user) == [
                    UserRef(name: "crm-sync"), UserRef(name: "crm-sync"), tech, UserRef(id: "tech-8")
                ])

            // Another key of the same dealer is recorded by its own name; one without a name by its id.
            _ = try await fixture.acme.placeOnTest(PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1))
            let unnamed = try await fixture.store.createAPIKey(dealerID: "acme", name: "", roles: [.testControl], nowMs: 1)
            _ = try await fixture.client(token: unnamed.token).placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            #expect(try await history(crmSync).suffix(2).map(\.user) == [UserRef(name: "acme crm"), UserRef(name: "key \(unnamed.id)")])
        }
    }

    @Test func aKeysLongNameIsCutToTheFieldLimit() async throws {
        try await withTenantService { fixture in
            let long = String(repeating: "é", count: 60)  // 120 UTF-8 bytes
            let token = try await fixture.store.createAPIKey(dealerID: "acme", name: long, roles: [.read, .write], nowMs: 1)
            let client = fixture.client(token: token.token)
            let (customer, parties) = provoCustomer("cust-1")
            _ = try await client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            let added = try await client.addAccountAuthorities(
                AddAccountAuthoritiesRequest(customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: "ut-provo-fd")]))
            #expect(added.added.map(\.addedBy) == [String(repeating: "é", count: FieldLimits.name / 2)])
        }
    }

    @Test(arguments: StoreKind.all) func withoutAuthenticationTheCallerIsAnonymous(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let account = try await linkProvoCustomer(fixture)
            let added = try await fixture.client.addAccountAuthorities(
                AddAccountAuthoritiesRequest(customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: "ut-provo-fd")]))
            #expect(added.added.map(\.addedBy) == [AccountServiceImplementation.anonymousName])
            let on = try await fixture.client.placeOnTest(PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1))
            #expect(on.session?.placedBy == UserRef(name: "anonymous"))
            // Unlinking ends the test on behalf of the caller (relinked to read the history).
            _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            let (customer, parties) = provoCustomer("cust-1")
            _ = try await fixture.client.linkAccount(
                LinkAccountRequest(customer: customer, respondingParties: parties, accountNumber: account.accountNumber))
            #expect(try await fixture.history().map(\.user) == [UserRef(name: "anonymous"), UserRef(name: "anonymous")])
        }
    }
}

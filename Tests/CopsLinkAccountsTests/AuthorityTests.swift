import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import Testing

@Suite("Authorities: search, add, remove")
struct AuthorityTests {
    static let provoPD = Authority(
        id: "ut-provo-pd", type: .police, name: "Provo Police Department", phone: "801-852-6210",
        address: Address(street1: "48 S 300 W", city: "Provo", state: "UT", zip: "84601"),
        servedZips: ["84601", "84602", "84603", "84604", "84606"], jurisdiction: .city, permitRequired: true)

    func search(_ fixture: AccountFixture, _ type: AuthorityType, zip: String = "", customerID: String = "") async throws -> [String] {
        try await fixture.client.searchAuthorities(SearchAuthoritiesRequest(customerID: customerID, type: type, zip: zip)).authorities.map(
            \.id)
    }

    func add(_ fixture: AccountFixture, _ authorities: [AuthorityToAdd], requestID: String = "") async throws -> [AccountAuthority] {
        try await fixture.client.addAccountAuthorities(
            AddAccountAuthoritiesRequest(
                requestID: requestID, customerID: "cust-1", authorities: authorities, addedBy: "tech-7")
        ).added
    }

    func authoritiesOnAccount(_ fixture: AccountFixture) async throws -> [AccountAuthority] {
        try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")).authorities
    }

    @Test(arguments: StoreKind.all) func searchByTypeAndZip(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let police = try await fixture.client.searchAuthorities(SearchAuthoritiesRequest(type: .police, zip: "84601")).authorities
            #expect(police.map(\.id) == ["ut-provo-pd", "ut-utah-county-so"], "by name")
            #expect(police.first == Self.provoPD, "the whole directory entry")
            #expect(police.last?.permitRequired == false)
            #expect(
                try await search(fixture, .police, zip: "84601-1234") == ["ut-provo-pd", "ut-utah-county-so"], "zip+4 uses its 5 digits")
            #expect(try await search(fixture, .fire, zip: "84601") == ["ut-provo-fd"])
            #expect(try await search(fixture, .medical, zip: "84601") == ["ut-intermountain-ems", "ut-provo-ems"])
            #expect(try await search(fixture, .guard_, zip: "84601") == ["ut-valley-guard"])
            #expect(try await search(fixture, .electrical, zip: "84601") == ["ut-rmp-electrical"])
            #expect(try await search(fixture, .police, zip: "84602") == ["ut-byu-pd", "ut-provo-pd"])
            // No zip: the customer's.
            #expect(try await search(fixture, .police, customerID: "cust-1") == ["ut-provo-pd", "ut-utah-county-so"])
            #expect(try await search(fixture, .fire, customerID: "cust-1") == ["ut-provo-fd"])
            // An explicit zip wins over the customer's.
            #expect(try await search(fixture, .police, zip: "78701", customerID: "cust-1") == ["tx-austin-pd", "tx-travis-so"])
            #expect(try await search(fixture, .police, zip: "99999") == [], "a zip nobody serves")
            #expect(try await search(fixture, .guard_, zip: "78701") == [])
        }
    }

    /// A directory entry on accounts keeps its type: changing it would give an account two authorities of one type
    /// (and make its next AddAccountAuthorities of the old type fail as UNKNOWN, on the store's constraint).
    @Test(arguments: StoreKind.all) func aDirectoryEntryOnAnAccountCannotChangeItsType(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd")])
            var fire = try #require(try await fixture.store.read(.allDealers) { try $0.authority(id: "ut-provo-fd") })
            fire.type = .police
            let refused = await #expect(throws: AccountError.self) {
                try await fixture.store.write(.allDealers) { [fire] in try $0.saveAuthorities([fire]) }
            }
            #expect(refused?.code == .failedPrecondition)
            #expect(
                refused?.message
                    == "authority 'ut-provo-fd' is on 1 account as fire; its type cannot change to police (an account has at most one "
                    + "authority of each type). Remove it from those accounts first, or import it under a new id")
            #expect(try await authoritiesOnAccount(fixture).compactMap(\.authority?.type) == [.fire], "nothing changed")
            // Any other change to it, and a type change of an entry no account holds, go through.
            fire.type = .fire
            fire.name = "Provo Fire (renamed)"
            var guardEntry = try #require(try await fixture.store.read(.allDealers) { try $0.authority(id: "ut-valley-guard") })
            guardEntry.type = .electrical
            try await fixture.store.write(.allDealers) { [fire, guardEntry] in try $0.saveAuthorities([fire, guardEntry]) }
            #expect(try await authoritiesOnAccount(fixture).compactMap(\.authority?.name) == ["Provo Fire (renamed)"])
        }
    }

    @Test(arguments: StoreKind.all) func aRequestNamingOneAuthorityTwiceOrTwoOfATypeSaysSo(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let twice = await expectRPCError(.invalidArgument) {
                _ = try await add(
                    fixture,
                    [
                        AuthorityToAdd(authorityID: "ut-provo-fd"), AuthorityToAdd(authorityID: "ut-provo-fd")
                    ])
            }
            #expect(twice?.message == "The request names authority 'ut-provo-fd' twice.")
            let sameType = await expectRPCError(.invalidArgument) {
                _ = try await add(
                    fixture,
                    [
                        AuthorityToAdd(authorityID: "ut-provo-pd", permitNumber: "P-1"), AuthorityToAdd(authorityID: "ut-utah-county-so")
                    ])
            }
            #expect(
                sameType?.message
                    == "The request names two police authorities (Provo Police Department and \(try await policeName(fixture))); an account has one of each type."
            )
            #expect(try await authoritiesOnAccount(fixture).isEmpty, "nothing was added")
        }
    }

    @Test(arguments: StoreKind.all) func syncToAZipAnAuthorityDoesNotServeFlagsIt(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            _ = try await add(
                fixture, [AuthorityToAdd(authorityID: "ut-provo-pd", permitNumber: "P-1"), AuthorityToAdd(authorityID: "ut-provo-fd")])
            #expect(try await authoritiesOnAccount(fixture).map(\.doesNotServeZip) == [false, false])
            var (customer, parties) = provoCustomer("cust-1")
            customer.address?.zip = "99999"
            let synced = try await fixture.client.syncCustomer(SyncCustomerRequest(customer: customer, respondingParties: parties))
            #expect(synced.account?.authorities.map(\.doesNotServeZip) == [true, true], "flagged in the sync answer")
            #expect(try await authoritiesOnAccount(fixture).map(\.doesNotServeZip) == [true, true], "and on the account page; kept")
            customer.address?.zip = "84601-1234"
            let back = try await fixture.client.syncCustomer(SyncCustomerRequest(customer: customer, respondingParties: parties))
            #expect(back.account?.authorities.map(\.doesNotServeZip) == [false, false])
        }
    }

    func policeName(_ fixture: AccountFixture) async throws -> String {
        try await fixture.client.searchAuthorities(SearchAuthoritiesRequest(type: .police, zip: "84601")).authorities.last?.name ?? ""
    }

    @Test(arguments: StoreKind.all) func searchRejectsMissingTypeAndBadZips(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let noType = await expectRPCError(.invalidArgument) { _ = try await search(fixture, .unspecified, zip: "84601") }
            #expect(noType?.message == "Choose an authority type (police, fire, medical, guard, electrical).")
            // A value the proto does not name, as every other enum of a request (it answered an empty list).
            let unknownType = await expectRPCError(.invalidArgument) {
                _ = try await search(fixture, AuthorityType(rawValue: 9), zip: "84601")
            }
            #expect(unknownType?.message == "Unknown authority type 9; choose police, fire, medical, guard or electrical.")
            for zip in ["8460", "84601-12", "abcde", "846011", "84601-", "84601 1234", "84601-123a"] {
                let error = await expectRPCError(.invalidArgument) { _ = try await search(fixture, .police, zip: zip) }
                #expect(error?.message == "Zip code '\(zip)' must look like 84601 or 84601-1234.")
            }
            let neither = await expectRPCError(.invalidArgument) { _ = try await search(fixture, .police) }
            #expect(neither?.message == "Type a zip code, or name the customer whose zip code to use.")
            await expectRPCError(.notFound) { _ = try await search(fixture, .police, customerID: "nobody") }
        }
    }

    @Test(arguments: StoreKind.all) func addSeveralAtOnceThenGetAccountListsThem(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let added = try await add(
                fixture,
                [
                    AuthorityToAdd(authorityID: "ut-provo-pd", permitNumber: "PD-4411"),
                    AuthorityToAdd(authorityID: "ut-provo-fd"),
                    AuthorityToAdd(authorityID: "ut-provo-ems")
                ])
            #expect(added.map { $0.authority?.id } == ["ut-provo-pd", "ut-provo-fd", "ut-provo-ems"])
            #expect(added.first?.authority == Self.provoPD)
            #expect(added.map(\.permitNumber) == ["PD-4411", "", ""])
            #expect(added.allSatisfy { $0.addedAtMs == AccountFixture.start && $0.addedBy == "tech-7" && !$0.id.isEmpty })
            #expect(Set(added.map(\.id)).count == 3, "each entry has its own id")
            let listed = try await authoritiesOnAccount(fixture)
            #expect(Set(listed) == Set(added))
            #expect(listed.count == 3)
        }
    }

    @Test(arguments: StoreKind.all) func addRefusesWhatBreaksTheRules(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let notServing = await expectRPCError(.failedPrecondition) {
                _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-orem-pd", permitNumber: "1")])
            }
            #expect(notServing?.message == "Orem Police Department does not serve the customer's zip code 84601.")
            let unknown = await expectRPCError(.notFound) { _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-nowhere-pd")]) }
            #expect(unknown?.message == "No authority 'ut-nowhere-pd' in the directory.")
            let noPermit = await expectRPCError(.invalidArgument) {
                _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-pd")])
            }
            #expect(noPermit?.message == "Provo Police Department requires a permit number.")
            let blankPermit = await expectRPCError(.invalidArgument) {
                _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-pd", permitNumber: "   ")])
            }
            #expect(blankPermit?.message == "Provo Police Department requires a permit number.", "spaces are no permit")
            await expectRPCError(.invalidArgument) { _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-valley-guard")]) }
            let twiceInOne = await expectRPCError(.invalidArgument) {
                _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd"), AuthorityToAdd(authorityID: "ut-provo-fd")])
            }
            #expect(twiceInOne?.message == "The request names authority 'ut-provo-fd' twice.")
            let empty = await expectRPCError(.invalidArgument) { _ = try await add(fixture, []) }
            #expect(empty?.message == "Choose at least one authority to add.")
            #expect(try await authoritiesOnAccount(fixture) == [], "nothing was added by the refused calls")

            // Across requests.
            _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd")])
            let again = await expectRPCError(.alreadyExists) { _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd")]) }
            #expect(again?.message == "Provo Fire & Rescue is already an authority of this account.")
            // One per type.
            _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-utah-county-so")])
            let secondPolice = await expectRPCError(.alreadyExists) {
                _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-pd", permitNumber: "PD-1")])
            }
            #expect(secondPolice?.message == "The account already has a police authority (Utah County Sheriff's Office); remove it first.")
            #expect(
                try await authoritiesOnAccount(fixture).compactMap { $0.authority?.id }.sorted() == ["ut-provo-fd", "ut-utah-county-so"])
        }
    }

    @Test(arguments: StoreKind.all) func aFailedAddChangesNothing(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            // The first entry is fine; the second is refused: neither is added.
            await expectRPCError(.failedPrecondition) {
                _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd"), AuthorityToAdd(authorityID: "ut-orem-fd")])
            }
            await expectRPCError(.invalidArgument) {
                _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-ems"), AuthorityToAdd(authorityID: "ut-provo-pd")])
            }
            await expectRPCError(.notFound) {
                _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-rmp-electrical"), AuthorityToAdd(authorityID: "nope")])
            }
            #expect(try await authoritiesOnAccount(fixture) == [])
            // And each of the valid ones can still be added afterwards.
            let added = try await add(
                fixture,
                [
                    AuthorityToAdd(authorityID: "ut-provo-fd"), AuthorityToAdd(authorityID: "ut-provo-ems"),
                    AuthorityToAdd(authorityID: "ut-rmp-electrical")
                ])
            #expect(added.count == 3)
        }
    }

    @Test(arguments: StoreKind.all) func removeOne(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let added = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd"), AuthorityToAdd(authorityID: "ut-provo-ems")])
            let fire = try #require(added.first)
            let removed = try await fixture.client.removeAccountAuthority(
                RemoveAccountAuthorityRequest(customerID: "cust-1", accountAuthorityID: fire.id))
            #expect(removed.removed == fire)
            #expect(try await authoritiesOnAccount(fixture) == [added[1]])
            let unknown = await expectRPCError(.notFound) {
                _ = try await fixture.client.removeAccountAuthority(
                    RemoveAccountAuthorityRequest(customerID: "cust-1", accountAuthorityID: "nope"))
            }
            #expect(unknown?.message == "The account has no authority entry 'nope'.")
            let byDirectoryID = await expectRPCError(.notFound) {
                _ = try await fixture.client.removeAccountAuthority(
                    RemoveAccountAuthorityRequest(customerID: "cust-1", accountAuthorityID: "ut-provo-ems"))
            }
            #expect(
                byDirectoryID?.message
                    == "The account has no authority entry 'ut-provo-ems': that is a directory authority id; its entry on this account is '\(added[1].id)'."
            )
            await expectRPCError(.notFound) {  // removed twice
                _ = try await fixture.client.removeAccountAuthority(
                    RemoveAccountAuthorityRequest(customerID: "cust-1", accountAuthorityID: fire.id))
            }
            // The type is free again.
            #expect(try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd")]).count == 1)
        }
    }

    @Test(arguments: StoreKind.all) func aCustomerWithAZipPlus4(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            var (customer, parties) = provoCustomer()
            customer.address?.zip = "84601-1234"
            _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            #expect(try await search(fixture, .police, customerID: "cust-1") == ["ut-provo-pd", "ut-utah-county-so"])
            #expect(try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd")]).count == 1)
            await expectRPCError(.failedPrecondition) { _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-orem-fd")]) }
        }
    }

    @Test(arguments: StoreKind.all) func unlinkedAndUnknownAccounts(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            await expectRPCError(.notFound) { _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd")]) }
            try await linkProvoCustomer(fixture)
            _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            await expectRPCError(.failedPrecondition) { _ = try await add(fixture, [AuthorityToAdd(authorityID: "ut-provo-fd")]) }
            await expectRPCError(.failedPrecondition) { _ = try await search(fixture, .fire, customerID: "cust-1") }
            // With a zip too: the customer named is checked all the same (it answered the zip's authorities).
            await expectRPCError(.failedPrecondition) { _ = try await search(fixture, .fire, zip: "84601", customerID: "cust-1") }
            await expectRPCError(.notFound) { _ = try await search(fixture, .fire, zip: "84601", customerID: "nobody") }
            #expect(try await search(fixture, .fire, zip: "84601").isEmpty == false, "without a customer, the zip alone")
        }
    }
}

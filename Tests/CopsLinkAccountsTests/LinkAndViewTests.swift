import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import Testing

@Suite("Link, view, unlink, sync")
struct LinkAndViewTests {
    @Test(arguments: StoreKind.all) func linkCreatesAnAccountAndGetAccountShowsTheCentralStationView(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let linked = try await linkProvoCustomer(fixture)
            #expect(linked.linkState == .linked)
            #expect(linked.accountNumber.hasPrefix("CL-"))
            let account = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(account == linked)
            #expect(account.customer?.passcode == "", "the customer's passcode never leaves the server")
            #expect(account.customer?.address?.zip == "84601")
            #expect(account.respondingParties.map(\.id) == ["p-1", "p-2"], "ordered by priority")
            #expect(
                account.respondingParties.first
                    == CentralStationParty(
                        id: "p-1", priority: 1, firstName: "Ada", lastName: "Lovelace",
                        phones: [Phone(number: "801-555-0102", type: .mobile, extension: "12")], role: .keyholder, hasKey: true))
            #expect(account.testStatus == TestStatus(state: .offTest))
            #expect(account.linkedAtMs == AccountFixture.start)
        }
    }

    @Test(arguments: StoreKind.all) func linkingAnExistingAccountNumberAndConflicts(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let (customer, parties) = provoCustomer("cust-1")
            let response = try await fixture.client.linkAccount(
                LinkAccountRequest(customer: customer, respondingParties: parties, accountNumber: "22-8761"))
            #expect(response.created, "22-8761 is new to this store: its account starts empty")
            #expect(response.account?.accountNumber == "22-8761")
            let again = await expectRPCError(.alreadyExists) {
                _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer, accountNumber: "22-9999"))
            }
            #expect(again?.message == "Customer 'cust-1' is already linked to central-station account 22-8761.")
            let (other, _) = provoCustomer("cust-2")
            let taken = await expectRPCError(.alreadyExists) {
                _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: other, accountNumber: "22-8761"))
            }
            #expect(taken?.message == "Account number 22-8761 is linked to customer 'cust-1'.")
            await expectRPCError(.invalidArgument) {
                _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: other, accountNumber: "22 8761!"))
            }
            await expectRPCError(.invalidArgument) { _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: nil)) }
        }
    }

    @Test(arguments: StoreKind.all) func unknownCustomerIsNotFound(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let error = await expectRPCError(.notFound) { _ = try await fixture.client.getAccount(GetAccountRequest(customerID: "nobody")) }
            #expect(error?.message == "No customer 'nobody': none by that id was ever linked to a central-station account.")
            await expectRPCError(.notFound) { _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "nobody")) }
            await expectRPCError(.notFound) { _ = try await fixture.client.getTestStatus(GetTestStatusRequest(customerID: "nobody")) }
        }
    }

    @Test(arguments: StoreKind.all) func unlinkDeletesNothingAndIsIdempotent(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            fixture.clock.advance(byMs: 1000)
            let first = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            #expect(first.wasLinked)
            #expect(first.account?.linkState == .unlinked)
            #expect(first.account?.unlinkedAtMs == AccountFixture.start + 1000)
            let second = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            #expect(!second.wasLinked)
            let account = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(account.respondingParties.count == 2, "unlinking deletes nothing")
            #expect(account.customer?.equipment.count == 4)
            // Everything but Get, Link and Unlink is refused on an unlinked account.
            let refused = await expectRPCError(.failedPrecondition) {
                _ = try await fixture.client.placeOnTest(PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1))
            }
            #expect(refused?.message == "The central-station account of customer 'cust-1' is unlinked; link it first.")
            await expectRPCError(.failedPrecondition) {
                _ = try await fixture.client.setCentralStationZones(SetCentralStationZonesRequest(customerID: "cust-1", zones: []))
            }
            // Linking again restores it.
            let (customer, parties) = provoCustomer("cust-1")
            let relinked = try await fixture.client.linkAccount(
                LinkAccountRequest(customer: customer, respondingParties: parties, accountNumber: account.accountNumber))
            #expect(relinked.account?.linkState == .linked)
        }
    }

    @Test(arguments: StoreKind.all) func syncCustomerReplacesNameAddressContactsAndEquipment(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            var (customer, parties) = provoCustomer("cust-1")
            customer.lastName = "King"
            customer.passcode = ""
            customer.address?.street1 = "2 Center St"
            customer.equipment.removeLast()
            parties.removeFirst()
            let keptParty = parties[0].passcode
            #expect(!keptParty.isEmpty)
            parties[0].passcode = ""
            let synced = try await fixture.client.syncCustomer(SyncCustomerRequest(customer: customer, respondingParties: parties))
            #expect(synced.account?.customer?.lastName == "King")
            #expect(synced.account?.customer?.address?.street1 == "2 Center St")
            #expect(synced.account?.customer?.equipment.count == 3)
            #expect(synced.account?.respondingParties.map(\.id) == ["p-1"])
            #expect(synced.removedPartyIDs == ["p-2"] && synced.removedEquipmentIDs == ["eq-4"], "a sync says what it removed")
            let stored = try await fixture.store.read(.dealer(DealerID.demo)) { try $0.customer(id: "cust-1") }
            #expect(stored?.passcode == "secret-owl", "an empty passcode in a sync keeps the stored one")
            func partyPasscodes() async throws -> [String] {
                try await fixture.store.read(.dealer(DealerID.demo)) { try $0.respondingParties(customerID: "cust-1").map(\.passcode) }
            }
            #expect(try await partyPasscodes() == [keptParty], "a party's too (it was wiped while the customer's was kept)")
            // A relink without passcodes keeps them as well; one sent replaces the stored one.
            _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            #expect(try await partyPasscodes() == [keptParty])
            parties[0].passcode = "new-secret"
            _ = try await fixture.client.syncCustomer(SyncCustomerRequest(customer: customer, respondingParties: parties))
            #expect(try await partyPasscodes() == ["new-secret"])
            await expectRPCError(.invalidArgument) {
                customer.address?.zip = "8460"
                _ = try await fixture.client.syncCustomer(SyncCustomerRequest(customer: customer))
            }
        }
    }

    @Test(arguments: StoreKind.all) func zonesAreMappedToEquipmentOrListedApart(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let zones = [
                Zone(zoneNumber: "001", description: "Front door", eventType: .burglary),
                Zone(zoneNumber: "004", description: "Smoke", eventType: .fire),
                Zone(zoneNumber: "010", description: "Panic button", eventType: .panic)
            ]
            let response = try await fixture.client.setCentralStationZones(
                SetCentralStationZonesRequest(customerID: "cust-1", zones: zones))
            #expect(response.mappedZones.map { $0.zone?.zoneNumber } == ["001", "004"])
            #expect(response.mappedZones.map { $0.equipment?.id } == ["eq-1", "eq-4"])
            #expect(response.unmappedZones.map(\.zoneNumber) == ["010"])
            let account = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(account.mappedZones == response.mappedZones)
            #expect(account.unmappedZones == response.unmappedZones)
            let bad = await expectRPCError(.invalidArgument) {
                _ = try await fixture.client.setCentralStationZones(
                    SetCentralStationZonesRequest(customerID: "cust-1", zones: [Zone(zoneNumber: "1")]))
            }
            #expect(bad?.message == "Zone number '1' must be three digits from 001 to 999.")
            await expectRPCError(.invalidArgument) {
                _ = try await fixture.client.setCentralStationZones(
                    SetCentralStationZonesRequest(
                        customerID: "cust-1", zones: [Zone(zoneNumber: "005"), Zone(zoneNumber: "005")]))
            }
            // Values the proto does not name, and partitions past Contact ID's two digits, are refused, not stored.
            for (zone, message) in [
                (
                    Zone(zoneNumber: "005", description: "Den", eventType: ZoneEventType(rawValue: 99)),
                    "zones[0].event_type 99 is not a known value"
                ),
                (Zone(zoneNumber: "005", description: "Den", partition: 100), "zones[0].partition 100 is out of range (0 to 99")
            ] {
                let refused = await expectRPCError(.invalidArgument) {
                    _ = try await fixture.client.setCentralStationZones(SetCentralStationZonesRequest(customerID: "cust-1", zones: [zone]))
                }
                #expect(refused?.message.hasPrefix(message) == true, "\(refused?.message ?? "")")
            }
            #expect(try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")) == account, "nothing stored")
        }
    }
}

@Suite("Link and sync validation")
struct LinkValidationTests {
    /// Each change makes the Provo customer invalid; the message must name what is wrong.
    static let invalidCustomers: [(String, @Sendable (inout Customer, inout [RespondingParty]) -> Void)] = [
        ("The customer id is required.", { customer, _ in customer.id = " " }),
        ("responding_parties[0].phones: every responding party needs a phone number.", { _, parties in parties[0].phones = [] }),
        ("responding_parties[1].phones: every responding party needs a phone number.", { _, parties in parties[1].phones[0].number = "" }),
        ("customer.address.zip is required: authorities are found by the customer's zip code.", { customer, _ in customer.address = nil }),
        (
            "customer.address.zip is required: authorities are found by the customer's zip code.",
            { customer, _ in customer.address?.zip = "" }
        ),
        (
            "customer.address.state 'Utah' is not a US state or territory code (like UT).",
            { customer, _ in customer.address?.state = "Utah" }
        ),
        ("customer.address.state 'XX' is not a US state or territory code (like UT).", { customer, _ in customer.address?.state = "XX" }),
        (
            "The customer needs a name or a company name.",
            { customer, _ in (customer.firstName, customer.lastName, customer.companyName) = ("  ", " ", "") }
        ),
        (
            "Zone 002 is on two pieces of equipment, 'eq-2' and 'eq-3'.",
            { customer, _ in customer.equipment[2].zoneNumber = "002" }
        ),
        (
            "responding_parties[0] and [1] both have priority 2; each priority may be given once.",
            { _, parties in parties[1].priority = 2 }
        ),
        (
            "responding_parties[1].priority is 0; priorities start at 1 (1 is called first).",
            { _, parties in parties[1].priority = 0 }
        ),
        (
            "responding_parties[1] needs a first or last name: the central station asks for them by name.",
            { _, parties in (parties[1].firstName, parties[1].lastName) = (" ", "") }
        ),
        (
            "responding_parties[1].role 77 is not a known value (0 UNSPECIFIED, 1 CONTACT, 2 KEYHOLDER, 3 TECHNICIAN, 4 AGENT, 5 JANITOR, 6 PERSON).",
            { _, parties in parties[1].role = PartyRole(rawValue: 77) }
        ),
        (
            "responding_parties[0].phones[0].type 9 is not a known value (0 UNSPECIFIED, 1 MOBILE, 2 HOME, 3 WORK, 4 OTHER).",
            { _, parties in parties[0].phones[0].type = PhoneType(rawValue: 9) }
        ),
        (
            // An enum is an int32: a client's −1 is named −1, not 4294967295 (its wire value as an unsigned 32 bits).
            "responding_parties[0].role -1 is not a known value (0 UNSPECIFIED, 1 CONTACT, 2 KEYHOLDER, 3 TECHNICIAN, 4 AGENT, 5 JANITOR, 6 PERSON).",
            { _, parties in parties[0].role = PartyRole(rawValue: UInt32(bitPattern: -1)) }
        )
    ]

    @Test(arguments: 0..<invalidCustomers.count)
    func linkAndSyncRefuseAnInvalidCustomerAndWriteNothing(_ index: Int) async throws {
        let (message, change) = Self.invalidCustomers[index]
        try await withAccountService { fixture in
            var (customer, parties) = provoCustomer("cust-9")
            change(&customer, &parties)
            let linked = await expectRPCError(.invalidArgument) {
                _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            }
            #expect(linked?.message == message)
            #expect(try await fixture.store.read(.dealer(DealerID.demo)) { try $0.customerCount() } == 0, "nothing written")
            // The same customer data pushed by a sync to a linked customer.
            let before = try await linkProvoCustomer(fixture, "cust-1")
            var (synced, syncedParties) = provoCustomer("cust-1")
            change(&synced, &syncedParties)
            if synced.id == "cust-1" {
                let refused = await expectRPCError(.invalidArgument) {
                    _ = try await fixture.client.syncCustomer(SyncCustomerRequest(customer: synced, respondingParties: syncedParties))
                }
                #expect(refused?.message == message)
                #expect(try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")) == before, "nothing written")
            }
        }
    }

    @Test(arguments: StoreKind.all) func blankZoneDescriptionsAndAuthorityIDsAreInvalid(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let zone = await expectRPCError(.invalidArgument) {
                _ = try await fixture.client.setCentralStationZones(
                    SetCentralStationZonesRequest(
                        customerID: "cust-1",
                        zones: [Zone(zoneNumber: "001", description: "Front door"), Zone(zoneNumber: "002", description: " ")]))
            }
            #expect(zone?.message == "zones[1].description is required.")
            let authority = await expectRPCError(.invalidArgument) {
                _ = try await fixture.client.addAccountAuthorities(
                    AddAccountAuthoritiesRequest(
                        customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: "")]))
            }
            #expect(authority?.message == "authorities[0].authority_id is required.")
            let account = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(account.mappedZones.isEmpty && account.unmappedZones.isEmpty && account.authorities.isEmpty)
        }
    }
}

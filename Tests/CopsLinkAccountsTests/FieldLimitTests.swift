import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import Testing

@testable import CopsLinkAccounts

/// `FieldLimits`: every string and list of a request is bounded before anything is stored, and the answer names the
/// field and its limit, never the value.
@Suite("Field limits")
struct FieldLimitTests {
    /// `count` repetitions of `unit`: "é" is 2 UTF-8 bytes, so limits count bytes, not characters.
    func text(_ count: Int, _ unit: String = "x") -> String { String(repeating: unit, count: count) }

    /// One oversized field per kind of string, in every request type that has one.
    @Test(arguments: StoreKind.all) func stringsAreBoundedInUTF8BytesAndTheAnswerNamesTheFieldNotTheValue(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let linked = try await linkProvoCustomer(fixture)
            let client = fixture.client
            let (customer, parties) = provoCustomer("cust-2")
            func link(_ change: (inout LinkAccountRequest) -> Void) -> LinkAccountRequest {
                var request = LinkAccountRequest(customer: customer, respondingParties: parties)
                change(&request)
                return request
            }
            let cases: [(String, () async throws -> Void)] = [
                (
                    "customer.company_name is 201 bytes; at most 200",
                    {
                        _ = try await client.linkAccount(link { $0.customer?.companyName = text(201) })
                    }
                ),
                (
                    "customer.first_name is 102 bytes; at most 100",
                    {
                        _ = try await client.linkAccount(link { $0.customer?.firstName = text(51, "é") })
                    }
                ),
                (
                    "customer.address.street2 is 201 bytes; at most 200",
                    {
                        _ = try await client.linkAccount(link { $0.customer?.address?.street2 = text(201) })
                    }
                ),
                (
                    "customer.address.zip is 17 bytes; at most 16",
                    {
                        _ = try await client.linkAccount(link { $0.customer?.address?.zip = text(17, "1") })
                    }
                ),
                (
                    "customer.passcode is 65 bytes; at most 64",
                    {
                        _ = try await client.linkAccount(link { $0.customer?.passcode = text(65) })
                    }
                ),
                (
                    "customer.equipment[2].zone_description is 201 bytes; at most 200",
                    {
                        _ = try await client.linkAccount(link { $0.customer?.equipment[2].zoneDescription = text(201) })
                    }
                ),
                (
                    "responding_parties[1].phones[0].extension is 17 bytes; at most 16",
                    {
                        _ = try await client.linkAccount(link { $0.respondingParties[1].phones[0].extension = text(17, "9") })
                    }
                ),
                (
                    "responding_parties[0].email is 255 bytes; at most 254",
                    {
                        _ = try await client.linkAccount(link { $0.respondingParties[0].email = text(255) })
                    }
                ),
                (
                    "responding_parties[0].id is 129 bytes; at most 128",
                    {
                        _ = try await client.linkAccount(link { $0.respondingParties[0].id = text(129) })
                    }
                ),
                (
                    "account_number is 33 bytes; at most 32",
                    {
                        _ = try await client.linkAccount(link { $0.accountNumber = text(33, "1") })
                    }
                ),
                ("line is 17 bytes; at most 16", { _ = try await client.linkAccount(link { $0.line = text(17, "1") }) }),
                (
                    "customer.last_name is 101 bytes; at most 100",
                    {
                        var pushed = provoCustomer().0
                        pushed.lastName = text(101)
                        _ = try await client.syncCustomer(SyncCustomerRequest(customer: pushed))
                    }
                ),
                ("customer_id is 129 bytes; at most 128", { _ = try await client.getAccount(GetAccountRequest(customerID: text(129))) }),
                (
                    "request_id is 65 bytes; at most 64",
                    {
                        _ = try await client.unlinkAccount(UnlinkAccountRequest(requestID: text(65), customerID: "cust-1"))
                    }
                ),
                (
                    "the copslink-request-id metadata is 65 bytes; at most 64",
                    {
                        _ = try await client.unlinkAccount(
                            UnlinkAccountRequest(customerID: "cust-1"), options: CallOptions(requestID: text(65)))
                    }
                ),
                (
                    "zip is 17 bytes; at most 16",
                    {
                        _ = try await client.searchAuthorities(SearchAuthoritiesRequest(type: .police, zip: text(17, "8")))
                    }
                ),
                (
                    "authorities[0].permit_number is 65 bytes; at most 64",
                    {
                        _ = try await client.addAccountAuthorities(
                            AddAccountAuthoritiesRequest(
                                customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: "ut-provo-pd", permitNumber: text(65))]))
                    }
                ),
                (
                    "added_by is 101 bytes; at most 100",
                    {
                        _ = try await client.addAccountAuthorities(
                            AddAccountAuthoritiesRequest(
                                customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: "ut-provo-pd")], addedBy: text(101)))
                    }
                ),
                (
                    "account_authority_id is 129 bytes; at most 128",
                    {
                        _ = try await client.removeAccountAuthority(
                            RemoveAccountAuthorityRequest(customerID: "cust-1", accountAuthorityID: text(129)))
                    }
                ),
                (
                    "zones[1].location is 201 bytes; at most 200",
                    {
                        _ = try await client.setCentralStationZones(
                            SetCentralStationZonesRequest(
                                customerID: "cust-1",
                                zones: [
                                    Zone(zoneNumber: "001"), Zone(zoneNumber: "002", location: text(201))
                                ]))
                    }
                ),
                (
                    "customer_id is 129 bytes; at most 128",
                    { _ = try await client.getTestStatus(GetTestStatusRequest(customerID: text(129))) }
                ),
                (
                    "comment is 1001 bytes; at most 1000",
                    {
                        _ = try await client.placeOnTest(
                            PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1, comment: text(1001)))
                    }
                ),
                (
                    "authorized_by.verified_by is 101 bytes; at most 100",
                    {
                        _ = try await client.placeOnTest(
                            PlaceOnTestRequest(
                                customerID: "cust-1", categoryID: "service", durationHours: 1,
                                authorizedBy: TestAuthorization(respondingPartyID: "p-1", verifiedBy: text(101))))
                    }
                ),
                (
                    "placed_by.name is 101 bytes; at most 100",
                    {
                        _ = try await client.placeOffTest(
                            PlaceOffTestRequest(customerID: "cust-1", placedBy: UserRef(id: "tech-7", name: text(101))))
                    }
                ),
                (
                    "customer_id is 129 bytes; at most 128",
                    {
                        _ = try await client.requestTestData(
                            RequestTestDataRequest(customerID: text(129), type: .history, fromMs: 0, toMs: 1)
                        ) { try await $0.collect() }
                    }
                )
            ]
            for (expected, call) in cases {
                let error = await expectRPCError(.invalidArgument) { try await call() }
                #expect(error?.message == expected)
            }
            #expect(try await client.getAccount(GetAccountRequest(customerID: "cust-1")) == linked, "nothing was changed")
            await expectRPCError(.notFound) { _ = try await client.getAccount(GetAccountRequest(customerID: "cust-2")) }
        }
    }

    @Test(arguments: StoreKind.all) func valuesAtTheLimitAreAccepted(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            var (customer, parties) = provoCustomer("cust-1")
            customer.companyName = text(200)
            customer.firstName = text(50, "é")
            customer.passcode = text(64)
            parties[0].email = text(254)
            parties[0].phones = Array(repeating: Phone(number: text(32, "5"), extension: text(16, "1")), count: FieldLimits.phonesPerParty)
            let account = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties)).account
            #expect(account?.customer?.companyName.utf8.count == 200)
            let session = try await fixture.client.placeOnTest(
                PlaceOnTestRequest(
                    customerID: "cust-1", categoryID: "service", durationHours: 1, comment: text(1000))
            ).session
            #expect(session?.comment.utf8.count == 1000)
        }
    }

    @Test(arguments: StoreKind.all) func listsAreBounded(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let client = fixture.client
            let (customer, parties) = provoCustomer("cust-2")
            let tooManyParties = (0...FieldLimits.respondingParties).map { RespondingParty(id: "p-\($0)") }
            let error = await expectRPCError(.invalidArgument) {
                _ = try await client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: tooManyParties))
            }
            #expect(error?.message == "responding_parties has 101 entries; at most 100")

            let zones = (0...FieldLimits.zones).map { Zone(zoneNumber: zoneNumber($0 % 999 + 1)) }
            let zonesError = await expectRPCError(.invalidArgument) {
                _ = try await client.setCentralStationZones(SetCentralStationZonesRequest(customerID: "cust-1", zones: zones))
            }
            #expect(zonesError?.message == "zones has 1001 entries; at most 1000")

            let authorities = (0...FieldLimits.authoritiesPerRequest).map { _ in AuthorityToAdd(authorityID: "ut-provo-pd") }
            let authoritiesError = await expectRPCError(.invalidArgument) {
                _ = try await client.addAccountAuthorities(AddAccountAuthoritiesRequest(customerID: "cust-1", authorities: authorities))
            }
            #expect(authoritiesError?.message == "authorities has 51 entries; at most 50")

            let listed = (0...FieldLimits.testZones).map { zoneNumber($0 % 999 + 1) }
            let testError = await expectRPCError(.invalidArgument) {
                _ = try await client.placeOnTest(
                    PlaceOnTestRequest(
                        customerID: "cust-1", categoryID: "service", durationHours: 1, scope: .onlyListed, zoneNumbers: listed))
            }
            #expect(testError?.message == "zone_numbers has 1001 entries; at most 1000")
            _ = parties
            #expect(try await fixture.openSession() == nil)
            #expect(try await client.getAccount(GetAccountRequest(customerID: "cust-1")).authorities.isEmpty)
        }
    }

    @Test(arguments: StoreKind.all) func nestedListsAreBounded(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            var (customer, parties) = provoCustomer("cust-1")
            parties[1].phones = Array(repeating: Phone(number: "801-555-0100"), count: FieldLimits.phonesPerParty + 1)
            let phonesError = await expectRPCError(.invalidArgument) {
                _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            }
            #expect(phonesError?.message == "responding_parties[1].phones has 11 entries; at most 10")

            parties = provoCustomer("cust-1").1
            customer.equipment = (0...FieldLimits.equipment).map { Equipment(id: "eq-\($0)") }
            let equipmentError = await expectRPCError(.invalidArgument) {
                _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            }
            #expect(equipmentError?.message == "customer.equipment has 1001 entries; at most 1000")
            await expectRPCError(.notFound) { _ = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")) }
        }
    }
}

@Suite("Field limits of ReportSignals")
struct SignalLimitTests {
    let t0 = AccountFixture.start

    /// The signal after the 100,000th ends the stream INVALID_ARGUMENT; every signal before it was processed, none
    /// after it.
    @Test(arguments: StoreKind.all) func aStreamHoldsAtMostItsLimitOfSignals(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture, accountNumber: "1234")
            try await fixture.placeOnTest()
            let last = contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 + 1)
            let pastTheLimit = contactIDSignal(event: "130", zoneOrUser: "002", atMs: t0 + 2)
            let signals =
                Array(repeating: Signal(contactID: "garbage"), count: FieldLimits.signalsPerStream - 1) + [last]
                + Array(repeating: pastTheLimit, count: 3)
            let error = await expectRPCError(.invalidArgument) { _ = try await fixture.report(signals) }
            #expect(
                error?.message == "the ReportSignals stream has more than 100000 signals; at most 100000 per stream "
                    + "(the first 100000 were processed; send the rest in a new stream)")
            fixture.clock.advance(byMs: minuteMs)
            #expect(try await fixture.results().map(\.receivedAtMs) == [t0 + 1], "the last signal within the limit is stored, none past it")
        }
    }

    /// Rejections are counted; only the first `maximumListedRejections` (100 by default) are listed.
    @Test(arguments: StoreKind.all) func rejectionsAreCountedAndOnlyTheFirstListed(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let oversized = Signal(receivedAtMs: t0, contactID: String(repeating: "1", count: FieldLimits.contactIDMessage + 1))
            let response = try await fixture.report(Array(repeating: oversized, count: 150))
            #expect(response.received == 150)
            #expect(response.rejectedCount == 150)
            #expect(response.rejected.map(\.index) == Array(0..<100))
            #expect(response.rejected.allSatisfy { $0.reason == "contact_id is 65 bytes; at most 64" })
        }
    }

    @Test(arguments: StoreKind.all) func aSignalOverAFieldLimitIsRejectedAndTheStreamGoesOn(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture, accountNumber: "1234")
            let response = try await fixture.report([
                Signal(
                    accountNumber: String(repeating: "1", count: 33), receivedAtMs: t0, qualifier: 1, eventCode: "130", zoneOrUser: "001"),
                Signal(
                    accountNumber: "1234", receivedAtMs: t0, qualifier: 1, eventCode: "130", zoneOrUser: String(repeating: "0", count: 17)),
                Signal(accountNumber: "1234", receivedAtMs: t0, qualifier: 1, eventCode: "130", zoneOrUser: "001")
            ])
            #expect(response.storedAsHistory == 1)
            #expect(
                response.rejected == [
                    SignalRejection(index: 0, reason: "account_number is 33 bytes; at most 32"),
                    SignalRejection(index: 1, reason: "zone_or_user is 17 bytes; at most 16")
                ])
            #expect(response.rejectedCount == 2)
        }
    }

    /// A rejection quotes client text on one line: control characters escaped.
    @Test(arguments: StoreKind.all) func rejectionReasonsEscapeControlCharacters(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let response = try await fixture.report([
                Signal(accountNumber: "1234", receivedAtMs: t0, qualifier: 1, eventCode: "1\n3", zoneOrUser: "001"),
                Signal(accountNumber: "12\r\n34", receivedAtMs: t0, qualifier: 1, eventCode: "130", zoneOrUser: "001"),
                Signal(receivedAtMs: t0, contactID: "1234\u{1B}8113001001F")
            ])
            #expect(
                response.rejected.sorted { $0.index < $1.index }.map(\.reason) == [
                    "event code must be three digits, got '1\\n3'",
                    "unknown account number 12\\r\\n34",
                    "Contact ID message contains '\\u{1B}', which is not a digit or B-F"
                ])
        }
    }
}

@Suite("Client text in answers")
struct ClientTextTests {
    @Test func anExcerptIsAtMost64BytesOfWholeScalarsOnOneLine() {
        #expect(ClientText.excerpt("a\nb\u{7}\\c\u{202E}") == "a\\nb\\u{7}\\\\c\\u{202E}")
        #expect(ClientText.excerpt(String(repeating: "é", count: 100)) == String(repeating: "é", count: 32) + "…")
        #expect(ClientText.excerpt(String(repeating: "x", count: 64)) == String(repeating: "x", count: 64))
        #expect(ClientText.excerpt(String(repeating: "x", count: 65)) == String(repeating: "x", count: 64) + "…")
    }
}

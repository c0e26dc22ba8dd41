import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import Testing

/// Central-station data (receiver and line, zones, authorities, tests and history) belongs to the account number and
/// follows it from customer to customer; customer data from the CRM is what the last link or sync sent.
@Suite("Central-station data follows the account number")
struct CentralStationAccountTests {
    /// What GetAccount and the history show of one account, for comparing after each relink.
    struct Page: Equatable {
        var accountNumber: String
        var receiver: String
        var line: String
        var zones: [String]
        var authorities: [String]
        var history: [TestHistoryAction]
    }

    func page(_ fixture: AccountFixture, _ customerID: String) async throws -> Page {
        let account = try await fixture.client.getAccount(GetAccountRequest(customerID: customerID))
        let zones = (account.mappedZones.compactMap { $0.zone?.zoneNumber } + account.unmappedZones.map(\.zoneNumber)).sorted()
        return Page(
            accountNumber: account.accountNumber, receiver: account.receiverNumber, line: account.line, zones: zones,
            authorities: account.authorities.compactMap { $0.authority?.id },
            history: account.linkState == .linked ? try await fixture.history(customerID).map(\.action) : [])
    }

    func link(
        _ fixture: AccountFixture, _ customerID: String, _ accountNumber: String = "", receiver: String = ""
    ) async throws
        -> LinkAccountResponse
    {
        let (customer, parties) = provoCustomer(customerID)
        return try await fixture.client.linkAccount(
            LinkAccountRequest(
                customer: customer, respondingParties: parties, accountNumber: accountNumber, receiverNumber: receiver, line: ""))
    }

    func unlink(_ fixture: AccountFixture, _ customerID: String) async throws {
        _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: customerID))
    }

    @Test(arguments: StoreKind.all) func unlinkRelinkOtherNumberAndBack(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let first = try await link(fixture, "cust-1", "22-8762", receiver: "2")
            #expect(first.created, "a named number new to the server starts a new account")
            _ = try await fixture.client.setCentralStationZones(
                SetCentralStationZonesRequest(
                    customerID: "cust-1",
                    zones: [Zone(zoneNumber: "001", description: "Front door"), Zone(zoneNumber: "010", description: "Panic")]))
            let police = try #require(
                try await fixture.client.searchAuthorities(
                    SearchAuthoritiesRequest(customerID: "cust-1", type: .police)
                ).authorities.first)
            _ = try await fixture.client.addAccountAuthorities(
                AddAccountAuthoritiesRequest(
                    customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: police.id, permitNumber: "P-1")]))
            try await fixture.placeOnTest()
            _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            let original = Page(
                accountNumber: "22-8762", receiver: "2", line: "1", zones: ["001", "010"], authorities: [police.id],
                history: [.placedOnTest, .placedOffTest])
            #expect(try await page(fixture, "cust-1") == original)

            // Unlink and relink the same number without --receiver/--line: everything stays, receiver 2/1 too.
            try await unlink(fixture, "cust-1")
            let relinked = try await link(fixture, "cust-1", "22-8762")
            #expect(!relinked.created)
            #expect(try await page(fixture, "cust-1") == original)

            // A relink that names no number takes the customer's last one back, with everything on it.
            try await unlink(fixture, "cust-1")
            let back = try await link(fixture, "cust-1")
            #expect(!back.created && back.account?.accountNumber == "22-8762")
            #expect(try await page(fixture, "cust-1") == original)

            // Another customer links the original number: it gets that account's data.
            try await unlink(fixture, "cust-1")
            _ = try await link(fixture, "cust-2", "22-8762")
            #expect(try await page(fixture, "cust-2") == original)
            let taken = await expectRPCError(.alreadyExists) { _ = try await link(fixture, "cust-3", "22-8762") }
            #expect(taken?.message == "Account number 22-8762 is linked to customer 'cust-2'.")

            // Its number taken, a relink that names none gets a new number, which starts empty.
            let fresh = try await link(fixture, "cust-1")
            #expect(fresh.created)
            let newNumber = try #require(fresh.account?.accountNumber)
            #expect(newNumber != "22-8762")
            #expect(
                try await page(fixture, "cust-1")
                    == Page(
                        accountNumber: newNumber, receiver: "1", line: "1", zones: [], authorities: [], history: []))

            // The first customer comes back to the original number once it is free again.
            try await unlink(fixture, "cust-2")
            try await unlink(fixture, "cust-1")
            _ = try await link(fixture, "cust-1", "22-8762")
            #expect(try await page(fixture, "cust-1") == original)
            // And the other number kept nothing of it.
            try await unlink(fixture, "cust-1")
            _ = try await link(fixture, "cust-1", newNumber)
            #expect(
                try await page(fixture, "cust-1")
                    == Page(
                        accountNumber: newNumber, receiver: "1", line: "1", zones: [], authorities: [], history: []))
        }
    }

    @Test(arguments: StoreKind.all) func aRelinkThatDropsPartiesOrEquipmentSaysWhatWasRemoved(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let account = try await linkProvoCustomer(fixture, accountNumber: "22-8763")
            _ = try await fixture.client.setCentralStationZones(
                SetCentralStationZonesRequest(
                    customerID: "cust-1",
                    zones: [Zone(zoneNumber: "001", description: "Front door"), Zone(zoneNumber: "004", description: "Smoke")]))
            try await unlink(fixture, "cust-1")
            var (customer, parties) = provoCustomer("cust-1")
            customer.equipment.removeLast()
            parties.removeFirst()
            let relinked = try await fixture.client.linkAccount(
                LinkAccountRequest(
                    customer: customer, respondingParties: parties, accountNumber: account.accountNumber))
            #expect(relinked.removedPartyIDs == ["p-2"])
            #expect(relinked.removedEquipmentIDs == ["eq-4"])
            #expect(relinked.account?.mappedZones.compactMap { $0.zone?.zoneNumber } == ["001"])
            #expect(relinked.account?.unmappedZones.map(\.zoneNumber) == ["004"], "the zone stays, unmapped")
            // A first link removes nothing.
            let first = try await link(fixture, "cust-2")
            #expect(first.removedPartyIDs.isEmpty && first.removedEquipmentIDs.isEmpty)
        }
    }
}

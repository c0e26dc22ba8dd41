import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import Testing

/// Generated account numbers and the per-dealer account quota: LinkAccount never loops inside the write transaction.
@Suite("Account numbers and quota")
struct AccountNumberTests {
    @Test(arguments: StoreKind.all) func generatedNumbersAreCLAndTwelveDigits(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let number = try await linkProvoCustomer(fixture).accountNumber
            #expect(number.hasPrefix("CL-"))
            #expect(number.dropFirst(3).count == 12 && number.dropFirst(3).allSatisfy(\.isWholeNumber))
        }
    }

    /// A generator that only ever proposes a taken number: LinkAccount gives up after the fixed number of
    /// attempts, and the store keeps taking writes.
    @Test func generationGivesUpAfterItsAttempts() async throws {
        let proposals = LockedBox(0)
        let colliding = AccountNumberGenerator {
            proposals.withLock { $0 += 1 }
            return "CL-TAKEN"
        }
        try await withAccountService(accountNumbers: colliding) { fixture in
            try await linkProvoCustomer(fixture, "cust-1", accountNumber: "CL-TAKEN")
            let error = await expectRPCError(.resourceExhausted) { try await linkProvoCustomer(fixture, "cust-2") }
            #expect(error?.message == "could not allocate an account number after 16 attempts")
            #expect(proposals.value == AccountNumberGenerator.maximumAttempts)
            await expectRPCError(.notFound) { _ = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-2")) }
            #expect(try await linkProvoCustomer(fixture, "cust-2", accountNumber: "22-0002").accountNumber == "22-0002", "writes go on")
        }
    }

    /// A proposal that collides is retried: the next free one is used.
    @Test func aCollisionIsRetried() async throws {
        let proposals = LockedBox(0)
        let generator = AccountNumberGenerator {
            let attempt = proposals.withLock { value in
                value += 1
                return value
            }
            return attempt < 3 ? "CL-TAKEN" : "CL-FREE-\(attempt)"
        }
        try await withAccountService(accountNumbers: generator) { fixture in
            try await linkProvoCustomer(fixture, "cust-1", accountNumber: "CL-TAKEN")
            #expect(try await linkProvoCustomer(fixture, "cust-2").accountNumber == "CL-FREE-3")
        }
    }

    /// With a quota of 2: the third new customer is refused, a relink of an unlinked one is not (it adds no
    /// account), an idempotent retry still gets its first answer, and another dealer has a quota of its own.
    @Test func aDealerCannotPassItsAccountQuota() async throws {
        var configuration = AccountServiceConfiguration()
        configuration.maximumAccountsPerDealer = 2
        try await withTenantService(configuration: configuration) { fixture in
            let first = LinkAccountRequest(requestID: newRequestID(), customer: provoCustomer("cust-1").0)
            let linked = try await fixture.acme.linkAccount(first)
            _ = try await fixture.acme.linkAccount(LinkAccountRequest(customer: provoCustomer("cust-2").0, accountNumber: "22-0002"))

            for accountNumber in ["", "22-0003"] {
                let error = await expectRPCError(.resourceExhausted) {
                    _ = try await fixture.acme.linkAccount(
                        LinkAccountRequest(customer: provoCustomer("cust-3").0, accountNumber: accountNumber))
                }
                #expect(error?.message == "dealer acme has reached its quota of 2 accounts")
            }
            await expectRPCError(.notFound) { _ = try await fixture.acme.getAccount(GetAccountRequest(customerID: "cust-3")) }
            #expect(try await fixture.acme.linkAccount(first) == linked, "a retry gets its first answer")

            _ = try await fixture.acme.unlinkAccount(UnlinkAccountRequest(customerID: "cust-2"))
            let relinked = try await fixture.acme.linkAccount(
                LinkAccountRequest(customer: provoCustomer("cust-2").0, accountNumber: "22-0002"))
            #expect(relinked.account?.linkState == .linked)

            _ = try await fixture.beta.linkAccount(LinkAccountRequest(customer: provoCustomer("cust-3").0))
            #expect(try await fixture.store.read(.dealer("acme")) { try $0.customerCount() } == 2)
            #expect(try await fixture.store.read(.dealer("beta")) { try $0.customerCount() } == 1)
        }
    }
}

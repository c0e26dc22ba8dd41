import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import Testing

/// The account service behind the real `AuthInterceptor` and API keys in its store, over loopback TCP.
struct TenantFixture: Sendable {
    let store: any AccountStore & APIKeyStore
    /// Dealer acme: read, write, test-control.
    let acme: AccountService.Client
    /// Dealer beta: read, write, test-control.
    let beta: AccountService.Client
    /// Dealer acme, read only.
    let acmeReader: AccountService.Client
    /// No key at all.
    let anonymous: AccountService.Client
    let transport: TCPClientTransport
    let acmeToken: APIKeyToken

    func client(token: String) -> AccountService.Client {
        AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: token))
    }
}

func withTenantService<Result: Sendable>(
    on kind: StoreKind = .sqlite, configuration: AccountServiceConfiguration = AccountServiceConfiguration(),
    _ body: (TenantFixture) async throws -> Result
) async throws -> Result {
    try await withTestStore(kind) { testStore in try await withTenantService(testStore.store, configuration: configuration, body) }
}

func withTenantService<Result: Sendable>(
    _ store: any AccountStore & APIKeyStore, configuration: AccountServiceConfiguration = AccountServiceConfiguration(),
    _ body: (TenantFixture) async throws -> Result
) async throws -> Result {
    let authorities = try DemoData.sampleAuthorities()
    try await store.write(.allDealers) { try $0.saveAuthorities(authorities) }
    let acme = try await store.createAPIKey(dealerID: "acme", name: "acme crm", roles: [.read, .write, .testControl], nowMs: 1)
    let beta = try await store.createAPIKey(dealerID: "beta", name: "beta crm", roles: [.read, .write, .testControl], nowMs: 1)
    let reader = try await store.createAPIKey(dealerID: "acme", name: "acme reports", roles: [.read], nowMs: 1)
    var router = RPCRouter()
    AccountServiceImplementation(store: store, clock: ManualAccountClock(nowMs: AccountFixture.start), configuration: configuration)
        .registerMethods(with: &router)
    let interceptors: [any ServerInterceptor] = [
        AuthInterceptor(authenticator: APIKeyAuthenticator(store: store, cacheTTL: .zero), policy: .copsLink)
    ]
    return try await TCPServer.withServer(
        configuration: ServerConfiguration(), router: router, interceptors: interceptors, logger: quietLogger()
    ) { server in
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port!)) { transport in
            func client(_ token: APIKeyToken?) -> AccountService.Client {
                AccountService.Client(
                    wrapping: token.map { RPCClient(transport: transport, bearerToken: $0.token) } ?? RPCClient(transport: transport))
            }
            return try await body(
                TenantFixture(
                    store: store, acme: client(acme), beta: client(beta), acmeReader: client(reader), anonymous: client(nil),
                    transport: transport, acmeToken: acme))
        }
    }
}

@Suite("Dealers and API keys")
struct TenantIsolationTests {
    @Test(arguments: StoreKind.all) func anotherDealersCustomerLooksExactlyLikeAMissingOne(_ kind: StoreKind) async throws {
        try await withTenantService(on: kind) { fixture in
            let (customer, parties) = provoCustomer("cust-1")
            _ = try await fixture.acme.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))

            let missing = await expectRPCError(.notFound) { _ = try await fixture.beta.getAccount(GetAccountRequest(customerID: "nobody")) }
            let foreign = await expectRPCError(.notFound) { _ = try await fixture.beta.getAccount(GetAccountRequest(customerID: "cust-1")) }
            #expect(foreign?.message == missing?.message.replacingOccurrences(of: "nobody", with: "cust-1"))

            // Every kind of call on acme's customer, made by beta: NOT_FOUND, and nothing changes.
            await expectRPCError(.notFound) { _ = try await fixture.beta.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1")) }
            await expectRPCError(.notFound) {
                _ = try await fixture.beta.placeOnTest(PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1))
            }
            await expectRPCError(.notFound) { _ = try await fixture.beta.getTestStatus(GetTestStatusRequest(customerID: "cust-1")) }
            await expectRPCError(.notFound) {
                _ = try await fixture.beta.setCentralStationZones(SetCentralStationZonesRequest(customerID: "cust-1", zones: []))
            }
            await expectRPCError(.notFound) {
                _ = try await fixture.beta.syncCustomer(SyncCustomerRequest(customer: customer, respondingParties: parties))
            }
            let account = try await fixture.acme.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(account.linkState == .linked && account.testStatus?.onTest != true)
        }
    }

    @Test(arguments: StoreKind.all) func eachDealerHasItsOwnCustomerIDs(_ kind: StoreKind) async throws {
        try await withTenantService(on: kind) { fixture in
            let (customer, parties) = provoCustomer("cust-1")
            let acmeAccount = try await fixture.acme.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties)).account
            var betaCustomer = customer
            betaCustomer.lastName = "Byron"
            let betaAccount = try await fixture.beta.linkAccount(LinkAccountRequest(customer: betaCustomer)).account
            #expect(acmeAccount?.accountNumber != betaAccount?.accountNumber)

            _ = try await fixture.beta.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            let acmeView = try await fixture.acme.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(acmeView.linkState == .linked && acmeView.customer?.lastName == "Lovelace")
            let betaView = try await fixture.beta.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(betaView.linkState == .unlinked && betaView.customer?.lastName == "Byron")
        }
    }

    @Test(arguments: StoreKind.all) func theStoreItselfScopesEveryQueryToOneDealer(_ kind: StoreKind) async throws {
        try await withTenantService(on: kind) { fixture in
            let (customer, parties) = provoCustomer("cust-1")
            _ = try await fixture.acme.linkAccount(
                LinkAccountRequest(customer: customer, respondingParties: parties, accountNumber: "4321"))
            let fromBeta = try await fixture.store.read(.dealer("beta")) { transaction in
                (
                    try transaction.customer(id: "cust-1"), try transaction.link(customerID: "cust-1"),
                    try transaction.link(accountNumber: "4321"), try transaction.respondingParties(customerID: "cust-1").count,
                    try transaction.customerCount()
                )
            }
            #expect(fromBeta.0 == nil && fromBeta.1 == nil && fromBeta.2 == nil && fromBeta.3 == 0 && fromBeta.4 == 0)
            let fromAcme = try await fixture.store.read(.dealer("acme")) { transaction in
                (try transaction.customer(id: "cust-1")?.id, try transaction.link(accountNumber: "4321")?.customerID)
            }
            #expect(fromAcme.0 == "cust-1" && fromAcme.1 == "cust-1")
        }
    }

    @Test(arguments: StoreKind.all) func accountNumbersAndRequestIDsDoNotLeakAcrossDealers(_ kind: StoreKind) async throws {
        try await withTenantService(on: kind) { fixture in
            let requestID = newRequestID()
            let (customer, parties) = provoCustomer("cust-1")
            _ = try await fixture.acme.linkAccount(
                LinkAccountRequest(requestID: requestID, customer: customer, respondingParties: parties, accountNumber: "4321"))

            // The number is taken at the central station, but beta learns nothing about whose it is.
            let (other, _) = provoCustomer("cust-9")
            let taken = await expectRPCError(.alreadyExists) {
                _ = try await fixture.beta.linkAccount(LinkAccountRequest(customer: other, accountNumber: "4321"))
            }
            #expect(taken?.message.contains("cust-1") == false)

            // The same request id from beta is beta's own: a new request, not acme's answer replayed.
            let (betaCustomer, _) = provoCustomer("cust-2")
            let betaLink = try await fixture.beta.linkAccount(LinkAccountRequest(requestID: requestID, customer: betaCustomer))
            #expect(betaLink.account?.customer?.id == "cust-2")

            // Signals for acme's account sent with beta's key are rejected as for an unknown account.
            let report = try await fixture.beta.reportSignals(
                Messages([
                    Signal(accountNumber: "4321", qualifier: 1, eventCode: "130", zoneOrUser: "001"),
                    Signal(accountNumber: "9999", qualifier: 1, eventCode: "130", zoneOrUser: "001")
                ]))
            #expect(report.rejected.map(\.reason) == ["unknown account number 4321", "unknown account number 9999"])
        }
    }

    @Test(arguments: StoreKind.all) func rolesAndCredentialsAreEnforced(_ kind: StoreKind) async throws {
        try await withTenantService(on: kind) { fixture in
            let (customer, parties) = provoCustomer("cust-1")
            await expectRPCError(.unauthenticated) {
                _ = try await fixture.anonymous.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            }
            await expectRPCError(.permissionDenied) {
                _ = try await fixture.acmeReader.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            }
            _ = try await fixture.acme.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            // The read-only key of the same dealer sees the account, and may not place it on test.
            let seen = try await fixture.acmeReader.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(seen.customer?.id == "cust-1")
            await expectRPCError(.permissionDenied) {
                _ = try await fixture.acmeReader.placeOnTest(
                    PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1))
            }
            await expectRPCError(.unauthenticated) {
                _ = try await fixture.client(token: "clk_0000000000000000_" + String(repeating: "0", count: 64))
                    .getAccount(GetAccountRequest(customerID: "cust-1"))
            }
            // Revoked: refused from the next call on (this fixture does not cache keys).
            #expect(try await fixture.store.revokeAPIKey(id: fixture.acmeToken.id, atMs: 2))
            await expectRPCError(.unauthenticated) { _ = try await fixture.acme.getAccount(GetAccountRequest(customerID: "cust-1")) }
        }
    }

    @Test func everyAccountServiceMethodHasAnExplicitRole() {
        var router = RPCRouter()
        AccountServiceImplementation(store: NeverStore()).registerMethods(with: &router)
        let policy = AccessPolicy.copsLink
        let paths = router.methods.map(\.descriptor.path).filter { $0.hasPrefix("/\(AccountService.serviceName)/") }
        #expect(Set(paths) == Set(AccountService.methods.map(\.descriptor.path)))
        for path in paths { #expect(policy.requiredRoles[path] != nil, "\(path) has no role") }
        #expect(policy.requiredRole(forPath: Health.Method.check.path) == nil)
        #expect(policy.requiredRole(forPath: TestService.Method.unaryCall.path) == .admin)
    }
}

/// A store no test reaches: for registering the service's methods only.
private struct NeverStore: AccountStore {
    func read<Result: Sendable>(
        _ scope: StoreScope, _ body: @escaping @Sendable (any AccountReadTransaction) throws -> Result
    ) async throws -> Result {
        throw AccountError(.internalError, "not used")
    }
    func write<Result: Sendable>(
        _ scope: StoreScope, _ body: @escaping @Sendable (any AccountWriteTransaction) throws -> Result
    ) async throws -> Result {
        throw AccountError(.internalError, "not used")
    }
    func prune(_ kind: RetainedRows, before cutoffMs: Int64, limit: Int) async throws -> Int {
        throw AccountError(.internalError, "not used")
    }
}

@Suite("Dealer ids")
struct DealerIDTests {
    @Test(arguments: ["demo", "acme-security", "a", "dealer_7.eu", String(repeating: "d", count: 64)])
    func valid(_ id: String) { #expect(DealerID.isValid(id)) }

    @Test(arguments: ["", "Acme", "-acme", "acme/x", "a b", "acme\u{0}", String(repeating: "d", count: 65), "ümlaut"])
    func invalid(_ id: String) { #expect(!DealerID.isValid(id)) }

    /// A dealer id with a `/` would name other dealers' storage keys: neither keys nor the store accept one.
    @Test func neitherKeysNorTheStoreAcceptAnInvalidDealer() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let store = try SQLiteAccountStore(path: path)
        await #expect(throws: InvalidDealerID.self) {
            _ = try await store.createAPIKey(dealerID: "demo/cust", name: "", roles: [.admin], nowMs: 1)
        }
        let refused = await #expect(throws: AccountError.self) { _ = try await store.read(.dealer("demo/x")) { try $0.customerCount() } }
        #expect(refused?.code == .permissionDenied)
    }
}

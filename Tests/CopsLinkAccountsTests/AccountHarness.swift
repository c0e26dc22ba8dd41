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
import Logging
import Testing

/// A running account service over loopback TCP on a fresh store (an SQLite file unless told), with a clock the test
/// moves.
struct AccountFixture: Sendable {
    let client: AccountService.Client
    let store: any AccountStore & APIKeyStore
    /// The store when it is SQLite, for tests of SQLite's own machinery.
    let sqlite: SQLiteAccountStore?
    let clock: ManualAccountClock
    let expiry: TestExpiryScheduler
    /// The SQLite file, or "" on PostgreSQL.
    let databasePath: String
    /// The store's kind and, on PostgreSQL, a way to open a second store on the same database (another instance).
    let testStore: TestStore

    /// 2026-11-28T12:00:00Z
    static let start: Int64 = 1_795_867_200_000
}

func quietLogger() -> Logger {
    var logger = Logger(label: "copslink.test")
    logger.logLevel = .critical
    return logger
}

/// Runs `body` against a fresh account service on a store of `kind` with the sample authority directory loaded.
func withAccountService<Result: Sendable>(
    on kind: StoreKind = .sqlite, configuration: AccountServiceConfiguration = AccountServiceConfiguration(),
    server: ServerConfiguration = ServerConfiguration(), accountNumbers: AccountNumberGenerator = .random,
    _ body: (AccountFixture) async throws -> Result
) async throws -> Result {
    try await withTestStore(kind) { testStore in
        try await withAccountService(testStore, configuration: configuration, server: server, accountNumbers: accountNumbers, body)
    }
}

/// Runs `body` against an account service on `testStore`, after loading the sample authority directory.
func withAccountService<Result: Sendable>(
    _ testStore: TestStore, configuration: AccountServiceConfiguration = AccountServiceConfiguration(),
    server: ServerConfiguration = ServerConfiguration(), accountNumbers: AccountNumberGenerator = .random,
    _ body: (AccountFixture) async throws -> Result
) async throws -> Result {
    let store = testStore.store
    let authorities = try DemoData.sampleAuthorities()
    try await store.write(.dealer(DealerID.demo)) { try $0.saveAuthorities(authorities) }
    let clock = ManualAccountClock(nowMs: AccountFixture.start)
    let expiry = TestExpiryScheduler(store: store, clock: clock, logger: quietLogger())
    var router = RPCRouter()
    AccountServiceImplementation(store: store, clock: clock, configuration: configuration, expiry: expiry, accountNumbers: accountNumbers)
        .registerMethods(with: &router)
    return try await TCPServer.withServer(configuration: server, router: router, logger: quietLogger()) { server in
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port!)) { transport in
            try await body(
                AccountFixture(
                    client: AccountService.Client(wrapping: RPCClient(transport: transport)), store: store, sqlite: testStore.sqlite,
                    clock: clock, expiry: expiry, databasePath: testStore.databasePath, testStore: testStore))
        }
    }
}

/// A customer in Provo (84601) with four equipment zones and two responding parties.
func provoCustomer(_ id: String = "cust-1") -> (Customer, [RespondingParty]) {
    let customer = Customer(
        id: id, firstName: "Ada", lastName: "Lovelace",
        address: Address(street1: "1 Main St", city: "Provo", state: "UT", zip: "84601"), premisePhone: "801-555-0100",
        passcode: "secret-owl",
        equipment: [
            Equipment(id: "eq-1", name: "Front door", zoneNumber: "001", zoneDescription: "Front door", installed: true),
            Equipment(id: "eq-2", name: "Back door", zoneNumber: "002", zoneDescription: "Back door", installed: true),
            Equipment(id: "eq-3", name: "Motion", zoneNumber: "003", zoneDescription: "Motion", installed: true),
            Equipment(id: "eq-4", name: "Smoke", zoneNumber: "004", zoneDescription: "Smoke", installed: true)
        ])
    let parties = [
        RespondingParty(
            id: "p-2", priority: 2, firstName: "Charles", lastName: "Babbage", phones: [Phone(number: "801-555-0103", type: .home)],
            email: "charles@example.com", language: "en", passcode: "party-secret-2", hasKey: false, relation: "friend",
            enhancedVerification: false, role: .contact),
        RespondingParty(
            id: "p-1", priority: 1, firstName: "Ada", lastName: "Lovelace",
            phones: [Phone(number: "801-555-0102", type: .mobile, extension: "12")],
            email: "ada@example.com", language: "en", passcode: "party-secret-1", hasKey: true, relation: "owner",
            enhancedVerification: true, role: .keyholder)
    ]
    return (customer, parties)
}

/// Links `provoCustomer(id)` and returns its account.
@discardableResult
func linkProvoCustomer(_ fixture: AccountFixture, _ id: String = "cust-1", accountNumber: String = "") async throws -> Account {
    let (customer, parties) = provoCustomer(id)
    let response = try await fixture.client.linkAccount(
        LinkAccountRequest(customer: customer, respondingParties: parties, accountNumber: accountNumber))
    return try #require(response.account)
}

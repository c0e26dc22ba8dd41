import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkCore
import CopsLinkMessages
import CopsLinkPostgres
import CopsLinkServices
import CopsLinkTestSupport
import Testing

/// What only the PostgreSQL store has: several instances on one database, its URL. The account service's own suites
/// run on it through `StoreKind.all`.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    static let enabled = Testing.ConditionTrait.enabled(if: TestPostgres.url != nil, Comment(rawValue: TestPostgres.skipped))

    /// Stands for every PostgreSQL case when there is no server: its skip message says why and how to get one.
    @Test(enabled) func aServerIsConfigured() async throws {
        let categories = try await withTestStore(.postgres) { testStore in
            try await testStore.store.read(.allDealers) { try $0.testCategories() }
        }
        #expect(categories == ReferenceData.testCategories)
    }

    /// Instances starting together on an empty database: one migrates, the others wait for its lock and find the
    /// schema there (without the lock, concurrent CREATE TABLEs fail).
    @Test(enabled) func instancesStartingTogetherMigrateOnce() async throws {
        let schema = try await TestPostgres.createSchema()
        let opened = await withTaskGroup(of: Result<PostgresAccountStore, any Error>.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do {
                        return .success(
                            try await PostgresAccountStore(
                                configuration: try TestPostgres.configuration(schema: schema, poolSize: 1), logger: quietLogger()))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for outcome in opened {
            switch outcome {
            case .success(let store):
                #expect(try await store.read(.allDealers) { try $0.testCategories() } == ReferenceData.testCategories)
                await store.close()
            case .failure(let error):
                Issue.record(error, "an instance failed to start beside the others")
            }
        }
        try await TestPostgres.dropSchema(schema)
    }

    /// Another account service on a second store on `first`'s database: a second server instance.
    static func withSecondInstance(beside first: AccountFixture, _ body: (AccountFixture) async throws -> Void) async throws {
        let openAnother = try #require(first.testStore.openAnother)
        let other = try await openAnother()
        try await withAccountService(TestStore(store: other, sqlite: nil, databasePath: "", openAnother: nil), body)
    }

    /// Two instances (two stores, two services) on one database, each asked at once to place the same account on
    /// test: exactly one succeeds, the other is told the account is on test, however the race goes.
    @Test(enabled) func twoInstancesPlacingATestOnOneAccountExactlyOneWins() async throws {
        try await withAccountService(on: .postgres) { first in
            try await linkProvoCustomer(first)
            try await Self.withSecondInstance(beside: first) { second in
                for round in 0..<5 {
                    let outcomes = await Self.placeOnTestAtOnce(through: [first.client, second.client])
                    let winners = outcomes.compactMap { try? $0.get().session }
                    let losers = outcomes.compactMap { outcome -> RPCError? in
                        if case .failure(let error) = outcome { return error }
                        return nil
                    }
                    try #require(winners.count == 1, "round \(round): exactly one placement succeeds: \(outcomes)")
                    #expect(losers.map(\.code) == [.failedPrecondition] && losers.first?.message == "System is currently on test.")
                    #expect(try await first.openSession()?.id == winners[0].id)
                    #expect(try await second.openSession()?.id == winners[0].id)
                    _ = try await second.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
                }
                let placed = try await first.history().filter { $0.action == .placedOnTest }
                #expect(placed.count == 5)
            }
        }
    }

    /// Many LinkAccounts of one dealer at once through two instances: every one updates the dealer's account count, so
    /// under SERIALIZABLE they abort one another, and runs again take turns (the dealer's retry lock). With the
    /// default bound on runs again every link succeeds. (With 3, one of 32 ran out once under CI's load: a run again
    /// can still collide with first runs, which are optimistic; `PostgresTurnLockTests` has the lock's rules.)
    @Test(enabled) func concurrentLinksOfOneDealerThroughTwoInstancesAllSucceed() async throws {
        let schema = try await TestPostgres.createSchema()
        defer { Task { try? await TestPostgres.dropSchema(schema) } }
        let configuration = try TestPostgres.configuration(schema: schema, poolSize: 8)
        #expect(configuration.serializationRetries == PostgresStoreConfiguration.defaultSerializationRetries)
        let stores = [
            try await PostgresAccountStore(configuration: configuration, logger: quietLogger()),
            try await PostgresAccountStore(configuration: configuration, logger: quietLogger())
        ]
        let instance = { (index: Int) in TestStore(store: stores[index], sqlite: nil, databasePath: "", openAnother: nil) }
        try await withAccountService(instance(0)) { first in
            try await withAccountService(instance(1)) { second in
                let clients = [first.client, second.client]
                let failures = await withTaskGroup(of: String?.self) { group in
                    for index in 0..<32 {
                        group.addTask {
                            let (customer, parties) = provoCustomer("cust-\(index)")
                            do {
                                _ = try await clients[index % 2].linkAccount(
                                    LinkAccountRequest(customer: customer, respondingParties: parties))
                                return nil
                            } catch {
                                return "cust-\(index): \(error)"
                            }
                        }
                    }
                    return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
                }
                #expect(failures.isEmpty, "\(failures.count) of 32 links failed: \(failures.prefix(3))")
                var numbers = Set<String>()
                for index in 0..<32 {
                    numbers.insert(try await first.client.getAccount(GetAccountRequest(customerID: "cust-\(index)")).accountNumber)
                }
                #expect(numbers.count == 32)
            }
        }
        for store in stores { await store.close() }
    }

    /// PlaceOnTest of cust-1 through every client at once, each with its own request id.
    static func placeOnTestAtOnce(through clients: [AccountService.Client]) async -> [Result<PlaceOnTestResponse, RPCError>] {
        await withTaskGroup(of: Result<PlaceOnTestResponse, RPCError>.self) { group in
            for client in clients {
                group.addTask {
                    do {
                        return .success(
                            try await client.placeOnTest(
                                PlaceOnTestRequest(requestID: newRequestID(), customerID: "cust-1", categoryID: "service", durationHours: 1)
                            ))
                    } catch let error as RPCError {
                        return .failure(error)
                    } catch {
                        return .failure(RPCError(code: .unknown, message: "\(error)"))
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// Both instances' expiry passes run at once over many expired tests: each test expires exactly once (one
    /// `expired` history entry), whichever instance ends it.
    @Test(enabled) func expiryPassesOfTwoInstancesEndEachTestOnce() async throws {
        try await withAccountService(on: .postgres) { first in
            let customers = (1...10).map { "cust-\($0)" }
            for id in customers {
                try await linkProvoCustomer(first, id)
                try await first.placeOnTest(id, hours: 1)
            }
            try await Self.withSecondInstance(beside: first) { second in
                first.clock.advance(byMs: 2 * hourMs)
                second.clock.advance(byMs: 2 * hourMs)
                async let fromFirst = first.expiry.expireDue()
                async let fromSecond = second.expiry.expireDue()
                let ended = try await fromFirst + fromSecond
                #expect(ended == customers.count)
                for id in customers {
                    #expect(try await first.history(id).map(\.action) == [.placedOnTest, .expired], "\(id)")
                }
            }
        }
    }

    /// Tests that expired while no instance ran (no expiry pass): the first instance to start ends them, each at its
    /// own expiry time.
    @Test(enabled) func anInstanceStartingAfterEveryInstanceWasDownEndsTheTestsThatExpiredMeanwhile() async throws {
        try await withAccountService(on: .postgres) { first in
            try await linkProvoCustomer(first)
            let session = try await first.placeOnTest("cust-1", hours: 1)
            let openAnother = try #require(first.testStore.openAnother)
            let later = try await openAnother()
            let clock = ManualAccountClock(nowMs: AccountFixture.start + 3 * hourMs)
            let scheduler = TestExpiryScheduler(store: later, clock: clock, logger: quietLogger())
            let running = Task { await scheduler.run() }
            first.clock.advance(byMs: 3 * hourMs)  // for the history's range; the first instance runs no expiry pass
            var history: [TestHistoryEntry] = []
            for _ in 0..<500 {
                history = try await first.history()
                if history.contains(where: { $0.action == .expired }) { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(history.map(\.action) == [.placedOnTest, .expired])
            #expect(history.last?.atMs == session.expiresAtMs, "ended at its own expiry, not when the instance started")
            // The scheduler's pass must be over before the stores close under it.
            running.cancel()
            await running.value
        }
    }

    /// A key revoked through one instance is refused by another within the authenticator's cache lifetime (5 s):
    /// each instance reads the shared key table again once its cached copy is that old.
    @Test(enabled) func aKeyRevokedThroughOneInstanceIsRefusedByAnotherWithinFiveSeconds() async throws {
        try await withTestStore(.postgres) { testStore in
            let openAnother = try #require(testStore.openAnother)
            let other = try await openAnother()
            let now = LockedBox(ContinuousClock.now)
            let authenticator = APIKeyAuthenticator(store: other, now: { now.value })
            let token = try await testStore.store.createAPIKey(
                dealerID: "acme", name: "ci", roles: [.read], nowMs: AccountFixture.start)
            #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
            #expect(try await testStore.store.revokeAPIKey(id: token.id, atMs: AccountFixture.start + 1))
            // Before half the TTL: a call would start a renewal past it, which would read the revocation sooner.
            now.withLock { $0 += .milliseconds(2_400) }
            #expect(try await authenticator.authenticate(bearerToken: token.token) != nil, "still cached: within the bound")
            now.withLock { $0 += .milliseconds(2_600) }
            #expect(try await authenticator.authenticate(bearerToken: token.token) == nil, "refused once the cached copy is 5 s old")
        }
    }

    /// An idempotent retry that lands on another instance gets the first answer.
    @Test(enabled) func aRetryOnAnotherInstanceGetsTheFirstAnswer() async throws {
        try await withAccountService(on: .postgres) { first in
            try await linkProvoCustomer(first)
            try await Self.withSecondInstance(beside: first) { second in
                let request = PlaceOnTestRequest(requestID: newRequestID(), customerID: "cust-1", categoryID: "service", durationHours: 1)
                let answer = try await first.client.placeOnTest(request)
                #expect(try await second.client.placeOnTest(request) == answer)
                #expect(try await second.history().filter { $0.action == .placedOnTest }.count == 1)
            }
        }
    }
}

@Suite("PostgreSQL URLs")
struct PostgresURLTests {
    @Test func aURLNamesServerUserAndDatabase() throws {
        let plain = try PostgresStoreConfiguration(url: "postgres://copslink@db.example:6543/accounts", password: "from-env")
        #expect(plain.host == "db.example" && plain.port == 6543 && plain.username == "copslink" && plain.database == "accounts")
        #expect(plain.password == "from-env" && plain.tls == .prefer && plain.poolSize == PostgresStoreConfiguration.defaultPoolSize)
        let full = try PostgresStoreConfiguration(url: "postgresql://app:p%40ss@127.0.0.1/copslink?sslmode=require", password: "ignored")
        #expect(full.port == 5432 && full.password == "p@ss" && full.tls == .require)
        #expect(PostgresStoreConfiguration.redacted("postgres://app:secret@h/db") == "postgres://app:%E2%80%A6@h/db")
    }

    @Test(arguments: [
        "postgres://h/db", "postgres://u@/db", "postgres://u@h", "postgres://u@h/", "postgres://u@h/db?sslmode=bogus",
        "postgres://u@h/db?application_name=x", "mysql://u@h/db", "data/copslink.sqlite"
    ])
    func incompleteURLsAreRefused(_ url: String) {
        #expect(throws: PostgresStoreConfigurationError.self) { _ = try PostgresStoreConfiguration(url: url) }
    }

    @Test func aURLWithItsPasswordIsNeverEchoed() {
        let error = #expect(throws: PostgresStoreConfigurationError.self) {
            _ = try PostgresStoreConfiguration(url: "postgres://app:hunter2@h")
        }
        #expect(error?.description.contains("hunter2") == false)
    }
}

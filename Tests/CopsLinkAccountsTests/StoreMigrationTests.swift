import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkCore
import CopsLinkMessages
import CopsLinkPostgres
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import PostgresNIO
import Testing

@testable import CopsLinkSQLite

/// `copslink-server migrate-store`: an SQLite store with every kind of row, copied into PostgreSQL, answers every
/// read exactly as before, idempotent retries included; a non-empty target is refused; a failed copy leaves nothing.
@Suite("migrate-store", .enabled(if: TestPostgres.url != nil, Comment(rawValue: TestPostgres.skipped)))
struct StoreMigrationTests {
    static let customers = ["demo-1", "demo-2", "demo-3", "demo-4", "cust-1"]

    /// What the seeding's idempotent writes answered first.
    struct Seeded {
        var placeRequest: PlaceOnTestRequest
        var placed: PlaceOnTestResponse
        var offRequest: PlaceOffTestRequest
        var off: PlaceOffTestResponse
        var testResultAccount: String
    }

    /// Every kind of row: the demo dealer's customers, parties, links, zones, authorities and a year of signals; a
    /// customer with equipment and phones; an open test with results and an ended one (sessions, history, signals,
    /// idempotency records); API keys of two dealers, one revoked; account pages.
    static func seed(_ fixture: AccountFixture) async throws -> Seeded {
        #expect(try await DemoData.seedIfEmpty(fixture.store, nowMs: fixture.now))
        let provo = try await linkProvoCustomer(fixture)
        let demo1 = try await fixture.client.getAccount(GetAccountRequest(customerID: "demo-1"))

        let placeRequest = PlaceOnTestRequest(
            requestID: newRequestID(), customerID: "demo-1", categoryID: "service", durationHours: 2,
            placedBy: UserRef(id: "tech-7", name: "Tess Tech"))
        let placed = try await fixture.client.placeOnTest(placeRequest)
        fixture.clock.advance(byMs: minuteMs)
        let signals = (0..<40).map { index in
            Signal(
                accountNumber: demo1.accountNumber, receivedAtMs: fixture.now + Int64(index) * 1_000, qualifier: 1, eventCode: "601",
                partition: 1, zoneOrUser: zoneNumber(index % 4 + 1))
        }
        _ = try await fixture.report(signals)

        try await fixture.placeOnTest("cust-1")
        fixture.clock.advance(byMs: 5 * minuteMs)
        let offRequest = PlaceOffTestRequest(requestID: newRequestID(), customerID: "cust-1")
        let off = try await fixture.client.placeOffTest(offRequest)
        #expect(provo.accountNumber != "")

        _ = try await fixture.store.createAPIKey(dealerID: DealerID.demo, name: "crm", roles: [.read, .write], nowMs: fixture.now)
        let revoked = try await fixture.store.createAPIKey(dealerID: "acme", name: "old", roles: [.admin], nowMs: fixture.now)
        #expect(try await fixture.store.revokeAPIKey(id: revoked.id, atMs: fixture.now + 1))
        fixture.clock.advance(byMs: minuteMs)
        return Seeded(placeRequest: placeRequest, placed: placed, offRequest: offRequest, off: off, testResultAccount: demo1.accountNumber)
    }

    /// What a client and a store answer, for comparing two stores.
    struct Answers: Equatable {
        var pages: [AccountPage?] = []
        var accounts: [Account] = []
        var testData: [[TestDataPage]] = []
        var keys: [APIKeyRecord] = []
    }

    static func answers(store: any AccountStore & APIKeyStore, client: AccountService.Client, nowMs: Int64) async throws -> Answers {
        var answers = Answers()
        for customer in customers {
            answers.pages.append(try await store.accountPage(.dealer(DealerID.demo), customerID: customer))
            answers.accounts.append(try await client.getAccount(GetAccountRequest(customerID: customer)))
            for type in [TestDataType.history, .results, .signals] {
                answers.testData.append(
                    try await client.requestTestData(
                        RequestTestDataRequest(customerID: customer, type: type, fromMs: nowMs - 30 * dayMs, toMs: nowMs, pageSize: 50)
                    ) { try await $0.collect() })
            }
        }
        answers.keys = try await store.apiKeys(dealerID: nil)
        return answers
    }

    @Test func aMigratedStoreAnswersAsTheSQLiteStoreDid() async throws {
        try await withAccountService(on: .sqlite) { fixture in
            let seeded = try await Self.seed(fixture)
            let before = try await Self.answers(store: fixture.store, client: fixture.client, nowMs: fixture.now)
            #expect(before.testData.contains { !$0.flatMap(\.results).isEmpty }, "the seeding made test results")
            #expect(before.keys.count == 2)

            try await withPostgresSchema { configuration in
                // Small batches: many INSERTs per table, and a table larger than one batch. The SQLite store stays
                // open (a running server).
                let summary = try await PostgresStoreImport.run(configuration: configuration, logger: quietLogger(), batchRows: 7) {
                    try SQLiteStoreSnapshot(path: fixture.databasePath)
                }
                #expect(summary.map(\.table) == Self.tablesInOrder)
                #expect(summary.allSatisfy { $0.rows > 0 }, "every table had rows to copy: \(summary)")

                func compare(_ postgres: PostgresAccountStore) async throws {
                    try await withService(store: postgres, clock: fixture.clock) { client in
                        let after = try await Self.answers(store: postgres, client: client, nowMs: fixture.now)
                        #expect(after.pages == before.pages, "account pages copied as they were")
                        #expect(after.accounts == before.accounts)
                        #expect(after.testData == before.testData)
                        #expect(after.keys == before.keys)
                        #expect(
                            try await postgres.storedBytes(.dealer(DealerID.demo))
                                == (try await fixture.store.storedBytes(.dealer(DealerID.demo))),
                            "the target's triggers counted the copied rows as the source had")
                        for key in before.keys { #expect(try await postgres.apiKey(id: key.id) == key) }

                        // Retries land on the new store and get the first answers.
                        #expect(try await client.placeOnTest(seeded.placeRequest) == seeded.placed)
                        #expect(try await client.placeOffTest(seeded.offRequest) == seeded.off)

                        // New rows continue after the copied ones (identity sequences moved past them).
                        _ = try await client.reportSignals(
                            Messages([
                                Signal(
                                    accountNumber: seeded.testResultAccount, receivedAtMs: fixture.now, qualifier: 1, eventCode: "601",
                                    partition: 1, zoneOrUser: "001")
                            ]))
                        _ = try await client.placeOffTest(PlaceOffTestRequest(customerID: "demo-1"))
                        let history = try await client.requestTestData(
                            RequestTestDataRequest(customerID: "demo-1", type: .history, fromMs: fixture.now - dayMs, toMs: fixture.now + 1)
                        ) { try await $0.collect() }.flatMap(\.history)
                        #expect(history.map(\.action) == [.placedOnTest, .placedOffTest])
                        _ = try await postgres.createAPIKey(dealerID: "acme", name: "new", roles: [.read], nowMs: fixture.now)
                        #expect(try await postgres.apiKeys(dealerID: nil).count == 3)
                    }
                }
                let postgres = try await PostgresAccountStore(configuration: configuration, logger: quietLogger())
                do {
                    try await compare(postgres)
                    await postgres.close()
                } catch {
                    await postgres.close()
                    throw error
                }
            }
        }
    }

    @Test func aStoreBeingWrittenIsCopiedAsOneSnapshot() async throws {
        try await withAccountService(on: .sqlite) { fixture in
            _ = try await Self.seed(fixture)
            let store = fixture.store
            // A running server's writes: customers (and with them the per-dealer count, another table) all through.
            let stop = LockedBox(false)
            let writer = Task {
                var written = 0
                while !stop.value {
                    let customer = provoCustomer("w-\(written)").0
                    try await store.write(.dealer(DealerID.demo)) { try $0.saveCustomer(customer) }
                    written += 1
                }
                return written
            }
            try await withPostgresSchema { configuration in
                _ = try await eventually { try await store.read(.dealer(DealerID.demo)) { try $0.customerCount() } > 5 + 3 }
                let summary = try await PostgresStoreImport.run(configuration: configuration, logger: quietLogger(), batchRows: 3) {
                    try SQLiteStoreSnapshot(path: fixture.databasePath)
                }
                stop.withLock { $0 = true }
                let written = try await writer.value
                let customers = try #require(summary.first { $0.table == "customer" }).rows
                #expect((5 + 3...5 + Int64(written)).contains(customers), "the customers of one moment: \(customers) of \(5 + written)")

                let postgres = try await PostgresAccountStore(configuration: configuration, logger: quietLogger())
                // The dealer's account count (its own table, kept by a trigger on SQLite) agrees with the customers
                // copied: both tables come from the same snapshot.
                let counted = try await postgres.read(.dealer(DealerID.demo)) { try $0.customerCount() }
                let present = try await postgres.read(.allDealers) { try $0.customerCount() }
                await postgres.close()
                #expect(counted == present)
                #expect(Int64(present) == customers)
            }
            stop.withLock { $0 = true }
            _ = try? await writer.value
        }
    }

    @Test func aTargetWithRowsIsRefusedAndAFailedCopyLeavesNothing() async throws {
        try await withAccountService(on: .sqlite) { fixture in
            _ = try await Self.seed(fixture)
            try await withPostgresSchema { configuration in
                // A server started on the database once: its reference test categories alone do not make it non-empty.
                await (try await PostgresAccountStore(configuration: configuration, logger: quietLogger())).close()

                // A count that does not match fails the copy, and rolls it back whole, migrations included.
                let failed = await #expect(throws: StoreCopyError.self) {
                    _ = try await PostgresStoreImport.run(configuration: configuration, logger: quietLogger()) {
                        MiscountingSource(try SQLiteStoreSnapshot(path: fixture.databasePath), table: "signal")
                    }
                }
                #expect(failed?.description.hasPrefix("signal: the source has") == true, "\(String(describing: failed))")

                let copy = { @Sendable in
                    try await PostgresStoreImport.run(configuration: configuration, logger: quietLogger()) {
                        try SQLiteStoreSnapshot(path: fixture.databasePath)
                    }
                }
                let summary = try await copy()
                #expect(summary.first { $0.table == "customer" }?.rows == 5)
                let refused = await #expect(throws: StoreCopyError.self) { _ = try await copy() }
                #expect(
                    refused?.description.hasPrefix(
                        "the target database is not empty (rows in customer, equipment, station_account, account_link, responding_party")
                        == true, "\(String(describing: refused))")
            }
        }
    }

    @Test func theCommandCopiesIntoAnEmptyDatabaseAndRefusesItThen() async throws {
        try await withAccountService(on: .sqlite) { fixture in
            _ = try await Self.seed(fixture)
            let database = "copslink_migrate_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try await TestPostgres.administer("CREATE DATABASE \(unescaped: database)")
            do {
                let base = try #require(TestPostgres.url)
                var url = try #require(URLComponents(string: base))
                url.path = "/" + database
                let arguments = ["migrate-store", "--from", fixture.databasePath, "--to", try #require(url.string)]
                let first = try await runBuiltBinary("copslink-server", arguments)
                #expect(first.status == 0, "\(first)")
                #expect(first.stdout.split(separator: "\n").contains { $0.split(separator: " ") == ["customer", "5"] }, "\(first)")
                #expect(first.stdout.contains("row counts verified"))
                let second = try await runBuiltBinary("copslink-server", arguments)
                #expect(second.status == 1, "\(second)")
                #expect(second.stderr.contains("copslink-server migrate-store: the target database is not empty"), "\(second)")
            } catch {
                try? await TestPostgres.administer("DROP DATABASE \(unescaped: database) WITH (FORCE)")
                throw error
            }
            try await TestPostgres.administer("DROP DATABASE \(unescaped: database) WITH (FORCE)")
        }
    }

    static let tablesInOrder = [
        "customer", "equipment", "station_account", "account_link", "responding_party", "party_phone", "authority",
        "authority_zip", "account_authority", "zone", "test_category", "test_session", "test_history", "signal", "idempotency",
        "api_key", "dealer_account_count", "account_page"
    ]
}

/// A source that reports one row more for `table` than it streams: a copy that lost a row.
final class MiscountingSource: StoreCopySource {
    let source: any StoreCopySource
    let table: String
    init(_ source: any StoreCopySource, table: String) {
        self.source = source
        self.table = table
    }
    func tables() throws -> [String] { try source.tables() }
    func columns(of table: String) throws -> [String] { try source.columns(of: table) }
    func rowCount(of table: String) throws -> Int64 { try source.rowCount(of: table) + (table == self.table ? 1 : 0) }
    func forEachRow(of table: String, columns: [String], _ body: ([StoreCopyValue]) throws -> Void) throws {
        try source.forEachRow(of: table, columns: columns, body)
    }
}

/// Runs `body` with the configuration of a fresh PostgreSQL schema, dropped afterwards.
func withPostgresSchema(_ body: (PostgresStoreConfiguration) async throws -> Void) async throws {
    await TestPostgres.slots.acquire()
    let schema: String
    do {
        schema = try await TestPostgres.createSchema()
    } catch {
        await TestPostgres.slots.release()
        throw error
    }
    do {
        try await body(try TestPostgres.configuration(schema: schema))
        try await TestPostgres.dropSchema(schema)
        await TestPostgres.slots.release()
    } catch {
        try? await TestPostgres.dropSchema(schema)
        await TestPostgres.slots.release()
        throw error
    }
}

/// The account service on `store` over loopback TCP, on `clock`.
func withService(
    store: any AccountStore, clock: ManualAccountClock, _ body: (AccountService.Client) async throws -> Void
) async throws {
    var router = RPCRouter()
    let expiry = TestExpiryScheduler(store: store, clock: clock, logger: quietLogger())
    AccountServiceImplementation(store: store, clock: clock, expiry: expiry).registerMethods(with: &router)
    try await TCPServer.withServer(configuration: ServerConfiguration(), router: router, logger: quietLogger()) { server in
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port!)) { transport in
            try await body(AccountService.Client(wrapping: RPCClient(transport: transport)))
        }
    }
}

/// The SQLite side of `migrate-store`, without PostgreSQL.
@Suite("SQLite store snapshot")
struct SQLiteStoreSnapshotTests {
    @Test func itReadsEveryTableTheCopyKnowsAndNoOther() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        try SQLiteAccountStore(path: path).close()
        let snapshot = try SQLiteStoreSnapshot(path: path)
        // A table added to the SQLite schema must be added to the copy (PostgresStoreImport.tables) too.
        // The counters the target's triggers rebuild (PostgresStoreImport.countedTables) are the only ones not copied.
        #expect(try snapshot.tables().sorted() == (StoreMigrationTests.tablesInOrder + ["dealer_stored_bytes"]).sorted())
        #expect(try snapshot.rowCount(of: "test_category") == Int64(ReferenceData.testCategories.count))
        snapshot.close()
    }

    @Test func aStoreOfAnOlderVersionOrNoStoreIsRefused() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        try SQLiteSchema.createForTesting(path: path, upTo: "v5-account-pages", sql: "")
        let older = #expect(throws: StoreCopyError.self) { try SQLiteStoreSnapshot(path: path) }
        #expect(older?.description.hasPrefix("\(path) is an SQLite store of an older version: open it once with this version") == true)

        let missing = temporaryDatabasePath()
        let refused = #expect(throws: StoreCopyError.self) { try SQLiteStoreSnapshot(path: missing) }
        #expect(refused?.description == "cannot open \(missing) read-only: unable to open database file")
        #expect(!FileManager.default.fileExists(atPath: missing), "nothing is created")
    }
}

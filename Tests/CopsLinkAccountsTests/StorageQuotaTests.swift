import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import GRDB
import PostgresNIO
import Testing

@testable import CopsLinkPostgres
@testable import CopsLinkSQLite

/// Each dealer's stored bytes (`StorageQuota`): the store's count follows every row it counts, as written, replaced
/// and deleted, and calls that would store more are refused while a dealer is at or over its quota.
@Suite("Storage quota")
struct StorageQuotaTests {
    func stored(_ store: any AccountStore, _ dealer: String = DealerID.demo) async throws -> Int64 {
        try await store.storedBytes(.dealer(dealer))
    }

    /// The dealer's bytes counted from the rows themselves, with the formula the counter starts from.
    func recounted(_ store: any AccountStore, _ dealer: String = DealerID.demo) async throws -> Int64 {
        precondition(DealerID.isValid(dealer), "spliced into the query")
        return try await store.read(.allDealers) { transaction in
            switch transaction {
            case let sqlite as SQLiteTransaction:
                return try Int64.fetchOne(
                    sqlite.db, sql: "SELECT bytes FROM (\(SQLiteSchema.storedBytesRecountSQL)) WHERE dealer_id = ?", arguments: [dealer])
                    ?? 0
            case let postgres as PostgresTransaction:
                let row = try postgres.connection.row(
                    PostgresQuery(
                        unsafeSQL: "SELECT bytes FROM (\(PostgresSchema.storedBytesRecountSQL)) AS r WHERE dealer_id = '\(dealer)'"))
                return try row?.value("bytes", as: Int64.self) ?? 0
            default:
                Issue.record("unknown store")
                return -1
            }
        }
    }

    func record(_ id: String, bytes: Int, atMs: Int64) -> IdempotencyRecord {
        IdempotencyRecord(requestID: id, method: "/m", fingerprint: 1, response: [UInt8](repeating: 7, count: bytes), createdAtMs: atMs)
    }

    @Test(arguments: StoreKind.all) func theCountFollowsEveryCountedRowAsItIsWrittenReplacedAndDeleted(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let store = fixture.store
            try await linkProvoCustomer(fixture, accountNumber: "1234")
            let page = try #require(try await store.accountPage(.dealer(DealerID.demo), customerID: "cust-1"))
            // The number "1234" with receiver "1" and line "1": 100 plus its text.
            let number: Int64 = 100 + 4 + 1 + 1
            #expect(
                try await stored(store) == 2 * Int64(page.encodedAccount.count) + 100 + number,
                "an account counts twice its page plus 100, its number 100 plus its text")
            #expect(try await stored(store) == (try await recounted(store)))

            // Rewriting the account rewrites its page: the count follows the new page, not both.
            var (customer, parties) = provoCustomer("cust-1")
            customer.equipment.removeLast(2)
            _ = try await fixture.client.syncCustomer(SyncCustomerRequest(customer: customer, respondingParties: parties))
            let synced = try #require(try await store.accountPage(.dealer(DealerID.demo), customerID: "cust-1"))
            #expect(synced.encodedAccount.count < page.encodedAccount.count)
            #expect(try await stored(store) == 2 * Int64(synced.encodedAccount.count) + 100 + number)

            try await fixture.placeOnTest(requestID: newRequestID())
            let placed = try await stored(store)
            #expect(placed > 0)
            #expect(placed == (try await recounted(store)), "a session, its history and the answer kept for the request id")

            let report = try await fixture.report([
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: fixture.now),
                contactIDSignal(event: "401", zoneOrUser: "002", atMs: fixture.now)
            ])
            #expect(report.testResults == 2)
            _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            let reported = try await stored(store)
            #expect(reported > placed)
            #expect(reported == (try await recounted(store)))

            // One row's size, exactly: an answer counts its bytes plus 100, and saving over it counts the new one.
            let id = newRequestID()
            try await store.write(.dealer("acme")) { try $0.saveIdempotencyRecord(record(id, bytes: 1000, atMs: fixture.now)) }
            #expect(try await stored(store, "acme") == 1100)
            try await store.write(.dealer("acme")) { try $0.saveIdempotencyRecord(record(id, bytes: 10, atMs: fixture.now)) }
            #expect(try await stored(store, "acme") == 110)
            #expect(try await stored(store) == reported, "another dealer's rows count for that dealer only")
            #expect(try await store.storedBytes(.allDealers) == reported + 110)

            // Past both retention windows the pruner deletes the answers and the signals; the test data stays.
            let configuration = AccountServiceConfiguration()
            fixture.clock.advance(byMs: configuration.signalRetentionMs + 1)
            let pruner = RetentionPruner(store: store, clock: fixture.clock, configuration: configuration, logger: quietLogger())
            #expect(try await pruner.pruneExpired() == [.idempotencyRecords: 2, .signals: 2])
            #expect(try await stored(store, "acme") == 0)
            let pruned = try await stored(store)
            #expect(pruned > 0 && pruned < reported, "the session and its history are kept")
            #expect(pruned == (try await recounted(store)))
        }
    }

    @Test(arguments: StoreKind.all) func atItsQuotaADealerCanStoreNothingMoreButLosesNothing(_ kind: StoreKind) async throws {
        var configuration = AccountServiceConfiguration()
        configuration.maximumStoredBytesPerDealer = 100_000
        try await withAccountService(on: kind, configuration: configuration) { fixture in
            try await linkProvoCustomer(fixture)
            let firstID = newRequestID()
            let first = try await fixture.placeOnTest(requestID: firstID)
            // The dealer reaches its quota: an answer of 100,000 bytes kept for a request id.
            try await fixture.store.write(.dealer(DealerID.demo)) {
                try $0.saveIdempotencyRecord(
                    IdempotencyRecord(
                        requestID: newRequestID(), method: "/m", fingerprint: 1, response: [UInt8](repeating: 1, count: 100_000),
                        createdAtMs: fixture.now))
            }
            #expect(try await stored(fixture.store) > 100_000)

            // Calls that store nothing counted still run: the account can be read and taken off test.
            _ = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1"))
            // With a request id too: it keeps an answer only for a test a checked call placed.
            _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(requestID: newRequestID(), customerID: "cust-1"))
            let stored = try await stored(fixture.store)
            let message =
                "dealer demo stores \(stored) bytes of accounts, answers to request ids, signals and test data, at or over its quota "
                + "of 100000 bytes; calls that store more are refused until retention deletes old answers and signals or the server's "
                + "quota is raised (--max-stored-bytes-per-dealer)"

            let refused = await expectRPCError(.resourceExhausted) { try await fixture.placeOnTest() }
            #expect(refused?.message == message)
            #expect(try await fixture.openSession() == nil, "the refused test was not placed")
            let retry = try await fixture.placeOnTest(requestID: firstID)
            #expect(retry == first, "a retry of an answered call still gets its answer")

            let (customer, parties) = provoCustomer("cust-2")
            let refusedLink = await expectRPCError(.resourceExhausted) {
                _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            }
            #expect(refusedLink?.message == message)
            await expectRPCError(.notFound) { _ = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-2")) }
            await expectRPCError(.resourceExhausted) {
                _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(requestID: newRequestID(), customerID: "cust-1"))
            }

            let report = try await fixture.report(
                (0..<3).map { contactIDSignal(event: "130", zoneOrUser: "001", atMs: fixture.now + Int64($0)) })
            #expect(report.received == 3 && report.rejectedCount == 3 && report.storedAsHistory == 0)
            #expect(report.rejected.map(\.index) == [0, 1, 2])
            #expect(report.rejected.allSatisfy { $0.reason == message })

            #expect(try await self.stored(fixture.store) == stored, "nothing refused was stored")
            _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            let unlinked = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(unlinked.linkState == .unlinked, "an unlink without a request id runs")
        }
    }

    /// A number's own rows (the number, its zones and authorities) count whether a customer is linked to it or not.
    /// Counted only through the linked customer's page, they stopped counting at an unlink, so a dealer that linked,
    /// filled and unlinked one number after another stored without bound under any quota (24 MB of zones under 3 MB).
    @Test(arguments: StoreKind.all) func aNumbersZonesCountWhetherLinkedOrNot(_ kind: StoreKind) async throws {
        var configuration = AccountServiceConfiguration()
        configuration.maximumStoredBytesPerDealer = 100_000
        try await withAccountService(on: kind, configuration: configuration) { fixture in
            let zones = (1...100).map {
                Zone(zoneNumber: String(1000 + $0).dropFirst().description, description: String(repeating: "z", count: 200))
            }
            var refused: RPCError?
            var rounds = 0
            while rounds < 20, refused == nil {
                rounds += 1
                do {
                    try await linkProvoCustomer(fixture, accountNumber: "N-\(rounds)")
                    _ = try await fixture.client.setCentralStationZones(SetCentralStationZonesRequest(customerID: "cust-1", zones: zones))
                } catch let error as RPCError {
                    refused = error
                }
                _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
                #expect(try await stored(fixture.store) == (try await recounted(fixture.store)))
            }
            // 100 zones of about 300 bytes each round: the quota is reached within four rounds.
            #expect(refused?.code == .resourceExhausted, "\(rounds) rounds")
            #expect(rounds <= 5)
            #expect(try await stored(fixture.store) >= 90_000)
        }
    }

    /// PostgreSQL keeps a row per dealer and server connection; the pruner folds the rows of connections that ended
    /// into the dealer's row 0, and the count stays what it was.
    @Test func postgresFoldsTheRowsOfEndedConnections() async throws {
        guard StoreKind.all.contains(.postgres) else { return }
        try await withTestStore(.postgres) { testStore in
            let first = try #require(testStore.store as? PostgresAccountStore)
            for index in 0..<4 {
                try await first.write(.dealer("acme")) {
                    try $0.saveIdempotencyRecord(record(newRequestID(), bytes: 1000 * (index + 1), atMs: 1))
                }
            }
            #expect(try await stored(first, "acme") == 10_000 + 400)
            await first.close()

            let second = try #require(try await testStore.openAnother?())
            func rows() async throws -> [Int64] {
                try await second.read(.allDealers) { transaction in
                    try (transaction as! PostgresTransaction).connection.rows(
                        "SELECT shard::BIGINT AS shard FROM dealer_stored_bytes WHERE dealer_id = 'acme' ORDER BY shard"
                    ).map { try $0.value("shard", as: Int64.self) }
                }
            }
            #expect(try await rows().allSatisfy { $0 != 0 }, "each connection counted in a row of its own")
            #expect(try await second.prune(.idempotencyRecords, before: 0, limit: 10) == 0)
            #expect(try await rows() == [0], "the ended connections' rows are folded into row 0")
            #expect(try await stored(second, "acme") == 10_400)
            #expect(try await stored(second, "acme") == (try await recounted(second, "acme")))
        }
    }

    /// PostgreSQL's migration 4 counts what a store of an older version already holds: the migration is undone, rows
    /// are written without the counter, and a new instance migrates again.
    @Test func thePostgresMigrationCountsTheRowsAlreadyStored() async throws {
        guard StoreKind.all.contains(.postgres) else { return }
        try await withTestStore(.postgres) { testStore in
            let first = try #require(testStore.store as? PostgresAccountStore)
            try await first.write(.dealer("acme")) { try $0.saveIdempotencyRecord(record(newRequestID(), bytes: 1000, atMs: 1)) }
            try await first.write(.allDealers) { transaction in
                let connection = (transaction as! PostgresTransaction).connection
                _ = try connection.execute(
                    """
                    DO $$ DECLARE f text; BEGIN
                        FOR f IN SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                            WHERE n.nspname = current_schema() AND (p.proname LIKE '%stored_bytes' OR p.proname = 'count_stored_bytes')
                        LOOP EXECUTE 'DROP FUNCTION ' || f || ' CASCADE'; END LOOP;
                    END $$
                    """)
                _ = try connection.execute("DROP TABLE dealer_stored_bytes")
                _ = try connection.execute("DELETE FROM schema_migrations WHERE version = 4")
            }
            for (dealer, bytes) in [("acme", 2000), ("beta", 30)] {
                try await first.write(.dealer(dealer)) { try $0.saveIdempotencyRecord(record(newRequestID(), bytes: bytes, atMs: 1)) }
            }
            await first.close()

            let second = try #require(try await testStore.openAnother?())
            #expect(try await stored(second, "acme") == 1100 + 2100)
            #expect(try await stored(second, "beta") == 130)
            #expect(try await stored(second, "acme") == (try await recounted(second, "acme")))
            try await second.write(.dealer("beta")) { try $0.saveIdempotencyRecord(record(newRequestID(), bytes: 70, atMs: 1)) }
            #expect(try await stored(second, "beta") == 300, "the triggers count again")
        }
    }

    /// Migration 8 counts what an older store already holds.
    @Test func theSQLiteMigrationCountsTheRowsAlreadyStored() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        try SQLiteSchema.createForTesting(
            path: path, upTo: "v7-retention",
            sql: """
                INSERT INTO idempotency (request_id, method, fingerprint, response, created_at) VALUES
                    ('acme/r-1', '/m', 1, zeroblob(1000), 1), ('acme/r-2', '/m', 1, zeroblob(24), 1), ('beta/r-1', '/m', 1, zeroblob(5), 1);
                INSERT INTO test_category (id, description, default_minutes) VALUES ('service', 'Service', 60);
                INSERT INTO station_account (account_key, account_number, dealer_id, receiver_number, line)
                    VALUES ('beta/22-1', '22-1', 'beta', '', '');
                INSERT INTO test_session (id, account_key, category_id, effective_at, expires_at, scope, zone_numbers, comment,
                    has_placed_by, placed_by_id, placed_by_name, has_authorization, authorized_party_id, verified_by, ended_at, end_reason)
                    VALUES ('s-1', 'beta/22-1', 'service', 2000, 9000, 1, '001', 'né', 0, '', '', 0, '', '', NULL, 0);
                """)
        let store = try SQLiteAccountStore(path: path)
        defer { try? store.close() }
        #expect(try await stored(store, "acme") == 1000 + 100 + 24 + 100)
        #expect(
            try await stored(store, "beta") == 5 + 100 + 200 + 3 + 3 + 100 + 4, "text counts its UTF-8 bytes; the number 100 plus its own")
        #expect(try await stored(store, "gamma") == 0)
    }
}

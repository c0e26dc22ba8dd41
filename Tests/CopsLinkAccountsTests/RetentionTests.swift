import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import GRDB
import PostgresNIO
import Testing

@testable import CopsLinkPostgres
@testable import CopsLinkSQLite

/// Idempotency records and signals are kept for their retention window, then deleted by `RetentionPruner`: a request
/// id past its window runs as a new request, and signals past theirs are gone from RequestTestData. The clock is a
/// `ManualAccountClock`: nothing sleeps on it.
@Suite("Retention")
struct RetentionTests {
    let t0 = AccountFixture.start
    /// The defaults: 24 hours of idempotency records, 400 days of signals.
    let configuration = AccountServiceConfiguration()

    func pruner(_ fixture: AccountFixture, intervalMs: Int64 = RetentionPruner.defaultIntervalMs) -> RetentionPruner {
        RetentionPruner(
            store: fixture.store, clock: fixture.clock, configuration: configuration, logger: quietLogger(), intervalMs: intervalMs)
    }

    /// A one-hour PlaceOnTest of cust-1 with `requestID`, with its trailers.
    func place(_ fixture: AccountFixture, requestID: String) async throws -> ClientResponse<PlaceOnTestResponse> {
        try await fixture.client.client.unary(
            AccountService.Method.placeOnTest,
            request: PlaceOnTestRequest(requestID: requestID, customerID: "cust-1", categoryID: "service", durationHours: 1),
            as: PlaceOnTestResponse.self)
    }

    func record(_ store: any AccountStore, _ requestID: String, dealer: String = DealerID.demo) async throws -> IdempotencyRecord? {
        try await store.read(.dealer(dealer)) { try $0.idempotencyRecord(requestID: requestID) }
    }

    func placedOnTestCount(_ fixture: AccountFixture) async throws -> Int {
        try await fixture.testDataPages(.history, fromMs: fixture.now - 30 * dayMs, toMs: fixture.now)
            .flatMap(\.history).filter { $0.action == .placedOnTest }.count
    }

    @Test(arguments: StoreKind.all) func aRequestIDPastItsRetentionIsDeletedAndThenRunsAsANewRequest(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let pruning = pruner(fixture)
            let id = newRequestID()
            let first = try await place(fixture, requestID: id)
            #expect(!first.isReplay)

            // A record exactly the window's age is kept, and a retry gets the first answer.
            fixture.clock.advance(byMs: configuration.idempotencyRetentionMs)
            #expect(try await pruning.pruneExpired() == [.idempotencyRecords: 0, .signals: 0])
            let retry = try await place(fixture, requestID: id)
            #expect(retry.isReplay)
            #expect(retry.message == first.message)

            // One millisecond older, the pass deletes it, and the same id runs again: a new test, not the first.
            fixture.clock.advance(byMs: 1)
            #expect(try await pruning.pruneExpired()[.idempotencyRecords] == 1)
            #expect(try await record(fixture.store, id) == nil)
            let again = try await place(fixture, requestID: id)
            #expect(!again.isReplay)
            #expect(again.message.session?.id != first.message.session?.id)
            #expect(again.message.session?.effectiveAtMs == fixture.now)
            #expect(try await placedOnTestCount(fixture) == 2)
            // Its answer is the one kept now.
            #expect(try await record(fixture.store, id)?.createdAtMs == fixture.now)
            #expect(try await place(fixture, requestID: id).message == again.message)
        }
    }

    /// The pruner runs every few minutes; between a record's window end and its deletion it is not replayed either,
    /// and running the request again replaces it.
    @Test(arguments: StoreKind.all) func aRecordPastItsRetentionIsNotReplayedBeforeThePrunerDeletesIt(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let id = newRequestID()
            let first = try await place(fixture, requestID: id)
            fixture.clock.advance(byMs: configuration.idempotencyRetentionMs + 1)
            let again = try await place(fixture, requestID: id)
            #expect(!again.isReplay)
            #expect(again.message.session?.id != first.message.session?.id)
            let retry = try await place(fixture, requestID: id)
            #expect(retry.isReplay)
            #expect(retry.message == again.message, "the second answer replaced the first")
            #expect(try await placedOnTestCount(fixture) == 2)
        }
    }

    /// One `prune` deletes at most its limit, only rows before the cutoff, of every dealer.
    @Test(arguments: StoreKind.all) func pruneDeletesRowsBeforeTheCutoffOfEveryDealerAtMostLimitAtATime(_ kind: StoreKind) async throws {
        try await withTestStore(kind) { testStore in
            let store = testStore.store
            let old = (0..<5).map { _ in newRequestID() }, recent = newRequestID()
            for dealer in ["acme", "beta"] {
                try await store.write(.dealer(dealer)) { transaction in
                    for (index, id) in old.enumerated() {
                        try transaction.saveIdempotencyRecord(
                            IdempotencyRecord(requestID: id, method: "/m", fingerprint: 1, response: [1, 2], createdAtMs: Int64(index)))
                    }
                    try transaction.saveIdempotencyRecord(
                        IdempotencyRecord(requestID: recent, method: "/m", fingerprint: 1, response: [3], createdAtMs: 100))
                }
            }
            var batches: [Int] = []
            while batches.last != 0 { batches.append(try await store.prune(.idempotencyRecords, before: 100, limit: 3)) }
            #expect(batches == [3, 3, 3, 1, 0])
            for dealer in ["acme", "beta"] {
                for id in old { #expect(try await record(store, id, dealer: dealer) == nil) }
                #expect(try await record(store, recent, dealer: dealer)?.response == [3], "a row at the cutoff is kept")
            }
        }
    }

    /// RequestTestData leaves out signals past their window before the pruner has deleted them: its range starts at
    /// the window's start at the latest. A signal exactly the window's age is still returned.
    @Test(arguments: StoreKind.all) func signalsPastTheirRetentionAreNotReturnedBeforeTheyAreDeleted(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture, accountNumber: "1234")
            let response = try await fixture.report([contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0)])
            #expect(response == ReportSignalsResponse(received: 1, testResults: 0, storedAsHistory: 1))
            let range = (fromMs: t0 - dayMs, toMs: t0 + dayMs)
            fixture.clock.set(nowMs: t0 + configuration.signalRetentionMs)
            #expect(try await fixture.testDataPages(.signals, fromMs: range.fromMs, toMs: range.toMs).flatMap(\.signals).count == 1)
            fixture.clock.set(nowMs: t0 + configuration.signalRetentionMs + 1)
            #expect(try await fixture.testDataPages(.signals, fromMs: range.fromMs, toMs: range.toMs).flatMap(\.signals) == [])
        }
    }

    @Test(arguments: StoreKind.all) func signalsPastTheirRetentionAreGoneFromTestDataAndRecentOnesStay(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture, accountNumber: "1234")
            try await fixture.placeOnTest(hours: 1)
            // Reported two days later, so that none is dated ahead of the server's clock.
            fixture.clock.set(nowMs: t0 + 2 * dayMs)
            let response = try await fixture.report([
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 - 1000),  // history, before the test
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 + 1000),  // a test result
                contactIDSignal(event: "130", zoneOrUser: "002", atMs: t0 + 2 * dayMs)  // history, two days later
            ])
            #expect(response == ReportSignalsResponse(received: 3, testResults: 1, storedAsHistory: 2))

            // 400 days after the test result, and one millisecond: both older signals are past their window.
            fixture.clock.set(nowMs: t0 + 1000 + configuration.signalRetentionMs + 1)
            #expect(try await pruner(fixture).pruneExpired() == [.idempotencyRecords: 0, .signals: 2])

            let old = (fromMs: t0 - dayMs, toMs: t0 + dayMs)
            #expect(try await fixture.testDataPages(.signals, fromMs: old.fromMs, toMs: old.toMs).flatMap(\.signals) == [])
            #expect(try await fixture.testDataPages(.results, fromMs: old.fromMs, toMs: old.toMs).flatMap(\.results) == [])
            let recent = try await fixture.testDataPages(.signals, fromMs: t0 + dayMs, toMs: t0 + 3 * dayMs).flatMap(\.signals)
            #expect(recent.map(\.receivedAtMs) == [t0 + 2 * dayMs])
            // Test history is not pruned: it grows with test sessions, not signals.
            let history = try await fixture.testDataPages(.history, fromMs: old.fromMs, toMs: old.toMs).flatMap(\.history)
            #expect(history.first?.action == .placedOnTest)
            #expect(try await pruner(fixture).pruneExpired() == [.idempotencyRecords: 0, .signals: 0], "a second pass finds nothing")
        }
    }

    @Test func aRetentionOfZeroKeepsRowsForever() async throws {
        var forever = AccountServiceConfiguration()
        forever.idempotencyRetentionMs = 0
        forever.signalRetentionMs = 0
        try await withAccountService(configuration: forever) { fixture in
            try await linkProvoCustomer(fixture)
            let id = newRequestID()
            let first = try await place(fixture, requestID: id)
            fixture.clock.advance(byMs: 3650 * dayMs)
            let pruning = RetentionPruner(store: fixture.store, clock: fixture.clock, configuration: forever, logger: quietLogger())
            #expect(try await pruning.pruneExpired() == [:])
            let retry = try await place(fixture, requestID: id)
            #expect(retry.isReplay)
            #expect(retry.message == first.message)
        }
    }

    /// The server's pruner runs its passes by itself, every interval, until cancelled.
    @Test func thePrunerRunsByItselfUntilCancelled() async throws {
        try await withAccountService { fixture in
            try await linkProvoCustomer(fixture)
            let id = newRequestID()
            _ = try await place(fixture, requestID: id)
            let pruning = pruner(fixture, intervalMs: hourMs)
            let running = Task { await pruning.run() }
            // Hour by hour, so that whenever the pass that sleeps started, its wake-up time comes.
            let deleted = try await eventually {
                fixture.clock.advance(byMs: hourMs)
                return try await record(fixture.store, id) == nil
            }
            #expect(deleted)
            #expect(fixture.now > t0 + configuration.idempotencyRetentionMs, "not before its window ended")
            running.cancel()
            await running.value
        }
    }

    /// Instances sharing a PostgreSQL database prune at once: each row is deleted once, none is left, nothing fails.
    /// (On SQLite the two pruners share the one store.)
    @Test(arguments: StoreKind.all) func prunersRunningAtOnceDeleteEveryRowOnce(_ kind: StoreKind) async throws {
        try await withTestStore(kind) { testStore in
            let first = testStore.store
            var second: any AccountStore = first
            if let openAnother = testStore.openAnother { second = try await openAnother() }
            let ids = (0..<40).map { _ in newRequestID() }
            try await first.write(.dealer(DealerID.demo)) { transaction in
                for id in ids {
                    try transaction.saveIdempotencyRecord(
                        IdempotencyRecord(requestID: id, method: "/m", fingerprint: 1, response: [1], createdAtMs: 1))
                }
            }
            let clock = ManualAccountClock(nowMs: t0)
            func pruner(_ store: any AccountStore) -> RetentionPruner {
                RetentionPruner(store: store, clock: clock, configuration: configuration, logger: quietLogger(), batchSize: 7)
            }
            async let a = pruner(first).pruneExpired()
            async let b = pruner(second).pruneExpired()
            let (deletedByA, deletedByB) = try await (a, b)
            #expect((deletedByA[.idempotencyRecords] ?? 0) + (deletedByB[.idempotencyRecords] ?? 0) == ids.count)
            #expect(try await first.prune(.idempotencyRecords, before: t0, limit: 100) == 0)
        }
    }

    /// Each prune finds its rows through an index on their time, not by reading the table.
    @Test(arguments: StoreKind.all) func theStoresIndexTheRetainedRowsByTime(_ kind: StoreKind) async throws {
        try await withTestStore(kind) { testStore in
            if let sqlite = testStore.sqlite {
                let plans = try await sqlite.pool.read { db in
                    try [
                        "SELECT rowid FROM idempotency WHERE created_at < 5 LIMIT 1000",
                        "SELECT row_id FROM signal WHERE received_at < 5 LIMIT 1000"
                    ].map { try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + $0).map { $0["detail"] as String }.joined(separator: "; ") }
                }
                #expect(plans[0].contains("USING COVERING INDEX idempotency_by_created_at (created_at<?)"), "\(plans[0])")
                #expect(plans[1].contains("USING COVERING INDEX signal_by_received_at (received_at<?)"), "\(plans[1])")
            } else {
                let store = try #require(testStore.store as? PostgresAccountStore)
                let definitions = try await store.withTransaction(begin: "BEGIN") { connection in
                    try connection.rows("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()")
                        .map { try $0.value("indexdef", as: String.self) }
                }
                #expect(
                    definitions.contains {
                        $0.contains("idempotency_by_created_at ON") && $0.hasSuffix("idempotency USING btree (created_at)")
                    })
                #expect(
                    definitions.contains { $0.contains("signal_by_received_at ON") && $0.hasSuffix("signal USING btree (received_at)") })
            }
        }
    }
}

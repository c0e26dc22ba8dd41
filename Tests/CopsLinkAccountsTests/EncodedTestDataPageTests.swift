import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkTestSupport
import GRDB
import GRDBSQLite
import PostgresNIO
import Testing

@testable import CopsLinkPostgres
@testable import CopsLinkSQLite

/// RequestTestData's pages as the SQLite store reads them (the stored encodings put together) against the reference
/// reading (the rows as messages, encoded by the codec: `testDataPageByRows`): the same bytes, page by page, with
/// the same counts and cursors.
@Suite("RequestTestData's encoded pages")
struct EncodedTestDataPageTests {
    static let dealer = DealerID.demo
    static let accountNumber = "22-8762"
    static let start = AccountFixture.start

    /// Every page of `kind` in `[fromMs, toMs]`, read as the service reads them (the next page after the last one's
    /// cursor, until a page is not full), by the store's `testDataPage` or by the reference reading.
    static func pages(
        _ store: any AccountStore, _ kind: TestDataKind, fromMs: Int64, toMs: Int64, limit: Int, byRows: Bool
    ) async throws -> [EncodedTestDataPage] {
        var pages: [EncodedTestDataPage] = []
        var cursor: PageCursor?
        while true {
            let after = cursor
            let page = try await store.read(.dealer(dealer)) { transaction in
                try byRows
                    ? transaction.testDataPageByRows(
                        kind, accountNumber: accountNumber, fromMs: fromMs, toMs: toMs, after: after, limit: limit)
                    : transaction.testDataPage(kind, accountNumber: accountNumber, fromMs: fromMs, toMs: toMs, after: after, limit: limit)
            }
            pages.append(page)
            guard page.count == limit, let last = page.last else { return pages }
            cursor = last
        }
    }

    /// The store's pages equal the reference pages, and decode to `expected` (the rows of the range, oldest first).
    static func expectSamePages(
        _ store: any AccountStore, _ kind: TestDataKind, fromMs: Int64, toMs: Int64, limit: Int, expected: TestDataPage,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let fast = try await pages(store, kind, fromMs: fromMs, toMs: toMs, limit: limit, byRows: false)
        let reference = try await pages(store, kind, fromMs: fromMs, toMs: toMs, limit: limit, byRows: true)
        #expect(fast.map(\.bytes) == reference.map(\.bytes), "\(kind), pages of \(limit)", sourceLocation: sourceLocation)
        #expect(fast.map(\.count) == reference.map(\.count), "\(kind), pages of \(limit)", sourceLocation: sourceLocation)
        #expect(fast.map(\.last) == reference.map(\.last), "\(kind), pages of \(limit)", sourceLocation: sourceLocation)
        var decoded = TestDataPage()
        for page in fast {
            let message = try page.message.decoded()
            #expect(
                [message.history.count, message.results.count, message.signals.count].reduce(0, +) == page.count,
                sourceLocation: sourceLocation)
            decoded.history += message.history
            decoded.results += message.results
            decoded.signals += message.signals
        }
        #expect(decoded == expected, "\(kind), pages of \(limit)", sourceLocation: sourceLocation)
    }

    /// A store with one linked account.
    static func withStore(_ kind: StoreKind, _ body: (any AccountStore) async throws -> Void) async throws {
        try await withTestStore(kind) { testStore in
            try await withLinkedAccount(testStore.store, body)
        }
    }

    private static func withLinkedAccount(_ store: any AccountStore, _ body: (any AccountStore) async throws -> Void) async throws {
        try await store.write(.dealer(dealer)) { transaction in
            try transaction.saveCustomer(Customer(id: "cust-1", firstName: "Ada", lastName: "Lovelace"))
            try transaction.saveLink(
                AccountLink(
                    customerID: "cust-1", accountNumber: accountNumber, receiverNumber: "2", line: "3", state: .linked, linkedAtMs: start))
        }
        try await body(store)
    }

    /// Rows of every shape: fields empty and full, text longer than 127 bytes (a two-byte length) and not ASCII, and
    /// three rows on one timestamp, which the cursor tells apart by row id.
    static func result(_ index: Int, at: Int64) -> TestResult {
        TestResult(
            receivedAtMs: at, accountNumber: accountNumber, zoneNumber: index % 3 == 0 ? "" : zoneNumber(index % 999 + 1),
            zoneDescription: index % 5 == 0 ? "Küche – Rauchmelder" : "Front door", eventCode: "60\(index % 10)",
            qualifier: UInt32(index % 7),
            eventDescription: String(repeating: "e", count: index % 4 == 0 ? 300 : 10), userNumber: index % 2 == 0 ? "" : "007",
            partition: UInt32(index % 3), rawMessage: "8762 18 1602 01 \(index)", sessionID: index % 6 == 0 ? "" : "session-\(index / 10)")
    }

    static func times(_ count: Int) -> [Int64] {
        // Rows 10, 11 and 12 share one timestamp.
        (0..<count).map { index in start + Int64(index >= 10 && index <= 12 ? 10 : index) * minuteMs }
    }

    @Test(arguments: StoreKind.all)
    func resultsAndSignalsPagesAreTheRowsBytesPutTogether(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            let times = Self.times(40)
            let results = times.enumerated().map { Self.result($0, at: $1) }
            let signals = times.enumerated().map { index, at in
                var signal = Self.result(index + 1000, at: at + 1)
                signal.sessionID = ""
                return signal
            }
            try await store.write(.dealer(Self.dealer)) { transaction in
                // Interleaved, so that row ids of one kind have gaps.
                for (result, signal) in zip(results, signals) {
                    try transaction.insertSignal(SignalRecord(accountNumber: Self.accountNumber, result: result, isTestResult: true))
                    try transaction.insertSignal(SignalRecord(accountNumber: Self.accountNumber, result: signal, isTestResult: false))
                }
            }
            let end = Self.start + dayMs
            // 1: a page per row; 3: a page that splits the rows on one timestamp (10, 11 | 12); 8 and 40: the last page
            // is exactly full, then an empty one; 7: a short last page; 1000: one page.
            for limit in [1, 3, 7, 8, 40, 1000] {
                try await Self.expectSamePages(
                    store, .results, fromMs: Self.start, toMs: end, limit: limit, expected: TestDataPage(results: results))
                try await Self.expectSamePages(
                    store, .signals, fromMs: Self.start, toMs: end, limit: limit, expected: TestDataPage(signals: signals))
            }
            // A range that starts and ends inside the rows, on the shared timestamp.
            let shared = Self.start + 10 * minuteMs
            try await Self.expectSamePages(
                store, .results, fromMs: shared, toMs: shared, limit: 2, expected: TestDataPage(results: Array(results[10...12])))
            // Empty ranges: before the rows, and another account's.
            try await Self.expectSamePages(
                store, .results, fromMs: Self.start - dayMs, toMs: Self.start - 1, limit: 5, expected: TestDataPage())
            let empty = try await Self.pages(store, .signals, fromMs: Self.start - dayMs, toMs: Self.start - 1, limit: 5, byRows: false)
            #expect(empty.map(\.bytes) == [[]] && empty.map(\.count) == [0] && empty.map(\.last) == [nil])
            let elsewhere = try await store.read(.dealer("beta")) { transaction in
                try transaction.testDataPage(
                    .results, accountNumber: Self.accountNumber, fromMs: Self.start, toMs: end, after: nil, limit: 10)
            }
            #expect(elsewhere.count == 0 && elsewhere.bytes.isEmpty, "another dealer's account of the same number has no rows")
        }
    }

    @Test(arguments: StoreKind.all)
    func historyPagesAreTheRowsBytesPutTogether(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            let category = TestCategory(id: "service", description: "Service – Wartung", defaultDurationMinutes: 60)
            let entries = Self.times(25).enumerated().map { index, at in
                TestHistoryEntry(
                    atMs: at, action: TestHistoryAction(rawValue: UInt32(index % 3 + 1)), sessionID: "session-\(index)",
                    category: index % 4 == 0 ? nil : category, effectiveAtMs: at, expiresAtMs: at + hourMs,
                    user: index % 3 == 0 ? nil : UserRef(id: index % 2 == 0 ? "" : "tech-7", name: "Tess Tech"),
                    comment: String(repeating: "c", count: index % 5 == 0 ? 200 : index))
            }
            try await store.write(.dealer(Self.dealer)) { transaction in
                for entry in entries { try transaction.appendHistory(accountNumber: Self.accountNumber, entry) }
            }
            for limit in [1, 3, 5, 24, 25, 500] {
                try await Self.expectSamePages(
                    store, .history, fromMs: Self.start, toMs: Self.start + dayMs, limit: limit, expected: TestDataPage(history: entries))
            }
            try await Self.expectSamePages(
                store, .history, fromMs: Self.start + dayMs, toMs: Self.start + 2 * dayMs, limit: 5, expected: TestDataPage())
        }
    }

    /// A page costs the same wherever it starts in the range: the read starts at the cursor, not at the range's start
    /// (`PageKeyset.lowerMs`). Counted in SQLite's virtual-machine steps of the page statement: reading from the
    /// range's start would step past every earlier row, about 200 times the steps of the first page here.
    @Test func aPageReadsFromItsCursorNotFromTheRangesStart() async throws {
        try await Self.withStore(.sqlite) { store in
            let times = (0..<2_000).map { Self.start + Int64($0) * minuteMs }
            let entries = times.map { at in TestHistoryEntry(atMs: at, action: .placedOnTest, sessionID: "s") }
            try await store.write(.dealer(Self.dealer)) { transaction in
                for (index, at) in times.enumerated() {
                    try transaction.insertSignal(
                        SignalRecord(accountNumber: Self.accountNumber, result: Self.result(index, at: at), isTestResult: true))
                    try transaction.appendHistory(accountNumber: Self.accountNumber, entries[index])
                }
            }
            let end = times.last!
            for (kind, sql) in [(TestDataKind.results, SQLiteTransaction.signalPageSQL), (.history, SQLiteTransaction.historyPageSQL)] {
                // The steps of a 10-row page after `cursorIndex`'s row.
                func steps(after cursorIndex: Int) async throws -> Int32 {
                    try await store.read(.dealer(Self.dealer)) { transaction in
                        let transaction = try #require(transaction as? SQLiteTransaction)
                        let statement = try transaction.db.cachedStatement(sql: sql)
                        sqlite3_stmt_status(statement.sqliteStatement, SQLITE_STMTSTATUS_VM_STEP, 1)
                        // The cursor's row id: rows were inserted in time order, and ids start at 1.
                        let page = try transaction.testDataPage(
                            kind, accountNumber: Self.accountNumber, fromMs: Self.start, toMs: end,
                            after: PageCursor(atMs: times[cursorIndex], rowID: Int64(cursorIndex + 1)), limit: 10)
                        #expect(page.count == 10 && page.last?.atMs == times[cursorIndex + 10], "\(kind)")
                        return sqlite3_stmt_status(statement.sqliteStatement, SQLITE_STMTSTATUS_VM_STEP, 1)
                    }
                }
                let first = try await steps(after: 0)
                let last = try await steps(after: 1_980)
                #expect(last <= first * 2, "\(kind): \(last) steps for the last page, \(first) for the first")
            }
        }
    }

    @Test func pageKeysetStartsAtTheLaterOfTheRangeAndTheCursor() {
        let before = PageKeyset(fromMs: 1_000, toMs: 9_000, after: PageCursor(atMs: 500, rowID: 7))
        #expect(before.lowerMs == 1_000 && before.afterAtMs == 500 && before.afterRowID == 7 && before.toMs == 9_000)
        let inside = PageKeyset(fromMs: 1_000, toMs: 9_000, after: PageCursor(atMs: 4_000, rowID: 7))
        #expect(inside.lowerMs == 4_000)
        let none = PageKeyset(fromMs: 1_000, toMs: 9_000, after: nil)
        #expect(none.lowerMs == 1_000 && none.afterAtMs == .min && none.afterRowID == .min)
    }

    /// Rows written before v6 have no stored encoding: the migration encodes them from their columns, and they are
    /// served like rows written since.
    @Test func rowsWrittenBeforeTheMigrationAreServed() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let key = "\(Self.dealer)/\(Self.accountNumber)"
        try SQLiteSchema.createForTesting(
            path: path, upTo: "v5-account-pages",
            sql: """
                INSERT INTO customer (id, dealer_id, first_name, last_name, company_name, has_address, street1, street2, city, state, zip,
                    premise_phone, passcode)
                    VALUES ('\(Self.dealer)/cust-1', '\(Self.dealer)', 'Ada', 'Lovelace', '', 0, '', '', '', '', '', '', '');
                INSERT INTO station_account (account_key, account_number, dealer_id, receiver_number, line)
                    VALUES ('\(key)', '\(Self.accountNumber)', '\(Self.dealer)', '2', '3');
                INSERT INTO account_link (customer_id, account_number, state, linked_at, unlinked_at)
                    VALUES ('\(Self.dealer)/cust-1', '\(Self.accountNumber)', 1, 1000, 0);
                INSERT INTO signal (account_key, is_test_result, received_at, account_number, zone_number, zone_description, event_code,
                    qualifier, event_description, user_number, partition, raw, session_id)
                    VALUES ('\(key)', 1, \(Self.start), '\(Self.accountNumber)', '003', 'Küche', '602', 1, 'Periodic test', '', 1,
                        '8762 18 1602 01 003', 's-1'),
                    ('\(key)', 0, \(Self.start + 1), '\(Self.accountNumber)', '', '', '401', 3, 'Open/close', '012', 2, 'raw', ''),
                    ('\(key)', 1, \(Self.start + 2), '\(Self.accountNumber)', '004', '', '130', 1, '', '', 0, '', 's-1');
                INSERT INTO test_history (account_key, at, action, session_id, has_category, category_id, category_description,
                    category_minutes, effective_at, expires_at, has_user, user_id, user_name, comment)
                    VALUES ('\(key)', \(Self.start), 1, 's-1', 1, 'service', 'Service', 60, \(Self.start), \(Self.start + hourMs), 1, '',
                        'Tess', 'on'),
                    ('\(key)', \(Self.start + 5), 2, 's-1', 0, '', '', 0, \(Self.start), \(Self.start + hourMs), 0, '', '', '');
                """)
        let store = try SQLiteAccountStore(path: path)
        defer { try? store.close() }
        let results = [
            TestResult(
                receivedAtMs: Self.start, accountNumber: Self.accountNumber, zoneNumber: "003", zoneDescription: "Küche", eventCode: "602",
                qualifier: 1, eventDescription: "Periodic test", partition: 1, rawMessage: "8762 18 1602 01 003", sessionID: "s-1"),
            TestResult(
                receivedAtMs: Self.start + 2, accountNumber: Self.accountNumber, zoneNumber: "004", eventCode: "130", qualifier: 1,
                sessionID: "s-1")
        ]
        let signals = [
            TestResult(
                receivedAtMs: Self.start + 1, accountNumber: Self.accountNumber, eventCode: "401", qualifier: 3,
                eventDescription: "Open/close", userNumber: "012", partition: 2, rawMessage: "raw")
        ]
        let history = [
            TestHistoryEntry(
                atMs: Self.start, action: .placedOnTest, sessionID: "s-1",
                category: TestCategory(id: "service", description: "Service", defaultDurationMinutes: 60), effectiveAtMs: Self.start,
                expiresAtMs: Self.start + hourMs, user: UserRef(name: "Tess"), comment: "on"),
            TestHistoryEntry(
                atMs: Self.start + 5, action: .placedOffTest, sessionID: "s-1", effectiveAtMs: Self.start, expiresAtMs: Self.start + hourMs)
        ]
        let end = Self.start + dayMs
        for limit in [1, 2, 10] {
            try await Self.expectSamePages(
                store, .results, fromMs: Self.start, toMs: end, limit: limit, expected: TestDataPage(results: results))
            try await Self.expectSamePages(
                store, .signals, fromMs: Self.start, toMs: end, limit: limit, expected: TestDataPage(signals: signals))
            try await Self.expectSamePages(
                store, .history, fromMs: Self.start, toMs: end, limit: limit, expected: TestDataPage(history: history))
        }
    }

    /// PostgreSQL rows written before its migration 2 have no encoding: they are encoded from their columns when
    /// read, into the same bytes.
    @Test(PostgresStoreTests.enabled)
    func postgresRowsWithoutAnEncodingAreEncodedFromTheirColumns() async throws {
        try await withTestStore(.postgres) { testStore in
            let store = try #require(testStore.store as? PostgresAccountStore)
            try await Self.withLinkedAccount(store) { _ in
                let times = Self.times(12)
                let results = times.enumerated().map { Self.result($0, at: $1) }
                try await store.write(.dealer(Self.dealer)) { transaction in
                    for result in results {
                        try transaction.insertSignal(SignalRecord(accountNumber: Self.accountNumber, result: result, isTestResult: true))
                    }
                }
                // Every other row as if written before the migration.
                try await store.withTransaction(begin: "BEGIN") { connection in
                    try connection.execute("UPDATE signal SET message = NULL WHERE row_id % 2 = 0")
                }
                for limit in [1, 5, 100] {
                    try await Self.expectSamePages(
                        store, .results, fromMs: Self.start, toMs: Self.start + dayMs, limit: limit,
                        expected: TestDataPage(results: results))
                }
            }
        }
    }
}

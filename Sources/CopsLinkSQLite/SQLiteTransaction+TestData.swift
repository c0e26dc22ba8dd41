import CopsLinkAccounts
import GRDB
import GRDBSQLite

/// RequestTestData's page read: each `test_history` and `signal` row keeps its message encoded (`message`, written
/// with the row), so a page is those blobs appended one after the other as the elements of the page's list, read by
/// column position straight from SQLite's row: no `Row` copy, no column names, no message per row. Equal, byte for
/// byte, to `testDataPageByRows` (tested).
extension SQLiteTransaction {
    /// One page of `test_history`: account, the range from `PageKeyset.lowerMs`, the cursor, the limit.
    static let historyPageSQL = """
        SELECT at, row_id, message FROM test_history
        WHERE account_key = ? AND at BETWEEN ? AND ? AND (at > ? OR (at = ? AND row_id > ?))
        ORDER BY at, row_id LIMIT ?
        """
    /// One page of `signal`: account, kind, the range from `PageKeyset.lowerMs`, the cursor, the limit.
    static let signalPageSQL = """
        SELECT received_at, row_id, message FROM signal
        WHERE account_key = ? AND is_test_result = ? AND received_at BETWEEN ? AND ?
            AND (received_at > ? OR (received_at = ? AND row_id > ?))
        ORDER BY received_at, row_id LIMIT ?
        """

    func testDataPage(
        _ kind: TestDataKind, accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws -> EncodedTestDataPage {
        let keys = PageKeyset(fromMs: fromMs, toMs: toMs, after: cursor)
        let statement: Statement
        let arguments: StatementArguments
        switch kind {
        case .history:
            statement = try db.cachedStatement(sql: Self.historyPageSQL)
            arguments = [key(accountNumber), keys.lowerMs, keys.toMs, keys.afterAtMs, keys.afterAtMs, keys.afterRowID, limit]
        case .results, .signals:
            statement = try db.cachedStatement(sql: Self.signalPageSQL)
            arguments = [
                key(accountNumber), kind == .results, keys.lowerMs, keys.toMs, keys.afterAtMs, keys.afterAtMs, keys.afterRowID, limit
            ]
        }
        // A guess at the page's size (rows are 60 to 200 bytes), so that it rarely grows.
        var page = EncodedTestDataPage(kind, capacity: min(max(limit, 0), 5000) * 128)
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        let handle = statement.sqliteStatement
        // GRDB steps the statement; the columns of the row it stepped to are read through the C API, as GRDB's own
        // statement-backed rows do, valid until the next step.
        while try rows.next() != nil {
            let cursor = PageCursor(atMs: sqlite3_column_int64(handle, 0), rowID: sqlite3_column_int64(handle, 1))
            // NULL (what an empty encoding binds as) and an empty blob are both the empty message. The blob first,
            // then its size, as SQLite asks.
            let bytes = sqlite3_column_blob(handle, 2)
            let count = Int(sqlite3_column_bytes(handle, 2))
            guard count == 0 || bytes != nil else { throw DatabaseError(resultCode: .SQLITE_NOMEM, message: "reading a test data row") }
            page.append(encodedRow: UnsafeRawBufferPointer(start: count > 0 ? bytes : nil, count: count), cursor: cursor)
        }
        return page
    }
}

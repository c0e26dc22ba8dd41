import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import PostgresNIO

/// RequestTestData's page read, as SQLite's (`SQLiteTransaction+TestData`): each `test_history` and `signal` row keeps
/// its message encoded (`message`, written with the row; migration 2), so a page is those bytes put together, read by
/// keyset (the page after the previous page's last row), so memory stays one page whatever the range. A row from
/// before the migration has no encoding and is encoded from its columns here. Equal, byte for byte, to
/// `testDataPageByRows` (tested on both stores).
extension PostgresTransaction {
    func testDataPage(
        _ kind: TestDataKind, accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws -> EncodedTestDataPage {
        let keys = PageKeyset(fromMs: fromMs, toMs: toMs, after: cursor)
        let limit = Int64(max(0, limit))
        var page = EncodedTestDataPage(kind, capacity: Int(min(limit, 5000)) * 128)
        switch kind {
        case .history:
            for row in try connection.rows(
                """
                SELECT * FROM test_history
                WHERE account_key = \(key(accountNumber)) AND at BETWEEN \(keys.lowerMs) AND \(keys.toMs)
                    AND (at > \(keys.afterAtMs) OR (at = \(keys.afterAtMs) AND row_id > \(keys.afterRowID)))
                ORDER BY at, row_id LIMIT \(limit)
                """)
            {
                let cursor = PageCursor(atMs: try row.value("at"), rowID: try row.value("row_id"))
                try Self.append(row, to: &page, cursor: cursor) { try Self.historyEntry(row).serializedBytes() }
            }
        case .results, .signals:
            for row in try connection.rows(
                """
                SELECT * FROM signal
                WHERE account_key = \(key(accountNumber)) AND is_test_result = \(kind == .results)
                    AND received_at BETWEEN \(keys.lowerMs) AND \(keys.toMs)
                    AND (received_at > \(keys.afterAtMs) OR (received_at = \(keys.afterAtMs) AND row_id > \(keys.afterRowID)))
                ORDER BY received_at, row_id LIMIT \(limit)
                """)
            {
                let cursor = PageCursor(atMs: try row.value("received_at"), rowID: try row.value("row_id"))
                try Self.append(row, to: &page, cursor: cursor) { try Self.testResult(row).serializedBytes() }
            }
        }
        return page
    }

    /// The row's stored encoding, or (a row from before migration 2) the encoding of its columns.
    private static func append(
        _ row: PostgresRandomAccessRow, to page: inout EncodedTestDataPage, cursor: PageCursor, encoding: () throws -> [UInt8]
    ) throws {
        if let stored = try row.value("message", as: ByteBuffer?.self) {
            stored.withUnsafeReadableBytes { page.append(encodedRow: $0, cursor: cursor) }
        } else {
            try encoding().withUnsafeBytes { page.append(encodedRow: $0, cursor: cursor) }
        }
    }
}

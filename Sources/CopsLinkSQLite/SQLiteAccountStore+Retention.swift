public import CopsLinkAccounts
import GRDB

extension SQLiteAccountStore {
    /// One DELETE of at most `limit` rows, found through the time indexes of migration `v7-retention`, as a write of
    /// its own in the shared commits (`SQLiteGroupCommit`): the writes of calls queue behind one batch, not a pass.
    public func prune(_ kind: RetainedRows, before cutoffMs: Int64, limit: Int) async throws -> Int {
        let sql =
            switch kind {
            case .idempotencyRecords:
                "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE created_at < ? LIMIT ?)"
            case .signals:
                "DELETE FROM signal WHERE row_id IN (SELECT row_id FROM signal WHERE received_at < ? LIMIT ?)"
            }
        return try await commits.write(owner: "") { db in
            try db.execute(sql: sql, arguments: [cutoffMs, limit])
            return db.changesCount
        }
    }
}

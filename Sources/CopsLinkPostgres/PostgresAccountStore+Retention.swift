public import CopsLinkAccounts
import PostgresNIO

extension PostgresAccountStore {
    /// One DELETE of at most `limit` rows, found through the time indexes of migration 3, in a READ COMMITTED
    /// transaction of its own rather than a SERIALIZABLE write: it reads nothing a rule depends on, and its range
    /// read would otherwise make the writes of calls that touch the same tables fail serialization and run again.
    /// `FOR UPDATE SKIP LOCKED`: instances pruning at once each take rows the others have not locked, so none waits
    /// for another's batch, and none deletes a row twice.
    public func prune(_ kind: RetainedRows, before cutoffMs: Int64, limit: Int) async throws -> Int {
        let query: PostgresQuery =
            switch kind {
            case .idempotencyRecords:
                """
                DELETE FROM idempotency WHERE request_id IN (
                    SELECT request_id FROM idempotency WHERE created_at < \(cutoffMs) LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                """
            case .signals:
                """
                DELETE FROM signal WHERE row_id IN (
                    SELECT row_id FROM signal WHERE received_at < \(cutoffMs) LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                """
            }
        do {
            return try await withTransaction(begin: "BEGIN ISOLATION LEVEL READ COMMITTED") { connection in
                try connection.execute(query)
            }
        } catch {
            throw Self.mapped(error, logger: logger)
        }
    }
}

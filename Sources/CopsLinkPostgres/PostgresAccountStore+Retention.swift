public import CopsLinkAccounts
import PostgresNIO

extension PostgresAccountStore {
    /// Folds the stored-bytes rows of server connections that have ended into the dealer's row 0 (migration 4): each
    /// connection keeps a row per dealer it wrote, so without this they would pile up as connections come and go. A
    /// row is deleted once, by whichever instance gets it first, and its bytes are added to row 0 in the same statement.
    static let foldEndedConnections: PostgresQuery = """
        WITH ended AS (
            DELETE FROM dealer_stored_bytes
            WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
            RETURNING dealer_id, bytes)
        INSERT INTO dealer_stored_bytes (dealer_id, shard, bytes) SELECT dealer_id, 0, SUM(bytes) FROM ended GROUP BY dealer_id
        ON CONFLICT (dealer_id, shard) DO UPDATE SET bytes = dealer_stored_bytes.bytes + EXCLUDED.bytes
        """

    /// One DELETE of at most `limit` rows, found through the time indexes of migration 3 (and, before each batch of
    /// idempotency records, `foldEndedConnections`), in a READ COMMITTED transaction of its own rather than a
    /// SERIALIZABLE write: it reads nothing a rule depends on, and its range read would otherwise make the writes of
    /// calls that touch the same tables fail serialization and run again.
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
                if kind == .idempotencyRecords { _ = try connection.execute(Self.foldEndedConnections) }
                return try connection.execute(query)
            }
        } catch {
            throw Self.mapped(error, logger: logger)
        }
    }
}

import CopsLinkCore
public import Logging

/// Deletes idempotency records and signals once they are past their retention (`AccountServiceConfiguration`):
/// every call with a request id, and every signal, adds a row that nothing else removes, so without it the store
/// grows for as long as the server runs.
///
/// A pass deletes in batches (`AccountStore.prune`), each a short transaction of its own, so that writes of calls
/// run between them however much is due (the first pass after an upgrade may find years of rows). Passes run at
/// start and then every `intervalMs`. Every instance sharing a PostgreSQL database runs its own: deleting what is
/// older than a cutoff is the same whoever does it, and the store has instances skip rows another is deleting.
public actor RetentionPruner {
    /// Rows one batch deletes at most: a few milliseconds of the writer on SQLite.
    public static let defaultBatchSize = 1000
    /// Idempotency records one batch deletes at most, whatever `batchSize`: each holds a whole answer (up to 1.6 MB
    /// at the field limits), and SQLite reads every overflow page of a row it frees, so a thousand large ones would
    /// hold the writer, and every caller's write behind it, for seconds.
    public static let idempotencyBatchSize = 100
    /// Time between passes: 5 minutes. A record past its window is not replayed even before it is deleted, so this
    /// only sets how long past its window a row may stay on disk.
    public static let defaultIntervalMs: Int64 = 5 * 60 * 1000

    private let store: any AccountStore
    private let clock: any AccountClock
    private let configuration: AccountServiceConfiguration
    private let logger: Logger
    private let batchSize: Int
    private let intervalMs: Int64

    public init(
        store: any AccountStore, clock: any AccountClock, configuration: AccountServiceConfiguration, logger: Logger,
        batchSize: Int = RetentionPruner.defaultBatchSize, intervalMs: Int64 = RetentionPruner.defaultIntervalMs
    ) {
        precondition(batchSize > 0 && intervalMs > 0, "a pruner needs a positive batch size and interval")
        self.store = store
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        self.batchSize = batchSize
        self.intervalMs = intervalMs
    }

    /// Runs passes until the task is cancelled. A failed pass is logged and the next runs at its time: what it left
    /// is still due then.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await pruneExpired()
            } catch is CancellationError {
                return
            } catch {
                logger.error("retention pass failed", metadata: ["error": "\(error)"])
            }
            do {
                try await clock.sleep(untilMs: clock.nowMs().addingSaturating(intervalMs))
            } catch {
                return
            }
        }
    }

    /// One pass: deletes every row past its retention at this moment, batch after batch until a batch comes back
    /// short. Returns how many it deleted of each kind (kinds kept forever are left out).
    @discardableResult
    public func pruneExpired() async throws -> [RetainedRows: Int] {
        let now = clock.nowMs()
        var deleted: [RetainedRows: Int] = [:]
        for kind in RetainedRows.allCases {
            guard let cutoff = configuration.retentionCutoffMs(kind, atMs: now) else { continue }
            var count = 0
            while true {
                try Task.checkCancellation()
                let limit = kind == .idempotencyRecords ? min(batchSize, Self.idempotencyBatchSize) : batchSize
                let batch = try await store.prune(kind, before: cutoff, limit: limit)
                count += batch
                if batch < limit { break }
            }
            deleted[kind] = count
            if count > 0 {
                logger.info("deleted rows past their retention", metadata: ["kind": "\(kind.rawValue)", "count": "\(count)"])
            }
        }
        return deleted
    }
}

import GRDB
import Logging
import Synchronization

/// How many write transactions and writes have committed since the store opened: batching at work is
/// `writes > transactions`. For tests and logs, not a limit.
public struct SQLiteWriteStatistics: Sendable, Equatable {
    /// Transactions committed with at least one write in them.
    public var transactions = 0
    /// Writes committed in them (bodies that did not throw).
    public var writes = 0
    /// The most writes one transaction committed.
    public var largestBatch = 0
}

/// Group commit: concurrent writes share one transaction, and so one commit and its fsync (`synchronous = FULL`
/// makes every commit wait for the disk, which is what a write costs).
///
/// A write queues its body and waits. One drain at a time runs on GRDB's writer: it takes everything queued (at most
/// `maximumBatchSize`), opens one transaction (`BEGIN IMMEDIATE`), runs each body in a savepoint of its own, in the
/// order they queued, commits once, and only then answers every caller. While a batch commits, new writes queue for
/// the next one: nothing waits on a timer, so a write alone is one transaction, as before.
///
/// - Each body sees what the bodies before it in the batch wrote: they are serialized as if each had its own
///   transaction.
/// - A body that throws is rolled back to its savepoint alone, and its caller gets its error; the others are not
///   affected.
/// - A caller is answered only after the commit: an answered write is durable. If BEGIN or COMMIT fails, or SQLite
///   rolls the whole transaction back under a body (disk full, I/O error), nothing of the batch was written and every
///   caller whose body had not failed on its own gets that error.
/// - A write whose caller's task is cancelled before its batch takes it is not run: it leaves the queue at once and
///   its caller gets `CancellationError`. Calls cancelled or cut off by their connection's close so leave nothing
///   for the writer to do (10,000 writes queued on 100 connections closed at once had kept the writer busy for
///   seconds, and every other client's writes behind them). Once its batch has taken it, a write runs, commits and
///   answers as any other. Each continuation is resumed exactly once: by its answer after the batch's end, by
///   `fail` when its batch could not begin, or by the cancellation while queued.
///
/// Bounded without a limit of its own: each queued write is a call in flight waiting on it (or the server's own work,
/// such as test expiry, one at a time), and calls in flight are already bounded, per connection
/// (`maxConcurrentCalls`) and by the connections the server takes; the queue never holds more than those.
final class SQLiteGroupCommit: Sendable {
    /// At most this many writes share one transaction. A batch holds the writer for the time of all its bodies,
    /// and its callers wait for the last one; 64 shares one fsync among enough writers that the fsync is no longer
    /// the cost of a write (a few ms of disk against tens of µs of work per body), and keeps a batch's bodies a short
    /// wait behind each other. Writes past it wait for the next batch.
    static let maximumBatchSize = 64

    /// Answers a write's caller once its batch's fate is known: nil when it committed, else why it did not.
    typealias Answer = @Sendable (_ batchError: (any Error)?) -> Void

    /// One queued write.
    struct Pending: Sendable {
        /// Runs the body in the open transaction, in a savepoint of its own, and returns whether it succeeded and how
        /// to answer its caller.
        let run: @Sendable (Database) -> (succeeded: Bool, answer: Answer)
        /// Answers the caller with `error` without running the body: its batch could not begin.
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        /// Writes waiting for the next batch, oldest first (bounded by the calls in flight, above), by id; an id whose
        /// write was cancelled is skipped (`waiting` no longer has it).
        var queue: [UInt64] = []
        /// The writes of `queue` not cancelled.
        var waiting: [UInt64: Pending] = [:]
        /// A drain is scheduled or running: whoever queues meanwhile leaves the write to it.
        var draining = false
        var statistics = SQLiteWriteStatistics()
    }

    private let pool: DatabasePool
    private let logger: Logger
    private let state = Mutex(State())
    /// Numbers writes, so that a cancellation can find its own in the queue.
    private let nextID = Atomic<UInt64>(0)

    init(pool: DatabasePool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    var statistics: SQLiteWriteStatistics { state.withLock { $0.statistics } }

    /// Writes waiting for a batch (not the one running): for tests that line writes up behind a held writer.
    var queuedWrites: Int { state.withLock { $0.waiting.count } }

    /// Runs `body` in a shared write transaction and returns its result once that transaction has committed; throws
    /// `CancellationError` without running it if the caller's task is cancelled before its batch takes it.
    func write<Value: Sendable>(_ body: @escaping @Sendable (Database) throws -> Value) async throws -> Value {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enqueue(
                    id: id,
                    Pending(
                        run: { db in
                            let outcome = Self.inSavepoint(db, body)
                            let succeeded =
                                switch outcome {
                                case .success: true
                                case .failure: false
                                }
                            return (
                                succeeded,
                                { batchError in
                                    // A body that failed on its own keeps its error: nothing of it was to be committed.
                                    if case .success = outcome, let batchError {
                                        continuation.resume(throwing: batchError)
                                    } else {
                                        continuation.resume(with: outcome)
                                    }
                                }
                            )
                        },
                        fail: { continuation.resume(throwing: $0) }))
            }
        } onCancel: {
            let cancelled = state.withLock { $0.waiting.removeValue(forKey: id) }
            cancelled?.fail(CancellationError())
        }
    }

    /// Runs `body` between SAVEPOINT and RELEASE, or rolls back to the savepoint if it throws.
    ///
    /// The three statements are prepared once per connection and run through the C API (`SQLiteStatementRun`):
    /// GRDB's `inSavepoint` compiles its SAVEPOINT and RELEASE anew for every body.
    private static func inSavepoint<Value>(_ db: Database, _ body: (Database) throws -> Value) -> Result<Value, any Error> {
        do {
            try SQLiteStatementRun(db, "SAVEPOINT write").execute()
        } catch {
            return .failure(error)
        }
        do {
            let value = try body(db)
            try SQLiteStatementRun(db, "RELEASE write").execute()
            return .success(value)
        } catch {
            // Undo this body alone, and take its savepoint off the stack. Unless SQLite rolled the whole transaction
            // back under it (disk full, I/O error), which took the savepoint with it: the batch then ends (`commit`).
            if db.isInsideTransaction {
                do {
                    try SQLiteStatementRun(db, "ROLLBACK TO write").execute()
                    try SQLiteStatementRun(db, "RELEASE write").execute()
                } catch {
                    // A savepoint that cannot be rolled back leaves the batch's work in doubt: end the transaction, so
                    // that `commit` fails the whole batch rather than commit part of this body.
                    try? db.execute(sql: "ROLLBACK")
                }
            }
            return .failure(error)
        }
    }

    /// Queues `pending`, unless the caller's task is already cancelled (checked under the lock that the
    /// cancellation handler takes: a cancellation either finds the write queued or is seen here).
    private func enqueue(id: UInt64, _ pending: Pending) {
        let outcome: (startsDrain: Bool, cancelled: Bool) = state.withLock { state in
            if Task.isCancelled { return (false, true) }
            state.queue.append(id)
            state.waiting[id] = pending
            defer { state.draining = true }
            return (!state.draining, false)
        }
        if outcome.cancelled { pending.fail(CancellationError()) }
        if outcome.startsDrain { scheduleDrain() }
    }

    /// One batch per block on GRDB's writer queue, so that the pool's other writers (API keys) take their turns.
    private func scheduleDrain() {
        pool.asyncWriteWithoutTransaction { db in self.drain(db) }
    }

    private func drain(_ db: Database) {
        let batch = state.withLock { state in
            var batch: [Pending] = []
            var taken = 0
            while taken < state.queue.count, batch.count < Self.maximumBatchSize {
                if let pending = state.waiting.removeValue(forKey: state.queue[taken]) { batch.append(pending) }
                taken += 1
            }
            state.queue.removeFirst(taken)
            return batch
        }
        let committed = batch.isEmpty ? 0 : commit(batch, in: db)
        let more = state.withLock { state in
            if state.queue.isEmpty { state.draining = false }
            return state.draining
        }
        if committed > 1 { logger.debug("group commit", metadata: ["writes": "\(committed)", "queued": "\(batch.count)"]) }
        if more { scheduleDrain() }
    }

    /// Runs `batch` in one transaction and answers every caller; returns how many writes committed.
    private func commit(_ batch: [Pending], in db: Database) -> Int {
        var answers: [Answer] = []
        answers.reserveCapacity(batch.count)
        var succeeded = 0
        do {
            try db.inTransaction(.immediate) {
                for pending in batch {
                    let ran = pending.run(db)
                    answers.append(ran.answer)
                    if ran.succeeded { succeeded += 1 }
                    // SQLite rolls the whole transaction back on some errors (SQLITE_FULL, SQLITE_IOERR, …): the earlier
                    // bodies' work went with it, so the batch cannot commit.
                    guard db.isInsideTransaction else {
                        throw DatabaseError(resultCode: .SQLITE_ABORT, message: "the shared write transaction was rolled back")
                    }
                }
                return .commit
            }
        } catch {
            for answer in answers { answer(error) }
            for pending in batch.dropFirst(answers.count) { pending.fail(error) }
            return 0
        }
        // Counted before the callers are answered, so that a caller who reads the statistics sees its own commit.
        if succeeded > 0 {
            state.withLock { state in
                state.statistics.transactions += 1
                state.statistics.writes += succeeded
                state.statistics.largestBatch = max(state.statistics.largestBatch, succeeded)
            }
        }
        for answer in answers { answer(nil) }
        return succeeded
    }
}

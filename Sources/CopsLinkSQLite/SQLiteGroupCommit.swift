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
/// A write queues its body, under its owner (the dealer it writes for), and waits. One drain at a time runs on GRDB's
/// writer: it opens one transaction (`BEGIN IMMEDIATE`), runs queued bodies each in a savepoint of its own, commits
/// once, and only then answers every caller. Writes that arrive while its bodies run join it, within its bounds; while
/// it commits, they queue for the next one. Nothing waits on a timer, so a write alone is one transaction.
///
/// - **Owners take turns.** A batch takes the next write of each owner with writes queued in turn, each owner's in the
///   order they queued; so one dealer's queued writes, however many or however costly, put another dealer's write
///   behind one of theirs per turn, not behind all of them (a dealer flooding the writer with small writes that each
///   rebuild a 1.2 MB account page had made every other dealer's writes wait for the whole flood).
/// - **A batch is bounded in writes and in time.** It takes bodies one at a time, while it has run fewer than
///   `maximumBatchSize` and for less than `maximumBatchDuration`; what is left waits for the next batch. Its callers
///   are answered at its commit, so the bound is also what a write waits for the bodies queued after it.
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
        /// Writes waiting for a batch (not the one running), each owner's oldest first, by id; an id whose write was
        /// cancelled is skipped when its turn comes (`waiting` no longer has it). Bounded by the calls in flight
        /// (above).
        var queues: [String: OwnerQueue] = [:]
        /// The owners with a queue, in the order they take turns.
        var turns: [String] = []
        /// The index in `turns` of the owner whose write is taken next.
        var nextTurn = 0
        /// The writes of `queues` not cancelled.
        var waiting: [UInt64: Pending] = [:]
        /// A drain is scheduled or running: whoever queues meanwhile leaves the write to it.
        var draining = false
        var statistics = SQLiteWriteStatistics()

        mutating func enqueue(id: UInt64, owner: String, _ pending: Pending) {
            waiting[id] = pending
            if queues[owner]?.append(id) == nil {
                queues[owner] = OwnerQueue(ids: [id])
                // Into the ring just before the owner whose turn is next: the newcomer's turn comes once every owner
                // already queued has had one more.
                turns.insert(owner, at: nextTurn)
                nextTurn += 1
            }
        }

        /// The write of the owner whose turn it is, skipping cancelled ones; nil when none is queued.
        mutating func takeNext() -> Pending? {
            while !turns.isEmpty {
                if nextTurn >= turns.count { nextTurn = 0 }
                let owner = turns[nextTurn]
                let id = queues[owner]!.removeFirst()
                if queues[owner]!.isEmpty {
                    queues[owner] = nil
                    turns.remove(at: nextTurn)  // the next owner moves into this index
                } else {
                    nextTurn += 1
                }
                if let pending = waiting.removeValue(forKey: id) { return pending }
            }
            return nil
        }
    }

    /// One owner's queued write ids, oldest first: an array read from `head`, compacted as it is consumed.
    private struct OwnerQueue {
        var ids: [UInt64]
        var head = 0

        var isEmpty: Bool { head == ids.count }

        mutating func append(_ id: UInt64) { ids.append(id) }

        mutating func removeFirst() -> UInt64 {
            let id = ids[head]
            head += 1
            if head >= 32, head * 2 >= ids.count {
                ids.removeFirst(head)
                head = 0
            }
            return id
        }
    }

    private let pool: DatabasePool
    private let logger: Logger
    /// A batch takes no further body once its bodies have run this long: a batch of costly bodies (an account at
    /// every field limit rebuilds a page of 1.2 MB) commits and answers its callers after about this much writer
    /// time plus its last body, rather than after 64 of them. Cheap writes fill a batch by count first (64
    /// PlaceOnTests take about 10 ms of writer time on the 2-core benchmark machine), so group commit keeps its
    /// sharing where the fsync is what a write costs.
    private let maximumBatchDuration: Duration
    private let state = Mutex(State())
    /// Numbers writes, so that a cancellation can find its own in the queue.
    private let nextID = Atomic<UInt64>(0)

    init(pool: DatabasePool, logger: Logger, maximumBatchDuration: Duration) {
        self.pool = pool
        self.logger = logger
        self.maximumBatchDuration = maximumBatchDuration
    }

    var statistics: SQLiteWriteStatistics { state.withLock { $0.statistics } }

    /// Writes waiting for a batch (not the one running): for tests that line writes up behind a held writer.
    var queuedWrites: Int { state.withLock { $0.waiting.count } }

    /// Runs `body` in a shared write transaction and returns its result once that transaction has committed; throws
    /// `CancellationError` without running it if the caller's task is cancelled before its batch takes it. `owner`
    /// names whose write it is, for the turns batches take (the dealer id; "" for the server's own work and writes for
    /// all dealers).
    func write<Value: Sendable>(owner: String, _ body: @escaping @Sendable (Database) throws -> Value) async throws -> Value {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enqueue(
                    id: id, owner: owner,
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
    private func enqueue(id: UInt64, owner: String, _ pending: Pending) {
        let outcome: (startsDrain: Bool, cancelled: Bool) = state.withLock { state in
            if Task.isCancelled { return (false, true) }
            state.enqueue(id: id, owner: owner, pending)
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
        let committed = commitBatch(in: db)
        let more = state.withLock { state in
            if state.turns.isEmpty { state.draining = false }
            return state.draining
        }
        if committed > 1 { logger.debug("group commit", metadata: ["writes": "\(committed)"]) }
        if more { scheduleDrain() }
    }

    /// Runs queued writes in one transaction, taking them in turns while the batch is within its bounds, and answers
    /// every caller; returns how many writes committed.
    private func commitBatch(in db: Database) -> Int {
        // Taken before BEGIN, so that a queue of only cancelled writes opens no transaction.
        guard var next = state.withLock({ $0.takeNext() }) else { return 0 }
        var taken: Pending? = next
        var answers: [Answer] = []
        var succeeded = 0
        do {
            try db.inTransaction(.immediate) {
                let started = ContinuousClock.now
                while true {
                    taken = nil
                    let ran = next.run(db)
                    answers.append(ran.answer)
                    if ran.succeeded { succeeded += 1 }
                    // SQLite rolls the whole transaction back on some errors (SQLITE_FULL, SQLITE_IOERR, …): the earlier
                    // bodies' work went with it, so the batch cannot commit.
                    guard db.isInsideTransaction else {
                        throw DatabaseError(resultCode: .SQLITE_ABORT, message: "the shared write transaction was rolled back")
                    }
                    guard answers.count < Self.maximumBatchSize, ContinuousClock.now - started < maximumBatchDuration,
                        let pending = state.withLock({ $0.takeNext() })
                    else { break }
                    next = pending
                    taken = pending
                }
                return .commit
            }
        } catch {
            for answer in answers { answer(error) }
            taken?.fail(error)  // taken and not run: BEGIN failed
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

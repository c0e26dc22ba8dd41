public import NIOCore
public import NIOPosix
import Synchronization

/// Runs jobs on a thread pool (NIO's shared one, for the HTTP/JSON gateway's large conversions) with the callers'
/// keys taking turns: a key's jobs run in the order it queued them, and the next job is taken from the next key
/// that has one waiting. Without turns the pool ran jobs in arrival order: one key's 1,200 unread RequestTestData
/// pages queued for conversion kept another dealer's large page waiting 20–92 s on a debug build.
///
/// At most the pool's thread count of jobs run at once; a worker that finishes a job takes the next turn's job
/// itself, so a queue of jobs costs one pool submission per worker, not one per job.
public final class ThreadPoolTurns: Sendable {
    /// The one the gateway uses: NIO's shared pool is shared by the whole process, so its turns are too. The pool is
    /// started at the first job, not when a connection takes these turns (most never convert anything).
    public static let shared = ThreadPoolTurns()

    public typealias Job = @Sendable () -> Void

    private struct State {
        /// Each key's waiting jobs, in arrival order; a key with none has no entry.
        var queues: [String: CircularBuffer<Job>] = [:]
        /// The keys with jobs waiting, in the order their turns come.
        var turns = CircularBuffer<String>()
        /// Workers submitted to the pool and not yet finished.
        var workers = 0
    }

    /// Nil for `shared`: NIO's shared pool, looked up at each submission.
    private let explicitPool: NIOThreadPool?
    private let maximumWorkers: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - pool: where jobs run; a job submitted to a pool that is not running runs on the thread that submits it.
    ///   - maximumWorkers: jobs running at once; by default the pool's thread count.
    public init(pool: NIOThreadPool, maximumWorkers: Int? = nil) {
        explicitPool = pool
        self.maximumWorkers = max(1, maximumWorkers ?? pool.numberOfThreads)
    }

    /// NIO's shared pool, with as many workers as it has threads.
    private init() {
        explicitPool = nil
        maximumWorkers = max(1, NIOSingletons.blockingPoolThreadCountSuggestion)
    }

    /// Runs `body` on the pool in `key`'s turn; its result is on `eventLoop`.
    public func run<T: Sendable>(key: String, on eventLoop: any EventLoop, _ body: @escaping @Sendable () -> T) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        enqueue(key: key) { promise.succeed(body()) }
        return promise.futureResult
    }

    /// Runs `body` on the pool in `key`'s turn and returns its result.
    public func run<T: Sendable>(key: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            enqueue(key: key) { continuation.resume(returning: body()) }
        }
    }

    /// Queues `job` under `key`, and starts a worker if fewer than `maximumWorkers` run.
    public func enqueue(key: String, _ job: @escaping Job) {
        let startsWorker = state.withLock { state in
            if state.queues[key] == nil {
                state.queues[key] = CircularBuffer(initialCapacity: 4)
                state.turns.append(key)
            }
            state.queues[key]!.append(job)
            guard state.workers < maximumWorkers else { return false }
            state.workers += 1
            return true
        }
        if startsWorker { (explicitPool ?? .singleton).submit { _ in self.work() } }
    }

    /// The keys with jobs waiting, in the order their turns come (for tests).
    @_spi(ConnectionHarness) public var waitingKeys: [String] { state.withLock { Array($0.turns) } }

    /// A worker: runs the next turn's job until none waits.
    private func work() {
        while let job = nextJob() { job() }
    }

    /// The job of the key whose turn it is (that key's turn then goes to the back of the line, if it has more
    /// waiting), or nil and one worker fewer when none waits.
    private func nextJob() -> Job? {
        state.withLock { state in
            guard let key = state.turns.popFirst() else {
                state.workers -= 1
                return nil
            }
            let job = state.queues[key]!.removeFirst()
            if state.queues[key]!.isEmpty {
                state.queues[key] = nil
            } else {
                state.turns.append(key)
            }
            return job
        }
    }
}

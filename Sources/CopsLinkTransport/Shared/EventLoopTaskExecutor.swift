public import NIOCore
import Synchronization

/// Runs Swift tasks on one event loop's thread.
///
/// A call's handler (server) or caller (client) that prefers this executor runs on the same thread as its
/// connection, so handing frames to the connection and resuming on its answers costs no thread switch; on this
/// kind of machine a switch costs more than the rest of a small call.
///
/// Jobs are queued here and run in batches, one event-loop task per batch: a read that answers 64 calls resumes 64
/// tasks, and one closure for each (what `EventLoop.execute` takes) was an allocation per resumed call.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    private struct Queue {
        var jobs: [UnownedJob] = []
        /// The previous batch's storage, emptied, so that a steady stream of batches allocates nothing.
        var spare: [UnownedJob] = []
        var drainScheduled = false
    }

    private let queue = Mutex(Queue())
    /// The server connection whose tasks run here: while no caller has authenticated on it, the time its batches
    /// take is recorded for its loop's keyless share (`KeylessPacing`).
    private let trust: ConnectionTrust?

    public init(eventLoop: any EventLoop, trust: ConnectionTrust? = nil) {
        self.eventLoop = eventLoop
        self.trust = trust.flatMap { $0.isTrusted ? nil : $0 }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let scheduleDrain = queue.withLock { queue in
            queue.jobs.append(job)
            defer { queue.drainScheduled = true }
            return !queue.drainScheduled
        }
        if scheduleDrain {
            eventLoop.execute { self.drain() }
        }
    }

    /// Runs the jobs queued so far, in order; jobs they enqueue run in the next batch.
    private func drain() {
        var batch = queue.withLock { queue in
            queue.drainScheduled = false
            let batch = queue.jobs
            queue.jobs = queue.spare
            queue.spare = []
            return batch
        }
        let executor = asUnownedTaskExecutor()
        let untrusted = trust.flatMap { $0.isTrusted ? nil : $0 }
        let start = untrusted == nil ? nil : NIODeadline.now()
        for job in batch { job.runSynchronously(on: executor) }
        if let untrusted, let start { untrusted.recordWork(since: start) }
        batch.removeAll(keepingCapacity: true)
        queue.withLock { queue in
            if queue.spare.capacity < batch.capacity { queue.spare = batch }
        }
    }
}

extension NIOLoopBound {
    /// Runs `body(value, argument)` now if on its event loop, otherwise as a task on that loop.
    ///
    /// `body` should capture nothing and take what it needs as `argument`: a closure without captures needs no
    /// context, so the in-loop path (every call made from a task on the connection's executor) allocates nothing;
    /// only the cross-thread path builds one closure.
    public func run<Argument: Sendable>(_ argument: Argument, _ body: @escaping @Sendable (Value, Argument) -> Void) {
        if eventLoop.inEventLoop {
            body(value, argument)
        } else {
            eventLoop.execute { body(self.value, argument) }
        }
    }
}

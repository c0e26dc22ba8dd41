import NIOCore

/// Runs Swift tasks on one event loop's thread.
///
/// A call's handler (server) or caller (client) that prefers this executor runs on the same thread as its
/// connection, so handing frames to the connection and resuming on its answers costs no thread switch; on this
/// kind of machine a switch costs more than the rest of a small call.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}

extension NIOLoopBound {
    /// Runs `body` with the value now if on its event loop, otherwise as a task on that loop.
    func run(_ body: @escaping @Sendable (Value) -> Void) {
        if eventLoop.inEventLoop {
            body(value)
        } else {
            eventLoop.execute { body(self.value) }
        }
    }
}

import NIOCore

/// A timeout that runs from a moment set often (the end of the last call, the first bytes of a partial frame), served
/// by at most one timer per connection: starting the clock never cancels or reschedules; the timer, when it fires,
/// either finds the timeout passed or schedules itself again for the clock's new due time. Event-loop bound.
struct RestartableTimeout {
    let timeout: Duration
    /// When the clock started; nil while it is stopped.
    private var since: NIODeadline?
    private var timer: Scheduled<Void>?

    init(_ timeout: Duration) { self.timeout = timeout }

    /// Starts the clock now, and the timer if none is pending; `check` runs when it fires and should call `fired`.
    ///
    /// `check` is made only when a timer is scheduled: a connection whose calls are answered one at a time starts the
    /// clock after every call, and building the closure each time was an allocation per call.
    mutating func start(on loop: any EventLoop, _ check: @autoclosure () -> @Sendable () -> Void) {
        let now = loop.now
        since = now
        schedule(at: now + TimeAmount(timeout), on: loop, check())
    }

    /// Stops the clock; a pending timer finds nothing to do.
    mutating func stop() { since = nil }

    /// Cancels the timer (the connection is closing).
    mutating func cancel() {
        timer?.cancel()
        timer = nil
    }

    /// For `check`, when the timer has fired: true if the clock runs, `relevant` holds and the timeout has passed.
    /// Otherwise the timer is scheduled again for the due time, unless the clock is stopped or no longer relevant.
    ///
    /// Time is the event loop's clock, the one the timer runs on: against the system clock, a loop with a clock of
    /// its own (NIOEmbedded's virtual time, in fuzz-connection) ran the check, found the system clock short of the
    /// due time and rescheduled at that time, already passed on the loop: a busy loop until the system clock caught
    /// up (found by fuzz-connection as a timeout; FUZZING.md).
    mutating func fired(on loop: any EventLoop, relevant: Bool = true, _ check: @escaping @Sendable () -> Void) -> Bool {
        timer = nil
        guard relevant, let since else { return false }
        let due = since + TimeAmount(timeout)
        guard loop.now >= due else {
            schedule(at: due, on: loop, check)
            return false
        }
        return true
    }

    /// Schedules the timer unless one is pending; `check` is made only then.
    private mutating func schedule(at deadline: NIODeadline, on loop: any EventLoop, _ check: @autoclosure () -> @Sendable () -> Void) {
        guard timer == nil else { return }
        timer = loop.scheduleTask(deadline: deadline, check())
    }
}

public import Logging
import Synchronization

/// How many log lines clients may cause: a token bucket per connection for failed calls, under one bucket for the
/// whole server.
///
/// A client can fail calls as fast as it sends them (unknown keys, bad ids), and one log line per failure would let
/// it fill the disk and drown the lines that matter. `LoggingInterceptor` asks `admit()` before logging a failure; a
/// line it may write carries the count of lines suppressed since the last one, and the transport logs what is left
/// when the connection closes. Successful calls are not limited (they log at debug by default).
///
/// A connection's bucket alone does not bound the log: a client that opens connections, fails calls on each and
/// closes them gets a fresh burst every time (two such threads wrote 400 KB of log a second). So a connection's
/// budget may have a `server` budget, shared by every connection: a line needs a token from both, and the lines
/// about connections themselves (closing one, its first refusal at a limit, its summary) need one from the server's.
public final class FailureLogBudget: Sendable {
    /// What a line that may be written reports of the lines left out before it.
    public struct Admission: Sendable, Equatable {
        /// Failed-call lines of this connection left out since its last line written (`suppressed_failures`).
        public var suppressed = 0
        /// Lines of any connection that the server's budget left out since it last let one through
        /// (`server_suppressed_lines`).
        public var serverSuppressed = 0

        public init(suppressed: Int = 0, serverSuppressed: Int = 0) {
            self.suppressed = suppressed
            self.serverSuppressed = serverSuppressed
        }

        /// Adds the counts above zero to a line's metadata.
        public func annotate(_ metadata: inout Logger.Metadata) {
            if suppressed > 0 { metadata["suppressed_failures"] = "\(suppressed)" }
            if serverSuppressed > 0 { metadata["server_suppressed_lines"] = "\(serverSuppressed)" }
        }
    }

    /// Lines that may be written at once. Default 20 (a connection's).
    public let burst: Int
    /// Lines earned back per second. Default 1 (a connection's).
    public let perSecond: Int
    /// The budget every connection's lines also draw on, if any.
    public let server: FailureLogBudget?

    private struct State {
        var tokens: Int
        var lastRefill: ContinuousClock.Instant
        var suppressed = 0
        /// The connection closed: no summary will report what is left out from now on.
        var closed = false
    }

    private let state: Mutex<State>
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(
        burst: Int = 20, perSecond: Int = 1, server: FailureLogBudget? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        precondition(burst > 0 && perSecond > 0, "a failure log budget needs a positive burst and rate")
        self.burst = burst
        self.perSecond = perSecond
        self.server = server
        self.now = now
        state = Mutex(State(tokens: burst, lastRefill: now()))
    }

    /// Whether a failed call's line may be written now, and what it reports; nil leaves it out (counted).
    public func admit() -> Admission? {
        guard let suppressed = take(countingRefusalAs: 1) else { return nil }
        guard let server else { return Admission(suppressed: suppressed) }
        // Left out by the server: this line and the ones it would have reported go to the server's count.
        guard let serverSuppressed = server.take(countingRefusalAs: 1 + suppressed) else { return nil }
        return Admission(suppressed: suppressed, serverSuppressed: serverSuppressed)
    }

    /// Whether a line about the connection itself (closing it, a refusal at a limit) may be written now: each is
    /// written at most a few times per connection, so only the server's budget is asked.
    public func admitConnectionLine() -> Admission? {
        guard let server else { return Admission() }
        guard let serverSuppressed = server.take(countingRefusalAs: 1) else { return nil }
        return Admission(serverSuppressed: serverSuppressed)
    }

    /// Closes the connection's budget, and returns the summary line to write (`connection closed`) for the failed-call
    /// lines it left out since its last one: nil when there are none, or when the server's budget leaves the summary
    /// out too (its count then goes to the server's). From now on, what this budget leaves out (the lines of calls
    /// still finishing) goes straight to the server's count, which the next line it lets through reports.
    public func close() -> Admission? {
        let suppressed = closeAndTakeSuppressed()
        guard suppressed > 0 else { return nil }
        guard let server else { return Admission(suppressed: suppressed) }
        guard let serverSuppressed = server.take(countingRefusalAs: suppressed) else { return nil }
        return Admission(suppressed: suppressed, serverSuppressed: serverSuppressed)
    }

    /// Closes the connection's budget for a transport that writes no summary line: what it left out, and leaves out
    /// from now on, goes to the server's count.
    public func closeReportingToServer() {
        let suppressed = closeAndTakeSuppressed()
        if suppressed > 0 { server?.addSuppressed(suppressed) }
    }

    private func closeAndTakeSuppressed() -> Int {
        state.withLock { state in
            state.closed = true
            defer { state.suppressed = 0 }
            return state.suppressed
        }
    }

    private func addSuppressed(_ count: Int) {
        state.withLock { $0.suppressed += count }
    }

    /// A token if there is one, with the count of lines left out before it (reset); otherwise adds `refused` to
    /// that count (the server's, once this connection's budget is closed) and returns nil.
    private func take(countingRefusalAs refused: Int) -> Int? {
        let now = self.now()
        let taken: Int?? = state.withLock { state in
            // Whole tokens earned since the last refill; the refill time moves on by what they took, so that the
            // fractions of a token earned between lines are not lost (at 100 a second, lines 19 ms apart got 50).
            let owed = (now - state.lastRefill) / .seconds(1) * Double(perSecond)
            let earned = owed >= Double(burst) ? burst : Int(owed)  // no overflow after a long quiet spell
            if earned > 0 {
                state.tokens = burst - state.tokens <= earned ? burst : state.tokens + earned
                state.lastRefill = state.tokens == burst ? now : state.lastRefill + .seconds(1) * (Double(earned) / Double(perSecond))
            }
            guard state.tokens > 0 else {
                guard state.closed, server != nil else {
                    state.suppressed += refused
                    return .some(nil)
                }
                return nil  // counted by the server, outside this lock
            }
            state.tokens -= 1
            defer { state.suppressed = 0 }
            return .some(state.suppressed)
        }
        guard let taken else {
            server?.addSuppressed(refused)
            return nil
        }
        return taken
    }
}

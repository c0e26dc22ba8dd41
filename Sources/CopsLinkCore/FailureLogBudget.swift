import Synchronization

/// How many failed-call log lines one connection may cause: a token bucket per connection.
///
/// A client can fail calls as fast as it sends them (unknown keys, bad ids), and one log line per failure would let
/// it fill the disk and drown the lines that matter. `LoggingInterceptor` asks `admit()` before logging a failure; a
/// line it may write carries the count of lines suppressed since the last one, and the transport logs what is left
/// when the connection closes. Successful calls are not limited (they log at debug by default).
public final class FailureLogBudget: Sendable {
    /// Lines a connection may log at once. Default 20.
    public let burst: Int
    /// Lines a connection earns back per second. Default 1.
    public let perSecond: Int

    private struct State {
        var tokens: Int
        var lastRefill: ContinuousClock.Instant
        var suppressed = 0
    }

    private let state: Mutex<State>
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(burst: Int = 20, perSecond: Int = 1, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        precondition(burst > 0 && perSecond > 0, "a failure log budget needs a positive burst and rate")
        self.burst = burst
        self.perSecond = perSecond
        self.now = now
        state = Mutex(State(tokens: burst, lastRefill: now()))
    }

    /// Whether a failure line may be written now; if so, how many were suppressed before it (to report with it).
    public func admit() -> (admitted: Bool, suppressedBefore: Int) {
        let now = self.now()
        return state.withLock { state in
            let earned = (now - state.lastRefill) / .seconds(1) * Double(perSecond)
            if earned >= 1 {
                state.tokens = min(burst, state.tokens + Int(min(earned, Double(burst))))
                state.lastRefill = now
            }
            guard state.tokens > 0 else {
                state.suppressed += 1
                return (false, 0)
            }
            state.tokens -= 1
            defer { state.suppressed = 0 }
            return (true, state.suppressed)
        }
    }

    /// Lines suppressed since the last one written (for a summary when the connection closes); resets the count.
    public func takeSuppressed() -> Int {
        state.withLock { state in
            defer { state.suppressed = 0 }
            return state.suppressed
        }
    }
}

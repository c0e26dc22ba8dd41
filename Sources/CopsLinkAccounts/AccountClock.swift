import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Time as the account rules see it: wall-clock milliseconds, injectable so that tests never sleep.
public protocol AccountClock: Sendable {
    func nowMs() -> Int64
    /// Suspends until the clock reads at least `ms`, or the task is cancelled.
    func sleep(untilMs ms: Int64) async throws
}

/// The system's wall clock.
public struct SystemAccountClock: AccountClock {
    public init() {}

    public func nowMs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    public func sleep(untilMs ms: Int64) async throws {
        // Saturating: a time far in the past or future must not trap.
        let (remaining, overflow) = ms.subtractingReportingOverflow(nowMs())
        if overflow ? ms > 0 : remaining > 0 { try await Task.sleep(for: .milliseconds(overflow ? Int64.max : remaining)) }
    }
}

/// A clock that only moves when told to; sleepers wake when it passes their time, or when cancelled.
public final class ManualAccountClock: AccountClock {
    private struct Sleeper {
        var id: UInt64
        var ms: Int64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var nowMs: Int64
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
    }

    private let state: Mutex<State>

    public init(nowMs: Int64) { state = Mutex(State(nowMs: nowMs)) }

    public func nowMs() -> Int64 { state.withLock { $0.nowMs } }

    public func advance(byMs delta: Int64) { set(nowMs: nowMs() + delta) }

    public func set(nowMs: Int64) {
        let due: [Sleeper] = state.withLock { state in
            state.nowMs = nowMs
            let due = state.sleepers.filter { $0.ms <= nowMs }
            state.sleepers.removeAll { $0.ms <= nowMs }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    public func sleep(untilMs ms: Int64) async throws {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    guard state.nowMs < ms, !Task.isCancelled else { return true }
                    state.sleepers.append(Sleeper(id: id, ms: ms, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { state in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume()
        }
        try Task.checkCancellation()
    }
}

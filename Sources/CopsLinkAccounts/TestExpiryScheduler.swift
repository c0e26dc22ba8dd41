public import Logging

/// Ends tests at their expiry time, whether or not anyone asks, also for tests that expired while the server was
/// down: each pass ends every due session at its own `expires_at` with an "expired" history entry at that time.
public actor TestExpiryScheduler {
    private let store: any AccountStore
    private let clock: any AccountClock
    private let logger: Logger
    private var sleeper: Task<Void, any Error>?
    /// When the current sleep ends; nil while a pass runs.
    private var plannedWakeAtMs: Int64?
    /// The earliest expiry `wake` was told of while a pass ran: the pass's read may have missed its session.
    private var expiryDuringPassMs = Int64.max
    /// Longest sleep between passes, so that a stepped wall clock is noticed. Default 60 s.
    private let maximumSleepMs: Int64

    public init(store: any AccountStore, clock: any AccountClock, logger: Logger, maximumSleepMs: Int64 = 60_000) {
        self.store = store
        self.clock = clock
        self.logger = logger
        self.maximumSleepMs = maximumSleepMs
    }

    /// Runs passes until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            do {
                expiryDuringPassMs = .max
                try await expireDue()
                let now = clock.nowMs()
                let next = try await store.read(.allDealers) { try $0.nextExpiry() } ?? .max
                // A session placed while the pass ran may expire sooner than `next`, which may not have seen it.
                // Never before now: `wake()`'s default (`.min`) asks for a pass at once, not a sleep until 1970.
                let wakeAt = max(now, min(next, expiryDuringPassMs, now + maximumSleepMs))
                let clock = self.clock
                let sleeper = Task { try await clock.sleep(untilMs: wakeAt) }
                self.sleeper = sleeper
                plannedWakeAtMs = wakeAt
                _ = await withTaskCancellationHandler {
                    await sleeper.result
                } onCancel: {
                    sleeper.cancel()
                }
                plannedWakeAtMs = nil
            } catch is CancellationError {
                return  // stopped during a pass (its write, cancelled, was not run)
            } catch {
                logger.error("test expiry pass failed", metadata: ["error": "\(error)"])
                try? await clock.sleep(untilMs: clock.nowMs() + 1000)
            }
        }
    }

    /// One pass: ends every session whose expiry has passed. Returns how many it ended.
    @discardableResult
    public func expireDue() async throws -> Int {
        let now = clock.nowMs()
        let ended = try await store.write(.allDealers) { try TestSessionRules.expireDue($0, atMs: now) }
        if ended > 0 { logger.info("tests expired", metadata: ["count": "\(ended)"]) }
        return ended
    }

    /// A session expiring at `expiresAtMs` was placed: re-plan now if it expires before the current sleep ends.
    /// Without an expiry, re-plans whatever the plan. A session that expires after the planned wake-up changes
    /// nothing (that pass plans again), so PlaceOnTest costs the scheduler no pass of its own under load.
    public func wake(expiringAtMs expiresAtMs: Int64 = .min) {
        guard let planned = plannedWakeAtMs else {
            expiryDuringPassMs = min(expiryDuringPassMs, expiresAtMs)
            return
        }
        if expiresAtMs < planned { sleeper?.cancel() }
    }
}

public import Logging

/// Ends tests at their expiry time, whether or not anyone asks, also for tests that expired while the server was
/// down: each pass ends every due session at its own `expires_at` with an "expired" history entry at that time.
public actor TestExpiryScheduler {
    private let store: any AccountStore
    private let clock: any AccountClock
    private let logger: Logger
    private var sleeper: Task<Void, any Error>?
    private var wakeRequested = false
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
                wakeRequested = false
                try await expireDue()
                let now = clock.nowMs()
                let next = try await store.read(.allDealers) { try $0.nextExpiry() } ?? .max
                // A session placed while we read may expire sooner than `next`: plan again.
                if wakeRequested { continue }
                let wakeAt = min(next, now + maximumSleepMs)
                let clock = self.clock
                let sleeper = Task { try await clock.sleep(untilMs: wakeAt) }
                self.sleeper = sleeper
                _ = await withTaskCancellationHandler {
                    await sleeper.result
                } onCancel: {
                    sleeper.cancel()
                }
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

    /// A new session may expire before the current sleep ends: re-plan now.
    public func wake() {
        wakeRequested = true
        sleeper?.cancel()
    }
}

import CopsLinkCore
import Synchronization
import Testing

@testable import CopsLinkAuth

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let start = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)

    func advance(by duration: Duration) { offset.withLock { $0 += duration } }

    var now: @Sendable () -> ContinuousClock.Instant {
        { [self] in start + offset.withLock { $0 } }
    }
}

/// Sleeps that end when the test says (`wakeAll`), or throw when their task is cancelled.
final class ManualSleeper: Sendable {
    private let waiting = Mutex<[UInt64: (Duration, CheckedContinuation<Void, any Error>)]>([:])
    private let numbers = Atomic<UInt64>(0)

    /// The durations of the sleeps in progress.
    var sleeping: [Duration] { waiting.withLock { $0.values.map(\.0) } }

    var sleep: @Sendable (Duration) async throws -> Void {
        { [self] duration in
            let number = numbers.add(1, ordering: .relaxed).newValue
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let cancelled = waiting.withLock { waiting in
                        guard !Task.isCancelled else { return true }
                        waiting[number] = (duration, continuation)
                        return false
                    }
                    if cancelled { continuation.resume(throwing: CancellationError()) }
                }
            } onCancel: {
                waiting.withLock { $0.removeValue(forKey: number) }?.1.resume(throwing: CancellationError())
            }
        }
    }

    func wakeAll() {
        let woken = waiting.withLock { waiting in
            defer { waiting.removeAll() }
            return waiting.values.map(\.1)
        }
        for continuation in woken { continuation.resume() }
    }
}

/// A store whose reads wait until the test lets them go (to see concurrent lookups share one read), then answer from
/// `keys` (nil without it). `holding` false lets reads through at once; `failing` makes them throw `Down`.
final class GatedKeyStore: APIKeyStore {
    struct Down: Error {}

    let reads = Atomic<Int>(0)
    let holding = Atomic<Bool>(true)
    let failing = Atomic<Bool>(false)
    private let keys: (any APIKeyStore)?
    private let gate = Mutex<[CheckedContinuation<Void, Never>]>([])

    init(answeringFrom keys: (any APIKeyStore)? = nil) {
        self.keys = keys
    }

    func apiKey(id: String) async throws -> APIKeyRecord? {
        reads.add(1, ordering: .relaxed)
        if holding.load(ordering: .relaxed) {
            await withCheckedContinuation { continuation in gate.withLock { $0.append(continuation) } }
        }
        if failing.load(ordering: .relaxed) { throw Down() }
        return try await keys?.apiKey(id: id)
    }

    var waitingReads: Int { gate.withLock { $0.count } }

    func release() {
        let waiters = gate.withLock { gate in
            defer { gate.removeAll() }
            return gate
        }
        for waiter in waiters { waiter.resume() }
    }

    func insertAPIKey(_ record: APIKeyRecord) async throws {}
    func apiKeys(dealerID: String?) async throws -> [APIKeyRecord] { [] }
    func revokeAPIKey(id: String, atMs: Int64) async throws -> Bool { false }
}

@Suite("API key cache")
struct APIKeyCacheTests {
    static func unknownToken(_ number: Int) -> String {
        let digits = String(number, radix: 16)
        return APIKeyToken(id: String(repeating: "0", count: 16 - digits.count) + digits, secret: String(repeating: "a", count: 64)).token
    }

    @Test func theLRUCacheEvictsTheLeastRecentlyUsed() {
        var cache = LRUCache<String, Int>(capacity: 3)
        cache.setValue(1, forKey: "a")
        cache.setValue(2, forKey: "b")
        cache.setValue(3, forKey: "c")
        #expect(cache.value(forKey: "a") == 1)  // a is now the most recent; b the least
        #expect(cache.setValue(4, forKey: "d") == "b")
        #expect(cache.keysByRecency == ["d", "a", "c"])
        #expect(cache.value(forKey: "b") == nil)
        cache.setValue(30, forKey: "c")  // an update refreshes, evicts nothing
        #expect(cache.keysByRecency == ["c", "d", "a"])
        #expect(cache.setValue(5, forKey: "e") == "a")
        #expect(cache.keysByRecency == ["e", "c", "d"])
        #expect(cache.count == 3 && cache.value(forKey: "c") == 30)
    }

    @Test func aMalformedTokenCostsNoStoreRead() async throws {
        let store = MemoryKeyStore()
        let authenticator = APIKeyAuthenticator(store: store)
        for token in [
            "", "Bearer", "clk_", String(repeating: "clk_", count: 4096), "clk_0123456789abcdef_" + String(repeating: "A", count: 64)
        ] {
            #expect(try await authenticator.authenticate(bearerToken: token) == nil)
        }
        #expect(store.reads.load(ordering: .relaxed) == 0)
    }

    @Test func aRepeatedUnknownIDCostsOneStoreReadPerMissTTL() async throws {
        let store = MemoryKeyStore()
        let clock = ManualClock()
        let authenticator = APIKeyAuthenticator(store: store, missTTL: .seconds(5), now: clock.now)
        for _ in 0..<100 { #expect(try await authenticator.authenticate(bearerToken: Self.unknownToken(7)) == nil) }
        #expect(store.reads.load(ordering: .relaxed) == 1)
        clock.advance(by: .seconds(5))
        #expect(try await authenticator.authenticate(bearerToken: Self.unknownToken(7)) == nil)
        #expect(store.reads.load(ordering: .relaxed) == 2)
    }

    @Test func aFloodOfUnknownIDsStaysBoundedAndKeepsLiveKeysCached() async throws {
        let store = MemoryKeyStore()
        let live = try await store.createAPIKey(dealerID: "acme", name: "", roles: [.read], nowMs: 1)
        // A clock that stands still: the reads counted are the flood's, not the live key's renewals.
        let authenticator = APIKeyAuthenticator(store: store, maximumCachedKeys: 100, now: ManualClock().now)
        #expect(try await authenticator.authenticate(bearerToken: live.token) != nil)
        for number in 0..<1_000 { _ = try await authenticator.authenticate(bearerToken: Self.unknownToken(number)) }
        let statistics = authenticator.statistics
        #expect(statistics.cachedUnknownIDs == 100)
        #expect(statistics.cachedKeys == 1)
        #expect(statistics.evictions == 900)
        // The live key was not pushed out by the flood: no further read for it.
        let readsBefore = store.reads.load(ordering: .relaxed)
        #expect(try await authenticator.authenticate(bearerToken: live.token) != nil)
        #expect(store.reads.load(ordering: .relaxed) == readsBefore)
        // The oldest unknown ids were evicted (read again); the newest are still cached (not read).
        _ = try await authenticator.authenticate(bearerToken: Self.unknownToken(0))
        #expect(store.reads.load(ordering: .relaxed) == readsBefore + 1)
        _ = try await authenticator.authenticate(bearerToken: Self.unknownToken(999))
        #expect(store.reads.load(ordering: .relaxed) == readsBefore + 1)
    }

    @Test func aRevokedKeyIsRefusedOnceTheCacheTTLHasPassed() async throws {
        let store = MemoryKeyStore()
        let clock = ManualClock()
        let token = try await store.createAPIKey(dealerID: "acme", name: "", roles: [.read], nowMs: 1)
        let authenticator = APIKeyAuthenticator(store: store, cacheTTL: .seconds(5), now: clock.now)
        for _ in 0..<10 { #expect(try await authenticator.authenticate(bearerToken: token.token) != nil) }
        #expect(store.reads.load(ordering: .relaxed) == 1)
        _ = try await store.revokeAPIKey(id: token.id, atMs: 2)
        // Before half the TTL (a call past it would start a renewal, which reads the revocation sooner).
        clock.advance(by: .milliseconds(2_499))
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil, "still cached within the TTL")
        #expect(store.reads.load(ordering: .relaxed) == 1)
        clock.advance(by: .milliseconds(2_501))
        #expect(try await authenticator.authenticate(bearerToken: token.token) == nil)
        #expect(store.reads.load(ordering: .relaxed) == 2)
    }

    /// Whether `condition` holds within `attempts` yields (a test never spins forever when the code is broken).
    static func eventually(attempts: Int = 100_000, _ condition: () async throws -> Bool) async rethrows -> Bool {
        for _ in 0..<attempts {
            if try await condition() { return true }
            await Task.yield()
        }
        return false
    }

    @Test func aKeyInUseIsRenewedInTheBackgroundSoItsCallsNeverWaitForTheStore() async throws {
        let keys = MemoryKeyStore()
        let token = try await keys.createAPIKey(dealerID: "acme", name: "", roles: [.read], nowMs: 1)
        let store = GatedKeyStore(answeringFrom: keys)
        let clock = ManualClock()
        let authenticator = APIKeyAuthenticator(store: store, cacheTTL: .seconds(5), now: clock.now, sleep: ManualSleeper().sleep)
        store.holding.store(false, ordering: .relaxed)
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
        clock.advance(by: .milliseconds(2_499))
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
        #expect(store.reads.load(ordering: .relaxed) == 1, "not renewed before half the TTL")

        // From half the TTL on, a call is answered from the cache while the store read that renews the key is held.
        store.holding.store(true, ordering: .relaxed)
        clock.advance(by: .milliseconds(1))
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
        try #require(await Self.eventually { store.waitingReads == 1 }, "the renewal's read started")
        #expect(store.reads.load(ordering: .relaxed) == 2)
        clock.advance(by: .milliseconds(2_000))
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
        #expect(store.reads.load(ordering: .relaxed) == 2, "one renewal at a time")

        // The renewal's answer replaces the cached record: the key, revoked before the held read resumes, is refused
        // from the moment the renewal lands, with no read of the calls' own.
        _ = try await keys.revokeAPIKey(id: token.id, atMs: 2)
        store.release()
        #expect(try await Self.eventually { try await authenticator.authenticate(bearerToken: token.token) == nil })
        #expect(store.reads.load(ordering: .relaxed) == 2)
    }

    @Test func concurrentLookupsOfOneUnknownIDShareOneStoreRead() async throws {
        let store = GatedKeyStore()
        let authenticator = APIKeyAuthenticator(store: store, sleep: ManualSleeper().sleep)
        try await withThrowingTaskGroup(of: Caller?.self) { group in
            for _ in 0..<20 { group.addTask { try await authenticator.authenticate(bearerToken: Self.unknownToken(42)) } }
            // Let every lookup reach the cache before the one read completes.
            while store.waitingReads == 0 { await Task.yield() }
            for _ in 0..<1_000 { await Task.yield() }
            store.release()
            for try await caller in group { #expect(caller == nil) }
        }
        #expect(store.reads.load(ordering: .relaxed) == 1)
    }

    /// The callers sharing a read that fails all fail with the store's error (the server answers UNAVAILABLE), none
    /// reads again in its turn; the next call reads again.
    @Test func aFailedStoreReadFailsEveryCallerThatWaitedForIt() async throws {
        let keys = MemoryKeyStore()
        let token = try await keys.createAPIKey(dealerID: "acme", name: "", roles: [.read], nowMs: 1)
        let store = GatedKeyStore(answeringFrom: keys)
        store.failing.store(true, ordering: .relaxed)
        let authenticator = APIKeyAuthenticator(store: store, sleep: ManualSleeper().sleep)
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        _ = try await authenticator.authenticate(bearerToken: token.token)
                        return false
                    } catch {
                        return error is GatedKeyStore.Down
                    }
                }
            }
            // Every caller waits for the one read before it fails (1,000 yields were not always enough for all 20 to
            // start when the whole suite ran 8 tests at once: a late one then read again).
            let allWaiting = await Self.eventually { store.waitingReads == 1 && authenticator.waitingCallers == 20 }
            #expect(allWaiting)
            store.holding.store(false, ordering: .relaxed)
            store.release()
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 20)
        #expect(store.reads.load(ordering: .relaxed) == 1)
        store.failing.store(false, ordering: .relaxed)
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
        #expect(store.reads.load(ordering: .relaxed) == 2)
    }

    /// A caller whose call is cancelled while it waits for a store read leaves at once (its call slot is freed); the
    /// read goes on and answers the callers still waiting.
    @Test func aCancelledCallerStopsWaitingAndTheReadGoesOnForTheOthers() async throws {
        let keys = MemoryKeyStore()
        let token = try await keys.createAPIKey(dealerID: "acme", name: "", roles: [.read], nowMs: 1)
        let store = GatedKeyStore(answeringFrom: keys)
        let authenticator = APIKeyAuthenticator(store: store, sleep: ManualSleeper().sleep)
        let cancelledEnded = Atomic<Bool>(false)
        let cancelled = Task {
            defer { cancelledEnded.store(true, ordering: .relaxed) }
            return try await authenticator.authenticate(bearerToken: token.token)
        }
        let waiting = Task { try await authenticator.authenticate(bearerToken: token.token) }
        try #require(await Self.eventually { store.waitingReads == 1 })
        for _ in 0..<1_000 { await Task.yield() }
        cancelled.cancel()
        let left = await Self.eventually { cancelledEnded.load(ordering: .relaxed) }
        #expect(left, "left while the read is still held")
        store.release()
        await #expect(throws: CancellationError.self) { _ = try await cancelled.value }
        #expect(try await waiting.value != nil)
        #expect(store.reads.load(ordering: .relaxed) == 1)
    }

    /// A store read that hangs holds its callers no longer than `storeReadLimit`: they fail, and the next call reads
    /// again; the late answer of the hung read is not cached.
    @Test func callersWaitForAStoreReadNoLongerThanItsLimit() async throws {
        let keys = MemoryKeyStore()
        let token = try await keys.createAPIKey(dealerID: "acme", name: "", roles: [.read], nowMs: 1)
        let store = GatedKeyStore(answeringFrom: keys)
        let sleeper = ManualSleeper()
        let authenticator = APIKeyAuthenticator(store: store, storeReadLimit: .seconds(5), sleep: sleeper.sleep)
        let ended = Atomic<Bool>(false)
        let first = Task {
            defer { ended.store(true, ordering: .relaxed) }
            return try await authenticator.authenticate(bearerToken: token.token)
        }
        try #require(await Self.eventually { store.waitingReads == 1 && sleeper.sleeping == [.seconds(5)] })
        sleeper.wakeAll()
        let letGo = await Self.eventually { ended.load(ordering: .relaxed) }
        #expect(letGo, "the caller was let go while the read still hangs")
        #expect(store.waitingReads == 1, "the hung read is still held")
        store.holding.store(false, ordering: .relaxed)
        if !letGo { store.release() }  // so that a broken limit fails the test instead of hanging it
        await #expect(throws: APIKeyAuthenticator.StoreReadTimedOut.self) { _ = try await first.value }
        let second = Task { try await authenticator.authenticate(bearerToken: token.token) }
        #expect(try await second.value != nil)
        #expect(store.reads.load(ordering: .relaxed) == 2)
        // The hung read ends late, after a revocation: its answer (revoked) is not the one cached.
        _ = try await keys.revokeAPIKey(id: token.id, atMs: 2)
        store.release()
        for _ in 0..<1_000 { await Task.yield() }
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
    }

    /// A renewal that fails leaves the key served from the cache until its TTL, and holds back the next renewal for
    /// a second, so that a store that is down is not read by every call; once the TTL has passed, calls fail.
    @Test func aFailedRenewalKeepsTheKeyUntilItsTTLAndWaitsBeforeTheNext() async throws {
        let keys = MemoryKeyStore()
        let token = try await keys.createAPIKey(dealerID: "acme", name: "", roles: [.read], nowMs: 1)
        let store = GatedKeyStore(answeringFrom: keys)
        store.holding.store(false, ordering: .relaxed)
        let clock = ManualClock()
        let authenticator = APIKeyAuthenticator(store: store, cacheTTL: .seconds(5), now: clock.now)
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
        store.failing.store(true, ordering: .relaxed)
        clock.advance(by: .seconds(3))
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil, "the renewal starts; the cache answers")
        try #require(await Self.eventually { authenticator.statistics.storeReads == 2 && authenticator.pendingReads == 0 })
        for _ in 0..<10 { #expect(try await authenticator.authenticate(bearerToken: token.token) != nil) }
        #expect(authenticator.statistics.storeReads == 2, "no renewal within a second of the failed one")
        clock.advance(by: .seconds(1))
        #expect(try await authenticator.authenticate(bearerToken: token.token) != nil)
        #expect(authenticator.statistics.storeReads == 3)
        try #require(await Self.eventually { authenticator.pendingReads == 0 })
        clock.advance(by: .seconds(1))
        await #expect(throws: GatedKeyStore.Down.self) { _ = try await authenticator.authenticate(bearerToken: token.token) }
    }

    /// Callers waiting for store reads are bounded, every id together: past the bound a caller is refused at once
    /// (its call slot is not held), and the count falls as reads end.
    @Test func callersWaitingForStoreReadsAreBounded() async throws {
        let keys = MemoryKeyStore()
        let token = try await keys.createAPIKey(dealerID: "acme", name: "", roles: [.read], nowMs: 1)
        let store = GatedKeyStore(answeringFrom: keys)
        let authenticator = APIKeyAuthenticator(store: store, maximumWaitingCallers: 2, sleep: ManualSleeper().sleep)
        let first = Task { try await authenticator.authenticate(bearerToken: token.token) }
        let second = Task { try await authenticator.authenticate(bearerToken: Self.unknownToken(1)) }
        try #require(await Self.eventually { authenticator.waitingCallers == 2 })
        let refused = await #expect(throws: RPCError.self) { _ = try await authenticator.authenticate(bearerToken: Self.unknownToken(2)) }
        #expect(refused?.code == .resourceExhausted)
        #expect(refused?.message == "2 calls are waiting for their API keys to be read, this server's limit; retry later")
        store.holding.store(false, ordering: .relaxed)
        store.release()
        #expect(try await first.value != nil)
        #expect(try await second.value == nil)
        #expect(authenticator.waitingCallers == 0)
        #expect(authenticator.pendingReads == 0, "the refused caller started no read")
        #expect(store.reads.load(ordering: .relaxed) == 2)
        #expect(try await authenticator.authenticate(bearerToken: Self.unknownToken(2)) == nil)
        #expect(authenticator.waitingCallers == 0)
    }
}

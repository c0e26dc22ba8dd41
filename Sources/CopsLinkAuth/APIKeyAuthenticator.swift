public import CopsLinkCore
import Synchronization

/// Checks bearer tokens against an `APIKeyStore`.
///
/// Key records are cached for `cacheTTL` so that a call costs a SHA-256 and a dictionary lookup, not a database
/// read: a key revoked (from another process too) stops working within that time. A key in use is renewed in the
/// background from half that age on, so its calls do not wait for the store (and a call with a cached key is checked
/// without suspending). Every check compares the secret's hash in constant time, cached or not.
///
/// Failed authentication must not be cheaper for an attacker than for the server:
/// - a token that is not of the documented shape is refused before any store read;
/// - an id the store does not know is remembered (a negative entry) for `missTTL`, so repeating it costs nothing;
/// - concurrent lookups of the same id share one store read;
/// - found and unknown ids are kept in two separate LRU caches of `maximumCachedKeys` entries each, so a flood of
///   distinct unknown ids evicts only other unknown ids, never the live keys of honest callers, and memory stays
///   bounded (about 2 × `maximumCachedKeys` entries of a few hundred bytes).
public final class APIKeyAuthenticator: CallerAuthenticator {
    /// Entries in each of the two caches (found keys, unknown ids) unless the initializer is told otherwise.
    public static let defaultMaximumCachedKeys = 10_000

    private struct Entry {
        var record: APIKeyRecord
        var fetchedAt: ContinuousClock.Instant
        /// After a renewal failed: no other starts before this time, so that a store that is down is not read again
        /// by every call.
        var renewNotBefore: ContinuousClock.Instant?
    }

    /// What a caller waiting on a store read of its id gets.
    private enum Shared {
        case answer(APIKeyRecord?)
        /// The store could not answer in time (or this caller was cancelled): the caller fails with the error.
        case failed(any Error)
        /// The read ended before this caller could wait for it: look again (the answer is cached, or a read failed).
        case retry
    }

    /// A store read of one id in flight, and the callers waiting for it.
    private struct PendingRead {
        /// Tells this read from a later one of the same id, started after this one ran out of time.
        let generation: UInt64
        var waiters: [UInt64: CheckedContinuation<Shared, Never>] = [:]
    }

    private struct State {
        var found: LRUCache<String, Entry>
        /// When each unknown id was last looked up in the store.
        var unknown: LRUCache<String, ContinuousClock.Instant>
        /// Ids being read from the store. At most one entry per caller allowed to wait (`maximumWaitingCallers`) or
        /// found key being renewed, so bounded by that limit and the cache's size.
        var pending: [String: PendingRead] = [:]
        /// Callers waiting for store reads now, every id together: counted from the look that sends them to wait
        /// until their wait ends.
        var waiting = 0
        /// Numbers reads (generations) and waiters.
        var lastNumber: UInt64 = 0
        var storeReads = 0
        var evictions = 0

        mutating func nextNumber() -> UInt64 {
            lastNumber += 1
            return lastNumber
        }

        /// Marks `id` as being read; its generation.
        mutating func beginRead(of id: String) -> UInt64 {
            let generation = nextNumber()
            pending[id] = PendingRead(generation: generation)
            storeReads += 1
            return generation
        }
    }

    /// A store read that took longer than `storeReadLimit`.
    struct StoreReadTimedOut: Error, CustomStringConvertible {
        let limit: Duration
        var description: String { "the API key store did not answer within \(limit)" }
    }

    private let store: any APIKeyStore
    private let cacheTTL: Duration
    /// From this age on (half the TTL) a cached key is still answered from the cache, and the first call that finds
    /// it so starts one store read in the background to renew it. A key in use is therefore not found expired (unless
    /// that read fails or takes half the TTL), so its calls do not wait for a store read, all at once, every
    /// `cacheTTL`: under a flood those waits held thousands of calls, and their server-wide slots, for seconds.
    private var renewalAge: Duration { cacheTTL / 2 }
    private let missTTL: Duration
    private let storeReadLimit: Duration
    private let maximumWaitingCallers: Int
    private let sleep: @Sendable (Duration) async throws -> Void
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state: Mutex<State>

    /// - Parameters:
    ///   - cacheTTL: how long a found key (live or revoked) is trusted without reading the store again: the bound on
    ///     how long a revoked key keeps working. Default 5 s.
    ///   - missTTL: how long an unknown id is answered "unknown" without reading the store again. Default 5 s (ids
    ///     are random, so a key created later is never one that was looked up before).
    ///   - maximumCachedKeys: entries of each cache (found, unknown); the least recently used goes first. Default
    ///     10,000.
    ///   - storeReadLimit: how long the callers waiting for a store read wait at most: past it they fail (the server
    ///     answers UNAVAILABLE) and the next call reads again. A read that hangs must not hold every call of its key,
    ///     and their call slots, for ever. Waited out with `sleep`, whatever `now` says. Default 5 s.
    ///   - maximumWaitingCallers: callers that may wait for store reads at once, every id together (0: no limit); past
    ///     it a caller is refused RESOURCE_EXHAUSTED at once. A call waiting for its key holds a server-wide call slot
    ///     but is not yet counted in its key's share, so without this bound a flood of calls of keys not cached
    ///     (new keys, or while the store is slow) could hold every slot. The server sets a quarter of its call limit.
    ///     Default 2,500.
    ///   - now: the clock (tests inject one).
    ///   - sleep: waits out `storeReadLimit`, throwing when cancelled (tests inject one).
    public init(
        store: any APIKeyStore, cacheTTL: Duration = .seconds(5), missTTL: Duration = .seconds(5),
        maximumCachedKeys: Int = defaultMaximumCachedKeys, storeReadLimit: Duration = .seconds(5),
        maximumWaitingCallers: Int = 2_500,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.sleep = sleep
        self.maximumWaitingCallers = maximumWaitingCallers
        self.store = store
        self.cacheTTL = cacheTTL
        self.missTTL = missTTL
        self.storeReadLimit = storeReadLimit
        self.now = now
        self.state = Mutex(State(found: LRUCache(capacity: maximumCachedKeys), unknown: LRUCache(capacity: maximumCachedKeys)))
    }

    /// Store reads in flight now (for tests).
    var pendingReads: Int { state.withLock { $0.pending.count } }

    /// Callers waiting for store reads now (for tests).
    var waitingCallers: Int { state.withLock { $0.waiting } }

    /// Store reads made and cache entries evicted since start (for tests and diagnostics).
    public var statistics: (storeReads: Int, evictions: Int, cachedKeys: Int, cachedUnknownIDs: Int) {
        state.withLock { ($0.storeReads, $0.evictions, $0.found.count, $0.unknown.count) }
    }

    public func authenticate(bearerToken: String) async throws -> Caller? {
        guard let token = APIKeyToken(parsing: bearerToken) else { return nil }
        let record = try await record(id: token.id)
        guard let record, !record.isRevoked, SecretHash.constantTimeEquals(record.secretSHA256, token.secretHash) else {
            return nil
        }
        return Caller(tenant: record.dealerID, roles: record.roles, keyID: record.id, keyName: record.name)
    }

    private func record(id: String) async throws -> APIKeyRecord? {
        enum Next {
            case answer(APIKeyRecord?)
            /// The cached record, and this caller starts the read (of this generation) that renews it.
            case answerAndRenew(APIKeyRecord, UInt64)
            /// This caller waits for the read of its id under `token`, starting it first when `starting` names its
            /// generation.
            case wait(token: UInt64, starting: UInt64?)
            /// Too many callers wait for store reads already.
            case refused
        }
        while true {
            let now = self.now()
            let next: Next = state.withLock { state in
                if let entry = state.found.value(forKey: id), now - entry.fetchedAt < cacheTTL {
                    guard now - entry.fetchedAt >= renewalAge, state.pending[id] == nil,
                        entry.renewNotBefore.map({ now >= $0 }) ?? true
                    else { return .answer(entry.record) }
                    return .answerAndRenew(entry.record, state.beginRead(of: id))
                }
                if let readAt = state.unknown.value(forKey: id), now - readAt < missTTL { return .answer(nil) }
                // A refused caller starts no read: reads stay bounded by the callers allowed to wait.
                guard maximumWaitingCallers == 0 || state.waiting < maximumWaitingCallers else { return .refused }
                state.waiting += 1  // this caller's place, given back by whatever ends its wait
                let token = state.nextNumber()
                return .wait(token: token, starting: state.pending[id] == nil ? state.beginRead(of: id) : nil)
            }
            switch next {
            case .answer(let record):
                return record
            case .answerAndRenew(let record, let generation):
                startRead(id: id, at: now, generation: generation)
                return record
            case .wait(let token, let generation):
                switch await wait(for: id, token: token, starting: generation, at: now) {
                case .answer(let record): return record
                case .failed(let error): throw error
                case .retry: continue
                }
            case .refused:
                throw RPCError(
                    code: .resourceExhausted,
                    message: "\(maximumWaitingCallers) calls are waiting for their API keys to be read, this server's limit; retry later")
            }
        }
    }

    /// Waits for the store read of `id` as waiter `token`, starting it (generation `generation`) once this caller is
    /// among its waiters,
    /// so that the caller cannot miss its answer. A caller cancelled meanwhile leaves at once with
    /// `CancellationError` (a closed connection's call frees its slot); the read goes on for the others.
    private func wait(
        for id: String, token: UInt64, starting generation: UInt64?, at readAt: ContinuousClock.Instant
    ) async -> Shared {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Shared, Never>) in
                let outcome: Shared? = state.withLock { state in
                    let outcome: Shared
                    if Task.isCancelled {
                        outcome = .failed(CancellationError())
                    } else if state.pending[id] == nil {
                        // The read ended between the look and now: its answer is in the cache (or it failed).
                        outcome = .retry
                    } else {
                        state.pending[id]?.waiters[token] = continuation
                        return nil
                    }
                    state.waiting -= 1  // the place taken in `record` for a wait that does not happen
                    return outcome
                }
                if let outcome { continuation.resume(returning: outcome) }
                if let generation { startRead(id: id, at: readAt, generation: generation) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                let waiter = state.pending[id]?.waiters.removeValue(forKey: token)
                if waiter != nil { state.waiting -= 1 }
                return waiter
            }
            waiter?.resume(returning: .failed(CancellationError()))
        }
    }

    /// Reads `id` from the store in a task of its own, caches the answer and hands it to the callers waiting for it;
    /// past `storeReadLimit` they get `StoreReadTimedOut` instead, and a late answer is dropped.
    ///
    /// Detached from the call that needed it: the read must not wait for that call's executor (an event loop busy with
    /// a flood of calls held every caller of the key, and the server-wide call slots, for seconds), and it is not
    /// cancelled with that call, so the callers sharing it get their answer.
    private func startRead(id: String, at readAt: ContinuousClock.Instant, generation: UInt64) {
        let (limit, sleep) = (storeReadLimit, self.sleep)
        Task.detached { [self] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { [self] in
                    let shared: Shared
                    do {
                        shared = .answer(try await store.apiKey(id: id))
                    } catch {
                        shared = .failed(error)
                    }
                    finishRead(of: id, generation: generation, at: readAt, with: shared)
                }
                group.addTask { [self] in
                    guard (try? await sleep(limit)) != nil else { return }  // cancelled: the read ended
                    finishRead(of: id, generation: generation, at: readAt, with: .failed(StoreReadTimedOut(limit: limit)))
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Ends read `generation` of `id` (if it is still the one pending): caches an answer, holds back the next renewal
    /// after a failure, and resumes the waiters.
    private func finishRead(of id: String, generation: UInt64, at readAt: ContinuousClock.Instant, with shared: Shared) {
        let now = self.now()
        let waiters: Dictionary<UInt64, CheckedContinuation<Shared, Never>>.Values? = state.withLock { state in
            guard let pending = state.pending[id], pending.generation == generation else { return nil }
            state.pending[id] = nil
            state.waiting -= pending.waiters.count
            switch shared {
            case .answer(let record?):
                if state.found.setValue(Entry(record: record, fetchedAt: readAt), forKey: id) != nil { state.evictions += 1 }
            case .answer(nil):
                if state.unknown.setValue(readAt, forKey: id) != nil { state.evictions += 1 }
            case .failed:
                if var entry = state.found.value(forKey: id) {
                    entry.renewNotBefore = now + .seconds(1)
                    state.found.setValue(entry, forKey: id)
                }
            case .retry:
                break
            }
            return pending.waiters.values
        }
        for waiter in waiters ?? [:].values { waiter.resume(returning: shared) }
    }
}

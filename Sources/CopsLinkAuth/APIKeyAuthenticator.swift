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
    }

    /// What a caller waiting on a store read of its id gets.
    private enum Shared {
        case answer(APIKeyRecord?)
        /// The store could not answer: every caller that waited for this read fails with its error.
        case failed(any Error)
        /// The read ended before this caller could wait for it: look again (the answer is cached, or a read failed).
        case retry
    }

    private struct State {
        var found: LRUCache<String, Entry>
        /// When each unknown id was last looked up in the store.
        var unknown: LRUCache<String, ContinuousClock.Instant>
        /// Ids being read from the store, with the callers waiting for that read. At most one entry per call in
        /// flight or found key being renewed, so bounded by the server's call limits and the cache's size.
        var pending: [String: [CheckedContinuation<Shared, Never>]] = [:]
        var storeReads = 0
        var evictions = 0
    }

    private let store: any APIKeyStore
    private let cacheTTL: Duration
    /// From this age on (half the TTL) a cached key is still answered from the cache, and the first call that finds
    /// it so starts one store read in the background to renew it. A key in use is therefore never found expired, so
    /// its calls never wait for a store read, all at once, every `cacheTTL`: under a flood those waits held thousands
    /// of calls, and their server-wide slots, for seconds.
    private var renewalAge: Duration { cacheTTL / 2 }
    private let missTTL: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state: Mutex<State>

    /// - Parameters:
    ///   - cacheTTL: how long a found key (live or revoked) is trusted without reading the store again: the bound on
    ///     how long a revoked key keeps working. Default 5 s.
    ///   - missTTL: how long an unknown id is answered "unknown" without reading the store again. Default 5 s (ids
    ///     are random, so a key created later is never one that was looked up before).
    ///   - maximumCachedKeys: entries of each cache (found, unknown); the least recently used goes first. Default
    ///     10,000.
    ///   - now: the clock (tests inject one).
    public init(
        store: any APIKeyStore, cacheTTL: Duration = .seconds(5), missTTL: Duration = .seconds(5),
        maximumCachedKeys: Int = defaultMaximumCachedKeys,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.store = store
        self.cacheTTL = cacheTTL
        self.missTTL = missTTL
        self.now = now
        self.state = Mutex(State(found: LRUCache(capacity: maximumCachedKeys), unknown: LRUCache(capacity: maximumCachedKeys)))
    }

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
            /// The cached record, and this caller starts the read that renews it.
            case answerAndRenew(APIKeyRecord)
            /// This caller starts the read, and waits for it as any other caller would.
            case read
            case wait
        }
        while true {
            let now = self.now()
            let next: Next = state.withLock { state in
                if let entry = state.found.value(forKey: id), now - entry.fetchedAt < cacheTTL {
                    guard now - entry.fetchedAt >= renewalAge, state.pending[id] == nil else { return .answer(entry.record) }
                    state.pending[id] = []
                    state.storeReads += 1
                    return .answerAndRenew(entry.record)
                }
                if let readAt = state.unknown.value(forKey: id), now - readAt < missTTL { return .answer(nil) }
                if state.pending[id] != nil { return .wait }
                state.pending[id] = []
                state.storeReads += 1
                return .read
            }
            switch next {
            case .answer(let record):
                return record
            case .answerAndRenew(let record):
                startRead(id: id, at: now)
                return record
            case .read, .wait:
                if case .read = next { startRead(id: id, at: now) }
                let shared = await withCheckedContinuation { (continuation: CheckedContinuation<Shared, Never>) in
                    let finished = state.withLock { state in
                        guard state.pending[id] != nil else { return true }
                        state.pending[id]?.append(continuation)
                        return false
                    }
                    // The read ended between the look and now: its answer is in the cache (or it failed).
                    if finished { continuation.resume(returning: .retry) }
                }
                switch shared {
                case .answer(let record): return record
                case .failed(let error): throw error
                case .retry: continue
                }
            }
        }
    }

    /// Reads `id` from the store in a task of its own, caches the answer and hands it to the callers waiting for it.
    ///
    /// Detached from the call that needed it: the read must not wait for that call's executor (an event loop busy with
    /// a flood of calls held every caller of the key, and the server-wide call slots, for seconds), and it is not
    /// cancelled with that call, so the callers sharing it get their answer.
    private func startRead(id: String, at readAt: ContinuousClock.Instant) {
        Task.detached { [self] in
            let shared: Shared
            do {
                shared = .answer(try await store.apiKey(id: id))
            } catch {
                shared = .failed(error)
            }
            let waiters = state.withLock { state in
                if case .answer(let record) = shared {
                    let evicted: String?
                    if let record {
                        evicted = state.found.setValue(Entry(record: record, fetchedAt: readAt), forKey: id)
                    } else {
                        evicted = state.unknown.setValue(readAt, forKey: id)
                    }
                    if evicted != nil { state.evictions += 1 }
                }
                return state.pending.removeValue(forKey: id) ?? []
            }
            for waiter in waiters { waiter.resume(returning: shared) }
        }
    }
}

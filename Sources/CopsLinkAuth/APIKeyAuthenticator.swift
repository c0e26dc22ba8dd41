public import CopsLinkCore
import Synchronization

/// Checks bearer tokens against an `APIKeyStore`.
///
/// Key records are cached for `cacheTTL` so that a call costs a SHA-256 and a dictionary lookup, not a database
/// read: a key revoked (from another process too) stops working within that time. Every check compares the
/// secret's hash in constant time, cached or not.
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

    /// What a caller waiting on another's store read of the same id gets.
    private enum Shared {
        case answer(APIKeyRecord?)
        /// The read failed (or was cancelled): look again, perhaps reading the store itself.
        case retry
    }

    private struct State {
        var found: LRUCache<String, Entry>
        /// When each unknown id was last looked up in the store.
        var unknown: LRUCache<String, ContinuousClock.Instant>
        /// Ids being read from the store, with the callers waiting for that read. At most one entry per call in
        /// flight, so bounded by the server's connection and call limits.
        var pending: [String: [CheckedContinuation<Shared, Never>]] = [:]
        var storeReads = 0
        var evictions = 0
    }

    private let store: any APIKeyStore
    private let cacheTTL: Duration
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
            case read, wait
        }
        while true {
            let now = self.now()
            let next: Next = state.withLock { state in
                if let entry = state.found.value(forKey: id), now - entry.fetchedAt < cacheTTL { return .answer(entry.record) }
                if let readAt = state.unknown.value(forKey: id), now - readAt < missTTL { return .answer(nil) }
                if state.pending[id] != nil { return .wait }
                state.pending[id] = []
                state.storeReads += 1
                return .read
            }
            switch next {
            case .answer(let record):
                return record
            case .read:
                return try await read(id: id, at: now)
            case .wait:
                let shared = await withCheckedContinuation { (continuation: CheckedContinuation<Shared, Never>) in
                    let finished = state.withLock { state in
                        guard state.pending[id] != nil else { return true }
                        state.pending[id]?.append(continuation)
                        return false
                    }
                    // The read ended between the look and now: its answer is in the cache (or it failed).
                    if finished { continuation.resume(returning: .retry) }
                }
                if case .answer(let record) = shared { return record }
            }
        }
    }

    /// Reads `id` from the store, caches the answer and hands it to the callers that waited for it.
    private func read(id: String, at readAt: ContinuousClock.Instant) async throws -> APIKeyRecord? {
        let record: APIKeyRecord?
        do {
            record = try await store.apiKey(id: id)
        } catch {
            let waiters = state.withLock { $0.pending.removeValue(forKey: id) ?? [] }
            for waiter in waiters { waiter.resume(returning: .retry) }
            throw error
        }
        let waiters = state.withLock { state in
            let evicted: String?
            if let record {
                evicted = state.found.setValue(Entry(record: record, fetchedAt: readAt), forKey: id)
            } else {
                evicted = state.unknown.setValue(readAt, forKey: id)
            }
            if evicted != nil { state.evictions += 1 }
            return state.pending.removeValue(forKey: id) ?? []
        }
        for waiter in waiters { waiter.resume(returning: .answer(record)) }
        return record
    }
}

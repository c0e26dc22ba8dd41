import CopsLinkCore
import Synchronization

/// Checks bearer tokens against an `APIKeyStore`.
///
/// Key records are cached for `cacheTTL` so that a call costs a SHA-256 and a dictionary lookup, not a database
/// read: a key revoked (from another process too) stops working within that time. Every check compares the
/// secret's hash in constant time, cached or not. The cache is bounded: when full it is emptied.
public final class APIKeyAuthenticator: CallerAuthenticator {
    private struct Entry {
        var record: APIKeyRecord?
        var fetchedAt: ContinuousClock.Instant
    }

    private let store: any APIKeyStore
    private let cacheTTL: Duration
    private let maximumCachedKeys: Int
    private let cache = Mutex<[String: Entry]>([:])

    public init(store: any APIKeyStore, cacheTTL: Duration = .seconds(5), maximumCachedKeys: Int = 10_000) {
        self.store = store
        self.cacheTTL = cacheTTL
        self.maximumCachedKeys = maximumCachedKeys
    }

    public func authenticate(bearerToken: String) async throws -> Caller? {
        guard let token = APIKeyToken(parsing: bearerToken) else { return nil }
        let record = try await record(id: token.id)
        guard let record, !record.isRevoked, SecretHash.constantTimeEquals(record.secretSHA256, token.secretHash) else {
            return nil
        }
        return Caller(tenant: record.dealerID, roles: record.roles, keyID: record.id)
    }

    private func record(id: String) async throws -> APIKeyRecord? {
        let now = ContinuousClock.now
        let cached = cache.withLock { $0[id] }
        if let cached, now - cached.fetchedAt < cacheTTL { return cached.record }
        let record = try await store.apiKey(id: id)
        cache.withLock { cache in
            if cache.count >= maximumCachedKeys { cache.removeAll(keepingCapacity: true) }
            cache[id] = Entry(record: record, fetchedAt: now)
        }
        return record
    }
}

import Synchronization

/// Bytes of request messages that running handlers hold, server-wide and per API key.
///
/// The inbound budgets count a request while it arrives; once a call taking one request has it whole, its handler
/// holds the decoded message, and the work it builds from it, for as long as the handler runs (a LinkAccount waiting
/// for its commit). Without a bound on that, the call limits were the only one: one key's 1,000 pipelined
/// LinkAccounts of 577 KB each, every one within the field limits, grew the server to 1.3 GB. Here a request larger
/// than `freeBytes` counts from the moment its handler takes it until the handler returns; one that would take the
/// server past `limit`, or its key past `perKeyLimit`, is refused RESOURCE_EXHAUSTED before its handler runs, so
/// nothing of it is done and the client may send it again. Smaller requests do not count: the call limits bound them
/// (10,000 calls of at most 4 KiB).
public final class HeldRequestBudget: Sendable {
    /// Request bytes running handlers may hold together.
    public let limit: Int
    /// Request bytes the running handlers of one API key may hold together (a quarter of `limit` by default, as one
    /// key may run a quarter of the server's calls): one key cannot take every byte from the others.
    public let perKeyLimit: Int
    /// Requests of at most this many bytes are not counted.
    public static let freeBytes = 4 << 10

    private let used = Atomic<Int>(0)
    private let byKey = Mutex<[String: Int]>([:])

    public init(limit: Int, perKeyLimit: Int? = nil) {
        precondition(limit > 0, "the held-request budget must be positive")
        self.limit = limit
        self.perKeyLimit = max(1, perKeyLimit ?? limit / 4)
    }

    /// Bytes counted now.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Bytes counted now for `keyID`'s calls.
    public func usedBytes(ofKey keyID: String) -> Int { byKey.withLock { $0[keyID] ?? 0 } }

    /// Counts a request of `bytes` taken by a handler of `keyID` (nil: a server that authenticates nobody, where only
    /// `limit` applies), or refuses it. Returns what was counted, for `release`: 0 for a request of at most
    /// `freeBytes`.
    public func hold(_ bytes: Int, keyID: String?) throws(RPCError) -> Int {
        guard bytes > Self.freeBytes else { return 0 }
        if let refusal = count(bytes, keyID: keyID) { throw refusal }
        return bytes
    }

    /// Counts `bytes` more that a handler keeps from its requests (ReportSignals' batch of signals), whatever their
    /// size; false, counting nothing, when they would pass the server's limit or the key's share. Give them back
    /// with `release`.
    public func holdMore(_ bytes: Int, keyID: String?) -> Bool {
        count(bytes, keyID: keyID) == nil
    }

    /// Counts `bytes`, or the refusal when they would pass a limit (then nothing is counted).
    private func count(_ bytes: Int, keyID: String?) -> RPCError? {
        if let keyID {
            let refusal: RPCError? = byKey.withLock { counts in
                let held = counts[keyID] ?? 0
                guard held + bytes <= perKeyLimit else {
                    return RPCError(
                        code: .resourceExhausted,
                        message:
                            "API key \(keyID)'s running calls hold \(held) bytes of requests; this request of \(bytes) bytes would pass the key's limit of \(perKeyLimit); retry when some have finished"
                    )
                }
                counts[keyID] = held + bytes
                return nil
            }
            if let refusal { return refusal }
        }
        let before = used.add(bytes, ordering: .relaxed).oldValue
        guard before + bytes <= limit else {
            used.subtract(bytes, ordering: .relaxed)
            if let keyID { releaseKey(keyID, bytes) }
            return RPCError(
                code: .resourceExhausted,
                message:
                    "the server's running calls hold \(before) bytes of requests; this request of \(bytes) bytes would pass its limit of \(limit); retry later or on another server"
            )
        }
        return nil
    }

    /// Gives back what `hold` counted.
    public func release(_ counted: Int, keyID: String?) {
        guard counted > 0 else { return }
        used.subtract(counted, ordering: .relaxed)
        if let keyID { releaseKey(keyID, counted) }
    }

    private func releaseKey(_ keyID: String, _ bytes: Int) {
        byKey.withLock { counts in
            let left = (counts[keyID] ?? 0) - bytes
            counts[keyID] = left > 0 ? left : nil
        }
    }
}

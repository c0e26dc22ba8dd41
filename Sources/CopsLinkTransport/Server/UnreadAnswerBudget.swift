public import CopsLinkCore
import NIOCore
import Synchronization

/// The server-wide budget of answer bytes held for clients that are not taking them: what a connection's socket holds
/// while the connection is unwritable (native, HTTP/JSON), a native streaming call's message waiting for its client's
/// credit, and a gRPC answer's DATA from the moment it is written until the socket has taken it (swift-nio-http2 holds
/// it for the stream's flow-control window meanwhile).
///
/// Per-connection bounds alone do not bound the process: 10,000 connections each holding the outbound high-water mark
/// are 2.5 GiB, and a gRPC client that grants no window holds an answer per stream, up to 100 per connection. Past
/// `limit` what would be held is dropped instead (PROTOCOL.md §12): a connection that becomes unwritable is closed, a
/// call whose message would wait for credit ends RESOURCE_EXHAUSTED, a gRPC stream whose answer would be held is reset
/// (and new gRPC calls are refused while the budget is spent).
///
/// What is held for clients without a key (native and HTTP/JSON connections on which no caller has authenticated, the
/// answers of gRPC's open methods) also counts in a share of its own, `untrustedLimit`, as in `InboundMemoryBudget`:
/// past it only such holdings are refused, so clients without a key cannot spend the budget keyed clients need.
///
/// What is held for an API key's clients counts in that key's share too, `perKeyLimit` (a quarter of `limit` by
/// default): past it only that key's holdings are refused. Without it one dealer's 1,200 HTTP/JSON connections, each
/// with a RequestTestData page it did not read, filled the whole budget, and every other dealer's large answers and
/// new gRPC calls were refused for as long as it kept them open (attacker round 4). What a connection holds counts for
/// the key of the call it is for, when it is a call's (a message waiting for credit or the socket, a gRPC stream's
/// DATA, an HTTP/JSON conversion), and otherwise (an unwritable connection's socket) for the key whose caller first
/// authenticated on the connection (`ConnectionTrust.keyID`): behind a proxy that pools connections, one
/// connection carries several dealers' calls.
public final class UnreadAnswerBudget: Sendable {
    /// Whose answers a reservation holds, decided from the connection's `ConnectionTrust` (`holder(for:)`); a release
    /// names the same holder as its reservation.
    public enum Holder: Sendable, Hashable {
        /// A server that authenticates nobody: only `limit` applies.
        case anyone
        /// A client without a key: counted in the untrusted share too.
        case untrusted
        /// The clients of an API key (its public id): counted in the key's share too.
        case key(String)
    }

    /// Bytes the server may hold for clients that do not take them.
    public let limit: Int
    /// Bytes it may hold for clients without a key, within `limit`. Default a quarter of `limit`.
    public let untrustedLimit: Int
    /// Bytes it may hold for one API key's clients, within `limit`. Default a quarter of `limit`.
    public let perKeyLimit: Int
    private let used = Atomic<Int>(0)
    private let untrusted = Atomic<Int>(0)
    /// Bytes held per API key (a key holding nothing has no entry), and the keys refused at their share whose count
    /// has not yet fallen under three quarters of it: their new calls are refused before they run (`callRefusal`).
    private let byKey = Mutex<(counts: [String: Int], refusing: Set<String>)>(([:], []))
    /// `byKey.refusing`'s count, so that calls of other keys check it without the lock.
    private let keysRefusing = Atomic<Int>(0)
    /// Set when a reservation is refused at `limit`, cleared once the count is back under three quarters of it.
    private let refusing = Atomic<Bool>(false)

    /// - Parameter limit: at least 1 byte.
    public init(limit: Int, untrustedLimit: Int? = nil, perKeyLimit: Int? = nil) {
        self.limit = max(1, limit)
        self.untrustedLimit = max(1, min(self.limit, untrustedLimit ?? self.limit / 4))
        self.perKeyLimit = max(1, min(self.limit, perKeyLimit ?? self.limit / 4))
    }

    /// Whose answers a connection with `trust` holds (nil trust: a server that authenticates nobody), or, given the
    /// key of the caller of the call they are for, that key's.
    public static func holder(for trust: ConnectionTrust?, callerKeyID: String? = nil) -> Holder {
        if let callerKeyID { return .key(callerKeyID) }
        guard let trust else { return .anyone }
        // The key first: it is recorded before the trust is granted, so a granted trust without one is keyless.
        if let keyID = trust.keyID { return .key(keyID) }
        return trust.isTrusted ? .anyone : .untrusted
    }

    /// Bytes counted now, across every connection.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Bytes counted now for clients without a key (part of `usedBytes`).
    public var untrustedBytes: Int { untrusted.load(ordering: .relaxed) }

    /// Bytes counted now for `keyID`'s clients (part of `usedBytes`).
    public func usedBytes(ofKey keyID: String) -> Int { byKey.withLock { $0.counts[keyID] ?? 0 } }

    /// Why a new call of `keyID` is refused before it runs, if it is: something of the key's was refused at its share,
    /// and its count has not yet fallen under three quarters of it. Its answer would only be refused in turn, after
    /// its handler had run (a flood of such calls cost other dealers seconds of CPU, attacker round 5).
    public func callRefusal(forKey keyID: String) -> RPCError? {
        guard keysRefusing.load(ordering: .relaxed) > 0 else { return nil }
        guard let held = byKey.withLock({ $0.refusing.contains(keyID) ? $0.counts[keyID] ?? 0 : nil }) else { return nil }
        return RPCError(
            code: .resourceExhausted,
            message:
                "API key \(keyID)'s connections hold \(held) bytes of answers they have not taken, near the key's share of \(perKeyLimit); read them, or retry later"
        )
    }

    /// Whether the budget is spent: something was refused at `limit`, and the count has not yet fallen under three
    /// quarters of it since. (A count that never passes the limit would otherwise stop just short of it, and a new
    /// call would run only to have its answer dropped.) A refusal at a share does not spend it.
    public var isExhausted: Bool { refusing.load(ordering: .relaxed) }

    /// Counts `bytes` more for `holder` if the total stays within `limit` and the holder's share within its limit,
    /// or if nothing is counted there (so that one answer larger than the whole budget still goes out); returns
    /// whether it did (nothing is counted if not).
    public func reserve(_ bytes: Int, for holder: Holder = .anyone) -> Bool {
        guard bytes > 0 else { return true }
        switch holder {
        case .anyone: break
        case .untrusted: guard Self.add(bytes, to: untrusted, within: untrustedLimit) else { return false }
        case .key(let keyID): guard addKey(keyID, bytes) else { return false }
        }
        guard Self.add(bytes, to: used, within: limit) else {
            releaseShare(bytes, of: holder)
            refusing.store(true, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Adds `bytes` to `counter` by compare-and-exchange if it stays within `limit` or the counter is at 0: a refused
    /// addition is never seen by other threads.
    private static func add(_ bytes: Int, to counter: borrowing Atomic<Int>, within limit: Int) -> Bool {
        var current = counter.load(ordering: .relaxed)
        while current == 0 || current <= limit - bytes {
            let (exchanged, original) = counter.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Adds `bytes` to `keyID`'s count if it stays within `perKeyLimit` or the key holds nothing; if not, the key's
    /// new calls are refused until its count falls under three quarters of the share.
    private func addKey(_ keyID: String, _ bytes: Int) -> Bool {
        byKey.withLock { state in
            let held = state.counts[keyID] ?? 0
            guard held == 0 || held <= perKeyLimit - bytes else {
                if state.refusing.insert(keyID).inserted { keysRefusing.add(1, ordering: .relaxed) }
                return false
            }
            state.counts[keyID] = held + bytes
            return true
        }
    }

    /// Releases `bytes` that `reserve` counted for the same `holder`.
    public func release(_ bytes: Int, for holder: Holder = .anyone) {
        guard bytes > 0 else { return }
        releaseShare(bytes, of: holder)
        let after = used.wrappingSubtract(bytes, ordering: .relaxed).newValue
        if after < limit - limit / 4, refusing.load(ordering: .relaxed) { refusing.store(false, ordering: .relaxed) }
    }

    private func releaseShare(_ bytes: Int, of holder: Holder) {
        switch holder {
        case .anyone: break
        case .untrusted: untrusted.wrappingSubtract(bytes, ordering: .relaxed)
        case .key(let keyID):
            byKey.withLock { state in
                let left = (state.counts[keyID] ?? 0) - bytes
                state.counts[keyID] = left > 0 ? left : nil
                if left < perKeyLimit - perKeyLimit / 4, state.refusing.remove(keyID) != nil {
                    keysRefusing.subtract(1, ordering: .relaxed)
                }
            }
        }
    }

    /// Why `bytes` more cannot be held for `holder`.
    public func refusal(adding bytes: Int, for holder: Holder = .anyone) -> String {
        switch holder {
        case .untrusted where untrustedBytes > 0 && untrustedBytes > untrustedLimit - bytes:
            return
                "connections without an authenticated caller hold \(untrustedBytes) bytes of answers they have not taken; \(bytes) more would pass their share of \(untrustedLimit)"
        case .key(let keyID):
            let held = usedBytes(ofKey: keyID)
            if held > 0, held > perKeyLimit - bytes {
                return
                    "API key \(keyID)'s connections hold \(held) bytes of answers they have not taken; \(bytes) more would pass the key's share of \(perKeyLimit)"
            }
        default: break
        }
        return "the server holds \(usedBytes) bytes of answers its clients have not taken; \(bytes) more would pass its limit of \(limit)"
    }

    /// Why a new call is refused while the budget is spent.
    public var callRefusal: String {
        "the server holds \(usedBytes) bytes of answers its clients have not taken, near its limit of \(limit); retry later or on another server"
    }
}

/// What one unwritable connection holds in the server's `UnreadAnswerBudget`: the bytes its socket holds when it
/// becomes unwritable (at least the outbound high-water mark), and what it writes while unwritable (native), until it
/// becomes writable again or closes. Used on the connection's event loop by the native and HTTP/JSON handlers.
struct UnwritableHold {
    let budget: UnreadAnswerBudget?
    let highWaterMark: Int
    private(set) var held = 0
    /// Whose answers they count as (decided when the episode began).
    private var holder = UnreadAnswerBudget.Holder.anyone

    init(budget: UnreadAnswerBudget?, highWaterMark: Int) {
        self.budget = budget
        self.highWaterMark = highWaterMark
    }

    /// The connection became unwritable: counts what its socket holds, for the clients of `trust` (its holder,
    /// `UnreadAnswerBudget.holder(for:)`). Returns the refusal when the budget has no room for it (nothing is counted;
    /// the connection is to be closed).
    mutating func begin(_ channel: any Channel, trust: ConnectionTrust) -> String? {
        guard let budget, held == 0 else { return nil }
        let buffered: Int = (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        let bytes = max(highWaterMark, buffered)
        let holder = UnreadAnswerBudget.holder(for: trust)
        guard budget.reserve(bytes, for: holder) else { return budget.refusal(adding: bytes, for: holder) }
        held = bytes
        self.holder = holder
        return nil
    }

    /// While the connection is unwritable, it wrote `bytes` more into its socket (the answers of calls already
    /// running): they count too. Returns the refusal when the budget has no room for them (the connection is to be
    /// closed).
    mutating func add(_ bytes: Int) -> String? {
        guard let budget, held > 0 else { return nil }
        guard budget.reserve(bytes, for: holder) else { return budget.refusal(adding: bytes, for: holder) }
        held += bytes
        return nil
    }

    /// The connection became writable again, or closed.
    mutating func end() {
        budget?.release(held, for: holder)
        held = 0
    }
}

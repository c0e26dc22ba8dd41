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
public final class UnreadAnswerBudget: Sendable {
    /// Bytes the server may hold for clients that do not take them.
    public let limit: Int
    /// Bytes it may hold for clients without a key, within `limit`. Default a quarter of `limit`.
    public let untrustedLimit: Int
    private let used = Atomic<Int>(0)
    private let untrusted = Atomic<Int>(0)
    /// Set when a reservation is refused at `limit`, cleared once the count is back under three quarters of it.
    private let refusing = Atomic<Bool>(false)

    /// - Parameter limit: at least 1 byte.
    public init(limit: Int, untrustedLimit: Int? = nil) {
        self.limit = max(1, limit)
        self.untrustedLimit = max(1, min(self.limit, untrustedLimit ?? self.limit / 4))
    }

    /// Bytes counted now, across every connection.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Bytes counted now for clients without a key (part of `usedBytes`).
    public var untrustedBytes: Int { untrusted.load(ordering: .relaxed) }

    /// Whether the budget is spent: something was refused at `limit`, and the count has not yet fallen under three
    /// quarters of it since. (A count that never passes the limit would otherwise stop just short of it, and a new
    /// call would run only to have its answer dropped.)
    public var isExhausted: Bool { refusing.load(ordering: .relaxed) }

    /// Counts `bytes` more if the total stays within `limit` (and, `untrusted`, the untrusted count within
    /// `untrustedLimit`), or if nothing is counted there (so that one answer larger than the whole budget still goes
    /// out); returns whether it did (nothing is counted if not).
    public func reserve(_ bytes: Int, untrusted isUntrusted: Bool = false) -> Bool {
        guard bytes > 0 else { return true }
        if isUntrusted, !Self.add(bytes, to: untrusted, within: untrustedLimit) { return false }
        guard Self.add(bytes, to: used, within: limit) else {
            if isUntrusted { untrusted.wrappingSubtract(bytes, ordering: .relaxed) }
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

    /// Releases `bytes` that `reserve` counted, with the same `untrusted`.
    public func release(_ bytes: Int, untrusted isUntrusted: Bool = false) {
        guard bytes > 0 else { return }
        if isUntrusted { untrusted.wrappingSubtract(bytes, ordering: .relaxed) }
        let after = used.wrappingSubtract(bytes, ordering: .relaxed).newValue
        if after < limit - limit / 4, refusing.load(ordering: .relaxed) { refusing.store(false, ordering: .relaxed) }
    }

    /// Why `bytes` more cannot be held (`untrusted`: for a client without a key).
    public func refusal(adding bytes: Int, untrusted isUntrusted: Bool = false) -> String {
        if isUntrusted, untrustedBytes > untrustedLimit - bytes {
            return
                "connections without an authenticated caller hold \(untrustedBytes) bytes of answers they have not taken; \(bytes) more would pass their share of \(untrustedLimit)"
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
    /// Counted in the budget's untrusted share (no caller had authenticated when the episode began).
    private var untrusted = false

    init(budget: UnreadAnswerBudget?, highWaterMark: Int) {
        self.budget = budget
        self.highWaterMark = highWaterMark
    }

    /// The connection became unwritable: counts what its socket holds, in the untrusted share if `untrusted`. Returns
    /// the refusal when the budget has no room for it (nothing is counted; the connection is to be closed).
    mutating func begin(_ channel: any Channel, untrusted: Bool) -> String? {
        guard let budget, held == 0 else { return nil }
        let buffered: Int = (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        let bytes = max(highWaterMark, buffered)
        guard budget.reserve(bytes, untrusted: untrusted) else { return budget.refusal(adding: bytes, untrusted: untrusted) }
        held = bytes
        self.untrusted = untrusted
        return nil
    }

    /// While the connection is unwritable, it wrote `bytes` more into its socket (the answers of calls already
    /// running): they count too. Returns the refusal when the budget has no room for them (the connection is to be
    /// closed).
    mutating func add(_ bytes: Int) -> String? {
        guard let budget, held > 0 else { return nil }
        guard budget.reserve(bytes, untrusted: untrusted) else { return budget.refusal(adding: bytes, untrusted: untrusted) }
        held += bytes
        return nil
    }

    /// The connection became writable again, or closed.
    mutating func end() {
        budget?.release(held, untrusted: untrusted)
        held = 0
    }
}

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
public final class UnreadAnswerBudget: Sendable {
    /// Bytes the server may hold for clients that do not take them.
    public let limit: Int
    private let used = Atomic<Int>(0)
    /// Set when a reservation is refused, cleared once the count is back under three quarters of `limit`.
    private let refusing = Atomic<Bool>(false)

    /// - Parameter limit: at least 1 byte.
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Bytes counted now, across every connection.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Whether the budget is spent: something was refused, and the count has not yet fallen under three quarters of
    /// the limit since. (A count that never passes the limit would otherwise stop just short of it, and a new call
    /// would run only to have its answer dropped.)
    public var isExhausted: Bool { refusing.load(ordering: .relaxed) }

    /// Counts `bytes` more if the total stays within `limit`, or if nothing is counted (so that one answer larger than
    /// the whole budget still goes out); returns whether it did (nothing is counted if not).
    public func reserve(_ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        var current = used.load(ordering: .relaxed)
        while current == 0 || current <= limit - bytes {
            let (exchanged, original) = used.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        refusing.store(true, ordering: .relaxed)
        return false
    }

    /// Releases `bytes` that `reserve` counted.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        let after = used.wrappingSubtract(bytes, ordering: .relaxed).newValue
        if after < limit - limit / 4, refusing.load(ordering: .relaxed) { refusing.store(false, ordering: .relaxed) }
    }

    /// Why `bytes` more cannot be held.
    public func refusal(adding bytes: Int) -> String {
        "the server holds \(usedBytes) bytes of answers its clients have not taken; \(bytes) more would pass its limit of \(limit)"
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

    init(budget: UnreadAnswerBudget?, highWaterMark: Int) {
        self.budget = budget
        self.highWaterMark = highWaterMark
    }

    /// The connection became unwritable: counts what its socket holds. Returns the refusal when the budget has no room
    /// for it (nothing is counted; the connection is to be closed).
    mutating func begin(_ channel: any Channel) -> String? {
        guard let budget, held == 0 else { return nil }
        let buffered: Int = (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        let bytes = max(highWaterMark, buffered)
        guard budget.reserve(bytes) else { return budget.refusal(adding: bytes) }
        held = bytes
        return nil
    }

    /// While the connection is unwritable, it wrote `bytes` more into its socket (the answers of calls already
    /// running): they count too. Returns the refusal when the budget has no room for them (the connection is to be
    /// closed).
    mutating func add(_ bytes: Int) -> String? {
        guard let budget, held > 0 else { return nil }
        guard budget.reserve(bytes) else { return budget.refusal(adding: bytes) }
        held += bytes
        return nil
    }

    /// The connection became writable again, or closed.
    mutating func end() {
        budget?.release(held)
        held = 0
    }
}

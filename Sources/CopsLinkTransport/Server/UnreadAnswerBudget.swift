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

    public init(limit: Int) {
        precondition(limit > 0, "the unread-answer budget must be positive")
        self.limit = limit
    }

    /// Bytes counted now, across every connection.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Whether the budget is spent: nothing more fits.
    public var isExhausted: Bool { usedBytes >= limit }

    /// Counts `bytes` more if the total stays within `limit`; returns whether it did (nothing is counted if not).
    public func reserve(_ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        let after = used.wrappingAdd(bytes, ordering: .relaxed).newValue
        guard after > limit else { return true }
        used.wrappingSubtract(bytes, ordering: .relaxed)
        return false
    }

    /// Releases `bytes` that `reserve` counted.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.wrappingSubtract(bytes, ordering: .relaxed)
    }

    /// Why `bytes` more cannot be held.
    public func refusal(adding bytes: Int) -> String {
        "the server holds \(usedBytes) bytes of answers its clients have not taken; \(bytes) more would pass its limit of \(limit)"
    }

    /// Why a new call is refused while the budget is spent.
    public var callRefusal: String {
        "the server holds \(usedBytes) bytes of answers its clients have not taken, its limit of \(limit); retry later or on another server"
    }
}

/// What one unwritable connection holds in the server's `UnreadAnswerBudget`: the bytes its socket holds when it
/// becomes unwritable (at least the outbound high-water mark), until it becomes writable again or closes. Used on the
/// connection's event loop by the native and HTTP/JSON handlers.
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

    /// The connection became writable again, or closed.
    mutating func end() {
        budget?.release(held)
        held = 0
    }
}

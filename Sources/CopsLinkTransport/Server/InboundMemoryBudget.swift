import Synchronization

/// The server-wide budget of inbound bytes held between reads: frame bytes buffered by connection readers (partial
/// frames, and frames left undecoded while a connection is paused) and messages of calls whose request stream is
/// still open.
///
/// Per-connection limits alone do not bound the process: 10,000 connections each holding a partial 4 MiB frame are
/// 40 GB. Every connection adds what it holds here; past `limit` the server refuses new calls (RESOURCE_EXHAUSTED) and
/// new connections (GOAWAY REFUSED), and a connection that would buffer a partial frame stops reading until bytes are
/// released, as Envoy's overload manager does. Bytes already read are always counted (they exist), so `usedBytes` may
/// pass `limit` by what one read brings per connection; nothing more is read while it does.
public final class InboundMemoryBudget: Sendable {
    /// Bytes the server may hold before it sheds load.
    public let limit: Int
    private let used = Atomic<Int>(0)

    public init(limit: Int) {
        precondition(limit > 0, "the inbound memory budget must be positive")
        self.limit = limit
    }

    /// Bytes counted now, across every connection.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Whether the server holds as much as it may: new calls and connections are refused.
    public var isExhausted: Bool { usedBytes >= limit }

    /// Counts `delta` bytes more (or, negative, fewer). Protocols in other modules (gRPC) count what they hold.
    public func adjust(by delta: Int) {
        guard delta != 0 else { return }
        used.add(delta, ordering: .relaxed)
    }
}

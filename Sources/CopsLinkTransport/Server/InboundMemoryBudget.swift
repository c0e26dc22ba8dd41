public import CopsLinkCore
import NIOCore
import Synchronization

/// The server-wide budget of inbound bytes held between reads: frame bytes buffered by connection readers (partial
/// frames, and frames left undecoded while a connection is paused) and messages of calls whose request stream is
/// still open.
///
/// Per-connection limits alone do not bound the process: 10,000 connections each holding a partial 4 MiB frame are
/// 40 GB. Every connection adds what it holds here; past `limit` the server refuses new calls (RESOURCE_EXHAUSTED) and
/// new connections, and a connection that would buffer a partial frame stops reading until bytes are released, as
/// Envoy's overload manager does. Bytes already read are always counted (they exist), so `usedBytes` may pass
/// `limit` by what one read brings per connection; nothing more is read while it does.
///
/// Bytes held for connections on which no caller has authenticated yet (`ConnectionTrust`) also count in a share of
/// their own, `untrustedLimit`: past it such connections stop reading (native) or are answered 503 (HTTP/JSON), and
/// what they hold beyond it does not count towards `isExhausted`. So clients without a key, whatever they send,
/// cannot spend the budget that authenticated clients' calls and new connections need.
public final class InboundMemoryBudget: Sendable {
    /// Bytes the server may hold before it sheds load.
    public let limit: Int
    /// Bytes connections without an authenticated caller may hold together. Default a quarter of `limit`.
    public let untrustedLimit: Int
    /// Bytes of a partial frame or request body that one connection without an authenticated caller may hold even
    /// when the untrusted share is spent, so that its first (small) calls still run and can authenticate it.
    public static let untrustedAllowance = 16 << 10
    /// What a request message waiting for its handler counts beyond its payload: its place in the call's queue and
    /// the header of its storage. Without it, empty messages, which cost no flow-control window, could queue without
    /// bound (1.28 million of them held 101 MiB); with it, a waiting message counts at least this many bytes against
    /// the connection's and the server's budgets, whatever its size (PROTOCOL.md §12.1).
    public static let waitingMessageOverhead = 64

    /// What a request message of `bytes` payload bytes counts while it waits for its handler (native and gRPC alike,
    /// and what a consumed one releases): its bytes plus `waitingMessageOverhead`.
    public static func waitingCost(ofMessageBytes bytes: Int) -> Int { bytes + waitingMessageOverhead }
    private let used = Atomic<Int>(0)
    private let untrusted = Atomic<Int>(0)

    public init(limit: Int, untrustedLimit: Int? = nil) {
        precondition(limit > 0, "the inbound memory budget must be positive")
        self.limit = limit
        self.untrustedLimit = max(1, untrustedLimit ?? limit / 4)
    }

    /// Bytes counted now, across every connection.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Bytes counted now for connections without an authenticated caller (part of `usedBytes`).
    public var untrustedBytes: Int { untrusted.load(ordering: .relaxed) }

    /// Whether the server holds as much as it may: new calls and connections are refused. Untrusted bytes past
    /// their share do not count.
    public var isExhausted: Bool { usedBytes - max(0, untrustedBytes - untrustedLimit) >= limit }

    /// Whether connections without an authenticated caller hold their whole share.
    public var isUntrustedExhausted: Bool { untrustedBytes >= untrustedLimit }

    /// Counts `delta` bytes more (or, negative, fewer); `untrusted` for bytes held for a connection without an
    /// authenticated caller (released with the same flag). Protocols in other modules (gRPC) count what they hold.
    public func adjust(by delta: Int, untrusted isUntrusted: Bool = false) {
        guard delta != 0 else { return }
        used.add(delta, ordering: .relaxed)
        if isUntrusted { untrusted.add(delta, ordering: .relaxed) }
    }
}

/// Whether a caller has authenticated on a connection (a call of it reached its handler with a `Caller`): from then
/// on what the connection holds counts as trusted in the `InboundMemoryBudget`. Connections of a server that
/// authenticates nobody start trusted.
public final class ConnectionTrust: Sendable {
    private let trusted: Atomic<Bool>
    /// Set once `firstKeyID` is, so that later grants and reads skip its lock.
    private let keyRecorded = Atomic<Bool>(false)
    private let firstKeyID = Mutex<String?>(nil)
    /// The connection's `KeylessPacer` while it is paced: work done for the connection outside its reads (its calls'
    /// tasks, `EventLoopTaskExecutor`) is charged to it, and it hears when a caller authenticates.
    private let pacer = Mutex<NIOLoopBound<KeylessPacer>?>(nil)

    public init(trusted: Bool) { self.trusted = Atomic(trusted) }

    /// A new connection's trust on a server with `dispatcher`: untrusted until a caller authenticates, when the server
    /// authenticates callers; trusted from the start when it authenticates nobody.
    public convenience init(for dispatcher: CallDispatcher) { self.init(trusted: !dispatcher.authenticatesCallers) }

    public var isTrusted: Bool { trusted.load(ordering: .relaxed) }

    /// The API key (public id) whose caller first authenticated on the connection: what it holds counts in that key's
    /// share of the `UnreadAnswerBudget`. Nil until then, and on a server that authenticates nobody.
    public var keyID: String? {
        guard keyRecorded.load(ordering: .acquiring) else { return nil }
        return firstKeyID.withLock { $0 }
    }

    /// Marks the connection trusted and records `keyID` as its key, once; later calls only read.
    public func grant(keyID: String) {
        if !keyRecorded.load(ordering: .relaxed) {
            firstKeyID.withLock { recorded in
                guard recorded == nil else { return }
                recorded = keyID
                keyRecorded.store(true, ordering: .releasing)
            }
        }
        grant()
    }

    /// Marks the connection trusted (once; later calls only read).
    public func grant() {
        guard !trusted.load(ordering: .relaxed) else { return }
        trusted.store(true, ordering: .relaxed)
        // A paced connection delivers what it holds now instead of at its turn (from whatever thread grants).
        guard let pacer = pacer.withLock({ $0 }) else { return }
        pacer.eventLoop.execute { pacer.value.trustGranted() }
    }

    /// Work done for the untrusted connection outside its reads, from `start` until now: charged to its pacer, and so
    /// to its loop's keyless share at once. Call it on the connection's loop.
    func recordWork(since start: NIODeadline) {
        guard let pacer = pacer.withLock({ $0 }) else { return }
        pacer.value.charge(work: (NIODeadline.now() - start).nanoseconds)
    }

    /// Sets (or, nil, clears) the connection's pacer.
    func paceWork(with pacer: NIOLoopBound<KeylessPacer>?) {
        self.pacer.withLock { $0 = pacer }
    }
}

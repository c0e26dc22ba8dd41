import CopsLinkCore
import Synchronization

/// Flow-control credit of one call in both directions, shared by the event loop and the call's task.
///
/// Sending: a message may go out when its payload fits the window, or when the window is whole (nothing is
/// outstanding), so that one message larger than the window never deadlocks; writers suspend otherwise.
/// Receiving: consumed bytes are granted back in one WINDOW_UPDATE, and released from the server's inbound budgets,
/// once the consumed messages count half the window or the queue runs empty, and never after the peer has ended its
/// stream, nor on calls that take one request message (`grantsCredit` false): their single message needs no credit
/// (a fresh window always admits it), and granting it back would release it from the server's count of
/// unfinished-request bytes while the call still holds it. A message counts its bytes plus
/// `InboundMemoryBudget.waitingMessageOverhead`, as in the budgets: empty messages consume no window, and their
/// count must still come back before the queue runs empty.
///
/// Non-copyable and stored inline in the call object that owns it, as `MessageQueue` is: one allocation per call
/// fewer than a class of its own.
struct CallCredit: ~Copyable, Sendable {
    // Waiter and State are internal rather than private: Swift 6.3.1 emitted a private nested type of this
    // non-copyable struct as an external symbol in debug builds and failed with "Global is external, but doesn't have
    // external or weak linkage".
    struct Waiter {
        var needed: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    struct State {
        var sendWindow: Int
        let initialSendWindow: Int
        var waiters: [Waiter] = []
        var closedWith: RPCError?
        let initialReceiveWindow: Int
        var pendingGrant = 0
        /// What the messages consumed since the last release counted against the inbound budgets.
        var pendingRelease = 0
        var queuedInbound = 0
        var peerEnded = false
        let grantsCredit: Bool
    }

    private let state: Mutex<State>

    init(sendWindow: Int, receiveWindow: Int, grantsCredit: Bool = true) {
        state = Mutex(
            State(
                sendWindow: sendWindow, initialSendWindow: sendWindow, initialReceiveWindow: receiveWindow,
                grantsCredit: grantsCredit))
    }

    /// Takes `size` bytes of send credit, suspending until the peer grants enough. Throws once the call is closed.
    /// `whileWaiting` runs only when the credit is not there at once, and what it returns runs when the wait ends
    /// (the server's stall clock, `ServerCall.write`): the path that finds credit costs nothing more.
    func acquire(_ size: Int, whileWaiting: () -> (() -> Void)? = { nil }) async throws(RPCError) {
        let granted: Bool = try state.withLock { (state) throws(RPCError) -> Bool in
            if let error = state.closedWith { throw error }
            guard state.waiters.isEmpty, Self.fits(size, state) else { return false }
            state.sendWindow -= size
            return true
        }
        if granted { return }
        let waitEnded = whileWaiting()
        defer { waitEnded?() }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let failure: RPCError? = state.withLock { state in
                    if let error = state.closedWith { return error }
                    state.waiters.append(Waiter(needed: size, continuation: continuation))
                    return nil
                }
                if let failure { continuation.resume(throwing: failure) }
            }
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .internalError, message: "unexpected flow-control failure")
        }
    }

    /// Adds credit from a WINDOW_UPDATE; false if the window would exceed 2^31-1 (a protocol violation).
    func add(_ increment: Int) -> Bool {
        let (ok, ready): (Bool, [CheckedContinuation<Void, any Error>]) = state.withLock { state in
            guard state.sendWindow + increment <= Int(Int32.max) else { return (false, []) }
            state.sendWindow += increment
            var ready: [CheckedContinuation<Void, any Error>] = []
            while let first = state.waiters.first, Self.fits(first.needed, state) {
                state.sendWindow -= first.needed
                ready.append(first.continuation)
                state.waiters.removeFirst()
            }
            return (true, ready)
        }
        for continuation in ready { continuation.resume() }
        return ok
    }

    /// Closes the call for sending: waiting and later writers get `error`.
    func close(_ error: RPCError) {
        let waiters: [Waiter] = state.withLock { state in
            guard state.closedWith == nil else { return [] }
            state.closedWith = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }

    /// The event loop queued one inbound message for the reader.
    func inboundQueued() { state.withLock { $0.queuedInbound += 1 } }

    /// The peer sent END_STREAM: no more credit will be granted.
    func peerEndedStream() { state.withLock { $0.peerEnded = true } }

    /// What the event loop does for messages the reader consumed: grant `credit` bytes back to the peer (none when
    /// zero), and stop counting `release` bytes against the inbound budgets.
    struct Consumed: Equatable {
        var credit: Int
        var release: Int
    }

    /// The reader consumed a message of `size` payload bytes; returns what to grant and release now, if anything.
    func inboundConsumed(_ size: Int) -> Consumed? {
        state.withLock { state in
            state.queuedInbound -= 1
            state.pendingGrant += size
            state.pendingRelease += InboundMemoryBudget.waitingCost(ofMessageBytes: size)
            guard state.grantsCredit, !state.peerEnded,
                state.pendingRelease * 2 >= state.initialReceiveWindow || state.queuedInbound == 0
            else { return nil }
            defer {
                state.pendingGrant = 0
                state.pendingRelease = 0
            }
            return Consumed(credit: state.pendingGrant, release: state.pendingRelease)
        }
    }

    private static func fits(_ size: Int, _ state: State) -> Bool {
        size <= state.sendWindow || state.sendWindow >= state.initialSendWindow
    }
}

/// Receive-side bookkeeping on the event loop: detects a peer that sends past its credit.
struct ReceiveWindow {
    let initial: Int
    private(set) var outstanding = 0

    init(initial: Int) { self.initial = initial }

    /// Records an inbound payload; false if it exceeds the credit granted (the whole-window exception included).
    mutating func receive(_ size: Int) -> Bool {
        guard size == 0 || outstanding == 0 || outstanding + size <= initial else { return false }
        outstanding += size
        return true
    }

    mutating func granted(_ size: Int) { outstanding = max(0, outstanding - size) }
}

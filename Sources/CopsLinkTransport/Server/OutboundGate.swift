import CopsLinkCore
import Synchronization

/// Holds back a connection's call writers while the connection is unwritable: the peer is not reading and the bytes
/// already written are above the high-water mark (`ServerConfiguration.outboundHighWaterMark`).
///
/// Streaming handlers await `waitUntilWritable()` before each message, so a client that stops reading stops the
/// handlers writing to it instead of making the server queue their output. The event loop opens and shuts the gate
/// (`setWritable`) as NIO reports writability; `close` fails every waiter when the connection goes.
final class OutboundGate: Sendable {
    private struct State {
        var writable = true
        var closedWith: RPCError?
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    }

    /// A copy of `state.writable` read without the lock: the common case (writable) costs one atomic load.
    private let open = Atomic<Bool>(true)
    private let state = Mutex(State())

    /// Whether the connection is writable now (a message written now would not wait).
    var isWritable: Bool { open.load(ordering: .acquiring) }

    /// Returns at once while the connection is writable; otherwise suspends until it is, the task is cancelled
    /// (CANCELLED) or the connection closes (its error).
    func waitUntilWritable() async throws(RPCError) {
        if open.load(ordering: .acquiring) { return }
        do {
            try await waitSlowly()
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .cancelled, message: "the call was cancelled while the connection was not writable")
        }
    }

    private func waitSlowly() async throws {
        let id = state.withLock { state in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Registration {
                    case waiting, proceed
                    case fail(any Error)
                }
                let registration: Registration = state.withLock { state in
                    if let error = state.closedWith { return .fail(error) }
                    if state.writable { return .proceed }
                    // The cancellation handler may have run before the waiter existed: it found nothing to resume.
                    if Task.isCancelled { return .fail(CancellationError()) }
                    state.waiters[id] = continuation
                    return .waiting
                }
                switch registration {
                case .waiting: break
                case .proceed: continuation.resume()
                case .fail(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// Opens or shuts the gate; opening resumes every waiter.
    func setWritable(_ writable: Bool) {
        let resumed: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.writable = writable
            open.store(writable, ordering: .releasing)
            guard writable, !state.waiters.isEmpty else { return [] }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for continuation in resumed { continuation.resume() }
    }

    /// The connection is gone: waiters and later callers get `error`.
    func close(_ error: RPCError) {
        let failed: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            guard state.closedWith == nil else { return [] }
            state.closedWith = error
            state.writable = false
            open.store(false, ordering: .releasing)
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for continuation in failed { continuation.resume(throwing: error) }
    }
}

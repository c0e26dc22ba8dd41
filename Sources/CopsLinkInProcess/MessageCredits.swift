import CopsLinkCore
import Synchronization

/// Counts messages one side may still send; senders suspend at zero. Bounds each in-process call's buffers.
final class MessageCredits: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, any Error>] = []
        var closedWith: RPCError?
    }

    private enum Decision {
        case granted, parked
        case failed(RPCError)
    }

    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(available: count)) }

    func acquire() async throws(RPCError) {
        let ready: Bool = try state.withLock { (state) throws(RPCError) -> Bool in
            if let error = state.closedWith { throw error }
            guard state.available > 0 else { return false }
            state.available -= 1
            return true
        }
        if ready { return }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let decision: Decision = state.withLock { state in
                    if let error = state.closedWith { return .failed(error) }
                    if state.available > 0 {
                        state.available -= 1
                        return .granted
                    }
                    state.waiters.append(continuation)
                    return .parked
                }
                switch decision {
                case .granted: continuation.resume()
                case .parked: break
                case .failed(let error): continuation.resume(throwing: error)
                }
            }
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .internalError, message: "unexpected credit failure")
        }
    }

    func release() {
        let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.available += 1
            return nil
        }
        waiter?.resume()
    }

    func close(_ error: RPCError) {
        let waiters: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            guard state.closedWith == nil else { return [] }
            state.closedWith = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }
}

import Dispatch
import Synchronization

/// Resumes a continuation for the first signal only, and keeps the signal sources alive meanwhile.
final class SignalOnce: Sendable {
    private let state: Mutex<(continuation: CheckedContinuation<Int32, Never>?, sources: [any DispatchSourceSignal])>

    init(_ continuation: CheckedContinuation<Int32, Never>) {
        state = Mutex((continuation, []))
    }

    func retain(_ source: any DispatchSourceSignal) {
        state.withLock { $0.sources.append(source) }
    }

    func resume(_ signal: Int32) {
        let continuation = state.withLock { state in
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: signal)
    }
}

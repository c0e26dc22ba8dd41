public import Synchronization

/// A single-consumer queue between a transport (producer, never suspends) and the task reading a call's messages,
/// stored inline in the call object that owns it.
///
/// The producer bounds what it pushes (flow-control credit), so the queue needs no limit of its own.
/// A failure ends the queue at once, dropping buffered messages: the call is over. A reader whose task is
/// cancelled while it waits gets CANCELLED; the queue itself stays open.
///
/// Non-copyable and inlinable so that a call object holds it inline and gets it specialized for its element type:
/// a separate generic class cost an allocation per call and run-time metadata lookups in its deinit, and both showed
/// up at the top of the one-call-at-a-time profile. `AsyncMessageQueue` is the shareable class around it.
public struct MessageQueue<Element: Sendable>: ~Copyable, Sendable {
    @usableFromInline
    struct State: ~Copyable {
        /// The oldest buffered element when it is the only one: a unary call's one message never allocates `buffer`.
        @usableFromInline var first: Element?
        /// Elements after `first`, read from `head`.
        @usableFromInline var buffer: [Element] = []
        @usableFromInline var head = 0
        @usableFromInline var end: Result<Void, RPCError>?
        /// Unsafe rather than checked: every path below resumes a stored waiter exactly once (it is taken out of the
        /// state under the lock before resuming), and the checked kind allocates a canary per suspension.
        @usableFromInline var waiter: UnsafeContinuation<Element?, any Error>?
        /// The waiter waits for the end (`elementsAtEnd`), not for the next element.
        @usableFromInline var waiterWaitsForEnd = false

        @inlinable init() {}

        @inlinable
        mutating func popFirst() -> Element? {
            if let element = first {
                first = nil
                return element
            }
            guard head < buffer.count else { return nil }
            let element = buffer[head]
            head += 1
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= buffer.count {
                buffer.removeFirst(head)
                head = 0
            }
            return element
        }

        @inlinable
        mutating func append(_ element: Element) {
            if first == nil && head == buffer.count {
                first = element  // nothing is buffered, so this one is the oldest
            } else {
                buffer.append(element)
            }
        }

        /// Elements buffered and not yet taken.
        @inlinable var bufferedCount: Int { (first == nil ? 0 : 1) + buffer.count - head }

        /// What a reader gets without waiting: an element, the end, or `nil` (nothing yet).
        @inlinable
        mutating func takeReady() -> Result<Element?, RPCError>? {
            if let element = popFirst() { return .success(element) }
            switch end {
            case .success: return .success(nil)
            case .failure(let error): return .failure(error)
            case nil: return nil
            }
        }
    }

    @usableFromInline let state: Mutex<State>
    @usableFromInline static var cancelled: RPCError { RPCError(code: .cancelled, message: "the reading task was cancelled") }

    /// Initializes `state` here rather than where it is declared: a declaration's initial value is compiled into a
    /// generic function of this module, which looked up the queue's type metadata at run time for every call.
    @inlinable public init() { state = Mutex(State()) }

    /// Hands `element` to the consumer. Ignored after the queue ended.
    @inlinable
    public func push(_ element: Element) {
        let waiter: UnsafeContinuation<Element?, any Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            if let waiter = state.waiter, !state.waiterWaitsForEnd {
                state.waiter = nil
                return waiter
            }
            state.append(element)
            // A reader waiting for the end wants one element: a second wakes it, so that it can stop the call. Its
            // end might never come: elements not taken grant no flow-control credit, and the sender waits for some.
            guard state.waiter != nil, state.bufferedCount >= 2 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: element)
    }

    /// Ends the queue: after `.success` the consumer drains what is buffered and then gets `nil`;
    /// after `.failure` it gets the error, at once or (with `deliveringBuffered`) after what is buffered.
    /// Only the first end counts.
    @inlinable
    public func finish(_ result: Result<Void, RPCError>, deliveringBuffered: Bool = false) {
        let waiter: UnsafeContinuation<Element?, any Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            state.end = result
            if case .failure = result, !deliveringBuffered {
                state.first = nil
                state.buffer.removeAll()
                state.head = 0
            }
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        switch result {
        case .success: waiter?.resume(returning: nil)
        case .failure(let error): waiter?.resume(throwing: error)
        }
    }

    /// Whether the queue has ended (with any result).
    @inlinable
    public var isFinished: Bool { state.withLock { $0.end != nil } }

    /// The only element, taken, when the queue ended successfully holding exactly one: what a
    /// unary call's handler reads without suspending. Afterwards the queue is empty and ended (`next` gives nil).
    @inlinable
    public func takeOnlyIfEnded() -> Element? {
        state.withLock { state in
            guard case .success = state.end, state.head == state.buffer.count, let element = state.first else { return nil }
            state.first = nil
            return element
        }
    }

    /// Waits for a successful end and returns the first element and how many there were in all (what is buffered is
    /// taken); throws the failure that ended the queue. A reader that takes everything at the end (a unary call: its
    /// response, then its status) suspends at most once, where reading element by element resumed it for the response
    /// and read again for the end. A second element ends the wait before the end (count 2): elements left unread
    /// grant no flow-control credit, so a sender of more could wait for credit while the reader waits for the end.
    /// `onCancel` as for `next(onCancel:)`.
    @inlinable
    public func elementsAtEnd(onCancel: @Sendable () -> Void = {}) async throws(RPCError) -> (first: Element?, count: Int) {
        _ = try await wait(forEnd: true, onCancel: onCancel) { state in
            state.end != nil || state.bufferedCount >= 2 ? .success(nil) : nil
        }
        return try state.withLock { state throws(RPCError) in
            state.waiterWaitsForEnd = false
            if case .failure(let error) = state.end { throw error }
            let count = state.bufferedCount
            let first = state.popFirst()
            state.first = nil
            state.buffer.removeAll()
            state.head = 0
            return (first, count)
        }
    }

    /// The next element, `nil` at a successful end; throws the failure that ended the queue.
    ///
    /// `onCancel` runs if the reading task is cancelled while it waits (not when an element is already there), so
    /// callers need no cancellation handler of their own around this one: each costs a lock in the runtime.
    @inlinable
    public func next(onCancel: @Sendable () -> Void = {}) async throws(RPCError) -> Element? {
        try await wait(forEnd: false, onCancel: onCancel) { $0.takeReady() }
    }

    /// What `ready` gives, at once or once it gives something: the reader registers as the waiter (`forEnd`: one that
    /// `push` wakes only at a second element) and `push` or `finish` resumes it to look again. A reader cancelled
    /// while it waits gets CANCELLED after `onCancel`. The wait of `next` and `elementsAtEnd`.
    @inlinable
    func wait(
        forEnd: Bool, onCancel: @Sendable () -> Void, until ready: (inout State) -> Result<Element?, RPCError>?
    ) async throws(RPCError) -> Element? {
        if let now = state.withLock({ ready(&$0) }) { return try now.get() }
        do {
            return try await withTaskCancellationHandler {
                try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Element?, any Error>) in
                    let resumeNow: Result<Element?, RPCError>? = state.withLock { state in
                        if let now = ready(&state) { return now }
                        if Task.isCancelled { return .failure(Self.cancelled) }
                        precondition(state.waiter == nil, "MessageQueue has a single consumer")
                        state.waiter = continuation
                        state.waiterWaitsForEnd = forEnd
                        return nil
                    }
                    if let resumeNow { continuation.resume(with: resumeNow) }
                }
            } onCancel: {
                onCancel()
                let waiter = state.withLock { state in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(throwing: Self.cancelled)
            }
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .internalError, message: "unexpected queue failure")
        }
    }
}

/// A `MessageQueue` as a shareable object, for producers and consumers that do not live in one call object.
public final class AsyncMessageQueue<Element: Sendable>: Sendable {
    @usableFromInline let queue = MessageQueue<Element>()

    @inlinable public init() {}

    /// Hands `element` to the consumer. Ignored after the queue ended.
    @inlinable public func push(_ element: Element) { queue.push(element) }

    /// Ends the queue (see `MessageQueue.finish(_:deliveringBuffered:)`).
    @inlinable
    public func finish(_ result: Result<Void, RPCError>, deliveringBuffered: Bool = false) {
        queue.finish(result, deliveringBuffered: deliveringBuffered)
    }

    /// Whether the queue has ended (with any result).
    @inlinable public var isFinished: Bool { queue.isFinished }

    /// The only element, when the queue ended successfully holding just it (see `MessageQueue.takeOnlyIfEnded()`).
    @inlinable public func takeOnlyIfEnded() -> Element? { queue.takeOnlyIfEnded() }

    /// The first element and the count, at a successful end (see `MessageQueue.elementsAtEnd(onCancel:)`).
    @inlinable
    public func elementsAtEnd(onCancel: @Sendable () -> Void = {}) async throws(RPCError) -> (first: Element?, count: Int) {
        try await queue.elementsAtEnd(onCancel: onCancel)
    }

    /// The next element, `nil` at a successful end (see `MessageQueue.next(onCancel:)`).
    @inlinable
    public func next(onCancel: @Sendable () -> Void = {}) async throws(RPCError) -> Element? {
        try await queue.next(onCancel: onCancel)
    }
}

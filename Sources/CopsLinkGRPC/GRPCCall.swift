import CopsLinkCore
import CopsLinkTransport
import NIOCore
import Synchronization

/// One gRPC stream as a `ServerCallStream`: the dispatcher and handlers see the same request bytes and answer the same
/// messages as on the native protocol; the stream handler frames them (`GRPCStreamHandler`).
///
/// Request messages wait here until the handler reads them. The bytes waiting (with
/// `InboundMemoryBudget.waitingMessageOverhead` per message) are counted against the server's
/// inbound memory budget and the connection's (`GRPCInboundBudgets`), and the stream handler stops reading the HTTP/2 stream while they reach `queueLimit`
/// (the native per-call window): swift-nio-http2 then sends no WINDOW_UPDATE for the stream, so HTTP/2 flow control
/// stops the client. When the handler takes a message that brings them under the limit, reading resumes. One read
/// hands over every DATA frame the stream channel holds (swift-nio-http2 delivers its pending frames together, at
/// most the stream's window), so the queue may pass the limit by up to a stream window and one message.
final class GRPCCall: ServerCallStream, Sendable {
    /// Request messages as they arrive; ends at the client's END_STREAM, fails on cancellation.
    let requests = AsyncMessageQueue<[UInt8]>()
    private let eventLoop: any EventLoop
    private let handler: NIOLoopBound<GRPCStreamHandler>
    private let finished = Atomic<Bool>(false)
    private let budgets: GRPCInboundBudgets
    /// What the request messages pushed and not yet taken count (`cost`, in `budgets` too); `nil` once the queue is
    /// dropped.
    private let queued = Mutex<Int?>(0)
    let queueLimit: Int

    /// The connection's trust, granted when the call's caller authenticates.
    private let trust: ConnectionTrust?
    /// The server's, where a key whose share is spent has its new calls refused.
    private let unreadAnswers: UnreadAnswerBudget?

    init(
        eventLoop: any EventLoop, handler: NIOLoopBound<GRPCStreamHandler>, budgets: GRPCInboundBudgets, queueLimit: Int,
        trust: ConnectionTrust? = nil, unreadAnswers: UnreadAnswerBudget? = nil
    ) {
        self.eventLoop = eventLoop
        self.handler = handler
        self.budgets = budgets
        self.queueLimit = queueLimit
        self.trust = trust
        self.unreadAnswers = unreadAnswers
    }

    /// The key of the call's caller, once authenticated: whose share of the unread-answer budget its answers count in.
    var callerKeyID: String? { keyID.withLock { $0 } }
    private let keyID = Mutex<String?>(nil)

    func callerAuthenticated(_ caller: Caller) -> RPCError? {
        keyID.withLock { $0 = caller.keyID }
        trust?.grant(keyID: caller.keyID)
        return unreadAnswers?.callRefusal(forKey: caller.keyID)
    }

    var isFinished: Bool { finished.load(ordering: .acquiring) }

    /// What the messages waiting for the handler count (`cost`).
    var queuedBytes: Int { queued.withLock { $0 ?? 0 } }

    /// What a waiting message counts in `queued` and the budgets: its bytes and its place in the queue, so that
    /// empty messages (five bytes of HTTP/2 window each) cannot queue without bound either.
    private static func cost(_ message: [UInt8]) -> Int { InboundMemoryBudget.waitingCost(ofMessageBytes: message.count) }

    /// A request message from the stream (on the event loop); returns whether the stream may be read further.
    func push(_ message: [UInt8]) -> Bool {
        let cost = Self.cost(message)
        let counted: Int? = queued.withLock { queued in
            guard let before = queued else { return nil }
            queued = before + cost
            return queued
        }
        guard let counted else { return false }
        budgets.adjust(by: cost)
        requests.push(message)
        return counted < queueLimit
    }

    func nextRequest() async throws(RPCError) -> (any MessageBytes)? {
        guard let message = try await requests.next() else { return nil }
        // Nothing to release once the queue was dropped: `dropQueue` released all it held, this message included.
        let cost = Self.cost(message)
        let (counted, resume): (Bool, Bool) = queued.withLock { queued in
            guard let before = queued else { return (false, false) }
            queued = before - cost
            return (true, before >= queueLimit && before - cost < queueLimit)
        }
        if counted { budgets.adjust(by: -cost) }
        if resume {
            let handler = self.handler
            eventLoop.execute { handler.value.resumeReading() }
        }
        return message
    }

    /// One response message; returns once the stream has taken it (HTTP/2 flow control reaches the handler here).
    func write(_ message: some RPCMessage) async throws(RPCError) {
        guard !isFinished else { throw RPCError(code: .cancelled, message: "the call has ended") }
        let bytes = try Self.serialized(message)
        let promise = eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        if eventLoop.inEventLoop {
            handler.value.writeMessage(bytes, promise: promise)
        } else {
            eventLoop.execute { handler.value.writeMessage(bytes, promise: promise) }
        }
        do {
            try await promise.futureResult.get()
        } catch {
            throw RPCError(code: .cancelled, message: "the HTTP/2 stream closed")
        }
    }

    static func serialized(_ message: some RPCMessage) throws(RPCError) -> [UInt8] {
        let bytes = message.serializedBytes()
        guard bytes.count <= Int(UInt32.max) else {
            throw RPCError(code: .internalError, message: "the response message is too large for gRPC's framing")
        }
        return bytes
    }

    func finish(_ outcome: CallOutcome) {
        guard finished.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let final: GRPCStreamHandler.Final
        switch outcome {
        case .success(let message, let trailers):
            do throws(RPCError) {
                final = .success(message: try message.map { message throws(RPCError) in try Self.serialized(message) }, trailers: trailers)
            } catch {
                final = .failure(error)
            }
        case .failure(let error):
            final = .failure(error)
        }
        dropQueue(RPCError(code: .cancelled, message: "the call has ended"))
        // On the stream's event loop (a handler run there, `runsHandlersOnEventLoop`) the answer is written at once,
        // without a hop through the loop's task queue.
        let handler = self.handler
        if eventLoop.inEventLoop {
            handler.value.finishCall(final)
        } else {
            eventLoop.execute { handler.value.finishCall(final) }
        }
    }

    /// Ends the call without an answer: the client reset the stream or the connection is gone.
    func abandon() {
        finished.store(true, ordering: .releasing)
        dropQueue(RPCError(code: .cancelled, message: "the client cancelled the call"))
    }

    /// Ends the request queue, dropping what waits in it, which leaves the budget.
    private func dropQueue(_ error: RPCError) {
        requests.finish(.failure(error))
        let dropped = queued.withLock { queued in
            defer { queued = nil }
            return queued ?? 0
        }
        budgets.adjust(by: -dropped)
    }
}

/// What a gRPC call's held request bytes (waiting messages, a partial message) count against: the server's inbound
/// memory budget, and its connection's budget (`maxUnfinishedRequestBytesPerConnection`), so that one connection
/// cannot take the whole server's budget (PROTOCOL.md §12, §19.3).
struct GRPCInboundBudgets: Sendable {
    let server: InboundMemoryBudget
    let connection: InboundMemoryBudget

    func adjust(by delta: Int) {
        server.adjust(by: delta)
        connection.adjust(by: delta)
    }
}

import CopsLinkCore
public import CopsLinkMessages
import CopsLinkWire
import NIOCore
import Synchronization

/// One call on a server connection, as the handler's task sees it (`ServerCallStream`).
///
/// Frames are encoded in the calling task, straight into the buffer that is written, then handed to the event loop.
final class ServerCall: ServerCallStream, Sendable {
    let id: UInt64
    let requests = MessageQueue<ByteBuffer>()
    let credit: CallCredit
    /// How long a response message may wait for the client's flow-control credit before the call ends
    /// (`ServerConfiguration.unwritableTimeout`); nil waits as long as the client likes.
    private let creditStallTimeout: Duration?
    /// The server's budget of answers its clients do not take: a message waiting for credit counts against it.
    private let unreadAnswers: UnreadAnswerBudget?
    private let connection: NIOLoopBound<ServerConnectionHandler>
    private let gate: OutboundGate
    private let allocator: ByteBufferAllocator
    private let peerMaxFrameSize: Int
    private let peerMaxHeaderSize: Int
    private let finished = Atomic<Bool>(false)
    /// The method's series, when the server records metrics; the call reports its status and latency there once.
    private let metrics: MethodMetrics?
    private let startedAt: NIODeadline
    /// The connection's: granted when the call's caller authenticated; its key is whose share of the unread-answer
    /// budget the call's waiting messages count in when the call has no caller.
    private let trust: ConnectionTrust?
    /// The key of the call's caller, once authenticated: whose share its waiting messages count in.
    private let callerKeyID = Mutex<String?>(nil)

    /// What the connection handler keeps about a call while it runs.
    struct LoopState {
        var task: Task<Void, Never>?
        var deadline: Scheduled<Void>?
        var receiveWindow: ReceiveWindow
        var clientEnded = false
        /// Bytes of the messages received while the request stream is open and not consumed (their payload plus
        /// `InboundMemoryBudget.waitingMessageOverhead` each): what the call counts against the connection's and the
        /// server's inbound budgets.
        var unfinishedBytes = 0
        /// Runs while the request stream is open on a call without a deadline or taking one request (`requestIdleTimeout`).
        var requestIdle: Scheduled<Void>?
        /// When the client last sent something on the request stream.
        var lastRequestActivity = NIODeadline.uptimeNanoseconds(0)
        /// The route, when it limits request messages below the transport's limits (`maxRequestMessageSize`).
        var limitedRoute: RPCRouter.Route?
        /// Counted in `CallDispatcher.openCallsAwaitingRequest` until its request comes.
        var awaitingRequest = false
        /// From the handler's start until it returns (`handlerReturned`): a call that ends before keeps its place in
        /// the connection's concurrency limit until then.
        var handlerRunning = false
    }

    /// Read and written only by `ServerConnectionHandler`, on the connection's event loop: the handler is not
    /// Sendable, lives on that loop, and is the only code that names this property. Kept in the call rather than in
    /// a record beside it so that a call is one object, and so that updating it in the handler's dictionary does not
    /// copy a record out and back (whose accessor frames cost three mallocs per call). `loop` checks the rule in
    /// debug builds, as `NIOLoopBound` does; `_modify` keeps the in-place update.
    nonisolated(unsafe) private var loopState: LoopState
    var loop: LoopState {
        get {
            assert(connection.eventLoop.inEventLoop, "ServerCall.loop used off its connection's event loop")
            return loopState
        }
        _modify {
            assert(connection.eventLoop.inEventLoop, "ServerCall.loop used off its connection's event loop")
            yield &loopState
        }
    }

    /// - Parameter singleRequest: the method takes one request message (unary, server streaming): no credit is
    ///   granted back for it (`CallCredit`).
    init(
        id: UInt64, connection: NIOLoopBound<ServerConnectionHandler>, gate: OutboundGate, allocator: ByteBufferAllocator,
        peerLimits: PeerLimits, receiveWindow: Int, singleRequest: Bool, metrics: MethodMetrics? = nil, trust: ConnectionTrust? = nil,
        creditStallTimeout: Duration? = nil, unreadAnswers: UnreadAnswerBudget? = nil
    ) {
        self.id = id
        self.creditStallTimeout = creditStallTimeout
        self.unreadAnswers = unreadAnswers
        self.trust = trust
        self.metrics = metrics
        if let metrics {
            metrics.started()
            startedAt = .now()
        } else {
            startedAt = .uptimeNanoseconds(0)
        }
        self.connection = connection
        self.gate = gate
        self.allocator = allocator
        self.peerMaxFrameSize = peerLimits.maxFrameSize
        self.peerMaxHeaderSize = peerLimits.maxHeaderSize
        self.credit = CallCredit(
            sendWindow: peerLimits.initialWindowSize, receiveWindow: receiveWindow, grantsCredit: !singleRequest)
        self.loopState = LoopState(receiveWindow: ReceiveWindow(initial: receiveWindow))
    }

    var isFinished: Bool { finished.load(ordering: .acquiring) }

    func callerAuthenticated(_ caller: Caller) -> RPCError? {
        callerKeyID.withLock { $0 = caller.keyID }
        trust?.grant(keyID: caller.keyID)
        return unreadAnswers?.callRefusal(forKey: caller.keyID)
    }

    func nextRequest() async throws(RPCError) -> (any MessageBytes)? {
        guard let message = try await requests.next() else { return nil }
        return consumed(message)
    }

    func takeOnlyRequest() -> (any MessageBytes)? {
        // For a call taking one request nothing is granted or released (no credit goes back, its stream has ended);
        // the credit's count of queued messages is kept balanced all the same.
        requests.takeOnlyIfEnded().map(consumed)
    }

    /// `message`, taken by the handler: the connection grants its credit back and releases it from the inbound
    /// budgets, when `CallCredit` says that is due.
    private func consumed(_ message: ByteBuffer) -> ByteBuffer {
        if let consumed = credit.inboundConsumed(message.readableBytes) {
            connection.run((id, consumed)) { $0.consumed(callID: $1.0, $1.1) }
        }
        return message
    }

    func write(_ message: some RPCMessage) async throws(RPCError) {
        var buffer = allocator.buffer(capacity: 512)
        let size = buffer.writeFrame(.message, callID: id, header: NoMessage.header, message: message)
        try checkFrameSize(size)
        try await credit.acquire(size - Frame.minimumEncodedSize) { () -> (() -> Void)? in
            // The message waits for the client's credit: it counts as an answer the client does not take.
            let holder = answerHolder
            if let refusal = reserveUnread(size, for: holder) {
                credit.close(refusal)
                return nil
            }
            let unread = unreadAnswers
            // A client that grants no window keeps the socket writable, so the connection's unwritable timeout never
            // starts; without this clock such a call (and its place among the connection's calls) was held for ever.
            guard let creditStallTimeout else { return { unread?.release(size, for: holder) } }
            let timer = connection.eventLoop.scheduleTask(in: TimeAmount(creditStallTimeout)) { [self] in
                credit.close(
                    RPCError(
                        code: .resourceExhausted,
                        message:
                            "the client granted no flow-control window for \(creditStallTimeout.secondsText); the call's answer could not be sent"
                    ))
            }
            return {
                timer.cancel()
                unread?.release(size, for: holder)
            }
        }
        try await waitUntilWritable(holding: size)
        connection.run((id, buffer)) { $0.writeCallFrame($1.1, callID: $1.0) }
    }

    /// Waits for the connection to be writable, counting the `size` bytes of the message that waits meanwhile as an
    /// answer its client does not take, as one waiting for credit is: without it, a client that granted credit and
    /// read nothing held an encoded page per streaming call here, uncounted (25 connections × 100 RequestTestData
    /// calls took the server to 1.3 GB). Past the budget the call ends RESOURCE_EXHAUSTED.
    private func waitUntilWritable(holding size: Int) async throws(RPCError) {
        guard !gate.isWritable, let unreadAnswers else { return try await gate.waitUntilWritable() }
        let holder = answerHolder
        if let refusal = reserveUnread(size, for: holder) { throw refusal }
        defer { unreadAnswers.release(size, for: holder) }
        try await gate.waitUntilWritable()
    }

    /// Whose answers this call's waiting messages are: its caller's key's, else its connection's holder.
    private var answerHolder: UnreadAnswerBudget.Holder {
        UnreadAnswerBudget.holder(for: trust, callerKeyID: callerKeyID.withLock { $0 })
    }

    /// Counts `size` bytes of a message about to wait (for credit or for the socket) in the unread-answer budget;
    /// past it counts nothing, tells the connection (its metric) and returns the call's RESOURCE_EXHAUSTED.
    private func reserveUnread(_ size: Int, for holder: UnreadAnswerBudget.Holder) -> RPCError? {
        guard let unreadAnswers, !unreadAnswers.reserve(size, for: holder) else { return nil }
        connection.run(()) { handler, _ in handler.messageRefusedOverUnreadAnswerBudget() }
        return RPCError(code: .resourceExhausted, message: unreadAnswers.refusal(adding: size, for: holder))
    }

    func finish(_ outcome: CallOutcome) {
        guard markFinished() else { return }
        // Most END frames, unary responses included, fit in 1 KiB; an answer already encoded (GetAccount's page) says
        // its size, so that a larger one is not copied into a grown buffer.
        var buffer = allocator.buffer(capacity: Self.endFrameCapacity(outcome))
        switch outcome {
        case .success(let message, let trailers):
            buffer.writeFrame(.end, callID: id, header: EndHeader(statusCode: 0, trailers: trailers), payload: message)
        case .failure(let error):
            buffer.writeFrame(.end, callID: id, header: EndHeader(error: error), payload: NoMessage.payload)
        }
        var code: StatusCode
        switch outcome {
        case .success: code = .ok
        case .failure(let error): code = error.code
        }
        if let violation = endFrameViolation(buffer) {
            buffer.clear()
            buffer.writeFrame(.end, callID: id, header: EndHeader(error: violation), payload: NoMessage.payload)
            code = violation.code
        }
        metrics?.finished(code, startedAt: startedAt)
        credit.close(RPCError(code: .cancelled, message: "the call has ended"))
        connection.run((id, buffer, code)) { $0.callFinished(callID: $1.0, endFrame: $1.1, code: $1.2) }
    }

    /// The buffer to allocate for the END frame of `outcome`.
    static func endFrameCapacity(_ outcome: CallOutcome) -> Int {
        guard case .success(let message?, let trailers) = outcome, let size = message.knownSerializedSize else { return 1024 }
        // The fixed fields, the status and trailers' header (small unless the trailers are), the message.
        return max(1024, Frame.minimumEncodedSize + 64 + trailers.count * 64 + size)
    }

    /// The handler returned (after `finish`, or after `abandon`): the connection frees the call's place.
    func handlerReturned() {
        connection.run(self) { $0.handlerReturned($1) }
    }

    /// Ends the call without an END frame (the peer cancelled or the connection is gone).
    func abandon(_ error: RPCError) {
        if markFinished() { metrics?.finished(error.code, startedAt: startedAt) }
        requests.finish(.failure(error))
        credit.close(error)
    }

    /// True for the one caller that finishes the call.
    private func markFinished() -> Bool {
        !finished.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Why an END frame cannot be sent as encoded: too large for the client's frame or header limit.
    private func endFrameViolation(_ frame: ByteBuffer) -> RPCError? {
        let headerSize = frame.frameHeaderLength()
        if headerSize > peerMaxHeaderSize {
            return RPCError(
                code: .resourceExhausted,
                message:
                    "status and trailing metadata of \(headerSize) bytes exceed the client's maximum header size of \(peerMaxHeaderSize) bytes"
            )
        }
        if frame.readableBytes - 4 > peerMaxFrameSize {
            return tooLarge(payloadSize: frame.readableBytes - Frame.minimumEncodedSize - headerSize)
        }
        return nil
    }

    private func checkFrameSize(_ frameSize: Int) throws(RPCError) {
        guard frameSize - 4 > peerMaxFrameSize else { return }
        let error = tooLarge(payloadSize: frameSize - Frame.minimumEncodedSize)
        finish(.failure(error))
        throw error
    }

    private func tooLarge(payloadSize: Int) -> RPCError {
        RPCError(
            code: .resourceExhausted,
            message: "response message of \(payloadSize) bytes exceeds the client's maximum frame size of \(peerMaxFrameSize) bytes")
    }
}

/// What the peer announced in its SETTINGS, defaults filled in.
struct PeerLimits: Sendable {
    var maxFrameSize: Int
    var maxConcurrentCalls: Int
    var initialWindowSize: Int
    var maxHeaderSize: Int

    init(_ settings: SettingsHeader) {
        let defaults = ConnectionLimits()
        maxFrameSize = settings.maxFrameSize == 0 ? defaults.maxFrameSize : Int(settings.maxFrameSize)
        maxConcurrentCalls = settings.maxConcurrentCalls == 0 ? defaults.maxConcurrentCalls : Int(settings.maxConcurrentCalls)
        initialWindowSize =
            settings.initialWindowSize == 0 ? defaults.initialWindowSize : min(Int(settings.initialWindowSize), Int(Int32.max))
        maxHeaderSize = settings.maxHeaderSize == 0 ? defaults.maxHeaderSize : Int(settings.maxHeaderSize)
    }

    /// Why a peer's SETTINGS may not be accepted: a stated frame or header size below the minimum (0 means the default).
    static func violation(in settings: SettingsHeader) -> String? {
        if settings.maxFrameSize != 0, settings.maxFrameSize < ConnectionLimits.minimumMaxFrameSize {
            return "SETTINGS max_frame_size \(settings.maxFrameSize) is below the minimum of \(ConnectionLimits.minimumMaxFrameSize)"
        }
        if settings.maxHeaderSize != 0, settings.maxHeaderSize < ConnectionLimits.minimumMaxHeaderSize {
            return "SETTINGS max_header_size \(settings.maxHeaderSize) is below the minimum of \(ConnectionLimits.minimumMaxHeaderSize)"
        }
        return nil
    }
}

extension ConnectionLimits {
    /// The SETTINGS header announcing these limits.
    public var settingsHeader: SettingsHeader {
        SettingsHeader(
            maxFrameSize: UInt32(maxFrameSize), maxConcurrentCalls: UInt32(maxConcurrentCalls),
            initialWindowSize: UInt32(initialWindowSize), maxHeaderSize: UInt32(maxHeaderSize))
    }
}

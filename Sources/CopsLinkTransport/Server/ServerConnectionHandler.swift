import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import Logging
public import NIOCore

/// Asks a server connection to drain: GOAWAY now, close when its calls are done or at `deadline`. Public for the
/// protocols installed from other modules (`ProtocolInstaller`), whose handlers drain on it too.
public struct GracefulShutdownEvent: Sendable {
    public var deadline: NIODeadline

    public init(deadline: NIODeadline) { self.deadline = deadline }
}

/// The server side of one connection: preface, SETTINGS, calls, flow control, pings, GOAWAY. Event-loop bound.
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let dispatcher: CallDispatcher
    private let configuration: ServerConfiguration
    private let refusal: RejectionReason?
    private let logger: Logger
    private let metrics: ServerMetrics?
    private let budget: InboundMemoryBudget
    /// Holds back the calls' writers while the connection is unwritable.
    private let gate = OutboundGate()
    /// Failed-call log lines this connection may cause (`LoggingInterceptor`).
    private let failureLogBudget: FailureLogBudget

    private var context: ChannelHandlerContext!
    private var loopBound: NIOLoopBound<ServerConnectionHandler>!
    private var executor: EventLoopTaskExecutor?
    /// The connection's rules; the handler performs what they decide.
    private var state: ServerConnectionStateMachine
    private var reader: FrameReader
    private var peerLimits = PeerLimits(SettingsHeader())
    private var peer = "unknown"
    /// The calls in progress; each carries this handler's bookkeeping for it (`ServerCall.loop`). As many as
    /// `state.openCalls`.
    private var calls: [UInt64: ServerCall] = [:]
    private var graceTimer: Scheduled<Void>?
    private var handshakeTimer: Scheduled<Void>?
    /// The handshake timeout, less the time the keyless pacer held the client's bytes back.
    private var handshakeDeadline: HandshakeDeadline
    /// Fires when the connection reaches its maximum age (`ServerConfiguration.maxConnectionAge`).
    private var ageTimer: Scheduled<Void>?
    /// Runs while the connection has no call (`ServerConfiguration.idleTimeout`); nil when there is no such limit.
    private var idle: RestartableTimeout?
    private var keepalive: Keepalive
    private var flusher = FlushCoalescer()
    /// Runs while a frame is partly received (its first bytes are buffered, the rest is missing)
    /// (`ServerConfiguration.frameReadTimeout`); nil when there is no such limit.
    private var frameRead: RestartableTimeout?
    /// Bytes read and written since they were last added to the metrics (once per read loop and per flush).
    private var unrecordedBytesIn = 0
    private var unrecordedBytesOut = 0

    /// Runs while the connection is unwritable (`ServerConfiguration.unwritableTimeout`).
    private var unwritable: RestartableTimeout?
    /// What this connection's socket holds while it is unwritable, in the server's budget of answers held for clients
    /// that do not take them (`unwritableHold.budget`, which its calls' messages waiting for credit count against too).
    private var unwritableHold: UnwritableHold
    private var closingOverUnreadAnswerBudget = false
    /// Checks every 250 ms whether the budget has room again, while reading is paused for memory.
    private var memoryRetry: Scheduled<Void>?
    /// The key of a partial REQUEST frame held while connections without an authenticated caller hold their share,
    /// checked from its header before the rest of the frame is read (the key is inside the frame).
    private var earlyKeyCheck = EarlyKeyCheck.notAsked
    /// Frames decoded so far: the frame an early key check was asked for, so that its answer is not taken for a later one.
    private var framesDecoded: UInt64 = 0
    /// Reader bytes counted in the server's budget, and whether as untrusted (released the same way).
    private var countedReaderBytes = 0
    private var readerCountedUntrusted = false
    /// Whether a caller has authenticated on this connection (set by its calls, `ServerCall.callerAuthenticated`).
    private let trust: ConnectionTrust
    /// Small reads until a caller authenticates here (set at accept, PROTOCOL §12.1).
    private var reads: UntrustedReads
    /// Sum of the calls' `unfinishedBytes`.
    private var unfinishedRequestBytes = 0
    /// Refusals at a budget already logged on this connection: one line each, not one per call.
    private var loggedRefusals: Set<RejectionReason> = []

    /// When the connection was accepted, if before this handler joined it (`ProtocolDetector`): the handshake
    /// timeout counts from then.
    private let connectedAt: NIODeadline?

    init(
        dispatcher: CallDispatcher, configuration: ServerConfiguration, refusal: RejectionReason?, logger: Logger,
        metrics: ServerMetrics? = nil, budget: InboundMemoryBudget, unreadAnswers: UnreadAnswerBudget? = nil,
        connectedAt: NIODeadline? = nil, trust: ConnectionTrust? = nil
    ) {
        self.connectedAt = connectedAt
        self.unwritableHold = UnwritableHold(budget: unreadAnswers, highWaterMark: configuration.outboundHighWaterMark)
        self.budget = budget
        self.trust = trust ?? ConnectionTrust(for: dispatcher)
        reads = UntrustedReads(self.trust)
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.refusal = refusal
        self.logger = logger
        self.metrics = metrics
        self.state = ServerConnectionStateMachine(policy: .init(configuration))
        self.keepalive = Keepalive(configuration: configuration.keepalive)
        self.handshakeDeadline = HandshakeDeadline(timeout: configuration.handshakeTimeout)
        self.reader = FrameReader(FrameDecoder(limits: configuration.limits.frameLimits, expectsPreface: true))
        self.idle = configuration.idleTimeout.map(RestartableTimeout.init)
        self.frameRead = configuration.frameReadTimeout.map(RestartableTimeout.init)
        self.unwritable = configuration.unwritableTimeout.map(RestartableTimeout.init)
        self.failureLogBudget = dispatcher.connectionFailureLogBudget(
            burst: configuration.failedCallLogBurst, perSecond: configuration.failedCallLogPerSecond)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        if configuration.runsHandlersOnEventLoop { executor = EventLoopTaskExecutor(eventLoop: context.eventLoop, trust: trust) }
        if let address = context.channel.remoteAddress {
            peer = "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        }
        if context.channel.isActive { connectionStarted(context) }
    }

    /// Breaks the handler's reference cycles: it holds its context (which holds it) and `loopBound` (which holds it
    /// too). Without this every connection's handler, context and pipeline stayed in memory after the connection
    /// closed (found by the fuzz-connection fuzzer's LeakSanitizer; FUZZING.md). By now `channelInactive` has ended
    /// every call and stopped every timer, so the closures still holding a copy of `loopBound` find nothing to do;
    /// `flushScheduledWrites`, the one that would touch the context, checks for it.
    func handlerRemoved(context: ChannelHandlerContext) {
        _ = state.close()
        unwritableHold.end()
        self.context = nil
        self.loopBound = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionStarted(context)
        context.fireChannelActive()
    }

    /// What `channelActive` starts: from `handlerAdded` instead when the handler joins a connection that is already
    /// active (installed by `ProtocolDetector` once the first bytes named the native protocol).
    private func connectionStarted(_ context: ChannelHandlerContext) {
        if let refusal {
            let message =
                switch refusal {
                case .shuttingDown: "the server is shutting down"
                case .overloaded:
                    "the server is over its inbound memory budget of \(budget.limit) bytes; retry later or on another server"
                default: "the server is at its limit of \(configuration.maxConnections) connections"
                }
            goAwayAndClose(.refused, refusal, message)
        } else {
            if let warning = configuration.connectionWarning, let admission = admitConnectionLine(at: .warning) {
                logConnectionLine(.warning, "\(warning)", admission, [:])
            }
            let loopBound = self.loopBound!
            let timeout = configuration.handshakeTimeout
            handshakeTimer = context.eventLoop.scheduleTask(deadline: (connectedAt ?? context.eventLoop.now) + TimeAmount(timeout)) {
                loopBound.value.handshakeTimedOut(timeout)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.channelClosed()
        unwritableHold.end()
        keepalive.stop()
        graceTimer?.cancel()
        handshakeTimer?.cancel()
        ageTimer?.cancel()
        idle?.cancel()
        frameRead?.cancel()
        unwritable?.cancel()
        memoryRetry?.cancel()
        recordBytes()
        let ended = calls.values
        calls.removeAll()
        let error = RPCError(code: .unavailable, message: "the connection closed before the call finished")
        gate.close(error)
        for call in ended {
            forget(call)
            call.abandon(error)
            call.loop.task?.cancel()
        }
        uncountReaderBytes()
        if logger.logLevel <= .info {
            if let summary = failureLogBudget.close() { logConnectionLine(.info, "connection closed", summary, [:]) }
        } else {
            failureLogBudget.closeReportingToServer()
        }
        context.fireChannelInactive()
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !state.isClosed else { return }
        flusher.readStarted()
        reader.append(unwrapInboundIn(data))
        decodeBuffered()
    }

    /// Handles the frames the reader holds, unless the connection is unwritable: then they wait, undecoded, until
    /// it drains (no new call is dispatched for a peer that does not read its answers).
    private func decodeBuffered() {
        do {
            while state.decodesFrames, let inbound = try reader.next() {
                // The partial frame counted after the last read is complete now: it is being handled, not held.
                if countedReaderBytes > 0 { uncountReaderBytes() }
                framesDecoded &+= 1
                earlyKeyCheck = .notAsked  // a check asked or answered was the last frame's
                receive(inbound)
            }
        } catch {
            return wireErrorCaught(error)
        }
        guard !state.isClosed else { return }
        countReaderBytes()
        // Complete frames held back while unwritable are not a frame the peer is slow to send.
        if !state.pausedForOutbound, reader.startedPartialFrame() { partialFrameStarted() }
    }

    /// Brings the reader's bytes into the server's budget (the storage they keep alive, not only the bytes), as
    /// untrusted ones until a caller has authenticated here; a partial frame while the budget (or, untrusted, the
    /// untrusted share) is spent stops reading.
    private func countReaderBytes() {
        let buffered = reader.heldStorageBytes
        let untrusted = !trust.isTrusted
        if untrusted != readerCountedUntrusted {
            uncountReaderBytes()
            readerCountedUntrusted = untrusted
        }
        budget.adjust(by: buffered - countedReaderBytes, untrusted: untrusted)
        countedReaderBytes = buffered
        guard buffered > 0, readingMustWait else { return }
        if !budget.isExhausted { checkKeyAhead() }
        if state.memoryExhausted() {
            logRefusal(
                .serverInboundBudget,
                !budget.isExhausted
                    ? "reading paused: connections without an authenticated caller hold their share of \(budget.untrustedLimit) bytes of the inbound budget"
                    : "reading paused: the server is over its inbound memory budget of \(budget.limit) bytes")
            scheduleMemoryRetry()
        }
    }

    /// Reading waits for the untrusted share: if the partial frame is a REQUEST whose header is in, checks its key
    /// (`CallDispatcher.acceptedCaller`) so that a valid one has the rest read as trusted bytes. Once per frame.
    private func checkKeyAhead() {
        guard earlyKeyCheck == .notAsked, let bytes = reader.partialRequestHeader else { return }
        // Decided once per frame, key or not: a keyless frame is not parsed again at every retry of the budget.
        guard let header = try? RequestHeader(from: bytes), header.metadata[text: AuthInterceptor.metadataKey] != nil else {
            earlyKeyCheck = .refused
            return
        }
        earlyKeyCheck = .pending
        let (dispatcher, loopBound, loop, metadata, frame) = (
            self.dispatcher, self.loopBound!, context.eventLoop, header.metadata, framesDecoded
        )
        Task {
            let accepted = await dispatcher.acceptedCaller(metadata)?.keyID
            loop.execute { loopBound.value.keyCheckedAhead(acceptedKeyID: accepted, frame: frame) }
        }
    }

    /// `checkKeyAhead`'s answer: a valid key makes the connection trusted, its held bytes count as trusted and
    /// reading goes on; otherwise the frame waits for the share like a keyless one. A valid key trusts the
    /// connection even when its frame has been decoded meanwhile; a refusal only concerns that frame.
    private func keyCheckedAhead(acceptedKeyID: String?, frame: UInt64) {
        if frame == framesDecoded, earlyKeyCheck == .pending { earlyKeyCheck = acceptedKeyID != nil ? .notAsked : .refused }
        guard let acceptedKeyID, !state.isClosed, !trust.isTrusted else { return }
        trust.grant(keyID: acceptedKeyID)  // a valid key was sent on this connection, whatever becomes of its call
        reads.liftOnceTrusted(trust, on: context.channel)
        memoryRetry?.cancel()
        memoryRetry = nil
        memoryRetryFired()
    }

    /// Whether a connection holding a partial frame must not read more: the budget is spent, or this connection has
    /// no authenticated caller, holds more than the small allowance, and such connections hold their whole share.
    private var readingMustWait: Bool {
        budget.isExhausted
            || (!trust.isTrusted && budget.isUntrustedExhausted && reader.bufferedBytes > InboundMemoryBudget.untrustedAllowance)
    }

    private func uncountReaderBytes() {
        budget.adjust(by: -countedReaderBytes, untrusted: readerCountedUntrusted)
        countedReaderBytes = 0
    }

    private func scheduleMemoryRetry() {
        let loopBound = self.loopBound!
        memoryRetry = context.eventLoop.scheduleTask(in: .milliseconds(250)) { loopBound.value.memoryRetryFired() }
    }

    private func memoryRetryFired() {
        memoryRetry = nil
        guard !state.isClosed else { return }
        countReaderBytes()  // a caller may have authenticated meanwhile: the bytes are trusted now
        guard !state.isClosed, memoryRetry == nil else { return }
        if readingMustWait, reader.heldStorageBytes > 0 { return scheduleMemoryRetry() }
        if state.memoryAvailable() { context.read() }
    }

    func read(context: ChannelHandlerContext) {
        if state.readRequested() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        switch state.writabilityChanged(writable: writable) {
        case .none:
            break
        case .pause:
            gate.setWritable(false)
            unwritable?.start(on: context.eventLoop, { [loopBound = self.loopBound!] in loopBound.value.unwritableCheck() })
            if let refusal = unwritableHold.begin(context.channel, trust: trust) { closeOverUnreadAnswerBudget(refusal) }
        case .resume(let read):
            unwritableHold.end()
            gate.setWritable(true)
            unwritable?.stop()
            decodeBuffered()
            if read, !state.isClosed { context.read() }
        }
        context.fireChannelWritabilityChanged()
    }

    /// A call's message that would have waited for credit was refused: the server-wide budget had no room for it.
    func messageRefusedOverUnreadAnswerBudget() {
        metrics?.rejected(.unreadAnswerBudget)
    }

    /// The connection holds answers its client does not take and the server-wide budget has no room for them: GOAWAY
    /// ENHANCE_YOUR_CALM and close, on the loop's next turn (this comes from inside a write or a writability event).
    private func closeOverUnreadAnswerBudget(_ refusal: String) {
        guard !closingOverUnreadAnswerBudget else { return }
        closingOverUnreadAnswerBudget = true
        let loopBound = self.loopBound!
        context.eventLoop.execute { loopBound.value.goAwayAndClose(.enhanceYourCalm, .unreadAnswerBudget, refusal) }
    }

    /// Closes the connection if it is still unwritable a full timeout after it became so.
    private func unwritableCheck() {
        guard !state.isClosed else { return }
        let loopBound = self.loopBound!
        guard let timeout = unwritable?.timeout,
            unwritable?.fired(on: context.eventLoop, relevant: state.pausedForOutbound, { loopBound.value.unwritableCheck() }) == true
        else { return }
        goAwayAndClose(.enhanceYourCalm, .slowReader, "the client left the server's answers unread for \(timeout.secondsText)")
    }

    private func receive(_ inbound: InboundFrame) {
        switch inbound {
        case .preface:
            unrecordedBytesIn += Preface.size
            state.prefaceReceived()
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeFrame(.settings, header: configuration.limits.settingsHeader, payload: NoMessage.payload)
            write(buffer)
        case .frame(let frame):
            frameRead?.stop()
            unrecordedBytesIn += Frame.minimumEncodedSize + frame.header.readableBytes + frame.payload.readableBytes
            if let violation = state.admits(frame.type, callID: frame.callID) { return goAwayAndClose(violation) }
            handle(frame)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reads.liftOnceTrusted(trust, on: context.channel)
        if flusher.readCompleted() { context.flush() }
        recordBytes()
        context.fireChannelReadComplete()
    }

    private func handle(_ frame: Frame) {
        switch frame.type {
        case .settings: handleSettings(frame)
        case .request: handleRequest(frame)
        case .message: handleMessage(frame)
        case .cancel: handleCancel(frame)
        case .windowUpdate: handleWindowUpdate(frame)
        case .ping: handlePing(frame)
        case .goAway: handlePeerGoAway(frame)
        case .end: assertionFailure("refused by ServerConnectionStateMachine.admits")
        }
    }

    private func handleSettings(_ frame: Frame) {
        guard !frame.flags.contains(.ack) else { return }
        guard let settings = decodeHeader(SettingsHeader.self, frame) else { return }
        let startsConnection: Bool
        switch state.settingsReceived(settings) {
        case .close(let violation): return goAwayAndClose(violation)
        case .acknowledge(let starts): startsConnection = starts
        }
        peerLimits = PeerLimits(settings)
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize)
        buffer.writeFrame(.settings, flags: .ack, header: NoMessage.header, payload: NoMessage.payload)
        write(buffer)
        if startsConnection {
            handshakeTimer?.cancel()
            let loopBound = self.loopBound!
            keepalive.start(on: context.eventLoop) { _ in loopBound.value.keepaliveTick() }
            perform(.startIdleClock)
            // The age counts from the handshake: a connection is never sent away before it could serve a call.
            if let age = configuration.maxConnectionAge {
                let grace = TimeAmount(configuration.maxConnectionAgeGrace)
                let eventLoop = context.eventLoop
                ageTimer = eventLoop.scheduleTask(in: TimeAmount(ServerConfiguration.jittered(age, by: .random(in: -1...1)))) {
                    loopBound.value.beginDraining(.maxConnectionAge(age), deadline: eventLoop.now + grace)
                }
            }
        }
    }

    private func handleRequest(_ frame: Frame) {
        let id = frame.callID
        if let violation = state.requestReceived(callID: id) { return goAwayAndClose(violation) }
        idle?.stop()
        guard let header = decodeHeader(RequestHeader.self, frame) else { return }
        if case .reject(let limit, let error) = state.admitCall(id) {
            return reject(id, path: header.method, limit: limit, error)
        }
        if budget.isExhausted {
            return reject(id, path: header.method, limit: .serverInboundBudget, serverBudgetError)
        }
        do {
            try header.metadata.validate()
        } catch {
            return reject(id, path: header.method, error)
        }
        guard let route = dispatcher.router.route(forPath: header.method) else {
            return reject(id, path: header.method, dispatcher.router.unimplementedError(forPath: header.method))
        }
        let carriesMessage = frame.flags.contains(.hasMessage)
        let endsStream = frame.flags.contains(.endStream)
        if carriesMessage, let limit = route.maxRequestMessageSize, frame.payload.readableBytes > limit {
            return reject(id, path: header.method, limit: .methodMessageLimit, route.messageTooLarge(frame.payload.readableBytes))
        }
        // A call whose request stream stays open holds its REQUEST header (its metadata) and its messages for the
        // client: both count in the inbound budgets until END_STREAM or the end (§12.1).
        let heldHeaderCost = endsStream ? 0 : InboundMemoryBudget.waitingCost(ofMessageBytes: frame.header.readableBytes)
        let heldCost = carriesMessage && !endsStream ? InboundMemoryBudget.waitingCost(ofMessageBytes: frame.payload.readableBytes) : 0
        if !endsStream, let (limit, error) = unfinishedBytesRefusal(adding: heldHeaderCost + heldCost) {
            return reject(id, path: header.method, limit: limit, error)
        }
        // An open method's call whose request is still to come counts server-wide until it comes (§12).
        let awaitsRequest = !endsStream && route.awaitsKeylessRequest
        if awaitsRequest, let error = dispatcher.admitOpenCallAwaitingRequest() {
            return reject(id, path: header.method, limit: .openCallsAwaitingRequest, error)
        }

        let call = ServerCall(
            id: id, connection: loopBound, gate: gate, allocator: context.channel.allocator, peerLimits: peerLimits,
            receiveWindow: configuration.limits.initialWindowSize,
            singleRequest: route.kind.takesOneRequest, metrics: metrics?.method(forPath: header.method),
            trust: trust, creditStallTimeout: configuration.unwritableTimeout,
            unreadAnswers: unwritableHold.budget)
        if route.maxRequestMessageSize != nil { call.loop.limitedRoute = route }
        call.loop.awaitingRequest = awaitsRequest
        if heldHeaderCost > 0 { count(heldHeaderCost, heldBy: call) }
        if carriesMessage {
            // A fresh call's window admits any first message (§11): no check needed.
            _ = call.loop.receiveWindow.receive(frame.payload.readableBytes)
            call.credit.inboundQueued()
            call.requests.push(endsStream ? frame.payload : hold(frame.payload, in: call))
        }
        if endsStream {
            call.loop.clientEnded = true
            call.credit.peerEndedStream()
            call.requests.finish(.success(()))
        } else if header.timeoutMicros == 0 || route.kind.takesOneRequest, let timeout = configuration.requestIdleTimeout {
            // Also past a long deadline for a call taking one request: its client has no reason to wait (§12).
            call.loop.lastRequestActivity = context.eventLoop.now
            let loopBound = self.loopBound!
            call.loop.requestIdle = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                loopBound.value.requestIdleCheck(callID: id)
            }
        }
        var deadline: ContinuousClock.Instant?
        if header.timeoutMicros > 0 {
            let timeout = Duration.microseconds(Int64(clamping: header.timeoutMicros))
            deadline = .now + timeout
            let loopBound = self.loopBound!
            call.loop.deadline = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                loopBound.value.expire(callID: id, timeout: timeout)
            }
        }
        let serverContext = ServerContext(
            descriptor: route.descriptor, metadata: header.metadata, deadline: deadline, peer: peer, callID: id,
            failureLogBudget: failureLogBudget, methodKind: route.kind, heldRequests: dispatcher.heldRequests)
        let dispatcher = self.dispatcher
        calls[id] = call
        state.callOpened()
        let task: Task<Void, Never>
        call.loop.handlerRunning = true
        if let executor {
            // Starts the handler right here on the event loop: a handler that does not suspend answers within this
            // read, and its END is flushed with the read's other writes. After a suspension it resumes on this loop.
            task = Task.immediate(executorPreference: executor) {
                await dispatcher.run(route, stream: call, context: serverContext)
                call.handlerReturned()
            }
        } else {
            task = Task {
                await dispatcher.run(route, stream: call, context: serverContext)
                call.handlerReturned()
            }
        }
        call.loop.task = task  // for cancellation (CANCEL, deadline, connection loss); harmless if the handler already ended
    }

    private func handleMessage(_ frame: Frame) {
        let id = frame.callID
        guard let call = calls[id] else {
            if id > state.lastCallID { protocolViolation(.messageForUnopenedCall, "MESSAGE for call \(id), which was never opened") }
            return  // a call that already ended: late frames are ignored
        }
        guard !call.loop.clientEnded else {
            return protocolViolation(.messageAfterEndStream, "MESSAGE on call \(id) after the client ended its stream")
        }
        let endsStream = frame.flags.contains(.endStream)
        if frame.flags.contains(.hasMessage) {
            guard call.loop.receiveWindow.receive(frame.payload.readableBytes) else {
                return protocolViolation(
                    .flowControlWindowExceeded, "call \(id) sent \(frame.payload.readableBytes) bytes, more than its flow-control window")
            }
            if let route = call.loop.limitedRoute, let limit = route.maxRequestMessageSize, frame.payload.readableBytes > limit {
                return refuse(call, limit: .methodMessageLimit, route.messageTooLarge(frame.payload.readableBytes))
            }
            if !endsStream,
                let (limit, error) = unfinishedBytesRefusal(
                    adding: InboundMemoryBudget.waitingCost(ofMessageBytes: frame.payload.readableBytes))
            {
                return refuse(call, limit: limit, error)
            }
            call.credit.inboundQueued()
            call.requests.push(endsStream ? frame.payload : hold(frame.payload, in: call))
        } else if !endsStream {
            return protocolViolation(.messageWithoutFlags, "MESSAGE on call \(id) carries neither a message nor END_STREAM")
        }
        if endsStream {
            call.loop.clientEnded = true
            releaseAwaitingRequest(call)
            call.loop.requestIdle?.cancel()
            call.loop.requestIdle = nil
            releaseUnfinished(call)
            call.credit.peerEndedStream()
            call.requests.finish(.success(()))
        } else if call.loop.requestIdle != nil {
            call.loop.lastRequestActivity = context.eventLoop.now
        }
    }

    // MARK: Inbound budgets

    private var serverBudgetError: RPCError {
        RPCError(
            code: .resourceExhausted,
            message: "the server is over its inbound memory budget of \(budget.limit) bytes; retry later or on another server")
    }

    /// Why `size` more bytes held for an open request stream (a message's or a REQUEST header's waiting cost) may not
    /// be held, if they may not.
    private func unfinishedBytesRefusal(adding size: Int) -> (RejectionReason, RPCError)? {
        if budget.isExhausted { return (.serverInboundBudget, serverBudgetError) }
        let limit = configuration.maxUnfinishedRequestBytesPerConnection
        guard unfinishedRequestBytes + size > limit else { return nil }
        return (
            .connectionInboundBudget,
            RPCError(
                code: .resourceExhausted,
                message:
                    "the connection holds \(unfinishedRequestBytes) bytes of unfinished requests; \(size) more would pass its limit of \(limit)"
            )
        )
    }

    /// Counts a message that arrived on an open request stream (its bytes and its place in the queue), and returns it
    /// in storage of its own when it is a small slice of a large read (the slice would keep the whole read alive
    /// while the call waits); an empty message shares one empty buffer.
    private func hold(_ payload: ByteBuffer, in call: ServerCall) -> ByteBuffer {
        count(InboundMemoryBudget.waitingCost(ofMessageBytes: payload.readableBytes), heldBy: call)
        guard payload.readableBytes > 0 else { return Self.emptyMessage }
        return payload.compacted(allocator: context.channel.allocator)
    }

    /// Counts `size` bytes held for `call`'s open request stream in the inbound budgets (`releaseUnfinished` ends it).
    private func count(_ size: Int, heldBy call: ServerCall) {
        call.loop.unfinishedBytes += size
        unfinishedRequestBytes += size
        budget.adjust(by: size)
    }

    /// The payload of every held empty message: its storage is shared, not one per message.
    private static let emptyMessage = ByteBufferAllocator().buffer(capacity: 0)

    /// Stops counting `size` bytes of the call's (all of them by default): granted back, END_STREAM, or the end.
    private func releaseUnfinished(_ call: ServerCall, upTo size: Int = .max) {
        let released = min(size, call.loop.unfinishedBytes)
        guard released > 0 else { return }
        call.loop.unfinishedBytes -= released
        unfinishedRequestBytes -= released
        budget.adjust(by: -released)
    }

    /// Ends a running call at a limit: END with `error`, and the handler cancelled.
    private func refuse(_ call: ServerCall, limit: RejectionReason, _ error: RPCError) {
        metrics?.rejected(limit)
        logRefusal(limit, error.message)
        call.finish(.failure(error))  // on this loop: `callFinished` runs now and forgets the call
        call.requests.finish(.failure(error))
        call.loop.task?.cancel()
    }

    /// Logs the first refusal of each kind on this connection; later ones are only counted (metrics).
    private func logRefusal(_ reason: RejectionReason, _ message: String) {
        guard loggedRefusals.insert(reason).inserted, let admission = admitConnectionLine(at: .info) else { return }
        logConnectionLine(.info, "refused at a limit", admission, ["rejection": "\(reason.rawValue)", "reason": "\(message)"])
    }

    /// Whether a line about this connection at `level` is written: not filtered out by the logger's level (a line that
    /// would not be written must not spend the server's budget, nor reset the counts it reports), then admitted by
    /// the server's budget.
    private func admitConnectionLine(at level: Logger.Level) -> FailureLogBudget.Admission? {
        guard logger.logLevel <= level else { return nil }
        return failureLogBudget.admitConnectionLine()
    }

    /// A line about this connection (with its peer), admitted by the server's log budget.
    private func logConnectionLine(
        _ level: Logger.Level, _ message: Logger.Message, _ admission: FailureLogBudget.Admission, _ metadata: Logger.Metadata
    ) {
        var metadata = metadata
        metadata["peer"] = "\(peer)"
        admission.annotate(&metadata)
        logger.log(level: level, message, metadata: metadata)
    }

    /// Ends a call whose client has sent nothing on its open request stream for `requestIdleTimeout`.
    private func requestIdleCheck(callID: UInt64) {
        guard !state.isClosed, let call = calls[callID], !call.loop.clientEnded,
            let timeout = configuration.requestIdleTimeout
        else { return }
        call.loop.requestIdle = nil
        let due = call.loop.lastRequestActivity + TimeAmount(timeout)
        guard context.eventLoop.now >= due else {
            let loopBound = self.loopBound!
            call.loop.requestIdle = context.eventLoop.scheduleTask(deadline: due) { loopBound.value.requestIdleCheck(callID: callID) }
            return
        }
        refuse(
            call, limit: .requestIdleTimeout,
            RPCError(
                code: .deadlineExceeded, message: "the client sent nothing on the call's request stream for \(timeout.secondsText)"))
    }

    /// The call's request has come (or the call ended): it no longer counts as an open call awaiting its request.
    private func releaseAwaitingRequest(_ call: ServerCall) {
        guard call.loop.awaitingRequest else { return }
        call.loop.awaitingRequest = false
        dispatcher.openCallsAwaitingRequest.leave()
    }

    /// A call that has left `calls`: its timers stop and its bytes leave the inbound budgets.
    private func forget(_ call: ServerCall) {
        releaseAwaitingRequest(call)
        call.loop.deadline?.cancel()
        call.loop.requestIdle?.cancel()
        call.loop.requestIdle = nil
        releaseUnfinished(call)
    }

    private func handleCancel(_ frame: Frame) {
        guard decodeHeader(CancelHeader.self, frame) != nil else { return }
        guard let call = calls.removeValue(forKey: frame.callID) else {
            if frame.callID > state.lastCallID {
                protocolViolation(.cancelForUnopenedCall, "CANCEL for call \(frame.callID), which was never opened")
            }
            return
        }
        forget(call)
        call.abandon(RPCError(code: .cancelled, message: "the client cancelled the call"))
        call.loop.task?.cancel()
        perform(state.callEnded(code: nil, handlerRunning: call.loop.handlerRunning))
    }

    private func handleWindowUpdate(_ frame: Frame) {
        guard let update = decodeHeader(WindowUpdateHeader.self, frame) else { return }
        guard let call = calls[frame.callID] else {
            if frame.callID > state.lastCallID {
                protocolViolation(.windowUpdateForUnopenedCall, "WINDOW_UPDATE for call \(frame.callID), which was never opened")
            }
            return
        }
        guard call.credit.add(Int(update.increment)) else {
            return protocolViolation(
                .windowOverflow, "WINDOW_UPDATE overflows the flow-control window of call \(frame.callID) past 2^31-1")
        }
    }

    private func handlePing(_ frame: Frame) {
        guard frame.payload.readableBytes == 8 else {
            return protocolViolation(.badPingPayload, "PING payload must be 8 bytes, got \(frame.payload.readableBytes)")
        }
        if frame.flags.contains(.ack) {
            keepalive.acknowledged(frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt64.self)!)
            return
        }
        if case .close(let closure) = state.pingReceived(at: context.eventLoop.now) { return goAwayAndClose(closure) }
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize + 8)
        buffer.writeFrame(.ping, flags: .ack, rawPayload: frame.payload)
        write(buffer)
    }

    private func handlePeerGoAway(_ frame: Frame) {
        guard decodeHeader(GoAwayHeader.self, frame) != nil else { return }
        perform(state.peerGoAwayReceived())
    }

    private func decodeHeader<Header: ProtobufCCodable>(_ type: Header.Type, _ frame: Frame) -> Header? {
        frame.decodeHeader(type) { protocolViolation(.malformedHeader, $0) }
    }

    // MARK: Calls

    /// Answers a call that never starts a handler; `limit` names the limit that refused it, if one did.
    private func reject(_ id: UInt64, path: String, limit: RejectionReason? = nil, _ error: RPCError) {
        if let metrics {
            metrics.method(forPath: path).rejected(error.code)
            if let limit { metrics.rejected(limit) }
        }
        var buffer = context.channel.allocator.buffer(capacity: 128)
        buffer.writeFrame(.end, callID: id, header: EndHeader(error: error), payload: NoMessage.payload)
        write(buffer)
        perform(state.requestRefused())
    }

    func writeCallFrame(_ buffer: ByteBuffer, callID: UInt64) {
        guard calls[callID] != nil else { return }
        write(buffer)
    }

    func callFinished(callID: UInt64, endFrame: ByteBuffer, code: StatusCode) {
        guard let call = calls.removeValue(forKey: callID) else { return }
        forget(call)
        var endFrame = endFrame
        if code == .unauthenticated, let cause = state.drainCause, case .unauthenticatedCalls = cause {
            // Past the limit, a call received before the GOAWAY gets no verdict on its key, only a refusal as not
            // processed (gRPC's REFUSED_STREAM): pipelining guesses earns no more than the limit's answers (§12).
            endFrame = context.channel.allocator.buffer(capacity: 128)
            endFrame.writeFrame(
                .end, callID: callID, header: EndHeader(error: RPCError(code: .unavailable, message: cause.refusal)),
                payload: NoMessage.payload)
        }
        // The count first: writing the END may flush, and a flush that fails closes the channel, which ends every call.
        let action = state.callEnded(code: code, handlerRunning: call.loop.handlerRunning)
        write(endFrame)
        guard !state.isClosed else { return }  // the write's flush closed the connection: nothing is left to do
        perform(action)
    }

    /// A call's handler returned. If the call already ended (answered, cancelled, past its deadline), its place in
    /// the concurrency limit is free now.
    func handlerReturned(_ call: ServerCall) {
        call.loop.handlerRunning = false
        guard calls[call.id] !== call else { return }  // not ended yet: its END frees the place
        state.handlerReturned()
    }

    /// The call's handler consumed messages: they leave the inbound budgets, and their window goes back to the client.
    func consumed(callID: UInt64, _ consumed: CallCredit.Consumed) {
        guard let call = calls[callID], !call.loop.clientEnded else { return }
        releaseUnfinished(call, upTo: consumed.release)
        guard consumed.credit > 0 else { return }
        call.loop.receiveWindow.granted(consumed.credit)
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize + 8)
        buffer.writeFrame(
            .windowUpdate, callID: callID, header: WindowUpdateHeader(increment: UInt32(consumed.credit)), payload: NoMessage.payload)
        write(buffer)
    }

    func expire(callID: UInt64, timeout: Duration) {
        guard let call = calls[callID] else { return }
        let error = CallDispatcher.deadlinePassed(timeout)
        call.finish(.failure(error))
        call.requests.finish(.failure(error))
        call.loop.task?.cancel()
    }

    // MARK: Shutdown

    /// The client half-closed (TCP FIN after its last frame; the listener sets `allowRemoteHalfClosure`): the calls it
    /// started are answered, then the connection closes, like after a client GOAWAY (PROTOCOL.md §14). Before the
    /// handshake completed there is nothing to answer.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed? = event as? ChannelEvent else {
            return context.fireUserInboundEventTriggered(event)
        }
        perform(state.inputClosed())
    }

    private func perform(_ action: ServerConnectionStateMachine.DrainAction) {
        switch action {
        case .none:
            break
        case .close:
            close()
        case .sendGoAway(let lastCallID, let closes):
            var buffer = context.channel.allocator.buffer(capacity: 128)
            let message = (state.drainCause ?? .shutdown).goAwayMessage
            buffer.writeFrame(
                .goAway, header: GoAwayHeader(lastCallID: lastCallID, code: (state.drainCause ?? .shutdown).goAwayCode, message: message),
                payload: NoMessage.payload)
            write(buffer)
            if closes { close() }
        case .probe:
            sendHalfCloseProbe()
        }
    }

    private func sendHalfCloseProbe() {
        // A FIN is also what a client that closed its socket entirely sends. One PING tells them apart: such a
        // client's kernel answers it with a reset, which closes the channel and cuts its calls off (UNAVAILABLE)
        // as before; a half-closed client reads it and waits for its answers.
        var probe = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize + 8)
        probe.writeFrame(.ping, rawPayload: .pingPayload(0))
        write(probe)
        context.flush()
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? GracefulShutdownEvent else {
            return context.triggerUserOutboundEvent(event, promise: promise)
        }
        promise?.succeed()
        beginDraining(.shutdown, deadline: event.deadline)
    }

    private func beginDraining(_ cause: ServerConnectionStateMachine.DrainCause, deadline: NIODeadline) {
        let action = state.drainStarted(cause)
        guard action != .none else { return }
        let loopBound = self.loopBound!
        graceTimer = context.eventLoop.scheduleTask(deadline: deadline) { loopBound.value.graceExpired() }
        perform(action)
    }

    private func graceExpired() {
        let error = RPCError(code: .unavailable, message: (state.drainCause ?? .shutdown).cutOff)
        for call in calls.values {
            call.finish(.failure(error))
            call.loop.task?.cancel()
        }
        close()
    }

    /// Performs what the rules decided when the set of calls changed.
    private func perform(_ action: ServerConnectionStateMachine.CallEndAction) {
        assert(calls.count == state.openCalls, "the call table and the state machine disagree")
        switch action {
        case .none:
            break
        case .startIdleClock:
            idle?.start(on: context.eventLoop, { [loopBound = self.loopBound!] in loopBound.value.idleCheck() })
        case .close:
            close()
        case .drain(let cause):
            if case .unauthenticatedCalls = cause { metrics?.rejected(.unauthenticatedCalls) }
            beginDraining(cause, deadline: context.eventLoop.now + TimeAmount(configuration.maxConnectionAgeGrace))
        }
    }

    private func idleCheck() {
        guard !state.isClosed else { return }  // the handler may be gone: context and loopBound with it
        let loopBound = self.loopBound!
        guard let timeout = idle?.timeout,
            idle?.fired(on: context.eventLoop, relevant: state.isIdle, { loopBound.value.idleCheck() }) == true
        else { return }
        goAwayAndClose(.idleTimeout, .idleTimeout, "the connection was idle for \(timeout.secondsText)")
    }

    private func handshakeTimedOut(_ timeout: Duration) {
        if state.phase != .active,
            let more = handshakeDeadline.postponement(for: context.pipeline.syncOperations, at: context.eventLoop.now)
        {
            let loopBound = self.loopBound!
            handshakeTimer = context.eventLoop.scheduleTask(in: more) { loopBound.value.handshakeTimedOut(timeout) }
            return
        }
        switch state.handshakeTimedOut(after: timeout) {
        case .none:
            break
        case .sendTextAndClose(let text):
            var buffer = context.channel.allocator.buffer(capacity: 96)
            buffer.writeString(text)
            metrics?.rejected(.handshakeTimeout)
            unrecordedBytesOut += buffer.readableBytes
            context.write(wrapOutboundOut(buffer), promise: nil)
            close()
        case .close(let closure):
            goAwayAndClose(closure)
        }
    }

    private func keepaliveTick() {
        guard state.phase == .active else { return }
        let loopBound = self.loopBound!
        guard let opaque = keepalive.nextPing(on: context.eventLoop, onTimeout: { loopBound.value.keepaliveTimedOut() }) else { return }
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize + 8)
        buffer.writeFrame(.ping, rawPayload: .pingPayload(opaque))
        write(buffer)
    }

    private func keepaliveTimedOut() {
        goAwayAndClose(.keepaliveTimeout, .keepaliveTimeout, "no PING ACK within \(configuration.keepalive.timeout.secondsText)")
    }

    /// The reader holds the first bytes of a frame whose rest has not arrived: the frame-read clock starts.
    private func partialFrameStarted() {
        guard !state.isClosed else { return }
        frameRead?.start(on: context.eventLoop, { [loopBound = self.loopBound!] in loopBound.value.frameReadCheck() })
    }

    /// Closes the connection if the same partial frame is still incomplete a full timeout after its first bytes.
    private func frameReadCheck() {
        guard !state.isClosed else { return }  // the handler may be gone: context and loopBound with it
        let loopBound = self.loopBound!
        guard let timeout = frameRead?.timeout,
            frameRead?.fired(on: context.eventLoop, { loopBound.value.frameReadCheck() }) == true
        else { return }
        goAwayAndClose(.protocolError, .frameReadTimeout, "no complete frame within \(timeout.secondsText) of its first bytes")
    }

    // MARK: Errors

    /// An I/O or TLS error; the byte stream's own violations are handled where the frames are read.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !state.isClosed else { return }
        if let admission = admitConnectionLine(at: .debug) {
            logConnectionLine(.debug, "connection error", admission, ["error": "\(error)"])
        }
        close()
    }

    /// The byte stream broke the protocol: a wrong preface gets a line of text, anything after it a GOAWAY.
    private func wireErrorCaught(_ wireError: WireError) {
        guard !state.isClosed else { return }
        if wireError.isPrefaceError {
            var buffer = context.channel.allocator.buffer(capacity: 256)
            buffer.writeString("copslink: \(wireError)\n")
            metrics?.rejected(RejectionReason(wireError))
            unrecordedBytesOut += buffer.readableBytes
            context.write(wrapOutboundOut(buffer), promise: nil)
            return close()
        }
        if case .frameTooLarge = wireError {
            goAwayAndClose(.frameTooLarge, .frameTooLarge, wireError.description)
        } else {
            protocolViolation(RejectionReason(wireError), wireError.description)
        }
    }

    private func protocolViolation(_ reason: RejectionReason, _ message: String) {
        goAwayAndClose(.protocolError, reason, message)
    }

    private func goAwayAndClose(_ closure: ServerConnectionStateMachine.Closure) {
        goAwayAndClose(closure.code, closure.reason, closure.message)
    }

    /// Sends GOAWAY and closes; counts the close under `reason`.
    private func goAwayAndClose(_ code: GoAwayHeader.Code, _ reason: RejectionReason, _ message: String) {
        guard !state.isClosed else { return }
        if let admission = admitConnectionLine(at: .info) {
            logConnectionLine(.info, "closing connection", admission, ["reason": "\(message)", "rejection": "\(reason.rawValue)"])
        }
        metrics?.rejected(reason)
        var buffer = context.channel.allocator.buffer(capacity: 128 + message.utf8.count)
        buffer.writeFrame(
            .goAway, header: GoAwayHeader(lastCallID: state.lastCallID, code: code, message: message), payload: NoMessage.payload)
        unrecordedBytesOut += buffer.readableBytes
        context.write(wrapOutboundOut(buffer), promise: nil)
        close()
    }

    private func close() {
        guard state.close() else { return }
        keepalive.stop()
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: nil)
        context.close(promise: nil)
    }

    // MARK: Writing

    /// Writes now and flushes once per event-loop pass: after the read loop, or in one task queued behind the
    /// writes that other tasks hand over.
    private func write(_ buffer: ByteBuffer) {
        unrecordedBytesOut += buffer.readableBytes
        // Unwritable: an answer of a call already running still goes out, into the socket the client does not read.
        if let refusal = unwritableHold.add(buffer.readableBytes) { closeOverUnreadAnswerBudget(refusal) }
        FlushCoalescer.write(buffer, on: context, decide: { flusher.wrote($0) }) {
            let loopBound = self.loopBound!
            context.eventLoop.execute { loopBound.value.flushScheduledWrites() }
        }
    }

    /// The flush task queued by `write`: flushes, unless the connection closed after it was queued.
    private func flushScheduledWrites() {
        flusher.scheduledFlushRan()
        guard let context else { return }
        context.flush()
        recordBytes()
    }

    /// Adds the bytes counted since the last call to the metrics: two counter updates per read loop or flush task
    /// instead of one per frame.
    private func recordBytes() {
        guard let metrics else { return }
        if unrecordedBytesIn > 0 {
            metrics.received(bytes: unrecordedBytesIn)
            unrecordedBytesIn = 0
            metrics.recordInboundBuffered(budget.usedBytes)
        }
        if unrecordedBytesOut > 0 {
            metrics.sent(bytes: unrecordedBytesOut)
            unrecordedBytesOut = 0
        }
    }
}

@available(*, unavailable)
extension ServerConnectionHandler: Sendable {}

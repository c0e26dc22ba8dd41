import CopsLinkCore
import CopsLinkTransport
import NIOCore
import NIOHTTP2

/// What the streams of one gRPC connection share: the peer's address, call ids, the failed-call log budget and the
/// connection's inbound budget; and
/// the way to the connection's handler, told when a stream opens or closes and when a call is answered
/// UNAUTHENTICATED. Used on the connection's event loop only (its stream channels share it), by `GRPCStreamHandler`
/// and `GRPCConnectionHandler`.
final class GRPCConnectionState {
    var peer = "?"
    let failureLogBudget: FailureLogBudget
    /// The request bytes the connection's calls hold (`maxUnfinishedRequestBytesPerConnection`), counted by its
    /// streams as they count the server's budget.
    let inbound: InboundMemoryBudget
    private var callIDs: UInt64 = 0
    /// Whether a stream sent anything (HEADERS, a message, trailers) since the client's last PING: the ping policy
    /// exempts the next PING (`GRPCConnectionStateMachine.pingReceived`).
    private var answeredSincePing = false
    /// The open streams' handlers, for cutting their calls off when a drain's grace ends; each removes itself.
    private var streams: [ObjectIdentifier: GRPCStreamHandler] = [:]
    /// The connection's own handler, which keeps the connection's rules (`GRPCConnectionStateMachine`); nil in tests
    /// of a stream handler alone.
    weak var connectionHandler: GRPCConnectionHandler?
    /// Handlers of calls whose stream is gone (answered, reset by the client, past the deadline) that still run,
    /// until they return (`GRPCHandlerLife`). A reset stream leaves HTTP/2's concurrency count at once, so without
    /// this a client resetting each stream as it opened it started handlers without bound, as native CANCEL did.
    private(set) var endedCallsRunning = 0
    /// `ConnectionLimits.maxEndedCallsRunning`: past it the connection's new calls are refused.
    let maxEndedCallsRunning: Int

    /// The server's budget of answers its clients do not take: the streams' answer DATA counts against it until sent.
    let unreadAnswers: UnreadAnswerBudget?
    /// Whether a caller has authenticated on the connection: its calls grant it (`GRPCCall.callerAuthenticated`), and
    /// `GRPCReadGate` then lifts the connection's small reads (`UntrustedReads`).
    let trust: ConnectionTrust

    /// - Parameter serverLogBudget: the server's log-line budget (`CallDispatcher.failureLogBudget`), if any.
    /// - Parameter trust: the connection's; trusted from the start by default (a server that authenticates nobody).
    init(
        configuration: ServerConfiguration, unreadAnswers: UnreadAnswerBudget? = nil, serverLogBudget: FailureLogBudget? = nil,
        trust: ConnectionTrust = ConnectionTrust(trusted: true)
    ) {
        self.unreadAnswers = unreadAnswers
        self.trust = trust
        failureLogBudget = FailureLogBudget(
            burst: configuration.failedCallLogBurst, perSecond: configuration.failedCallLogPerSecond, server: serverLogBudget)
        inbound = InboundMemoryBudget(limit: max(1, configuration.maxUnfinishedRequestBytesPerConnection))
        maxEndedCallsRunning = configuration.limits.maxEndedCallsRunning
    }

    /// Why a new call is refused while too many ended calls' handlers still run, if it is.
    var endedCallsRefusal: RPCError? {
        guard endedCallsRunning >= maxEndedCallsRunning else { return nil }
        return ConnectionLimits.endedCallsRefusal(running: endedCallsRunning)
    }

    fileprivate func endedCallStarted() { endedCallsRunning += 1 }
    fileprivate func endedCallReturned() { endedCallsRunning -= 1 }

    // MARK: Requests handed over one at a time

    /// Streams whose unary or server-streaming call has its whole request and waits to be handed its END_STREAM (the
    /// moment its handler starts working: `RPCRouter` waits for it after the one message), oldest first.
    private var waitingHandOver = CircularBuffer<GRPCStreamHandler>()
    /// The call handed its request's end last, until it answers or the event loop has run the jobs queued behind the
    /// hand-over (`endTurnLater`), whichever comes first; numbered so that a later turn is not ended by an older one's
    /// job.
    private var turn: (stream: ObjectIdentifier, number: UInt64)?
    private var turns: UInt64 = 0
    private var turnEndScheduled = false
    /// The connection's socket takes more bytes (below its outbound high-water mark); told by `GRPCConnectionHandler`.
    private(set) var socketWritable = true
    private var eventLoop: (any EventLoop)?

    /// `stream`'s call has its request: its handler is handed the request's end now, or once the call handed its end
    /// before it has answered (or had an event-loop turn to), and only while the socket takes the answers (PROTOCOL.md
    /// §19.3). swift-nio-http2 hands every stream of a socket read its frames together, so without this every call of
    /// the read would start before any answer reached the socket, and a client that reads nothing would make the
    /// server hold one answer per stream; as it is, the socket's writability is current when each call is handed its
    /// request, as the native protocol decodes no frame past the outbound high-water mark.
    func handOverWhenWritable(_ stream: GRPCStreamHandler, on eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        waitingHandOver.append(stream)
        handOverNext()
    }

    /// `stream`'s call wrote its answer (or its stream closed): if it holds the turn, the next waiting call's turn
    /// comes now.
    func turnEnded(by stream: GRPCStreamHandler) {
        guard let turn, turn.stream == ObjectIdentifier(stream) else { return }
        self.turn = nil
        handOverNext()
    }

    /// Hands the oldest waiting stream its request's end, if the socket takes answers and no call holds the turn;
    /// streams whose call ended meanwhile are skipped.
    private func handOverNext() {
        while turn == nil, socketWritable, let stream = waitingHandOver.popFirst() {
            guard stream.takeRequestEnd() else { continue }
            turns &+= 1
            turn = (ObjectIdentifier(stream), turns)
        }
        if let turn, !waitingHandOver.isEmpty { endTurnLater(turn.number) }
    }

    /// With calls waiting behind it, a turn whose handler suspends before answering (a key lookup, PostgreSQL) ends
    /// after the jobs the hand-over queued (the handler's, on its stream's executor) have run: an answer written there
    /// has reached the socket, and its writability, first.
    private func endTurnLater(_ number: UInt64) {
        guard !turnEndScheduled, let eventLoop else { return }
        turnEndScheduled = true
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute {
            let connection = bound.value
            connection.turnEndScheduled = false
            if connection.turn?.number == number { connection.turn = nil }
            connection.handOverNext()
        }
    }

    /// The socket's writability changed: waiting calls are handed their requests again once it takes bytes.
    func socketWritabilityChanged(writable: Bool) {
        socketWritable = writable
        if writable { handOverNext() }
    }

    /// A stream wrote HEADERS, a message or trailers.
    func answerSent() {
        answeredSincePing = true
    }

    /// Whether a stream answered since the previous call; clears the mark.
    func takeAnsweredSincePing() -> Bool {
        defer { answeredSincePing = false }
        return answeredSincePing
    }

    func nextCallID() -> UInt64 {
        callIDs &+= 1
        return callIDs
    }

    /// A stream opened; `id` is its HTTP/2 stream id (0 when unknown), for the final GOAWAY of a drain.
    func streamOpened(_ stream: GRPCStreamHandler? = nil, id: Int = 0) {
        if let stream { streams[ObjectIdentifier(stream)] = stream }
        connectionHandler?.streamOpened(id: id)
    }

    func streamClosed(_ stream: GRPCStreamHandler? = nil) {
        if let stream {
            streams[ObjectIdentifier(stream)] = nil
            if let index = waitingHandOver.firstIndex(where: { $0 === stream }) { waitingHandOver.remove(at: index) }
            turnEnded(by: stream)
        }
        connectionHandler?.streamClosed()
    }

    /// Ends every open stream's running call with `error` (its answer is written before the connection closes).
    func cutOffStreams(_ error: RPCError) {
        for stream in streams.values { stream.cutOff(error) }
    }

    /// As on the native protocol, a connection whose calls keep failing UNAUTHENTICATED is closed after
    /// `maxUnauthenticatedCalls` of them (GOAWAY, then close).
    func unauthenticatedCallFinished() {
        connectionHandler?.unauthenticatedCallFinished()
    }

    /// Whether the connection answered its last UNAUTHENTICATED call: its streams answer nothing more. Streams opened
    /// together all ran before the close took effect, and a key-guesser sending a hundred in one write got 6 to 14
    /// answers where the limit is 3.
    var unauthenticatedLimitReached: Bool {
        connectionHandler?.unauthenticatedLimitReached ?? false
    }
}

/// Behind the connection's `NIOHTTP2Handler`, the connection's rules in time, as the native protocol has them
/// (PROTOCOL.md §19.3), decided by `GRPCConnectionStateMachine` and carried out here. Drains are graceful as gRPC's
/// servers make them: GOAWAY for every stream and a PING, then, once the PING is answered, GOAWAY naming the last
/// stream, so that a request already on its way is served rather than lost. GOAWAY and drain on
/// `GracefulShutdownEvent`; after `maxConnectionAge` (±10 % jitter) GOAWAY, the open streams get
/// `maxConnectionAgeGrace`; GOAWAY and close once no stream was open for `idleTimeout`; a PING every keepalive
/// interval, and GOAWAY and close when its ACK does not come within the keepalive timeout; close once the client's
/// GOAWAY came and its streams are done. And the limits a hostile client meets: GOAWAY and close when the client's
/// SETTINGS do not come within the handshake timeout, when it PINGs too often (the ping policy, with gRPC's exemption
/// for PINGs after an answer), and when the connection stays unwritable for the unwritable timeout.
final class GRPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let shared: GRPCConnectionState
    private let configuration: ServerConfiguration
    private let metrics: ServerMetrics?
    private var state: GRPCConnectionStateMachine
    private var context: ChannelHandlerContext?
    private var loopBound: NIOLoopBound<GRPCConnectionHandler>?
    private var graceTimer: Scheduled<Void>?
    private var ageTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var keepaliveTask: RepeatedTask?
    private var pingTimeout: Scheduled<Void>?
    private var drainPingTimeout: Scheduled<Void>?
    private var handshakeTimer: Scheduled<Void>?
    /// The handshake timeout, less the time the keyless pacer held the client's bytes back.
    private var handshakeDeadline: HandshakeDeadline
    private var unwritableTimer: Scheduled<Void>?
    private var timersStarted = false
    /// When the connection became active (before protocol detection), for the handshake timeout.
    private let connectedAt: NIODeadline?
    private let refusal: GRPCConnectionStateMachine.Cause?

    /// - Parameter refusal: the connection is refused at once (`GRPCConnectionStateMachine.refuse`).
    init(
        state: GRPCConnectionState, configuration: ServerConfiguration, metrics: ServerMetrics? = nil, connectedAt: NIODeadline? = nil,
        refusal: GRPCConnectionStateMachine.Cause? = nil
    ) {
        self.refusal = refusal
        self.shared = state
        self.configuration = configuration
        self.metrics = metrics
        self.connectedAt = connectedAt
        self.handshakeDeadline = HandshakeDeadline(timeout: configuration.handshakeTimeout)
        self.state = GRPCConnectionStateMachine(
            maxUnauthenticatedCalls: configuration.maxUnauthenticatedCalls, pingPolicy: configuration.pingPolicy)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        shared.connectionHandler = self
        if let address = context.channel.remoteAddress { shared.peer = "\(address.ipAddress ?? "?"):\(address.port ?? 0)" }
        if context.channel.isActive { startTimers(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimers(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.channelClosed()
        cancelTimers()
        shared.failureLogBudget.closeReportingToServer()
        context.fireChannelInactive()
    }

    /// Breaks the cycles through `context` and `loopBound`.
    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
        loopBound = nil
    }

    private func cancelTimers() {
        for timer in [graceTimer, ageTimer, idleTimer, pingTimeout, drainPingTimeout, handshakeTimer, unwritableTimer] { timer?.cancel() }
        keepaliveTask?.cancel()
        (graceTimer, ageTimer, idleTimer, pingTimeout, drainPingTimeout, keepaliveTask) = (nil, nil, nil, nil, nil, nil)
        (handshakeTimer, unwritableTimer) = (nil, nil)
    }

    /// The handshake timer fired: moved by the time the keyless pacer held the client's bytes, else the timeout.
    private func handshakeTimedOut(_ timeout: Duration) {
        handshakeTimer = nil
        if let context, let loopBound, !state.settingsReceived,
            let more = handshakeDeadline.postponement(for: context.pipeline.syncOperations, at: context.eventLoop.now)
        {
            handshakeTimer = context.eventLoop.scheduleTask(in: more) { loopBound.value.handshakeTimedOut(timeout) }
            return
        }
        perform(state.handshakeTimedOut(after: timeout))
    }

    private func startTimers(_ context: ChannelHandlerContext) {
        guard !timersStarted, let loopBound else { return }
        timersStarted = true
        if let refusal { return perform(state.refuse(refusal)) }
        if !state.settingsReceived {
            let timeout = configuration.handshakeTimeout
            handshakeTimer = context.eventLoop.scheduleTask(deadline: (connectedAt ?? context.eventLoop.now) + TimeAmount(timeout)) {
                loopBound.value.handshakeTimedOut(timeout)
            }
        }
        if let age = configuration.maxConnectionAge {
            let jittered = age * Double.random(in: 0.9...1.1)
            let grace = TimeAmount(configuration.maxConnectionAgeGrace)
            let eventLoop = context.eventLoop
            ageTimer = context.eventLoop.scheduleTask(in: TimeAmount(jittered)) {
                let handler = loopBound.value
                handler.ageTimer = nil
                handler.perform(handler.state.drain(.maxConnectionAge, graceDeadline: eventLoop.now + grace, opaque: Self.opaque()))
            }
        }
        if let interval = configuration.keepalive.interval {
            keepaliveTask = context.eventLoop.scheduleRepeatedTask(initialDelay: TimeAmount(interval), delay: TimeAmount(interval)) { _ in
                loopBound.value.keepaliveDue()
            }
        }
        if state.openStreams == 0 { perform(.startIdleClock) }
    }

    // MARK: Events

    func streamOpened(id: Int) { perform(state.streamOpened(id: id)) }

    func streamClosed() { perform(state.streamClosed()) }

    func unauthenticatedCallFinished() {
        perform(state.unauthenticatedCallFinished(graceDeadline: .now() + Self.unauthenticatedLimitGrace))
    }

    /// How long calls still running when the connection reaches its UNAUTHENTICATED limit may take to finish: calls
    /// with a valid key mixed into a key-guesser's connection; those still running then are answered UNAVAILABLE.
    static let unauthenticatedLimitGrace = TimeAmount.seconds(1)

    var unauthenticatedLimitReached: Bool { state.unauthenticatedLimitReached }

    private func keepaliveDue() {
        guard let context, let loopBound else { return }
        let opaque = Self.opaque()
        guard state.keepaliveDue(opaque: opaque) else { return }
        pingTimeout = context.eventLoop.scheduleTask(in: TimeAmount(configuration.keepalive.timeout)) {
            let handler = loopBound.value
            handler.pingTimeout = nil
            handler.perform(handler.state.keepaliveTimedOut())
        }
        context.writeAndFlush(wrapOutboundOut(Self.ping(opaque)), promise: nil)
    }

    private static func opaque() -> UInt64 { .random(in: 1...UInt64.max) }

    private static func ping(_ opaque: UInt64) -> HTTP2Frame {
        HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: opaque), ack: false))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data).payload {
        case .settings(.settings):
            if state.clientSettingsReceived() {
                handshakeTimer?.cancel()
                handshakeTimer = nil
            }
        case .ping(_, ack: false):
            perform(state.pingReceived(at: context.eventLoop.now, answeredSincePrevious: shared.takeAnsweredSincePing()))
        case .ping(let ping, ack: true):
            if state.pingAcknowledged(ping.integer) {
                pingTimeout?.cancel()
                pingTimeout = nil
            } else {
                perform(state.drainPingAnswered(ping.integer))
            }
        case .goAway:
            perform(state.peerGoAwayReceived())
        default:
            break
        }
        context.fireChannelRead(data)
    }

    /// An error from swift-nio-http2 or the socket. After a connection error swift-nio-http2 has sent GOAWAY with the
    /// error's code and stops parsing, but it neither closes the connection nor stops reading it, so every byte the
    /// client went on sending would stay in its frame decoder: the connection closes, counted as
    /// `http2_connection_error`. As grpc-swift's server does, so does any other error the client caused, except a
    /// `StreamError` (only its stream is reset) and `NoSuchStream` once the server's GOAWAY is out (a stream the
    /// client opened as the GOAWAY crossed it; swift-nio-http2 issue 466). A socket error closes it uncounted.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is NIOHTTP2Errors.StreamError: return
        case is NIOHTTP2Errors.NoSuchStream where state.phase != .active: return
        default: break
        }
        let action = state.connectionErrorCaught()
        if action == .close, error is any NIOHTTP2Error { metrics?.rejected(.http2ConnectionError) }
        perform(action)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { perform(state.inputClosed()) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        perform(state.writabilityChanged(writable: context.channel.isWritable))
        context.fireChannelWritabilityChanged()
        shared.socketWritabilityChanged(writable: context.channel.isWritable)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let shutdown = event as? GracefulShutdownEvent else { return context.triggerUserOutboundEvent(event, promise: promise) }
        promise?.succeed()
        perform(state.drain(.shutdown, graceDeadline: shutdown.deadline, opaque: Self.opaque()))
    }

    // MARK: Actions

    private func perform(_ action: GRPCConnectionStateMachine.Action) {
        guard let context, let loopBound else { return }
        switch action {
        case .none:
            break
        case .startIdleClock:
            guard let timeout = configuration.idleTimeout else { return }
            idleTimer?.cancel()
            idleTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                let handler = loopBound.value
                handler.idleTimer = nil
                handler.perform(handler.state.idleTimeoutFired(opaque: Self.opaque()))
            }
        case .stopIdleClock:
            idleTimer?.cancel()
            idleTimer = nil
        case .startUnwritableClock:
            guard let timeout = configuration.unwritableTimeout else { return }
            unwritableTimer?.cancel()
            unwritableTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                let handler = loopBound.value
                handler.unwritableTimer = nil
                handler.perform(handler.state.unwritableTimedOut(after: timeout))
            }
        case .stopUnwritableClock:
            unwritableTimer?.cancel()
            unwritableTimer = nil
        case .goAway(let cause, let lastStreamID, let close, let graceDeadline):
            idleTimer?.cancel()
            idleTimer = nil
            if let rejection = cause.rejection { metrics?.rejected(rejection) }
            let last = lastStreamID.map { HTTP2StreamID($0) } ?? .maxID
            context.writeAndFlush(wrapOutboundOut(goAway(cause, lastStreamID: last, context)), promise: nil)
            if close {
                closeSoon(context)
            } else if let graceDeadline {
                startGraceTimer(graceDeadline, context, loopBound)
            }
        case .goAwayAndPing(let cause, let opaque, let graceDeadline):
            idleTimer?.cancel()
            idleTimer = nil
            if let rejection = cause.rejection { metrics?.rejected(rejection) }
            context.write(wrapOutboundOut(goAway(cause, lastStreamID: .maxID, context)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(Self.ping(opaque)), promise: nil)
            drainPingTimeout = context.eventLoop.scheduleTask(in: TimeAmount(configuration.keepalive.timeout)) {
                let handler = loopBound.value
                handler.drainPingTimeout = nil
                handler.perform(handler.state.drainPingTimedOut())
            }
            if let graceDeadline { startGraceTimer(graceDeadline, context, loopBound) }
        case .finalGoAway(let cause, let lastStreamID, let close):
            drainPingTimeout?.cancel()
            drainPingTimeout = nil
            context.writeAndFlush(wrapOutboundOut(goAway(cause, lastStreamID: HTTP2StreamID(lastStreamID), context)), promise: nil)
            if close { closeSoon(context) }
        case .refuse(let cause):
            if let rejection = cause.rejection { metrics?.rejected(rejection) }
            context.writeAndFlush(wrapOutboundOut(goAway(cause, lastStreamID: 0, context)), promise: nil)
            closeSoon(context)
        case .close:
            closeSoon(context)
        case .cutOffAndClose(let cause):
            shared.cutOffStreams(RPCError(code: .unavailable, message: cause.cutOff))
            closeSoon(context)
        }
    }

    private func goAway(
        _ cause: GRPCConnectionStateMachine.Cause, lastStreamID: HTTP2StreamID, _ context: ChannelHandlerContext
    )
        -> HTTP2Frame
    {
        var debugData = context.channel.allocator.buffer(capacity: cause.goAwayMessage.utf8.count)
        debugData.writeString(cause.goAwayMessage)
        return HTTP2Frame(
            streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: cause.errorCode, opaqueData: debugData))
    }

    private func startGraceTimer(
        _ deadline: NIODeadline, _ context: ChannelHandlerContext, _ loopBound: NIOLoopBound<GRPCConnectionHandler>
    ) {
        graceTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let handler = loopBound.value
            handler.graceTimer = nil
            handler.perform(handler.state.graceExpired())
        }
    }

    /// Closes once what is written has gone out (the last answer's trailers are flushed by then).
    private func closeSoon(_ context: ChannelHandlerContext) {
        let channel = context.channel
        context.eventLoop.execute { channel.close(promise: nil) }
    }
}

extension GRPCConnectionStateMachine.Cause {
    /// The GOAWAY's error code: ENHANCE_YOUR_CALM for a client that pings too often, as gRPC's servers send it,
    /// reads none of its answers (as native, §12), or comes while the server is over its inbound budget; PROTOCOL_ERROR for one that never completed its preface, as the native protocol's (§2.3).
    var errorCode: HTTP2ErrorCode {
        switch self {
        case .tooManyPings, .slowReader, .overloaded: .enhanceYourCalm
        case .handshakeTimeout: .protocolError
        default: .noError
        }
    }
}

/// One call's handler from its start until it returns, on the connection's event loop. Once the call's stream is gone
/// while the handler still runs, it counts in its connection's `endedCallsRunning` until it returns.
final class GRPCHandlerLife {
    private let connection: GRPCConnectionState
    private var running = true
    private var counted = false

    init(connection: GRPCConnectionState) { self.connection = connection }

    /// The call's stream closed (its place in HTTP/2's concurrency count is free).
    func streamGone() {
        guard running, !counted else { return }
        counted = true
        connection.endedCallStarted()
    }

    /// The handler's task returned.
    func returned() {
        running = false
        guard counted else { return }
        counted = false
        connection.endedCallReturned()
    }
}

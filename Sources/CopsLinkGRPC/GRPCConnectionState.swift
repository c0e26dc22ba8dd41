import CopsLinkCore
import CopsLinkTransport
import NIOCore
import NIOHTTP2

/// What the streams of one gRPC connection share: the peer's address, call ids, the failed-call log budget, the count
/// of calls refused UNAUTHENTICATED and of open streams. Used on the connection's event loop only (its stream
/// channels share it), by `GRPCStreamHandler` and `GRPCConnectionHandler`.
final class GRPCConnectionState {
    var peer = "?"
    let failureLogBudget: FailureLogBudget
    private let maxUnauthenticatedCalls: Int
    private var callIDs: UInt64 = 0
    private var unauthenticatedCalls = 0
    private(set) var openStreams = 0
    /// The connection's own handler: told when the last stream closes while draining, or when it must close.
    weak var connectionHandler: GRPCConnectionHandler?

    init(configuration: ServerConfiguration) {
        failureLogBudget = FailureLogBudget(burst: configuration.failedCallLogBurst, perSecond: configuration.failedCallLogPerSecond)
        maxUnauthenticatedCalls = configuration.maxUnauthenticatedCalls
    }

    func nextCallID() -> UInt64 {
        callIDs &+= 1
        return callIDs
    }

    func streamOpened() {
        openStreams += 1
        if openStreams == 1 { connectionHandler?.firstStreamOpened() }
    }

    func streamClosed() {
        openStreams -= 1
        if openStreams == 0 { connectionHandler?.lastStreamClosed() }
    }

    /// As on the native protocol, a connection whose calls keep failing UNAUTHENTICATED is closed after
    /// `maxUnauthenticatedCalls` of them (GOAWAY, then close).
    func unauthenticatedCallFinished() {
        unauthenticatedCalls += 1
        if maxUnauthenticatedCalls > 0, unauthenticatedCalls >= maxUnauthenticatedCalls { connectionHandler?.drain(deadline: nil) }
    }
}

/// Behind the connection's `NIOHTTP2Handler`, the connection's rules in time, as the native protocol has them
/// (PROTOCOL.md §19.3): GOAWAY and drain on `GracefulShutdownEvent`; after `maxConnectionAge` (±10 % jitter) GOAWAY,
/// the open streams get `maxConnectionAgeGrace`; GOAWAY and close once no stream was open for `idleTimeout`; a PING
/// every keepalive interval, and GOAWAY and close when its ACK does not come within the keepalive timeout.
final class GRPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let state: GRPCConnectionState
    private let configuration: ServerConfiguration
    private var context: ChannelHandlerContext?
    private var draining = false
    private var graceTimer: Scheduled<Void>?
    private var ageTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var keepaliveTask: RepeatedTask?
    private var pingTimeout: Scheduled<Void>?
    /// The opaque data of the PING waiting for its ACK.
    private var pingInFlight: UInt64?

    init(state: GRPCConnectionState, configuration: ServerConfiguration) {
        self.state = state
        self.configuration = configuration
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        state.connectionHandler = self
        if let address = context.channel.remoteAddress { state.peer = "\(address.ipAddress ?? "?"):\(address.port ?? 0)" }
        if context.channel.isActive { startTimers(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimers(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        for timer in [graceTimer, ageTimer, idleTimer, pingTimeout] { timer?.cancel() }
        keepaliveTask?.cancel()
        graceTimer = nil
        ageTimer = nil
        idleTimer = nil
        pingTimeout = nil
        keepaliveTask = nil
        self.context = nil
    }

    private func startTimers(_ context: ChannelHandlerContext) {
        guard ageTimer == nil, keepaliveTask == nil, idleTimer == nil else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        if let age = configuration.maxConnectionAge {
            let jittered = age * Double.random(in: 0.9...1.1)
            let grace = configuration.maxConnectionAgeGrace
            ageTimer = context.eventLoop.scheduleTask(in: TimeAmount(jittered)) {
                let handler = loopBound.value
                handler.drain(deadline: handler.context.map { $0.eventLoop.now + TimeAmount(grace) })
            }
        }
        if let interval = configuration.keepalive.interval {
            keepaliveTask = context.eventLoop.scheduleRepeatedTask(initialDelay: TimeAmount(interval), delay: TimeAmount(interval)) { _ in
                loopBound.value.sendPing()
            }
        }
        if state.openStreams == 0 { armIdleTimer() }
    }

    func firstStreamOpened() {
        idleTimer?.cancel()
        idleTimer = nil
    }

    /// No stream is open: the idle time starts.
    private func armIdleTimer() {
        guard let timeout = configuration.idleTimeout, !draining, let context else { return }
        idleTimer?.cancel()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            let handler = loopBound.value
            handler.idleTimer = nil
            guard handler.state.openStreams == 0 else { return }
            handler.drain(deadline: nil)
        }
    }

    private func sendPing() {
        guard pingInFlight == nil, let context else { return }
        let opaque = UInt64.random(in: 1...UInt64.max)
        pingInFlight = opaque
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        pingTimeout = context.eventLoop.scheduleTask(in: TimeAmount(configuration.keepalive.timeout)) {
            // No ACK: the peer (or the path to it) is gone. GOAWAY for the record, then close at once.
            loopBound.value.drain(deadline: nil)
        }
        let ping = HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: opaque), ack: false))
        context.writeAndFlush(wrapOutboundOut(ping), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if case .ping(let ping, ack: true) = frame.payload, let opaque = pingInFlight, ping.integer == opaque {
            pingInFlight = nil
            pingTimeout?.cancel()
            pingTimeout = nil
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let shutdown = event as? GracefulShutdownEvent else { return context.triggerUserOutboundEvent(event, promise: promise) }
        promise?.succeed()
        drain(deadline: shutdown.deadline)
    }

    /// GOAWAY (no new streams), then close when the open streams are done, or at `deadline` (at once when nil, once
    /// what is written has gone out).
    func drain(deadline: NIODeadline?) {
        guard !draining, let context else { return }
        draining = true
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(goAway), promise: nil)
        if let deadline {
            let channel = context.channel
            graceTimer = context.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
        }
        if state.openStreams == 0 || deadline == nil { closeSoon() }
    }

    func lastStreamClosed() {
        if draining { closeSoon() } else { armIdleTimer() }
    }

    /// Closes once what is written has gone out (the last answer's trailers are flushed by then).
    private func closeSoon() {
        guard let context else { return }
        let channel = context.channel
        context.eventLoop.execute { channel.close(promise: nil) }
    }
}

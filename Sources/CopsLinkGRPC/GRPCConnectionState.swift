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

    func streamOpened() { openStreams += 1 }

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

/// Behind the connection's `NIOHTTP2Handler`: drains on `GracefulShutdownEvent` (GOAWAY, close once the open streams
/// are done, or at the deadline) and closes an idle connection after `idleTimeout`.
final class GRPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let state: GRPCConnectionState
    private var context: ChannelHandlerContext?
    private var draining = false
    private var graceTimer: Scheduled<Void>?

    init(state: GRPCConnectionState) {
        self.state = state
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        state.connectionHandler = self
        if let address = context.channel.remoteAddress { state.peer = "\(address.ipAddress ?? "?"):\(address.port ?? 0)" }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        graceTimer?.cancel()
        graceTimer = nil
        self.context = nil
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
        if draining { closeSoon() }
    }

    /// Closes once what is written has gone out (the last answer's trailers are flushed by then).
    private func closeSoon() {
        guard let context else { return }
        let channel = context.channel
        context.eventLoop.execute { channel.close(promise: nil) }
    }
}

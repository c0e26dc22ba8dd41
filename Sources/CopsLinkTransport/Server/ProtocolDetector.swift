import CopsLinkCore
import NIOCore
import NIOTLS

/// The first handler of a connection on a port that speaks several protocols: it holds the first bytes until
/// `ProtocolDetection` names the protocol, installs that protocol's handlers behind itself, hands them the bytes
/// and leaves the pipeline. Bytes of no protocol the port speaks, with the native protocol off, get one readable
/// line and the close. A peer that sends too little to decide within the handshake timeout gets the native
/// protocol's line (`copslink: no preface within <t>; closing`) and is closed; a graceful shutdown closes it at once.
/// Over TLS, a protocol the client and server agreed on by ALPN is installed as soon as the handshake completes,
/// without looking at any byte; without an agreed protocol the bytes decide, as in plaintext.
final class ProtocolDetector: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let enabled: Set<ServerProtocol>
    private let handshakeTimeout: Duration
    /// Counts a connection that timed out before its protocol was known as `handshake_timeout`.
    private let metrics: ServerMetrics?
    private let install: (ServerProtocol, ChannelPipeline.SynchronousOperations, NIODeadline) throws -> Void
    private var buffered: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var deadline: HandshakeDeadline
    private var decided = false

    /// When the connection became active; the native handshake timeout counts from then.
    private var connectedAt: NIODeadline?

    /// - Parameter install: adds the chosen protocol's handlers at the end of the pipeline (behind this one), given
    ///   when the connection became active.
    init(
        enabled: Set<ServerProtocol>, handshakeTimeout: Duration, metrics: ServerMetrics? = nil,
        install: @escaping (ServerProtocol, ChannelPipeline.SynchronousOperations, NIODeadline) throws -> Void
    ) {
        self.enabled = enabled
        self.handshakeTimeout = handshakeTimeout
        self.deadline = HandshakeDeadline(timeout: handshakeTimeout)
        self.metrics = metrics
        self.install = install
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func startTimer(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        connectedAt = context.eventLoop.now
        schedule(in: TimeAmount(handshakeTimeout), context)
    }

    private func schedule(in delay: TimeAmount, _ context: ChannelHandlerContext) {
        let timeout = handshakeTimeout
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: delay) {
            let (detector, context) = loopBound.value
            detector.timedOut(context, timeout)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !decided else { return context.fireChannelRead(data) }
        if buffered == nil {
            buffered = bytes
        } else {
            buffered!.writeBuffer(&bytes)
        }
        switch ProtocolDetection.decide(buffered!.readableBytesView, enabled: enabled) {
        case .needMoreBytes: return
        case .detected(let chosen): choose(chosen, context: context)
        case .notServed: refuseUnserved(context)
        }
    }

    /// Bytes of no protocol this port speaks, with the native protocol off: one readable line, then the close.
    private func refuseUnserved(_ context: ChannelHandlerContext) {
        decided = true
        timer?.cancel()
        timer = nil
        buffered = nil
        metrics?.rejected(.badPreface)
        let line = context.channel.allocator.buffer(string: ProtocolDetection.notServedLine(enabled: enabled))
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(line)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// ALPN: the TLS handler reports the protocol both sides agreed on, before any application byte.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !decided, case .handshakeCompleted(let negotiated?) = event as? TLSUserEvent,
            let chosen = ServerProtocol(alpnIdentifier: negotiated), enabled.contains(chosen)
        {
            context.fireUserInboundEventTriggered(event)
            return choose(chosen, context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Installs `chosen` behind this handler, hands it the bytes held so far, and leaves the pipeline.
    private func choose(_ chosen: ServerProtocol, context: ChannelHandlerContext) {
        decided = true
        timer?.cancel()
        timer = nil
        do {
            try install(chosen, context.pipeline.syncOperations, connectedAt ?? context.eventLoop.now)
        } catch {
            context.close(promise: nil)
            return
        }
        if let first = buffered {
            buffered = nil
            context.fireChannelRead(wrapInboundOut(first))
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func timedOut(_ context: ChannelHandlerContext, _ timeout: Duration) {
        guard !decided else { return }
        if let more = deadline.postponement(for: context.pipeline.syncOperations, at: context.eventLoop.now) {
            return schedule(in: more, context)
        }
        decided = true
        timer = nil
        metrics?.rejected(.handshakeTimeout)
        var line = context.channel.allocator.buffer(capacity: 64)
        line.writeString("copslink: no preface within \(timeout.secondsText); closing\n")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(line)).whenComplete { _ in channel.close(promise: nil) }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is GracefulShutdownEvent, !decided {
            decided = true
            promise?.succeed()
            context.close(promise: nil)
            return
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }
}

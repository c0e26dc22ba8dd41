import CopsLinkMessages
import CopsLinkCore
import CopsLinkWire
import NIOCore

/// The client side of one connection: preface, SETTINGS, call slots, flow control, pings, GOAWAY. Event-loop bound.
///
/// Calls beyond the server's max concurrent calls wait here, in order, within their deadlines; the queue is
/// bounded by `ClientConfiguration.maxQueuedCalls`.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A call waiting for a slot, with the frames its task has handed over meanwhile.
    private struct PendingCall {
        let call: ClientCall
        var frames: [ByteBuffer]
    }

    private enum Phase { case connecting, ready, draining, closed }

    let configuration: ClientConfiguration
    private let ready: EventLoopPromise<PeerLimits>
    private let state: ConnectionState

    private var context: ChannelHandlerContext!
    private var loopBound: NIOLoopBound<ClientConnectionHandler>!
    private var phase = Phase.connecting
    private var reader: FrameReader
    private var serverLimits = PeerLimits(SettingsHeader())
    /// Calls holding a slot, by id; a call's `loop.id` is set exactly while it is here.
    private var active: [UInt64: ClientCall] = [:]
    private var pending: [PendingCall] = []
    private var nextCallID: UInt64 = 1
    private var keepalive: Keepalive
    private var flusher = FlushCoalescer()

    init(configuration: ClientConfiguration, ready: EventLoopPromise<PeerLimits>, state: ConnectionState) {
        self.configuration = configuration
        self.ready = ready
        self.state = state
        self.keepalive = Keepalive(configuration: configuration.keepalive)
        self.reader = FrameReader(FrameDecoder(limits: configuration.limits.frameLimits, expectsPreface: false))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
    }

    /// Breaks the handler's reference cycles (its context and `loopBound` both hold it), which kept every closed
    /// connection's handler, context and pipeline in memory: the leak the fuzz-connection fuzzer found in
    /// ServerConnectionHandler, present here in the same form (FUZZING.md). `channelInactive` has already failed
    /// every call and stopped the keepalive, so later calls from tasks find nothing to do; `flushScheduledWrites`,
    /// the one that would touch the context, checks for it.
    func handlerRemoved(context: ChannelHandlerContext) {
        phase = .closed
        self.context = nil
        self.loopBound = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        Preface.write(to: &buffer)
        buffer.writeFrame(.settings, header: configuration.limits.settingsHeader, payload: NoMessage.payload)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let reason = phase == .draining
            ? "the server closed the connection after GOAWAY"
            : "the connection to the server closed"
        failEverything(RPCError(code: .unavailable, message: reason))
        context.fireChannelInactive()
    }

    // MARK: Starting calls

    /// Starts `call` now if a slot is free, otherwise queues it (bounded) until one is.
    func start(_ call: ClientCall, requestFrame: consuming ByteBuffer, timeout: Duration?, endsStream: Bool) {
        guard phase == .ready else {
            call.markNeverProcessed()
            call.complete(.failure(RPCError(
                code: .unavailable, message: "the connection is \(phase == .draining ? "draining after GOAWAY" : "closed"); retry the call")))
            return
        }
        if let timeout {
            let loopBound = self.loopBound!
            call.loop.deadline = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                loopBound.value.cancel(call, RPCError(code: .deadlineExceeded, message: "the call's deadline of \(timeout.secondsText) passed"))
            }
        }
        if active.count < serverLimits.maxConcurrentCalls {
            writeFrame(consume requestFrame, id: activate(call))
        } else if pending.count < configuration.maxQueuedCalls {
            pending.append(PendingCall(call: call, frames: [consume requestFrame]))
        } else {
            call.loop.deadline?.cancel()
            call.complete(.failure(RPCError(
                code: .resourceExhausted,
                message: "client call queue is full: \(configuration.maxQueuedCalls) calls are waiting for one of the server's \(serverLimits.maxConcurrentCalls) call slots")))
        }
    }

    /// Gives `call` the next call id and a slot; returns the id.
    private func activate(_ call: ClientCall) -> UInt64 {
        let id = nextCallID
        nextCallID += 1
        call.loop.id = id
        active[id] = call
        return id
    }

    /// Takes `call` out of its slot; false if it held none.
    private func deactivate(_ call: ClientCall) -> Bool {
        guard let id = call.loop.id else { return false }
        call.loop.id = nil
        call.loop.deadline?.cancel()
        active.removeValue(forKey: id)
        return true
    }

    private func promotePending() {
        while phase == .ready, active.count < serverLimits.maxConcurrentCalls, !pending.isEmpty {
            let next = pending.removeFirst()
            let id = activate(next.call)
            for frame in next.frames { writeFrame(frame, id: id) }
        }
    }

    func writeCallFrame(_ frame: ByteBuffer, for call: ClientCall, endsStream: Bool = false) {
        if let id = call.loop.id {
            writeFrame(frame, id: id)
        } else if let index = pending.firstIndex(where: { $0.call === call }) {
            pending[index].frames.append(frame)
        }
    }

    func grantCredit(_ increment: Int, for call: ClientCall) {
        guard let id = call.loop.id else { return }
        call.loop.receiveWindow.granted(increment)
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize + 8)
        buffer.writeFrame(.windowUpdate, callID: id, header: WindowUpdateHeader(increment: UInt32(increment)), payload: NoMessage.payload)
        write(buffer)
    }

    /// Ends `call` locally with `error` (deadline, task cancellation); tells the server with CANCEL if it had started.
    func cancel(_ call: ClientCall, _ error: RPCError) {
        if let id = call.loop.id, deactivate(call) {
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeFrame(.cancel, callID: id, header: CancelHeader(reason: error.message), payload: NoMessage.payload)
            write(buffer)
            promotePending()
        } else if let index = pending.firstIndex(where: { $0.call === call }) {
            pending.remove(at: index)
            call.loop.deadline?.cancel()
        }
        call.complete(.failure(error))
        closeIfDrained()
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard phase != .closed else { return }
        flusher.readStarted()
        reader.append(unwrapInboundIn(data))
        do {
            while phase != .closed, let inbound = try reader.next() {
                if case .frame(let frame) = inbound { handle(frame) }  // a client's reader expects no preface
            }
        } catch {
            wireErrorCaught(error)
        }
    }

    private func handle(_ frame: Frame) {
        switch frame.type {
        case .settings: handleSettings(frame)
        case .end: handleEnd(frame)
        case .message: handleMessage(frame)
        case .windowUpdate: handleWindowUpdate(frame)
        case .ping: handlePing(frame)
        case .goAway: handleGoAway(frame)
        case .request, .cancel: protocolViolation("\(frame.type) frames are sent by clients only")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if flusher.readCompleted() { context.flush() }
        context.fireChannelReadComplete()
    }

    private func handleSettings(_ frame: Frame) {
        guard !frame.flags.contains(.ack) else { return }
        guard let settings = decodeHeader(SettingsHeader.self, frame) else { return }
        if let violation = PeerLimits.violation(in: settings) { return protocolViolation("the server broke the protocol: \(violation)") }
        serverLimits = PeerLimits(settings)
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize)
        buffer.writeFrame(.settings, flags: .ack, header: NoMessage.header, payload: NoMessage.payload)
        write(buffer)
        if phase == .connecting {
            phase = .ready
            ready.succeed(serverLimits)
            let loopBound = self.loopBound!
            keepalive.start(on: context.eventLoop) { _ in loopBound.value.keepaliveTick() }
        } else {
            promotePending()
        }
    }

    private func handleEnd(_ frame: Frame) {
        guard let header = decodeHeader(EndHeader.self, frame) else { return }
        guard let call = active[frame.callID] else {
            if frame.callID >= nextCallID { protocolViolation("END for call \(frame.callID), which was never opened") }
            return
        }
        _ = deactivate(call)
        if frame.flags.contains(.hasMessage), header.statusCode == 0 {
            call.credit.inboundQueued()
            call.responses.push(.message(frame.payload))
        }
        call.complete(header.result, deliveringBuffered: true)
        promotePending()
        closeIfDrained()
    }

    private func handleMessage(_ frame: Frame) {
        guard let call = active[frame.callID] else {
            if frame.callID >= nextCallID { protocolViolation("MESSAGE for call \(frame.callID), which was never opened") }
            return
        }
        guard frame.flags.contains(.hasMessage) else { return protocolViolation("MESSAGE from the server without a message") }
        guard call.loop.receiveWindow.receive(frame.payload.readableBytes) else {
            return protocolViolation("call \(frame.callID) received \(frame.payload.readableBytes) bytes, more than its flow-control window")
        }
        call.credit.inboundQueued()
        call.responses.push(.message(frame.payload))
    }

    private func handleWindowUpdate(_ frame: Frame) {
        guard let update = decodeHeader(WindowUpdateHeader.self, frame) else { return }
        guard let call = active[frame.callID] else {
            if frame.callID >= nextCallID { protocolViolation("WINDOW_UPDATE for call \(frame.callID), which was never opened") }
            return
        }
        guard call.credit.add(Int(update.increment)) else {
            return protocolViolation("WINDOW_UPDATE overflows the flow-control window of call \(frame.callID) past 2^31-1")
        }
    }

    private func handlePing(_ frame: Frame) {
        guard frame.payload.readableBytes == 8 else { return protocolViolation("PING payload must be 8 bytes") }
        if frame.flags.contains(.ack) {
            keepalive.acknowledged(frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt64.self)!)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize + 8)
        buffer.writeFrame(.ping, flags: .ack, rawPayload: frame.payload)
        write(buffer)
    }

    private func handleGoAway(_ frame: Frame) {
        guard let goAway = decodeHeader(GoAwayHeader.self, frame) else { return }
        if phase == .connecting {
            ready.fail(RPCError(code: .unavailable, message: "the server refused the connection: \(goAway.message)"))
        }
        phase = .draining
        state.stopAcceptingCalls()
        let error = RPCError(
            code: .unavailable,
            message: "the server is going away (\(goAway.message)); the call was not processed and is safe to retry")
        for (id, call) in active where id > goAway.lastCallID {
            _ = deactivate(call)
            call.markNeverProcessed()
            call.complete(.failure(error))
        }
        let waiting = pending
        pending.removeAll()
        for entry in waiting {
            entry.call.loop.deadline?.cancel()
            entry.call.markNeverProcessed()
            entry.call.complete(.failure(error))
        }
        closeIfDrained()
    }

    private func decodeHeader<Header: ProtobufCCodable>(_ type: Header.Type, _ frame: Frame) -> Header? {
        frame.decodeHeader(type) { protocolViolation($0) }
    }

    // MARK: Keepalive and errors

    private func keepaliveTick() {
        guard phase == .ready || phase == .draining else { return }
        let loopBound = self.loopBound!
        guard let opaque = keepalive.nextPing(on: context.eventLoop, onTimeout: { loopBound.value.keepaliveTimedOut() }) else { return }
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize + 8)
        buffer.writeFrame(.ping, rawPayload: .pingPayload(opaque))
        write(buffer)
    }

    private func keepaliveTimedOut() {
        failEverything(RPCError(
            code: .unavailable,
            message: "the server did not answer a keepalive PING within \(configuration.keepalive.timeout.secondsText); the connection is considered dead"))
        context.close(promise: nil)
    }

    /// An I/O or TLS error; the byte stream's own violations are handled where the frames are read.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failEverything(RPCError(code: .unavailable, message: "connection error: \(error)"))
        context.close(promise: nil)
    }

    private func wireErrorCaught(_ wireError: WireError) {
        if case .frameTooLarge = wireError {
            protocolViolation("the server broke the protocol: \(wireError)", code: .frameTooLarge)
        } else {
            protocolViolation("the server broke the protocol: \(wireError)")
        }
    }

    private func protocolViolation(_ reason: String, code: GoAwayHeader.Code = .protocolError) {
        guard phase != .closed else { return }
        var buffer = context.channel.allocator.buffer(capacity: 128)
        buffer.writeFrame(.goAway, header: GoAwayHeader(lastCallID: 0, code: code, message: reason), payload: NoMessage.payload)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        if phase == .connecting {
            // Before its SETTINGS the peer has not shown it is a CopsLink server (a TLS server, say, answering a
            // plaintext client): no call reached it, so the calls may go elsewhere.
            failEverything(RPCError(
                code: .unavailable, message: "the server does not speak the CopsLink protocol (\(reason)); does it expect TLS?"))
        } else {
            failEverything(RPCError(code: .internalError, message: reason))
        }
        context.close(promise: nil)
    }

    /// Fails every call, active and waiting, and marks the connection unusable.
    private func failEverything(_ error: RPCError) {
        if phase == .connecting { ready.fail(error) }
        phase = .closed
        state.stopAcceptingCalls()
        keepalive.stop()
        let calls = Array(active.values) + pending.map(\.call)
        for call in active.values { _ = deactivate(call) }
        for entry in pending {
            entry.call.loop.deadline?.cancel()
            entry.call.markNeverProcessed()
        }
        pending.removeAll()
        for call in calls { call.complete(.failure(error)) }
    }

    private func closeIfDrained() {
        guard phase == .draining, active.isEmpty, pending.isEmpty else { return }
        phase = .closed
        keepalive.stop()
        context.close(promise: nil)
    }

    // MARK: Writing

    /// Patches the call id into `frame` (encoded with id 0) and writes it. Taken as `consuming` so that the buffer's
    /// only reference is this one and the patch writes in place; a shared buffer would be copied first.
    private func writeFrame(_ frame: consuming ByteBuffer, id: UInt64) {
        var buffer = consume frame
        buffer.setInteger(id, at: buffer.readerIndex + 6)
        write(buffer)
    }

    private func write(_ buffer: ByteBuffer) {
        context.write(wrapOutboundOut(buffer), promise: nil)
        switch flusher.wrote(buffer.readableBytes) {
        case .none: break
        case .flushNow: context.flush()
        case .scheduleFlush:
            let loopBound = self.loopBound!
            context.eventLoop.execute { loopBound.value.flushScheduledWrites() }
        }
    }

    private func flushScheduledWrites() {
        flusher.scheduledFlushRan()
        guard let context else { return }  // the handler was removed (the connection closed) after the flush was queued
        context.flush()
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}

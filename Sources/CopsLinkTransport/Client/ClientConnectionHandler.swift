import CopsLinkCore
import CopsLinkMessages
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

    let configuration: ClientConfiguration
    private let ready: EventLoopPromise<PeerLimits>
    private let connectionState: ConnectionState

    private var context: ChannelHandlerContext!
    private var loopBound: NIOLoopBound<ClientConnectionHandler>!
    /// The connection's rules; the handler performs what they decide.
    private var state: ClientConnectionStateMachine
    private var reader: FrameReader
    /// Calls holding a slot, by id (as many as `state.activeCalls`); a call's `loop.id` is set exactly while it is here.
    private var active: [UInt64: ClientCall] = [:]
    /// Calls waiting for a slot, in order (as many as `state.queuedCalls`).
    private var pending: [PendingCall] = []
    private var keepalive: Keepalive
    private var flusher = FlushCoalescer()

    init(configuration: ClientConfiguration, ready: EventLoopPromise<PeerLimits>, state: ConnectionState) {
        self.configuration = configuration
        self.ready = ready
        self.connectionState = state
        self.state = ClientConnectionStateMachine(maxQueuedCalls: configuration.maxQueuedCalls)
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
        _ = state.failed()
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
        failEverything(RPCError(code: .unavailable, message: state.closedMessage))
        context.fireChannelInactive()
    }

    // MARK: Starting calls

    /// Starts `call` now if a slot is free, otherwise queues it (bounded) until one is.
    func start(_ call: ClientCall, requestFrame: consuming ByteBuffer, timeout: Duration?, endsStream: Bool) {
        let action = state.startRequested()
        if case .fail(let error) = action {
            if error.code == .unavailable { call.markNeverProcessed() }
            return call.complete(.failure(error))
        }
        if let timeout {
            let loopBound = self.loopBound!
            call.loop.deadline = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                loopBound.value.cancel(
                    call, RPCError(code: .deadlineExceeded, message: "the call's deadline of \(timeout.secondsText) passed"))
            }
        }
        switch action {
        case .start(let id):
            activate(call, id: id)
            writeFrame(consume requestFrame, id: id)
        case .queue:
            pending.append(PendingCall(call: call, frames: [consume requestFrame]))
        case .fail:
            break  // handled above, before the deadline timer
        }
    }

    /// Gives `call` its slot under `id`.
    private func activate(_ call: ClientCall, id: UInt64) {
        call.loop.id = id
        active[id] = call
    }

    /// Takes `call` out of its slot; false if it held none.
    private func deactivate(_ call: ClientCall) -> Bool {
        guard let id = call.loop.id else { return false }
        call.loop.id = nil
        call.loop.deadline?.cancel()
        active.removeValue(forKey: id)
        state.activeCallEnded()
        return true
    }

    private func promotePending() {
        while let id = state.nextQueuedCallStarts() {
            let next = pending.removeFirst()
            activate(next.call, id: id)
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
            state.queuedCallRemoved()
            call.loop.deadline?.cancel()
        }
        call.complete(.failure(error))
        closeIfDrained()
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.phase != .closed else { return }
        flusher.readStarted()
        reader.append(unwrapInboundIn(data))
        do {
            while state.phase != .closed, let inbound = try reader.next() {
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
        let first: Bool
        switch state.settingsReceived(settings) {
        case .violation(let message): return protocolViolation(message)
        case .acknowledge(let isFirst): first = isFirst
        }
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize)
        buffer.writeFrame(.settings, flags: .ack, header: NoMessage.header, payload: NoMessage.payload)
        write(buffer)
        if first {
            // New calls keep the frame-size and window values of the first SETTINGS (PROTOCOL.md §2.2).
            ready.succeed(PeerLimits(settings))
            let loopBound = self.loopBound!
            keepalive.start(on: context.eventLoop) { _ in loopBound.value.keepaliveTick() }
        } else {
            promotePending()
        }
    }

    private func handleEnd(_ frame: Frame) {
        guard let header = decodeHeader(EndHeader.self, frame) else { return }
        guard let call = active[frame.callID] else {
            if state.neverOpened(frame.callID) { protocolViolation("END for call \(frame.callID), which was never opened") }
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
            if state.neverOpened(frame.callID) { protocolViolation("MESSAGE for call \(frame.callID), which was never opened") }
            return
        }
        guard frame.flags.contains(.hasMessage) else { return protocolViolation("MESSAGE from the server without a message") }
        guard call.loop.receiveWindow.receive(frame.payload.readableBytes) else {
            return protocolViolation(
                "call \(frame.callID) received \(frame.payload.readableBytes) bytes, more than its flow-control window")
        }
        call.credit.inboundQueued()
        call.responses.push(.message(frame.payload))
    }

    private func handleWindowUpdate(_ frame: Frame) {
        guard let update = decodeHeader(WindowUpdateHeader.self, frame) else { return }
        guard let call = active[frame.callID] else {
            if state.neverOpened(frame.callID) { protocolViolation("WINDOW_UPDATE for call \(frame.callID), which was never opened") }
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
        if state.goAwayReceived() {
            ready.fail(RPCError(code: .unavailable, message: "the server refused the connection: \(goAway.message)"))
        }
        connectionState.stopAcceptingCalls()
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
        for _ in waiting { state.queuedCallRemoved() }
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
        guard state.sendsKeepalive else { return }
        let loopBound = self.loopBound!
        guard let opaque = keepalive.nextPing(on: context.eventLoop, onTimeout: { loopBound.value.keepaliveTimedOut() }) else { return }
        var buffer = context.channel.allocator.buffer(capacity: Frame.minimumEncodedSize + 8)
        buffer.writeFrame(.ping, rawPayload: .pingPayload(opaque))
        write(buffer)
    }

    private func keepaliveTimedOut() {
        failEverything(
            RPCError(
                code: .unavailable,
                message:
                    "the server did not answer a keepalive PING within \(configuration.keepalive.timeout.secondsText); the connection is considered dead"
            ))
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
        guard state.phase != .closed else { return }
        var buffer = context.channel.allocator.buffer(capacity: 128)
        buffer.writeFrame(.goAway, header: GoAwayHeader(lastCallID: 0, code: code, message: reason), payload: NoMessage.payload)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        if state.phase == .connecting {
            // Before its SETTINGS the peer has not shown it is a CopsLink server (a TLS server, say, answering a
            // plaintext client): no call reached it, so the calls may go elsewhere.
            failEverything(
                RPCError(
                    code: .unavailable, message: "the server does not speak the CopsLink protocol (\(reason)); does it expect TLS?"))
        } else {
            failEverything(RPCError(code: .internalError, message: reason))
        }
        context.close(promise: nil)
    }

    /// Fails every call, active and waiting, and marks the connection unusable.
    private func failEverything(_ error: RPCError) {
        if state.failed(because: error.message) { ready.fail(error) }
        connectionState.stopAcceptingCalls()
        keepalive.stop()
        let calls = Array(active.values) + pending.map(\.call)
        for call in active.values {
            call.loop.id = nil
            call.loop.deadline?.cancel()
        }
        active.removeAll()
        for entry in pending {
            entry.call.loop.deadline?.cancel()
            entry.call.markNeverProcessed()
        }
        pending.removeAll()
        for call in calls { call.complete(.failure(error)) }
    }

    private func closeIfDrained() {
        assert(active.count == state.activeCalls && pending.count == state.queuedCalls, "the call tables and the state machine disagree")
        guard state.closesWhenDrained() else { return }
        keepalive.stop()
        context.close(promise: nil)
    }

    // MARK: Writing

    /// Patches the call id into `frame` (encoded with id 0) and writes it. Taken as `consuming` so that the buffer's
    /// only reference is this one and the patch writes in place; a shared buffer would be copied first.
    private func writeFrame(_ frame: consuming ByteBuffer, id: UInt64) {
        var buffer = consume frame
        buffer.setFrameCallID(id)
        write(buffer)
    }

    private func write(_ buffer: ByteBuffer) {
        FlushCoalescer.write(buffer, on: context, decide: { flusher.wrote($0) }) {
            let loopBound = self.loopBound!
            context.eventLoop.execute { loopBound.value.flushScheduledWrites() }
        }
    }

    /// The flush task queued by `write`: flushes, unless the connection closed after it was queued.
    private func flushScheduledWrites() {
        flusher.scheduledFlushRan()
        context?.flush()
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}

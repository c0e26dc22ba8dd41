import CopsLinkCore
import CopsLinkTransport
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One gRPC call on one HTTP/2 stream (a child channel of the connection's `NIOHTTP2Handler`), as gRPC's
/// PROTOCOL-HTTP2 specifies: the request HEADERS choose the method and carry metadata, `grpc-timeout` and
/// `grpc-encoding`; DATA frames carry length-prefixed messages; the answer is response HEADERS, DATA and trailers
/// with `grpc-status` / `grpc-message`, or trailers alone for a call refused before it answered anything.
///
/// The call runs through the same `CallDispatcher` as the native protocol (interceptors, auth, handlers). A
/// RST_STREAM from the client closes this channel: the call's task is cancelled, as the native CANCEL does.
///
/// The stream channel does not read on its own (`autoRead` off, `GRPCServer`): this handler reads while its call
/// holds fewer request bytes than the per-call window (`GRPCCall`), so a client that sends faster than the handler
/// takes messages is held back by HTTP/2 flow control. What it holds (a partial message, waiting messages) counts
/// against the server's inbound memory budget and the connection's: a call that starts while the server's is
/// exhausted is refused, and a call whose DATA takes the connection past its limit ends RESOURCE_EXHAUSTED, as a
/// native call whose message would pass it does. A call without `grpc-timeout` (or of a method taking one request,
/// whatever its timeout) whose request stream stays open with no complete message for `requestIdleTimeout` ends
/// DEADLINE_EXCEEDED, as a native call the client sends nothing on.
final class GRPCStreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// How a finished call answers, framed on the event loop.
    enum Final: Sendable {
        case success(message: [UInt8]?, trailers: Metadata)
        case failure(RPCError)
    }

    private enum State {
        /// Waiting for the request HEADERS.
        case idle
        case running(GRPCCall, task: Task<Void, Never>?)
        /// The answer's trailers are sent (or the stream is gone); further frames are dropped.
        case done
    }

    private let dispatcher: CallDispatcher
    private let configuration: ServerConfiguration
    private let connection: GRPCConnectionState
    private let budget: InboundMemoryBudget
    private let budgets: GRPCInboundBudgets
    private let metrics: ServerMetrics?
    /// The running call's series and start, for `copslink_server_calls_*` as on the native protocol.
    private var callMetrics: (MethodMetrics, startedAt: NIODeadline)?
    /// The request's `:path`, for the metrics of a refused call.
    private var requestPath = ""
    private var state = State.idle
    /// The running call's handler until its stream is gone; then only its task keeps it, until it returns.
    private var handlerLife: GRPCHandlerLife?
    /// Bytes of a partial message in `reader`, counted in `budgets`.
    private var readerCounted = 0
    /// Reading stopped because the call holds `queueLimit` bytes; `resumeReading` restarts it.
    private var paused = false
    private var reader: GRPCMessageReader
    private var headersSent = false
    /// The client ended its side of the stream (END_STREAM), or the server reset it after answering.
    private var clientEnded = false
    private var context: ChannelHandlerContext?
    private var loopBound: NIOLoopBound<GRPCStreamHandler>?
    private var executor: EventLoopTaskExecutor?
    private var deadlineTimer: Scheduled<Void>?
    /// Answer frames written and not yet sent by swift-nio-http2 (`writeTracked`), and the timer that resets the
    /// stream when none of them is sent for `unwritableTimeout`.
    /// Whether the call is an open method's waiting for its request: `pending` until the read that brought its
    /// HEADERS completes, then `counted` in `CallDispatcher.openCallsAwaitingRequest` until the request comes.
    private enum Awaiting { case no, pending, counted }
    private var awaiting = Awaiting.no
    /// The call takes one request (unary, server-streaming): its request's end is handed over by the connection
    /// (`GRPCConnectionState.handOverWhenWritable`), not at once.
    private var takesOneRequest = false
    /// Waiting in the connection's queue for its request's end (`takeRequestEnd`).
    private var waitingHandOver = false
    private var pendingWrites = 0
    /// Answer DATA bytes written and not yet sent, counted in the server's unread-answer budget.
    private var unreadCounted = 0
    /// The call is of an open method (Health, ServerInfo, reflection): its answers count in the budget's share for
    /// clients without a key.
    private var answersUntrusted = false
    /// Whose answers `unreadCounted` holds: decided when it goes from 0 (for a call of a method that is not open, its
    /// caller has authenticated by then: its key), released the same way.
    private var answersHolder = UnreadAnswerBudget.Holder.anyone
    private var stallTimer: Scheduled<Void>?
    /// When the oldest pending write started to wait, or the last one was sent since.
    private var lastSent = NIODeadline.uptimeNanoseconds(0)
    /// For a call without `grpc-timeout`, or of a method taking one request, whose request stream is open: fires
    /// `requestIdleTimeout` after the last complete request message (or the call's start), as the native one does.
    private var requestIdleTimer: Scheduled<Void>?
    private var lastRequestActivity = NIODeadline.uptimeNanoseconds(0)

    init(
        dispatcher: CallDispatcher, configuration: ServerConfiguration, connection: GRPCConnectionState, budget: InboundMemoryBudget,
        metrics: ServerMetrics? = nil
    ) {
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.connection = connection
        self.budget = budget
        budgets = GRPCInboundBudgets(server: budget, connection: connection.inbound)
        reader = GRPCMessageReader(maxMessageSize: configuration.limits.maxFrameSize)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        if configuration.runsHandlersOnEventLoop { executor = EventLoopTaskExecutor(eventLoop: context.eventLoop, trust: connection.trust) }
        // Only an HTTP/2 stream channel (it has a parent) knows the option; a test's EmbeddedChannel traps on it.
        let streamID =
            context.channel.parent == nil ? nil : try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID)
        connection.streamOpened(self, id: streamID.map { Int($0) } ?? 0)
        if context.channel.isActive { context.read() }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.read()  // the request HEADERS
        context.fireChannelActive()
    }

    /// Reads again unless the call holds as much as it may.
    func channelReadComplete(context: ChannelHandlerContext) {
        if case .running(let call, _) = state, call.queuedBytes >= call.queueLimit {
            paused = true
        } else {
            context.read()  // a finished call's further frames are read and dropped
        }
        context.fireChannelReadComplete()
    }

    /// The handler took messages below the limit (`GRPCCall.nextRequest`).
    func resumeReading() {
        guard paused, let context else { return }
        paused = false
        context.read()
    }

    /// Breaks the cycles through `context` and `loopBound` once the stream is gone.
    func handlerRemoved(context: ChannelHandlerContext) {
        budgets.adjust(by: -readerCounted)
        readerCounted = 0
        connection.unreadAnswers?.release(unreadCounted, for: answersHolder)  // pending writes fail later, or never
        unreadCounted = 0
        connection.streamClosed(self)
        releaseAwaiting()
        stopTimers()
        stallTimer?.cancel()
        stallTimer = nil
        self.context = nil
        loopBound = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .running(let call, let task) = state {
            call.abandon()
            task?.cancel()  // RST_STREAM or a lost connection: the handler's task is cancelled, as for CANCEL
            recordFinished(.cancelled)
        }
        state = .done
        handlerLife?.streamGone()
        handlerLife = nil
        releaseAwaiting()
        stopTimers()
        stallTimer?.cancel()
        stallTimer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame {
        case .headers(let headers) where headers.endStream: clientEnded = true
        case .data(let data) where data.endStream: clientEnded = true
        default: break
        }
        switch frame {
        case .headers(let headers):
            switch state {
            case .idle: received(headers.headers, endStream: headers.endStream)
            case .running(let call, _):
                // Trailers from a client are not part of gRPC; their END_STREAM still ends the requests.
                if headers.endStream { requestsEnded(call) }
            case .done: break
            }
        case .data(let data):
            // A finished call's further requests are dropped (read on, so that the client's side can end).
            guard case .running(let call, _) = state, !call.isFinished else { return }
            let heldBefore = connection.inbound.usedBytes
            if case .byteBuffer(let bytes) = data.data { reader.append(bytes) }
            do {
                while let message = try reader.next() {
                    _ = call.push(message)
                    if requestIdleTimer != nil { lastRequestActivity = context.eventLoop.now }
                }
            } catch {
                countReader()
                return fail(call, error)
            }
            countReader()
            let held = connection.inbound.usedBytes
            guard held <= connection.inbound.limit else {
                metrics?.rejected(.connectionInboundBudget)
                return fail(
                    call,
                    RPCError(
                        code: .resourceExhausted,
                        message:
                            "the connection holds \(heldBefore) bytes of unfinished requests; \(held - heldBefore) more would pass its limit of \(connection.inbound.limit)"
                    ))
            }
            if data.endStream { requestsEnded(call) }
        default:
            break
        }
    }

    private func stopTimers() {
        deadlineTimer?.cancel()
        deadlineTimer = nil
        requestIdleTimer?.cancel()
        requestIdleTimer = nil
    }

    /// The request stream was idle for `requestIdleTimeout`, unless a message came meanwhile: then wait again.
    private func requestIdleCheck(_ call: GRPCCall) {
        requestIdleTimer = nil
        guard case .running(let running, _) = state, running === call, !call.isFinished, let context, let loopBound,
            let timeout = configuration.requestIdleTimeout
        else { return }
        let due = lastRequestActivity + TimeAmount(timeout)
        guard context.eventLoop.now >= due else {
            requestIdleTimer = context.eventLoop.scheduleTask(deadline: due) { loopBound.value.requestIdleCheck(call) }
            return
        }
        metrics?.rejected(.requestIdleTimeout)
        fail(
            call,
            RPCError(
                code: .deadlineExceeded,
                message: "the client sent no complete message on the call's request stream for \(timeout.secondsText)"))
    }

    /// Brings the budgets' count of the partial message in `reader` up to date: the storage it keeps alive, as the
    /// native reader's count is (a few bytes of a message can keep a whole buffer).
    private func countReader() {
        let held = reader.heldStorageBytes
        budgets.adjust(by: held - readerCounted)
        readerCounted = held
    }

    /// An open method's call whose request did not come with its HEADERS counts from now as an open call awaiting its
    /// request, and is refused past the server's limit.
    private func decideAwaiting() {
        guard awaiting == .pending, case .running(let call, _) = state else { return }
        if let error = dispatcher.admitOpenCallAwaitingRequest() {
            awaiting = .no
            metrics?.rejected(.openCallsAwaitingRequest)
            fail(call, error)
        } else {
            awaiting = .counted
        }
    }

    /// The call's request came, or the call ended: it no longer awaits its request.
    private func releaseAwaiting() {
        if awaiting == .counted { dispatcher.openCallsAwaitingRequest.leave() }
        awaiting = .no
    }

    private func requestsEnded(_ call: GRPCCall) {
        guard reader.bufferedBytes == 0 else {
            releaseAwaiting()
            return fail(call, RPCError(code: .internalError, message: "the request stream ended inside a message"))
        }
        requestIdleTimer?.cancel()
        requestIdleTimer = nil
        guard takesOneRequest, let context else {
            releaseAwaiting()
            return call.requests.finish(.success(()))
        }
        // Its handler answers once it has the request's end, which waits for the answers before it to reach the
        // socket (PROTOCOL.md §19.3). Until then an open method's call still counts as one awaiting its request.
        waitingHandOver = true
        connection.handOverWhenWritable(self, on: context.eventLoop)
    }

    /// The connection hands over the request's end; returns false if the call ended meanwhile (nothing was handed).
    func takeRequestEnd() -> Bool {
        guard waitingHandOver else { return false }
        waitingHandOver = false
        guard case .running(let call, _) = state, !call.isFinished else { return false }
        releaseAwaiting()
        call.requests.finish(.success(()))
        return true
    }

    /// The connection's drain grace ended with the call still running: it is answered `error` (UNAVAILABLE).
    func cutOff(_ error: RPCError) {
        guard case .running(let call, _) = state else { return }
        fail(call, error)
    }

    /// Ends a running call with `error` (its task is cancelled: the answer is already decided).
    private func fail(_ call: GRPCCall, _ error: RPCError) {
        guard case .running(_, let task) = state else { return }
        // The call's partial message is of no use now; what the client still sends is dropped (`finishCall`).
        reader = GRPCMessageReader(maxMessageSize: configuration.limits.maxFrameSize)
        countReader()
        call.finish(.failure(error))
        task?.cancel()
    }

    // MARK: Requests

    private func received(_ headers: HPACKHeaders, endStream: Bool) {
        guard headers.first(name: ":method") == "POST" else {
            return answerHTTP(status: "405")
        }
        guard let contentType = headers.first(name: "content-type"), contentType.hasPrefix("application/grpc") else {
            // Not gRPC: PROTOCOL-HTTP2 answers 415 Unsupported Media Type.
            return answerHTTP(status: "415")
        }
        let path = headers.first(name: ":path") ?? ""
        requestPath = path
        guard let route = GRPCReflection.route(for: path, in: dispatcher.router) ?? GRPCHealth.route(for: path, in: dispatcher.router)
        else {
            return refuse(dispatcher.router.unimplementedError(forPath: path))
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            // PROTOCOL-HTTP2: an encoding the server does not support is UNIMPLEMENTED, with grpc-accept-encoding.
            return refuse(
                RPCError(
                    code: .unimplemented,
                    message: "grpc-encoding '\(ClientText.excerpt(encoding))' is not supported; this server accepts identity only"),
                extra: [("grpc-accept-encoding", "identity")])
        }
        var timeout: Duration?
        if let value = headers.first(name: "grpc-timeout") {
            guard let parsed = GRPCTimeoutHeader.parse(value) else {
                return refuse(
                    RPCError(
                        code: .invalidArgument,
                        message: "grpc-timeout '\(ClientText.excerpt(value))' must be 1 to 8 digits and a unit (H, M, S, m, u, n)"))
            }
            timeout = parsed
        }
        let metadata: Metadata
        do {
            metadata = try GRPCMetadata.metadata(headers.map { ($0.name, $0.value) })
            try metadata.validate()
        } catch {
            return refuse(error)
        }
        guard metadata.encodedSize <= configuration.limits.maxHeaderSize else {
            return refuse(
                RPCError(
                    code: .resourceExhausted,
                    message:
                        "the request's metadata takes \(metadata.encodedSize) bytes, more than the server's limit of \(configuration.limits.maxHeaderSize)"
                ))
        }
        start(route, metadata: metadata, timeout: timeout, endStream: endStream)
    }

    private func start(_ route: RPCRouter.Route, metadata: Metadata, timeout: Duration?, endStream: Bool) {
        guard let context, let loopBound else { return }
        guard !connection.unauthenticatedLimitReached else {
            // The connection is closing after its last UNAUTHENTICATED answer (§12): no call runs on it any more.
            state = .done
            return resetUnanswered()
        }
        if let error = connection.endedCallsRefusal {
            metrics?.rejected(.tooManyCalls)
            return refuse(error)
        }
        guard !budget.isExhausted else {
            // As on the native protocol (§12): no new call while the server holds all the request bytes it may.
            return refuse(
                RPCError(
                    code: .resourceExhausted,
                    message: "the server is over its inbound memory budget of \(budget.limit) bytes; retry later or on another server"))
        }
        if route.maxRequestMessageSize == nil, let unreadAnswers = connection.unreadAnswers, unreadAnswers.isExhausted {
            // Its answer could not be held: refused before it does the work (§12). Not the open methods (health
            // checks): their answers are a few bytes, and a load balancer would take a refusal for an unhealthy server.
            metrics?.rejected(.unreadAnswerBudget)
            return refuse(RPCError(code: .resourceExhausted, message: unreadAnswers.callRefusal))
        }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let serverContext = ServerContext(
            descriptor: route.descriptor, metadata: metadata, deadline: deadline, peer: connection.peer,
            callID: connection.nextCallID(), failureLogBudget: connection.failureLogBudget, methodKind: route.kind,
            heldRequests: dispatcher.heldRequests)
        if let series = metrics?.method(forPath: route.descriptor.path) {
            series.started()
            callMetrics = (series, context.eventLoop.now)
        }
        if let limit = route.maxRequestMessageSize, limit < reader.maxMessageSize {
            reader = GRPCMessageReader(maxMessageSize: limit, limitOwner: RPCRouter.Route.limitOwner(requestPath))
        }
        let call = GRPCCall(
            eventLoop: context.eventLoop, handler: loopBound, budgets: budgets, queueLimit: max(1, configuration.limits.initialWindowSize),
            trust: connection.trust, unreadAnswers: connection.unreadAnswers)
        if endStream { call.requests.finish(.success(())) }  // no request message: nothing to wait for
        takesOneRequest = route.kind.takesOneRequest
        answersUntrusted = route.maxRequestMessageSize != nil
        state = .running(call, task: nil)
        if !endStream, route.awaitsKeylessRequest {
            // Decided once the event loop has handled the rest of this socket read, which a probe's request is part
            // of (the stream channel hands HEADERS and DATA over in separate reads).
            awaiting = .pending
            context.eventLoop.execute { loopBound.value.decideAwaiting() }
        }
        if !endStream, timeout == nil || route.kind.takesOneRequest, let idle = configuration.requestIdleTimeout {
            // A call without a deadline is not held open forever by a client that sends nothing (PROTOCOL.md §12), nor
            // is a call that takes one request held past the request timeout by a long `grpc-timeout`: its client has
            // no reason to wait before sending it.
            lastRequestActivity = context.eventLoop.now
            requestIdleTimer = context.eventLoop.scheduleTask(in: TimeAmount(idle)) { loopBound.value.requestIdleCheck(call) }
        }
        if let timeout {
            deadlineTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                let handler = loopBound.value
                guard case .running(let running, _) = handler.state, running === call else { return }
                handler.fail(call, CallDispatcher.deadlinePassed(timeout))
            }
        }
        let dispatcher = self.dispatcher
        let life = GRPCHandlerLife(connection: connection)
        handlerLife = life
        let lifeBound = NIOLoopBound(life, eventLoop: context.eventLoop)
        let task: Task<Void, Never>
        if let executor {
            task = Task.immediate(executorPreference: executor) {
                await dispatcher.run(route, stream: call, context: serverContext)
                lifeBound.run(()) { life, _ in life.returned() }
            }
        } else {
            task = Task {
                await dispatcher.run(route, stream: call, context: serverContext)
                lifeBound.run(()) { life, _ in life.returned() }
            }
        }
        // The call may have finished inside `Task.immediate`; the task is kept only while it runs.
        if case .running(let running, nil) = state, running === call { state = .running(call, task: task) }
    }

    private func recordFinished(_ code: StatusCode) {
        guard let (series, startedAt) = callMetrics else { return }
        callMetrics = nil
        series.finished(code, startedAt: startedAt)
    }

    // MARK: Answers

    private var responseHeaders: HPACKHeaders {
        [":status": "200", "content-type": "application/grpc"]
    }

    /// A plain HTTP answer for a request that is not gRPC at all.
    private func answerHTTP(status: String) {
        state = .done
        connection.answerSent()
        context?.writeAndFlush(wrapOutboundOut(.headers(.init(headers: [":status": status], endStream: true))), promise: nil)
        endClientSideIfOpen()
    }

    /// After a complete answer, a stream whose client has not ended its side is reset with NO_ERROR (RFC 9113 §8.1, as
    /// gRPC's servers do): the client need not send the rest of its request, and the stream does not stay half-open,
    /// holding the server's memory for it, until the client ends it (a client that never does held every stream it
    /// opened, answered, with no timer left to end it: 20,000 keyless reflection streams on 200 connections kept 80
    /// MiB for as long as the connections stayed). Right after a trailers-only answer; after one with DATA, once the
    /// trailers are sent (DATA that waits for the client's window would be dropped by the reset).
    private func endClientSideIfOpen() {
        guard !clientEnded, let context else { return }
        clientEnded = true
        context.writeAndFlush(wrapOutboundOut(.rstStream(.noError)), promise: nil)
    }

    /// RST_STREAM REFUSED_STREAM, no answer: the connection answered its last UNAUTHENTICATED call and is closing. The
    /// call did no work that a client retrying it on a new connection could repeat.
    private func resetUnanswered() {
        guard let context else { return }
        clientEnded = true
        context.writeAndFlush(wrapOutboundOut(.rstStream(.refusedStream)), promise: nil)
    }

    /// Trailers-only: the call is refused before it runs.
    private func refuse(_ error: RPCError, extra: [(String, String)] = []) {
        state = .done
        metrics?.method(forPath: requestPath).rejected(error.code)
        var headers = responseHeaders
        for (name, value) in GRPCStatus.trailerFields(code: error.code, message: error.message, metadata: error.metadata) + extra {
            headers.addAnswerField(name: name, value: value)
        }
        connection.answerSent()
        context?.writeAndFlush(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
        endClientSideIfOpen()
    }

    private func sendHeadersIfNeeded() {
        guard !headersSent, let context else { return }
        headersSent = true
        context.write(wrapOutboundOut(.headers(.init(headers: responseHeaders))), promise: nil)
    }

    func writeMessage(_ message: [UInt8], promise: EventLoopPromise<Void>) {
        guard case .running = state, let context else { return promise.fail(ChannelError.ioOnClosedChannel) }
        sendHeadersIfNeeded()
        connection.answerSent()
        let frame = GRPCMessageReader.frame(message, allocator: context.channel.allocator)
        writeTracked(.data(.init(data: .byteBuffer(frame))), flush: true, promise: promise)
    }

    func finishCall(_ final: Final) {
        guard case .running = state, let context else { return }
        state = .done
        releaseAwaiting()
        stopTimers()
        if paused {
            // What the client still sends is read and dropped, so that its side of the stream can end.
            paused = false
            context.read()
        }
        let fields: [(String, String)]
        /// Whether this answer counts toward the connection's UNAUTHENTICATED limit: told once it is written, so that
        /// the last one goes out before the GOAWAY that follows it.
        var countsUnauthenticated = false
        switch final {
        case .success(let message, let trailers):
            if let message {
                sendHeadersIfNeeded()
                let frame = GRPCMessageReader.frame(message, allocator: context.channel.allocator)
                guard writeTracked(.data(.init(data: .byteBuffer(frame))), flush: false, promise: nil) else {
                    return recordFinished(.resourceExhausted)  // the answer was dropped with its stream
                }
            }
            fields = GRPCStatus.trailerFields(code: .ok, message: "", metadata: trailers)
        case .failure(let error):
            if error.code == .unauthenticated {
                guard !connection.unauthenticatedLimitReached else {
                    recordFinished(error.code)
                    return resetUnanswered()
                }
                countsUnauthenticated = true
            }
            fields = GRPCStatus.trailerFields(code: error.code, message: error.message, metadata: error.metadata)
        }
        switch final {
        case .success: recordFinished(.ok)
        case .failure(let error): recordFinished(error.code)
        }
        let trailersOnly = !headersSent
        var trailers: HPACKHeaders = headersSent ? [:] : responseHeaders
        for (name, value) in fields { trailers.addAnswerField(name: name, value: value) }
        headersSent = true
        connection.answerSent()
        // Trailers go out after the answer's DATA, so they too wait for the client's flow-control window.
        let trailersFrame = HTTP2Frame.FramePayload.headers(.init(headers: trailers, endStream: true))
        if let loopBound, !trailersOnly, !clientEnded {
            let sent = context.eventLoop.makePromise(of: Void.self)
            sent.futureResult.whenSuccess { loopBound.value.endClientSideIfOpen() }
            writeTracked(trailersFrame, flush: true, promise: sent)
        } else {
            writeTracked(trailersFrame, flush: true, promise: nil)
            if trailersOnly { endClientSideIfOpen() }
        }
        // Counted before the next call is handed its request (which may be answered at once), so that no answer
        // passes the limit.
        if countsUnauthenticated { connection.unauthenticatedCallFinished() }
        connection.turnEnded(by: self)  // the answer is written: the socket's writability shows it
    }

    // MARK: Answers the client leaves unread

    /// Writes `payload`, counting it until swift-nio-http2 has sent it. DATA waits there for the stream's window, which
    /// a client that grants none never opens, and the socket stays writable meanwhile, so the connection's unwritable
    /// timeout never starts: this stream keeps its own. Writes pending with none sent for `unwritableTimeout` reset the
    /// stream (RST_STREAM CANCEL), which drops what swift-nio-http2 holds for it.
    /// Returns false if the payload was dropped (the stream is gone, or its DATA would pass the unread-answer budget).
    @discardableResult
    private func writeTracked(_ payload: HTTP2Frame.FramePayload, flush: Bool, promise: EventLoopPromise<Void>?) -> Bool {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return false
        }
        // Answer DATA counts in the server's unread-answer budget until the socket has taken it (swift-nio-http2
        // completes the write's promise then): what waits for the stream's window or the socket is held for a client
        // that does not take it. What would pass the budget is dropped with the stream.
        var unread = 0
        if let budget = connection.unreadAnswers, case .data(let data) = payload {
            unread = data.data.readableBytes
            if unreadCounted == 0 {
                var callerKeyID: String?
                if case .running(let call, _) = state { callerKeyID = call.callerKeyID }
                answersHolder =
                    answersUntrusted ? .untrusted : UnreadAnswerBudget.holder(for: connection.trust, callerKeyID: callerKeyID)
            }
            guard budget.reserve(unread, for: answersHolder) else {
                metrics?.rejected(.unreadAnswerBudget)
                promise?.fail(ChannelError.ioOnClosedChannel)
                // RST_STREAM ENHANCE_YOUR_CALM closes the stream; a running call is cancelled in channelInactive.
                context.writeAndFlush(wrapOutboundOut(.rstStream(.enhanceYourCalm)), promise: nil)
                return false
            }
            unreadCounted += unread
        }
        guard let loopBound, configuration.unwritableTimeout != nil || unread > 0 else {
            if flush {
                context.writeAndFlush(wrapOutboundOut(payload), promise: promise)
            } else {
                context.write(wrapOutboundOut(payload), promise: promise)
            }
            return true
        }
        let timeout = configuration.unwritableTimeout
        if let timeout {
            pendingWrites += 1
            if pendingWrites == 1 {
                lastSent = context.eventLoop.now
                if stallTimer == nil { armStallTimer(timeout, deadline: lastSent + TimeAmount(timeout), context) }
            }
        }
        let sent = context.eventLoop.makePromise(of: Void.self)
        let counted = unread
        sent.futureResult.whenComplete { result in
            let handler = loopBound.value
            handler.releaseUnread(counted)
            if timeout != nil {
                handler.pendingWrites -= 1
                if handler.pendingWrites == 0 {
                    handler.stallTimer?.cancel()
                    handler.stallTimer = nil
                } else if let context = handler.context {
                    handler.lastSent = context.eventLoop.now  // the client reads: the clock starts again (checked when it fires)
                }
            }
            promise?.completeWith(result)
        }
        if flush {
            context.writeAndFlush(wrapOutboundOut(payload), promise: sent)
        } else {
            context.write(wrapOutboundOut(payload), promise: sent)
        }
        return true
    }

    /// `bytes` of answer DATA were sent or dropped: they leave the unread-answer budget, unless the stream is gone and
    /// released all it counted (`handlerRemoved`).
    private func releaseUnread(_ bytes: Int) {
        guard bytes > 0, unreadCounted > 0 else { return }
        unreadCounted -= bytes
        connection.unreadAnswers?.release(bytes, for: answersHolder)
    }

    /// One timer while writes are pending; when it fires after something was sent, it waits again for the rest.
    private func armStallTimer(_ timeout: Duration, deadline: NIODeadline, _ context: ChannelHandlerContext) {
        guard let loopBound else { return }
        stallTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let handler = loopBound.value
            handler.stallTimer = nil
            guard handler.pendingWrites > 0, let context = handler.context else { return }
            let due = handler.lastSent + TimeAmount(timeout)
            guard context.eventLoop.now >= due else { return handler.armStallTimer(timeout, deadline: due, context) }
            handler.metrics?.rejected(.slowReader)
            context.close(promise: nil)  // RST_STREAM; the call, if still running, is cancelled in channelInactive
        }
    }
}

extension HPACKHeaders {
    /// Adds a field of an answer's trailers. Only `grpc-status` may enter the HPACK dynamic table: status messages and
    /// metadata differ from call to call, and swift-nio-http2's encoder sizes its table as the client announces
    /// (up to 4 GiB) and searches all of it for every field it encodes. A client announcing a huge table and calling
    /// unknown paths made each answer slower than the last (30 ms per call after 3,000, other clients' health checks
    /// 415 ms); indexing nothing that varies keeps the table at a few entries whatever the client announces.
    mutating func addAnswerField(name: String, value: String) {
        add(name: name, value: value, indexing: name == "grpc-status" ? .indexable : .nonIndexable)
    }
}

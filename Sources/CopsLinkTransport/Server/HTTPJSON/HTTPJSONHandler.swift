import CopsLinkCore
import CopsLinkMessages
import NIOCore
import NIOHTTP1

/// The HTTP/JSON gateway on one connection (after NIOHTTP1's decoder, encoder and pipelining handler): each
/// `POST /package.Service/Method` with a JSON body runs that method through the same dispatcher, interceptors
/// (auth, logging) and handlers as the native protocol, one request at a time (PROTOCOL.md §16).
///
/// Bounded like the native side: the body (`httpJSONMaxBodyBytes`, else 413 and the connection closes), the
/// metadata taken from the headers (`limits.maxHeaderSize`, else 431), the time to receive a request once it has
/// started (`frameReadTimeout`, else 408 and close), an idle connection (`idleTimeout`, closed), calls refused
/// UNAUTHENTICATED (`maxUnauthenticatedCalls` per connection, then it closes), and a client that does not read its
/// answers: while the connection is unwritable (past the outbound high-water mark) the socket is not read and the
/// next request waits to run, and after `unwritableTimeout` of it the connection closes.
final class HTTPJSONHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What a finished call answers, rendered to JSON off the event loop.
    enum FinalResponse: Sendable {
        /// `body` is the final message's JSON (unary and client-streaming methods), nil for streamed answers.
        case success(body: [UInt8]?, trailers: Metadata)
        case failure(RPCError)
    }

    private enum State {
        case idle
        /// A request's head is in and accepted; its body is arriving.
        case receiving(Request)
        /// A request was answered before its body ended (refused); its remaining parts are dropped.
        case discarding
        /// A request is in whole, but the connection is unwritable (its client leaves answers unread): it runs once
        /// the connection is writable again.
        case parked(Request)
        /// The call runs. `streaming` once the answer's head has been sent (a streamed answer's first line).
        case running(HTTPJSONCall, task: Task<Void, Never>?, keepAlive: Bool, streaming: Bool)
    }

    private struct Request {
        var head: HTTPRequestHead
        var route: RPCRouter.Route
        var metadata: Metadata
        var timeout: Duration?
        var body: [UInt8]
    }

    private let dispatcher: CallDispatcher
    private let configuration: ServerConfiguration
    private let metrics: ServerMetrics?
    private let failureLogBudget: FailureLogBudget
    private var state = State.idle
    private var context: ChannelHandlerContext!
    private var loopBound: NIOLoopBound<HTTPJSONHandler>!
    private var executor: EventLoopTaskExecutor?
    private var peer = "?"
    private var callIDs: UInt64 = 0
    private var unauthenticatedCalls = 0
    private var idleTimer: Scheduled<Void>?
    /// The answer's end is being written: a request that arrives meanwhile was pipelined behind it (NIOHTTP1 hands
    /// it over inside that write).
    private var writingEnd = false
    /// Requests handed over that way in a row, since one came from a read of the socket or the connection yielded.
    private var pipelinedInARow = 0
    /// Resumes the request parked to let other connections on the event loop have a turn.
    private var yieldTimer: Scheduled<Void>?
    /// Fires when the connection reaches its maximum age (`ServerConfiguration.maxConnectionAge`).
    private var ageTimer: Scheduled<Void>?
    private var readTimer: Scheduled<Void>?
    private var deadlineTimer: Scheduled<Void>?
    private var unwritableTimer: Scheduled<Void>?
    /// A `read` held back while the connection is unwritable, issued when it is writable again.
    private var readWithheld = false
    /// The server is shutting down: the request in progress is answered with `Connection: close`, then the
    /// connection closes; at the grace deadline it closes whatever runs.
    private var draining = false
    private var graceTimer: Scheduled<Void>?
    /// The handler before the HTTP decoder (`HTTPJSONGateway.configure`), which can answer below the encoder.
    var requestStart: HTTPJSONRequestStart?

    /// The server's inbound budget (`InboundMemoryBudget`), which request bodies count against while they are held,
    /// as the native protocol's unfinished requests do; and the bytes this connection counts there now.
    private let budget: InboundMemoryBudget?
    /// What the socket holds while the connection is unwritable, in the server's unread-answer budget.
    private var unwritableHold: UnwritableHold
    private var countedBodyBytes = 0
    /// Whether `countedBodyBytes` count as untrusted (released the same way).
    private var bodyCountedUntrusted = false
    /// Whether a caller has authenticated on this connection (set by its calls): until then bodies count in the
    /// budget's untrusted share.
    private let trust: ConnectionTrust
    /// Small reads until a caller authenticates here (set at accept, PROTOCOL §12.1).
    private var reads: UntrustedReads
    /// The key of the request being received, checked before its call runs (`CallDispatcher.acceptedCaller`) when its
    /// body would pass the untrusted allowance while connections without an authenticated caller hold their share:
    /// a call authenticates only once its whole body is in, and the body could not come in before then.
    private var earlyKeyCheck = EarlyKeyCheck.notAsked
    /// Each request's number, so that a key check's answer that comes after its request ended is not taken for the
    /// next one's.
    private var requestNumber: UInt64 = 0
    /// The server-wide budget of answers held for clients; a call's answers count in it while they wait for NIO's
    /// thread pool (`HTTPJSONCall`), and the socket's while the connection is unwritable (`unwritableHold`).
    private let unreadAnswers: UnreadAnswerBudget?
    /// Where the calls' large documents are mapped, in turns by key (`ThreadPoolTurns.shared` but in tests).
    private let threadPoolTurns: ThreadPoolTurns
    /// The request's end came while its key was being checked: it runs, or is refused, with the answer.
    private var endAwaitsKeyCheck = false

    init(
        dispatcher: CallDispatcher, configuration: ServerConfiguration, metrics: ServerMetrics?, budget: InboundMemoryBudget? = nil,
        unreadAnswers: UnreadAnswerBudget? = nil, trust: ConnectionTrust? = nil, threadPoolTurns: ThreadPoolTurns = .shared
    ) {
        self.threadPoolTurns = threadPoolTurns
        self.budget = budget
        self.unreadAnswers = unreadAnswers
        unwritableHold = UnwritableHold(budget: unreadAnswers, highWaterMark: configuration.outboundHighWaterMark)
        self.trust = trust ?? ConnectionTrust(for: dispatcher)
        reads = UntrustedReads(self.trust)
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.metrics = metrics
        failureLogBudget = dispatcher.connectionFailureLogBudget(
            burst: configuration.failedCallLogBurst, perSecond: configuration.failedCallLogPerSecond)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        if configuration.runsHandlersOnEventLoop { executor = EventLoopTaskExecutor(eventLoop: context.eventLoop, trust: trust) }
        if let address = context.channel.remoteAddress { peer = "\(address.ipAddress ?? "?"):\(address.port ?? 0)" }
        armIdleTimer()
        // The maximum age, as on native and gRPC connections (±10 %): then the connection drains as at a graceful
        // shutdown, so that keep-alive clients reconnect and spread over the instances.
        if let age = configuration.maxConnectionAge {
            let (loopBound, eventLoop) = (self.loopBound!, context.eventLoop)
            let grace = TimeAmount(configuration.maxConnectionAgeGrace)
            ageTimer = eventLoop.scheduleTask(in: TimeAmount(ServerConfiguration.jittered(age, by: .random(in: -1...1)))) {
                loopBound.value.beginDraining(deadline: eventLoop.now + grace)
            }
        }
    }

    /// Breaks the cycles through `context` and `loopBound` once the connection is gone (as the native handler does).
    func handlerRemoved(context: ChannelHandlerContext) {
        releaseUndecoded()
        stopTimers()
        unwritableHold.end()
        self.context = nil
        loopBound = nil
        requestStart = nil
    }

    /// The request body is no longer held: it leaves the server's inbound budget.
    private func releaseBody() {
        budget?.adjust(by: -countedBodyBytes, untrusted: bodyCountedUntrusted)
        countedBodyBytes = 0
    }

    /// Bytes the HTTP decoder holds that it has not handed over as a part of a request (an unfinished head, mostly):
    /// bounded by `checkUnfinishedHead`, and counted in the inbound budget, as untrusted when no caller had
    /// authenticated as the count began; released when the gateway receives the next part. Without the count 4,000
    /// keyless connections' unfinished heads held 268 MB past a 64-MiB budget (attacker round 5).
    private var undecodedBytes = 0
    private var undecodedCountedUntrusted = false

    private func releaseUndecoded() {
        budget?.adjust(by: -undecodedBytes, untrusted: undecodedCountedUntrusted)
        undecodedBytes = 0
    }

    private static func overBudget(_ budget: InboundMemoryBudget) -> RPCError {
        RPCError(
            code: .resourceExhausted,
            message: "the server is over its inbound memory budget of \(budget.limit) bytes; retry later or on another server")
    }

    /// Why no more of a request may be held now, if so: the budget is spent, or this connection has no authenticated
    /// caller yet, its body would pass the small allowance, and such connections hold their whole share.
    private func budgetRefusal(bodyBytes: Int = 0) -> RPCError? {
        guard let budget else { return nil }
        if budget.isExhausted { return Self.overBudget(budget) }
        guard !trust.isTrusted, bodyBytes > InboundMemoryBudget.untrustedAllowance, budget.isUntrustedExhausted else { return nil }
        return RPCError(
            code: .resourceExhausted,
            message:
                "connections without an authenticated caller hold their share of \(budget.untrustedLimit) bytes of the server's inbound memory budget; retry later, or first make a call with your key on this connection"
        )
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseBody()
        releaseUndecoded()
        unwritableHold.end()
        failureLogBudget.closeReportingToServer()
        if case .running(let call, let task, _, _) = state {
            call.abandon()
            task?.cancel()  // the client went away: the handler's task is cancelled, as for CANCEL
        }
        state = .idle
        stopTimers()
        context.fireChannelInactive()
    }

    /// Malformed HTTP: NIOHTTP1's error handler has answered it `400` with `Connection: close` and passes the error
    /// on; the parser cannot go on, so the connection closes now rather than at the read timeout.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else { return context.fireErrorCaught(error) }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        releaseUndecoded()
        switch unwrapInboundIn(data) {
        case .head(let head):
            reads.liftOnceTrusted(trust, on: context.channel)
            pipelinedInARow = writingEnd ? pipelinedInARow + 1 : 0
            received(head)
        case .body(var part):
            guard case .receiving(var request) = state else { return }
            if let refusal = budgetRefusal(bodyBytes: request.body.count + part.readableBytes) {
                guard checksKeyFirst(request.metadata) else { return refuse(refusal, status: .serviceUnavailable, close: true) }
                // Held while its key is checked: this part is read already, and no more is read until the answer.
            }
            guard request.body.count + part.readableBytes <= bodyLimit(request.route) else {
                return refuse(bodyTooLarge(request.route), status: .payloadTooLarge, close: true)
            }
            state = .idle  // not holding a second reference to the body while it grows
            if countedBodyBytes == 0 { bodyCountedUntrusted = !trust.isTrusted }
            budget?.adjust(by: part.readableBytes, untrusted: bodyCountedUntrusted)
            countedBodyBytes += part.readableBytes
            request.body += part.readBytes(length: part.readableBytes) ?? []
            state = .receiving(request)
        case .end:
            readTimer?.cancel()
            readTimer = nil
            switch state {
            case .receiving(let request):
                if earlyKeyCheck == .pending {
                    endAwaitsKeyCheck = true  // the request is in whole; it runs, or is refused, once its key is checked
                    return
                }
                // Answers pile up only as fast as the client reads them.
                if !context.channel.isWritable {
                    state = .parked(request)
                } else if pipelinedInARow > Self.pipelinedRequestsPerTurn {
                    state = .parked(request)
                    yieldToOtherConnections()
                } else {
                    start(request)
                }
            case .discarding: becomeIdle()
            case .idle, .running, .parked: break
            }
        }
    }

    // MARK: Requests

    private func received(_ head: HTTPRequestHead) {
        idleTimer?.cancel()
        idleTimer = nil
        guard case .idle = state else { return }  // the pipelining handler holds the next request back meanwhile
        requestNumber &+= 1
        earlyKeyCheck = .notAsked
        endAwaitsKeyCheck = false
        requestBytesArrived(0)
        if let refusal = budgetRefusal() { return refuse(refusal, status: .serviceUnavailable, close: true) }
        // Before anything else that answers (and before 100 Continue): a refused request's body is read through,
        // so not one over the limit.
        // The HTTP parser has checked that it is a number; one past Int.max (up to 2^64 − 1) is over any limit too.
        let length = head.headers.first(name: "content-length").map { Int($0) ?? .max }
        if let length, length > configuration.httpJSONMaxBodyBytes {
            return refuse(bodyTooLarge(nil), status: .payloadTooLarge, close: true)
        }
        guard head.method == .POST else {
            var headers = HTTPHeaders()
            headers.add(name: "allow", value: "POST")
            return refuse(
                RPCError(code: .unimplemented, message: "call a method with POST /package.Service/Method and a JSON body"),
                status: .methodNotAllowed, headers: headers, keepAlive: head.isKeepAlive)
        }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        guard let route = dispatcher.router.route(forPath: path) else {
            return refuse(dispatcher.router.unimplementedError(forPath: path), status: .notFound, keepAlive: head.isKeepAlive)
        }
        if let length, length > bodyLimit(route) {
            return refuse(bodyTooLarge(route), status: .payloadTooLarge, close: true)
        }
        if let contentType = head.headers.first(name: "content-type"), !Self.acceptsContentType(contentType) {
            return refuse(
                RPCError(
                    code: .invalidArgument,
                    message:
                        "Content-Type '\(ClientText.excerpt(contentType))' is not JSON; send application/json (or application/x-ndjson)"),
                status: .unsupportedMediaType, keepAlive: head.isKeepAlive)
        }
        // Codings the server does not undo: NIOHTTP1 takes the chunked framing off, and nothing else (RFC 9112 §6.1:
        // 501; RFC 9110 §8.4: 415). Read as they were, a gzip body was a JSON error at best.
        if let coding = Self.codings(head.headers, "transfer-encoding").first(where: { $0 != "chunked" }) {
            return refuse(
                RPCError(
                    code: .unimplemented,
                    message: "Transfer-Encoding '\(ClientText.excerpt(coding))' is not supported; send the body as it is, or chunked"),
                status: .notImplemented, close: true)
        }
        if let coding = Self.codings(head.headers, "content-encoding").first(where: { $0 != "identity" }) {
            return refuse(
                RPCError(
                    code: .invalidArgument,
                    message: "Content-Encoding '\(ClientText.excerpt(coding))' is not supported; send the body uncompressed"),
                status: .unsupportedMediaType, keepAlive: head.isKeepAlive)
        }
        let metadata: Metadata
        let timeout: Duration?
        do {
            (metadata, timeout) = try HTTPJSONMetadata.parse(head.headers)
            try metadata.validate()
        } catch {
            let status: HTTPResponseStatus = error.code == .resourceExhausted ? .requestHeaderFieldsTooLarge : .badRequest
            return refuse(error, status: status, keepAlive: head.isKeepAlive)
        }
        guard metadata.encodedSize <= configuration.limits.maxHeaderSize else {
            return refuse(
                RPCError(
                    code: .resourceExhausted,
                    message:
                        "the request's metadata headers take \(metadata.encodedSize) bytes, more than the server's limit of \(configuration.limits.maxHeaderSize)"
                ),
                status: .requestHeaderFieldsTooLarge, keepAlive: head.isKeepAlive)
        }
        // Only for a request every check without its body has passed: a refusal before this point (405, 404, 413,
        // 415, 501, 431, a bad header) is the final answer, and no body is invited only to be thrown away. Not to an
        // HTTP/1.0 client, which must have the expectation ignored (RFC 9110 §10.1.1) and cannot read a 1xx answer;
        // the fuzzer's HTTP/1.0 request got `HTTP/1.0 100 Continue` ahead of its `HTTP/1.1` answer.
        if head.version.major > 1 || head.version.minor >= 1,
            head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" })
        {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        state = .receiving(Request(head: head, route: route, metadata: metadata, timeout: timeout, body: []))
    }

    /// The largest body a call of `route` may send: the server's limit, or the method's smaller one (the methods
    /// open without a key, `RPCRouter.Route.maxRequestMessageSize`).
    private func bodyLimit(_ route: RPCRouter.Route) -> Int {
        min(configuration.httpJSONMaxBodyBytes, route.maxRequestMessageSize ?? .max)
    }

    private func bodyTooLarge(_ route: RPCRouter.Route?) -> RPCError {
        if let route, let limit = route.maxRequestMessageSize, limit < configuration.httpJSONMaxBodyBytes {
            return RPCError(
                code: .resourceExhausted,
                message: "the request body is larger than \(RPCRouter.Route.limitOwner(route.descriptor.path)) limit of \(limit) bytes")
        }
        return RPCError(
            code: .resourceExhausted,
            message: "the request body is larger than the server's limit of \(configuration.httpJSONMaxBodyBytes) bytes")
    }

    /// The codings the `name` headers list, lower-cased, in order.
    private static func codings(_ headers: HTTPHeaders, _ name: String) -> [String] {
        headers[name].flatMap { $0.split(separator: ",") }.map { String($0.filter { $0 != " " && $0 != "\t" }).lowercased() }
            .filter { !$0.isEmpty }
    }

    private static func acceptsContentType(_ value: String) -> Bool {
        let type = (value.split(separator: ";", omittingEmptySubsequences: false).first ?? "").filter { $0 != " " && $0 != "\t" }
            .lowercased()
        // curl sends `-d` bodies as application/x-www-form-urlencoded unless told otherwise: read them as JSON too.
        return ["application/json", "application/x-ndjson", "application/jsonl", "application/x-www-form-urlencoded", ""].contains(type)
    }

    private func start(_ request: Request) {
        callIDs += 1
        var deadline: ContinuousClock.Instant?
        if let timeout = request.timeout {
            deadline = .now + timeout
        }
        let serverContext = ServerContext(
            descriptor: request.route.descriptor, metadata: request.metadata, deadline: deadline, peer: peer, callID: callIDs,
            failureLogBudget: failureLogBudget, methodKind: request.route.kind, heldRequests: dispatcher.heldRequests)
        let call = HTTPJSONCall(
            route: request.route, body: request.body, eventLoop: context.eventLoop, handler: loopBound,
            metrics: metrics?.method(forPath: request.route.descriptor.path), trust: trust,
            pause: configuration.httpJSONStreamPause, unreadAnswers: unreadAnswers, turns: threadPoolTurns)
        state = .running(call, task: nil, keepAlive: request.head.isKeepAlive, streaming: false)
        if let timeout = request.timeout {
            let loopBound = self.loopBound!
            deadlineTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                loopBound.value.expire(
                    call, CallDispatcher.deadlinePassed(timeout))
            }
        }
        let dispatcher = self.dispatcher
        let route = request.route
        let task: Task<Void, Never>
        if let executor {
            task = Task.immediate(executorPreference: executor) { await dispatcher.run(route, stream: call, context: serverContext) }
        } else {
            task = Task { await dispatcher.run(route, stream: call, context: serverContext) }
        }
        // The call may have finished inside `Task.immediate`; the task is kept only while it runs.
        if case .running(let running, nil, let keepAlive, let streaming) = state, running === call {
            state = .running(call, task: task, keepAlive: keepAlive, streaming: streaming)
        }
    }

    private func expire(_ call: HTTPJSONCall, _ error: RPCError) {
        guard case .running(let running, let task, _, _) = state, running === call else { return }
        call.finish(.failure(error))
        task?.cancel()
    }

    /// The first bytes of a request (`HTTPJSONRequestStart` sees them before the HTTP decoder, which holds a head
    /// until it is whole): from now the request has `frameReadTimeout` to arrive, however slowly it trickles. The
    /// `bytes` that arrived count in the inbound budget until the decoder hands them over (`undecodedBytes`).
    func requestBytesArrived(_ bytes: Int) {
        if bytes > 0 {
            if undecodedBytes == 0 { undecodedCountedUntrusted = !trust.isTrusted }
            budget?.adjust(by: bytes, untrusted: undecodedCountedUntrusted)
            undecodedBytes += bytes
        }
        guard readTimer == nil, context != nil, let timeout = configuration.frameReadTimeout else { return }
        switch state {
        case .idle, .receiving: break
        case .discarding, .running, .parked: return
        }
        idleTimer?.cancel()
        idleTimer = nil
        let loopBound = self.loopBound!
        readTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) { loopBound.value.readTimedOut(timeout) }
    }

    /// Whether the gateway waits for the next request's head (none is being received, run or refused).
    private var awaitsHead: Bool {
        if case .idle = state { return true }
        return false
    }

    /// After a read (`HTTPJSONRequestStart`), while a head is awaited, what the decoder holds is an unfinished head:
    /// past `limit`, 431; past the untrusted allowance while the inbound budget, or (no caller authenticated) keyless
    /// clients' share of it, is spent, 503, as a body part would be. Then the close.
    func checkUnfinishedHead(limit: Int) {
        guard awaitsHead else { return }
        let bytes = undecodedBytes
        if bytes > limit {
            return answerUnfinishedHead(
                "431 Request Header Fields Too Large",
                RPCError(
                    code: .resourceExhausted,
                    message: "the request's head passed \(limit) bytes (\(bytes) received) before it ended; the server reads no more of it")
            )
        }
        if bytes > InboundMemoryBudget.untrustedAllowance, let refusal = budgetRefusal(bodyBytes: bytes) {
            answerUnfinishedHead("503 Service Unavailable", refusal)
        }
    }

    /// Answers a head that never completed: the decoder still holds it, so the HTTP encoder would refuse an answer.
    private func answerUnfinishedHead(_ status: String, _ error: RPCError) {
        readTimer?.cancel()
        readTimer = nil
        let body = HTTPJSONStatus.body(error)
        state = .discarding
        requestStart?.answerAndClose(
            "HTTP/1.1 \(status)\r\ncontent-type: application/json\r\ncontent-length: \(body.count)\r\nconnection: close\r\n\r\n"
                + String(decoding: body, as: UTF8.self))
    }

    private func readTimedOut(_ timeout: Duration) {
        readTimer = nil
        switch state {
        case .idle:
            answerUnfinishedHead(
                "408 Request Timeout",
                RPCError(code: .deadlineExceeded, message: "the request was not received within \(timeout.secondsText)"))
            return
        case .receiving: break
        case .discarding:
            // A refused request whose body is still arriving: answered already, so only the connection is left.
            context.close(promise: nil)
            return
        case .running, .parked: return
        }
        refuse(
            RPCError(code: .deadlineExceeded, message: "the request was not received within \(timeout.secondsText)"),
            status: .requestTimeout, close: true)
    }

    // MARK: A key checked before the body is in

    /// Whether a body part refused for the untrusted share (not the whole budget) may be held while the request's
    /// key is checked: asks for the check the first time. False when there is no key, or it was not accepted.
    private func checksKeyFirst(_ metadata: Metadata) -> Bool {
        guard let budget, !budget.isExhausted, !trust.isTrusted else { return false }
        switch earlyKeyCheck {
        case .pending: return true
        case .refused: return false
        case .notAsked:
            guard metadata[text: AuthInterceptor.metadataKey] != nil else { return false }
            earlyKeyCheck = .pending
            let (dispatcher, number, loopBound, loop) = (self.dispatcher, requestNumber, self.loopBound!, context.eventLoop)
            Task {
                let accepted = await dispatcher.acceptedCaller(metadata)?.keyID
                loop.execute { loopBound.value.keyChecked(acceptedKeyID: accepted, request: number) }
            }
            return true
        }
    }

    /// The answer of `checksKeyFirst`'s check: an accepted key makes the connection trusted (its body counts as trusted
    /// bytes from now on) and reading goes on; otherwise the body is refused if it is still past the allowance.
    private func keyChecked(acceptedKeyID: String?, request number: UInt64) {
        let accepted = acceptedKeyID != nil
        if let acceptedKeyID {
            trust.grant(keyID: acceptedKeyID)  // a valid key was sent on this connection, whatever became of its request
            if let context { reads.liftOnceTrusted(trust, on: context.channel) }
        }
        guard context != nil, number == requestNumber, earlyKeyCheck == .pending else { return }
        earlyKeyCheck = accepted ? .notAsked : .refused
        if accepted, bodyCountedUntrusted, countedBodyBytes > 0 {
            budget?.adjust(by: -countedBodyBytes, untrusted: true)
            budget?.adjust(by: countedBodyBytes)
            bodyCountedUntrusted = false
        }
        if !accepted, case .receiving(let request) = state, let refusal = budgetRefusal(bodyBytes: request.body.count) {
            endAwaitsKeyCheck = false
            return refuse(refusal, status: .serviceUnavailable, close: true)
        }
        if endAwaitsKeyCheck, case .receiving(let request) = state {
            endAwaitsKeyCheck = false
            if context.channel.isWritable { start(request) } else { state = .parked(request) }
        }
        if readWithheld {
            readWithheld = false
            read(context: context)
        }
    }

    // MARK: Answers

    /// Answers before the call runs (or instead of it), then drops the rest of the request; `close` ends the
    /// connection after the answer (a body too large to read through, a peer too slow).
    private func refuse(
        _ error: RPCError, status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), keepAlive: Bool = true, close: Bool = false
    ) {
        var headers = headers
        let body = HTTPJSONStatus.body(error)
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.count))
        let closes = close || !keepAlive || draining
        if closes { headers.add(name: "connection", value: "close") }
        releaseBody()
        state = .discarding  // until the request's end, or for good when the connection closes; before the writes (`writeEnd`)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if closes {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// A streamed answer's next line; the head goes first.
    func writeStreamLine(_ line: [UInt8], promise: EventLoopPromise<Void>) {
        guard case .running(let call, let task, let keepAlive, let streaming) = state, context != nil else {
            return promise.fail(ChannelError.ioOnClosedChannel)
        }
        if !streaming {
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/x-ndjson")
            if !keepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            state = .running(call, task: task, keepAlive: keepAlive, streaming: true)
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: line)))), promise: promise)
    }

    /// The call's final answer: a whole response, or the end of a streamed one (an error after lines were sent is
    /// one more line, `{"error":{…}}`).
    func finishCall(_ response: FinalResponse) {
        guard case .running(_, _, let keepAlive, let streaming) = state, context != nil else { return }
        releaseBody()
        deadlineTimer?.cancel()
        deadlineTimer = nil
        var closes = !keepAlive || draining
        if case .failure(let error) = response, error.code == .unauthenticated {
            unauthenticatedCalls += 1
            if configuration.maxUnauthenticatedCalls > 0, unauthenticatedCalls >= configuration.maxUnauthenticatedCalls { closes = true }
        }
        let allocator = context.channel.allocator
        if streaming {
            if case .failure(let error) = response {
                var line = Array("{\"error\":".utf8) + HTTPJSONStatus.body(error) + Array("}\n".utf8)
                context.write(wrapOutboundOut(.body(.byteBuffer(allocator.buffer(bytes: line)))), promise: nil)
                line = []
            }
            // The call's trailing metadata, or the error's (as a failed unary answer carries it in its headers).
            let metadata: Metadata
            switch response {
            case .success(_, let trailers): metadata = trailers
            case .failure(let error): metadata = error.metadata
            }
            writeEnd(.end(metadata.isEmpty ? nil : HTTPJSONMetadata.headers(metadata)), closes: closes)
            return
        }
        var headers: HTTPHeaders
        let status: HTTPResponseStatus
        let body: [UInt8]
        switch response {
        case .success(let message, let trailers):
            headers = HTTPJSONMetadata.headers(trailers)
            status = .ok
            body = message ?? []
            headers.add(name: "content-type", value: message == nil ? "application/x-ndjson" : "application/json")
        case .failure(let error):
            headers = HTTPJSONMetadata.headers(error.metadata)
            status = HTTPJSONStatus.httpStatus(error.code)
            body = HTTPJSONStatus.body(error)
            headers.add(name: "content-type", value: "application/json")
        }
        headers.add(name: "content-length", value: String(body.count))
        if closes { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(allocator.buffer(bytes: body)))), promise: nil) }
        writeEnd(.end(nil), closes: closes)
    }

    /// Writes the answer's end. NIOHTTP1's pipelining handler holds a pipelined request back only until the answer
    /// before it ends, and hands it over inside this very write: the handler is idle (or discarding, when the
    /// connection closes after this answer) before the write, and the next call may have started when it returns.
    private func writeEnd(_ end: HTTPServerResponsePart, closes: Bool) {
        guard closes else {
            becomeIdle()
            writingEnd = true
            context.writeAndFlush(wrapOutboundOut(end), promise: nil)
            writingEnd = false
            return
        }
        state = .discarding
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(end)).whenComplete { _ in channel.close(promise: nil) }
    }

    private func becomeIdle() {
        state = .idle
        if draining { return context.close(promise: nil) }
        armIdleTimer()
    }

    /// The client closed its side of the connection (FIN): the connection closes now, and a request running or
    /// waiting is cancelled as when the client resets it. A FIN is also what a client that closed its socket entirely
    /// sends, and the server cannot tell the two apart without writing to the socket, which HTTP/1.1 gives it nothing to
    /// write on but the answer (the native protocol sends a PING). Kept open for an answer, a closed client's request
    /// ran to its end: 16 ReportSignals bodies of 1 MiB sent and abandoned kept the server busy for 122 s, storing
    /// every signal. Without closing, the socket stayed in CLOSE-WAIT until a timeout.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed? = event as? ChannelEvent else { return context.fireUserInboundEventTriggered(event) }
        context.close(promise: nil)
    }

    /// A graceful shutdown (`TCPServer`): an idle connection closes now, one with a request in progress after its
    /// answer, and any at the grace deadline.
    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let shutdown = event as? GracefulShutdownEvent else { return context.triggerUserOutboundEvent(event, promise: promise) }
        promise?.succeed()
        beginDraining(deadline: shutdown.deadline)
    }

    /// Closes an idle connection now; one with a request in progress after its answer (which carries
    /// `Connection: close`), and at `deadline` whatever it is doing. The first drain's deadline stands.
    private func beginDraining(deadline: NIODeadline) {
        guard !draining, let context else { return }
        draining = true
        ageTimer?.cancel()
        ageTimer = nil
        switch state {
        case .idle, .discarding:
            context.close(promise: nil)
        case .receiving, .running, .parked:
            let channel = context.channel
            graceTimer = context.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
        }
    }

    // MARK: A client that does not read

    func read(context: ChannelHandlerContext) {
        guard context.channel.isWritable, earlyKeyCheck != .pending else {
            readWithheld = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            unwritableHold.end()
            unwritableTimer?.cancel()
            unwritableTimer = nil
            if case .parked(let request) = state { start(request) }
            if readWithheld {
                readWithheld = false
                read(context: context)  // still withheld while a key is checked
            }
        } else {
            let loopBound = self.loopBound!
            if unwritableTimer == nil, let timeout = configuration.unwritableTimeout {
                unwritableTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) { loopBound.value.unwritableTimedOut() }
            }
            if unwritableHold.begin(context.channel, trust: trust) != nil {
                // Closed on the loop's next turn: this event may come from inside one of this handler's writes.
                metrics?.rejected(.unreadAnswerBudget)
                context.eventLoop.execute { loopBound.value.context?.close(promise: nil) }
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// The client left the answers unread for the unwritable timeout: the connection closes (an answer could not
    /// reach it), counted as `slow_reader`, as a native connection is.
    private func unwritableTimedOut() {
        unwritableTimer = nil
        guard let context, !context.channel.isWritable else { return }
        metrics?.rejected(.slowReader)
        context.close(promise: nil)
    }

    /// At most this many pipelined requests run one after another before the connection lets the event loop serve
    /// its other connections: NIOHTTP1 hands each over inside the previous answer's write, and a keyed client's 2,000
    /// pipelined GetAccounts held the loop, and every connection on it, for up to 1.5 s on a debug build.
    static let pipelinedRequestsPerTurn = 16

    /// Starts the parked request a millisecond from now: a task due later, not at once, so that the event loop polls
    /// its sockets first (it runs every task that is due before it does).
    private func yieldToOtherConnections() {
        guard yieldTimer == nil, let loopBound else { return }
        yieldTimer = context.eventLoop.scheduleTask(in: .milliseconds(1)) {
            let handler = loopBound.value
            handler.yieldTimer = nil
            handler.pipelinedInARow = 0
            guard case .parked(let request) = handler.state, let context = handler.context else { return }
            if context.channel.isWritable { handler.start(request) }  // else it waits for writability, as any parked one
        }
    }

    private func armIdleTimer() {
        idleTimer?.cancel()
        guard let timeout = configuration.idleTimeout, context != nil else { return }
        let loopBound = self.loopBound!
        idleTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            let handler = loopBound.value
            guard case .idle = handler.state, let context = handler.context else { return }
            context.close(promise: nil)
        }
    }

    private func stopTimers() {
        idleTimer?.cancel()
        readTimer?.cancel()
        deadlineTimer?.cancel()
        graceTimer?.cancel()
        unwritableTimer?.cancel()
        ageTimer?.cancel()
        ageTimer = nil
        yieldTimer?.cancel()
        yieldTimer = nil
        graceTimer = nil
        idleTimer = nil
        readTimer = nil
        deadlineTimer = nil
        unwritableTimer = nil
    }
}

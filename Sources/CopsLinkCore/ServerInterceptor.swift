/// Cross-cutting behaviour around every call (logging, authentication): sees the context before the handler and the
/// outcome after it; may reject a call by throwing an `RPCError`.
public protocol ServerInterceptor: Sendable {
    func intercept(
        context: ServerContext,
        next: @Sendable (ServerContext) async throws -> CallOutcome
    ) async throws -> CallOutcome

    /// Whether this interceptor sets `ServerContext.caller` (authentication). A server with one tells transports
    /// which connections have authenticated callers (`ServerCallStream.callerAuthenticated`). Default false.
    var authenticatesCallers: Bool { get }

    /// The caller whose credentials `metadata` carries, if this interceptor accepts them (with any role), checked
    /// before the call's request has arrived: a transport that must hold a large request of a connection on which no
    /// caller has authenticated asks first (HTTP/JSON reads a whole body before its call runs). Default nil.
    func acceptedCaller(_ metadata: Metadata) async -> Caller?
}

extension ServerInterceptor {
    public var authenticatesCallers: Bool { false }

    public func acceptedCaller(_ metadata: Metadata) async -> Caller? { nil }
}

/// What transports run for each call: router lookup, interceptors, handler, and the mapping of errors to statuses.
public final class CallDispatcher: Sendable {
    public let router: RPCRouter
    public let interceptors: [any ServerInterceptor]
    /// A connection's budget of failed-call log lines, under this dispatcher's server-wide one.
    public func connectionFailureLogBudget(burst: Int, perSecond: Int) -> FailureLogBudget {
        FailureLogBudget(burst: burst, perSecond: perSecond, server: failureLogBudget)
    }

    /// Calls that may run at once through this dispatcher, whatever their protocol and connection (0: no limit).
    public let maxConcurrentCalls: Int
    /// The calls running now.
    public let running = RunningCallCount()
    /// Whether an interceptor authenticates callers: then transports start connections untrusted.
    public let authenticatesCallers: Bool
    /// Calls of the methods open without a key (routes with `RPCRouter.Route.maxRequestMessageSize`) that take one
    /// request and are still waiting for it, server-wide, counted by the transports; at most
    /// `maxOpenCallsAwaitingRequest` (0: no limit). A probe sends its request with the call and is never counted, so
    /// clients that hold such calls open cannot crowd it out.
    public let openCallsAwaitingRequest = RunningCallCount()
    public let maxOpenCallsAwaitingRequest: Int
    /// The log-line budget every connection's `FailureLogBudget` draws on (`FailureLogBudget.server`), if any.
    public let failureLogBudget: FailureLogBudget?

    /// - Parameter maxConcurrentCalls: past it a call is answered RESOURCE_EXHAUSTED before any interceptor runs, so
    ///   that what every open call costs the server (its stream, task and buffers) is bounded server-wide, not only
    ///   per connection.
    /// - Parameter maxOpenCallsAwaitingRequest: see `openCallsAwaitingRequest`.
    /// - Parameter failureLogBudget: see `failureLogBudget`.
    /// Bytes of request messages running handlers may hold (`HeldRequestBudget`); nil: no bound. The transports give
    /// it to each call's context (`ServerContext.heldRequests`), where the router's handlers count their request.
    public let heldRequests: HeldRequestBudget?

    public init(
        router: RPCRouter, interceptors: [any ServerInterceptor] = [], maxConcurrentCalls: Int = 0, maxOpenCallsAwaitingRequest: Int = 0,
        failureLogBudget: FailureLogBudget? = nil, heldRequests: HeldRequestBudget? = nil
    ) {
        self.heldRequests = heldRequests
        self.failureLogBudget = failureLogBudget
        self.router = router
        self.interceptors = interceptors
        self.maxConcurrentCalls = maxConcurrentCalls
        self.maxOpenCallsAwaitingRequest = maxOpenCallsAwaitingRequest
        authenticatesCallers = interceptors.contains { $0.authenticatesCallers }
    }

    /// The caller of the credentials in `metadata`, if an interceptor that authenticates callers accepts them
    /// (`ServerInterceptor.acceptedCaller`), before any call runs.
    public func acceptedCaller(_ metadata: Metadata) async -> Caller? {
        for interceptor in interceptors where interceptor.authenticatesCallers {
            if let caller = await interceptor.acceptedCaller(metadata) { return caller }
        }
        return nil
    }

    /// Counts a call of `route` waiting for its request in `openCallsAwaitingRequest`; the refusal if the limit is
    /// reached. The transport calls `leave()` on the count once the request has arrived or the call has ended.
    public func admitOpenCallAwaitingRequest() -> RPCError? {
        guard !openCallsAwaitingRequest.enter(limit: maxOpenCallsAwaitingRequest) else { return nil }
        return RPCError(
            code: .resourceExhausted,
            message:
                "the server already holds \(maxOpenCallsAwaitingRequest) calls of its open methods waiting for their request; send the request with the call, or retry later"
        )
    }

    /// Runs `route` for one call and finishes the stream with its outcome. Never throws: every failure becomes a status.
    ///
    /// Calls of the methods open without a key (routes with `maxRequestMessageSize`) are not counted against
    /// `maxConcurrentCalls`: they have bounds of their own (streaming ones in `AuthInterceptor`, unary ones while they
    /// wait for their request in `openCallsAwaitingRequest`), and a health probe must be answered while a client with
    /// a key holds every other call slot.
    public func run(_ route: RPCRouter.Route, stream: any ServerCallStream, context: ServerContext) async {
        let counted = route.maxRequestMessageSize == nil
        guard !counted || running.enter(limit: maxConcurrentCalls) else {
            return stream.finish(
                .failure(
                    RPCError(
                        code: .resourceExhausted,
                        message: "the server is running its limit of \(maxConcurrentCalls) calls; retry later or on another server")))
        }
        defer { if counted { running.leave() } }
        // A call whose client went away before its handler started (CANCEL, its connection closed, its deadline
        // passed: the transport cancels the task) runs nothing, so that calls opened and abandoned in bulk cost no
        // handler work (the transport answered the call already, or has no one to answer).
        guard !Task.isCancelled else { return stream.finish(.failure(RPCError(handlerError: CancellationError()))) }
        let outcome: CallOutcome
        do {
            if context.methodKind == route.kind {
                outcome = try await Self.chain(interceptors[...], route.handler, stream: stream, context: context)
            } else {
                var context = context
                context.methodKind = route.kind
                outcome = try await Self.chain(interceptors[...], route.handler, stream: stream, context: context)
            }
        } catch {
            outcome = .failure(RPCError(handlerError: error))
        }
        stream.finish(outcome)
    }

    /// The answer to a call whose deadline had passed when its handler was to start.
    public static let deadlinePassedBeforeStart = RPCError(
        code: .deadlineExceeded, message: "the call's deadline passed before its handler started")

    /// The answer to a call whose deadline of `timeout` passed while its handler ran: the same text on every protocol
    /// (PROTOCOL.md §9).
    public static func deadlinePassed(_ timeout: Duration) -> RPCError {
        RPCError(code: .deadlineExceeded, message: "the call's deadline of \(timeout.secondsText) passed before the handler finished")
    }

    private static func chain(
        _ interceptors: ArraySlice<any ServerInterceptor>,
        _ handler: @escaping RPCRouter.Handler,
        stream: any ServerCallStream,
        context: ServerContext
    ) async throws -> CallOutcome {
        guard let first = interceptors.first else {
            if let caller = context.caller, let refusal = stream.callerAuthenticated(caller) { throw refusal }
            // A deadline already past (a timeout of 0 or a few nanoseconds): the handler would often finish before the
            // transport's timer could fire, and the call would succeed past its deadline. Checked after the
            // interceptors, so that such a call is authenticated and logged as any other.
            if let deadline = context.deadline, deadline <= .now { throw Self.deadlinePassedBeforeStart }
            return try await handler(stream, context)
        }
        let rest = interceptors.dropFirst()
        return try await first.intercept(context: context) { context in
            try await chain(rest, handler, stream: stream, context: context)
        }
    }
}

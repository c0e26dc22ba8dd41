/// Cross-cutting behaviour around every call (logging, authentication): sees the context before the handler and the
/// outcome after it; may reject a call by throwing an `RPCError`.
public protocol ServerInterceptor: Sendable {
    func intercept(
        context: ServerContext,
        next: @Sendable (ServerContext) async throws -> CallOutcome
    ) async throws -> CallOutcome
}

/// What transports run for each call: router lookup, interceptors, handler, and the mapping of errors to statuses.
public struct CallDispatcher: Sendable {
    public let router: RPCRouter
    public let interceptors: [any ServerInterceptor]

    public init(router: RPCRouter, interceptors: [any ServerInterceptor] = []) {
        self.router = router
        self.interceptors = interceptors
    }

    /// Runs `route` for one call and finishes the stream with its outcome. Never throws: every failure becomes a status.
    public func run(_ route: RPCRouter.Route, stream: any ServerCallStream, context: ServerContext) async {
        let outcome: CallOutcome
        var context = context
        context.methodKind = route.kind
        do {
            outcome = try await Self.chain(interceptors[...], route.handler, stream: stream, context: context)
        } catch {
            outcome = .failure(RPCError(handlerError: error))
        }
        stream.finish(outcome)
    }

    private static func chain(
        _ interceptors: ArraySlice<any ServerInterceptor>,
        _ handler: @escaping RPCRouter.Handler,
        stream: any ServerCallStream,
        context: ServerContext
    ) async throws -> CallOutcome {
        guard let first = interceptors.first else {
            return try await handler(stream, context)
        }
        let rest = interceptors.dropFirst()
        return try await first.intercept(context: context) { context in
            try await chain(rest, handler, stream: stream, context: context)
        }
    }
}

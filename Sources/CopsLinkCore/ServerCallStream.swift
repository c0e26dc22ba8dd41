/// How a call's final status reaches the transport.
public enum CallOutcome: Sendable {
    /// Status OK, optionally with the last response message (a unary response travels in the END frame).
    case success(finalMessage: (any RPCMessage)?, trailers: Metadata)
    case failure(RPCError)
}

/// One call as a server transport presents it to the router: inbound messages, outbound messages, final status.
///
/// Implemented by each transport. All methods may be called from any task; `finish` is idempotent (the first
/// outcome wins, so a deadline that already answered DEADLINE_EXCEEDED is not overwritten by the handler).
public protocol ServerCallStream: Sendable {
    /// The next request message; `nil` once the client has ended its stream.
    /// Throws `RPCError` (CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE) when the call is over.
    func nextRequest() async throws(RPCError) -> (any MessageBytes)?
    /// The next request message, or why the message the client sent there cannot be one while its stream goes on (a
    /// transport that maps each message from another form: an HTTP/JSON line that is not the message's JSON);
    /// `nil` once the client has ended its stream. Throws as `nextRequest` does when the call is over. Default:
    /// `nextRequest`'s message.
    func nextRequestOrUnusable() async throws(RPCError) -> Result<any MessageBytes, RPCError>?
    /// Sends one response message, suspending while the client's flow-control window is exhausted.
    func write(_ message: some RPCMessage) async throws(RPCError)
    /// Ends the call. Later calls are ignored.
    func finish(_ outcome: CallOutcome)
    /// The call reached its handler with an authenticated caller (`ServerContext.caller`): the transport may trust
    /// its connection more (what it holds for it counts as an authenticated client's), and share what it shares
    /// between callers by `caller`'s key. Called once, by the dispatcher of a server that authenticates callers.
    /// Returns why the call is not to run, if the transport will not serve that key now (its share of what the
    /// server holds for clients is spent): the dispatcher then answers with it before the handler runs.
    func callerAuthenticated(_ caller: Caller) -> RPCError?
    /// The call's only request message, taken without waiting, when the client has already sent it and ended its
    /// stream (a unary call whose REQUEST frame carries both): the router's handlers that take one request then run
    /// without suspending to read it. Nil otherwise, and then `nextRequest` reads as usual; after a non-nil answer
    /// `nextRequest` returns nil. A conformer that implements it does the bookkeeping its `nextRequest` does for the
    /// message (credit, inbound budgets). Default: nil.
    func takeOnlyRequest() -> (any MessageBytes)?
}

extension ServerCallStream {
    public func nextRequestOrUnusable() async throws(RPCError) -> Result<any MessageBytes, RPCError>? {
        try await nextRequest().map { .success($0) }
    }

    public func callerAuthenticated(_ caller: Caller) -> RPCError? { nil }

    public func takeOnlyRequest() -> (any MessageBytes)? { nil }
}

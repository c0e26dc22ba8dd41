/// What a handler knows about the call it serves.
public struct ServerContext: Sendable {
    public var descriptor: MethodDescriptor
    /// Request metadata, as the client sent it.
    public var metadata: Metadata
    /// When the call must be answered by; the transport cancels the handler's task then.
    public var deadline: ContinuousClock.Instant?
    /// The remote address, e.g. `127.0.0.1:51234`, or `in-process`.
    public var peer: String
    /// The call id on its connection.
    public var callID: UInt64
    /// The authenticated caller, set by `AuthInterceptor`; nil when the server runs without authentication.
    public var caller: Caller?
    /// The connection's budget of failed-call log lines (`LoggingInterceptor`); nil logs every failure.
    public var failureLogBudget: FailureLogBudget?
    /// Unary or streaming, as the route being run is (set by `CallDispatcher.run`): a streaming call may stay open
    /// for as long as its client likes, which `AuthInterceptor`'s bound on open-method calls counts.
    public var methodKind = MethodKind.unary
    /// Trailing metadata the handler adds besides its own, sent when the call succeeds. Shared by every copy of the
    /// context (interceptors pass copies on).
    public let responseTrailers = ResponseTrailers()

    public init(descriptor: MethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?, peer: String, callID: UInt64) {
        self.descriptor = descriptor
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.callID = callID
    }

    /// The client's `copslink-request-id`, if it sent one.
    public var requestID: String? { metadata[text: Metadata.requestIDKey] }
}

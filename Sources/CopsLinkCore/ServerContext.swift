/// What a handler knows about the call it serves.
///
/// A value type that interceptors copy and pass on. What stays the same for the call (the method, the peer, the
/// log budget, the trailers the handler adds) is kept in one shared object, so that a copy costs a few references
/// rather than one per field: a unary call copies its context several times on its way to the handler.
public struct ServerContext: Sendable {
    /// The call's fixed part, shared by every copy of the context; a setter replaces it (copy on write), keeping the
    /// trailers. It is the trailers' storage too, so a call allocates one object for both.
    ///
    /// `@unchecked Sendable`: its stored properties are `let`s of Sendable types (and the base class's, a `Mutex`);
    /// only the non-final base class makes the compiler ask for the annotation.
    private final class Fixed: ResponseTrailers.Storage, @unchecked Sendable {
        let descriptor: MethodDescriptor
        let peer: String
        let failureLogBudget: FailureLogBudget?
        let heldRequests: HeldRequestBudget?
        /// Another context's trailers, when a setter replaced the fixed part: they stay shared with that context.
        let trailers: ResponseTrailers.Storage?

        init(
            descriptor: MethodDescriptor, peer: String, failureLogBudget: FailureLogBudget?, heldRequests: HeldRequestBudget?,
            trailers: ResponseTrailers.Storage?
        ) {
            self.descriptor = descriptor
            self.peer = peer
            self.failureLogBudget = failureLogBudget
            self.heldRequests = heldRequests
            self.trailers = trailers
        }

        var responseTrailers: ResponseTrailers { ResponseTrailers(storage: trailers ?? self) }

        func with(
            descriptor: MethodDescriptor? = nil, peer: String? = nil, failureLogBudget: FailureLogBudget?? = .none
        ) -> Fixed {
            Fixed(
                descriptor: descriptor ?? self.descriptor, peer: peer ?? self.peer,
                failureLogBudget: failureLogBudget ?? self.failureLogBudget, heldRequests: heldRequests, trailers: trailers ?? self)
        }
    }

    private var fixed: Fixed

    public var descriptor: MethodDescriptor {
        get { fixed.descriptor }
        set { fixed = fixed.with(descriptor: newValue) }
    }
    /// Request metadata, as the client sent it.
    public var metadata: Metadata
    /// When the call must be answered by; the transport cancels the handler's task then.
    public var deadline: ContinuousClock.Instant?
    /// The remote address, e.g. `127.0.0.1:51234`, or `in-process`.
    public var peer: String {
        get { fixed.peer }
        set { fixed = fixed.with(peer: newValue) }
    }
    /// The call id on its connection.
    public var callID: UInt64
    /// The authenticated caller, set by `AuthInterceptor`; nil when the server runs without authentication.
    public var caller: Caller?
    /// The connection's budget of failed-call log lines (`LoggingInterceptor`); nil logs every failure.
    public var failureLogBudget: FailureLogBudget? {
        get { fixed.failureLogBudget }
        set { fixed = fixed.with(failureLogBudget: .some(newValue)) }
    }
    /// Unary or streaming, as the route being run is (set by the transport at init from the route; `CallDispatcher.run`
    /// corrects it if the route differs): a streaming call may stay open for as long as its client likes, which
    /// `AuthInterceptor`'s bound on open-method calls counts.
    public var methodKind = MethodKind.unary
    /// Where the request a handler takes is counted while it runs (`CallDispatcher.heldRequests`, given by the
    /// transport); nil counts nothing.
    public var heldRequests: HeldRequestBudget? { fixed.heldRequests }
    /// Trailing metadata the handler adds besides its own, sent when the call succeeds. Shared by every copy of the
    /// context (interceptors pass copies on).
    public var responseTrailers: ResponseTrailers { fixed.responseTrailers }

    /// - Parameters:
    ///   - failureLogBudget: see `failureLogBudget`; given here, a transport sets up the call's context without
    ///     replacing its shared part.
    ///   - methodKind: the route's kind (see `methodKind`).
    ///   - heldRequests: see `heldRequests`.
    public init(
        descriptor: MethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?, peer: String, callID: UInt64,
        failureLogBudget: FailureLogBudget? = nil, methodKind: MethodKind = .unary, heldRequests: HeldRequestBudget? = nil
    ) {
        fixed = Fixed(descriptor: descriptor, peer: peer, failureLogBudget: failureLogBudget, heldRequests: heldRequests, trailers: nil)
        self.metadata = metadata
        self.deadline = deadline
        self.callID = callID
        self.methodKind = methodKind
    }

    /// The client's `copslink-request-id`, if it sent one.
    public var requestID: String? { metadata[text: Metadata.requestIDKey] }
}

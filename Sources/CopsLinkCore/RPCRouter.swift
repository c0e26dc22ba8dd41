/// Maps method paths to handlers. Services register their methods; transports look calls up here.
public struct RPCRouter: Sendable {
    /// An untyped handler: reads requests from and writes responses to the call stream, then returns its outcome.
    public typealias Handler = @Sendable (any ServerCallStream, ServerContext) async throws -> CallOutcome

    /// A registered method, as the server-info call lists it.
    public struct Route: Sendable {
        public var descriptor: MethodDescriptor
        public var kind: MethodKind
        public var requestType: String
        public var responseType: String
        public var handler: Handler
        /// The largest request message a call of this method may send, below the transport's own limits (nil: those
        /// alone). Set for the methods open without a key (`limitRequestMessages`), whose requests are small, so
        /// that clients without a key cannot make the server hold large messages.
        public var maxRequestMessageSize: Int?

        /// A call of an open method (one with its own request limit) that takes one request and has not sent it
        /// yet: transports count it in `CallDispatcher.openCallsAwaitingRequest` until it does.
        public var awaitsKeylessRequest: Bool { maxRequestMessageSize != nil && kind.takesOneRequest }

        /// How a refusal names the limit of `maxRequestMessageSize` set by `limitRequestMessages`.
        public static func limitOwner(_ path: String) -> String { "the open (keyless) method \(path)'s" }

        /// The refusal of a request message larger than `maxRequestMessageSize`.
        public func messageTooLarge(_ size: Int) -> RPCError {
            RPCError(
                code: .resourceExhausted,
                message:
                    "the request message of \(size) bytes is larger than \(Self.limitOwner(descriptor.path)) limit of \(maxRequestMessageSize ?? 0) bytes"
            )
        }

        /// A route served outside the router's registrations (gRPC's standard services, mapped by the transport).
        public init(descriptor: MethodDescriptor, kind: MethodKind, requestType: String, responseType: String, handler: @escaping Handler) {
            self.descriptor = descriptor
            self.kind = kind
            self.requestType = requestType
            self.responseType = responseType
            self.handler = handler
        }
    }

    private var routes: [String: Route] = [:]
    private var serviceNames: Set<String> = []
    private var requestMessageLimits: [String: Int] = [:]

    public init() {}

    /// Every registered method, sorted by path.
    public var methods: [Route] { routes.values.sorted { $0.descriptor.path < $1.descriptor.path } }

    /// Names of the registered services, sorted.
    public var services: [String] { serviceNames.sorted() }

    public func route(forPath path: String) -> Route? { routes[path] }

    /// Limits the request messages of the methods at `paths` to `bytes` each (`Route.maxRequestMessageSize`): of the
    /// routes registered now, and of routes a transport serves outside the router (`requestMessageLimit(forPath:)`).
    public mutating func limitRequestMessages(ofPaths paths: some Sequence<String>, toBytes bytes: Int) {
        for path in paths {
            requestMessageLimits[path] = bytes
            routes[path]?.maxRequestMessageSize = bytes
        }
    }

    /// The request message limit set for `path` by `limitRequestMessages`, if any.
    public func requestMessageLimit(forPath path: String) -> Int? { requestMessageLimits[path] }

    /// Why no handler serves `path`, in the words the UNIMPLEMENTED status carries.
    public func unimplementedError(forPath path: String) -> RPCError {
        guard let descriptor = MethodDescriptor(path: path) else {
            return RPCError(
                code: .unimplemented, message: "malformed method path '\(ClientText.excerpt(path))'; expected /package.Service/Method")
        }
        if serviceNames.contains(descriptor.service) {
            return RPCError(
                code: .unimplemented,
                message: "service \(ClientText.excerpt(descriptor.service)) has no method \(ClientText.excerpt(descriptor.method))")
        }
        return RPCError(code: .unimplemented, message: "unknown service \(ClientText.excerpt(descriptor.service))")
    }

    public mutating func register<Request: RPCMessage, Response: RPCMessage>(
        _ descriptor: MethodDescriptor,
        kind: MethodKind,
        request: Request.Type,
        response: Response.Type,
        handler: @escaping Handler
    ) {
        precondition(routes[descriptor.path] == nil, "\(descriptor.path) is registered twice")
        routes[descriptor.path] = Route(
            descriptor: descriptor, kind: kind, requestType: Request.protoName, responseType: Response.protoName, handler: handler)
        serviceNames.insert(descriptor.service)
    }

    /// Registers a unary method. Inlinable, as are the other registrations, so that the handler closure is compiled
    /// for the service's message types rather than generically (a type-metadata lookup per call).
    @inlinable
    public mutating func registerUnary<Request: RPCMessage, Response: RPCMessage>(
        _ descriptor: MethodDescriptor,
        handler: @escaping @Sendable (Request, ServerContext) async throws -> ServerResponse<Response>
    ) {
        register(descriptor, kind: .unary, request: Request.self, response: Response.self) { stream, context in
            let (request, held): (Request, Int) = try await Self.singleRequest(stream, context)
            defer { Self.releaseRequest(held, context) }
            let response = try await handler(request, context)
            return .success(finalMessage: response.message, trailers: context.responseTrailers.appended(to: response.trailers))
        }
    }

    /// Registers a server-streaming method; the handler returns the trailing metadata.
    @inlinable
    public mutating func registerServerStreaming<Request: RPCMessage, Response: RPCMessage>(
        _ descriptor: MethodDescriptor,
        handler: @escaping @Sendable (Request, ResponseWriter<Response>, ServerContext) async throws -> Metadata
    ) {
        register(descriptor, kind: .serverStreaming, request: Request.self, response: Response.self) { stream, context in
            let (request, held): (Request, Int) = try await Self.singleRequest(stream, context)
            defer { Self.releaseRequest(held, context) }
            let trailers = try await handler(request, ResponseWriter(stream: stream), context)
            return .success(finalMessage: nil, trailers: context.responseTrailers.appended(to: trailers))
        }
    }

    /// Registers a client-streaming method.
    @inlinable
    public mutating func registerClientStreaming<Request: RPCMessage, Response: RPCMessage>(
        _ descriptor: MethodDescriptor,
        handler: @escaping @Sendable (RequestStream<Request>, ServerContext) async throws -> ServerResponse<Response>
    ) {
        register(descriptor, kind: .clientStreaming, request: Request.self, response: Response.self) { stream, context in
            let response = try await handler(RequestStream(stream: stream), context)
            return .success(finalMessage: response.message, trailers: context.responseTrailers.appended(to: response.trailers))
        }
    }

    /// Registers a bidirectional-streaming method; the handler returns the trailing metadata.
    @inlinable
    public mutating func registerBidirectionalStreaming<Request: RPCMessage, Response: RPCMessage>(
        _ descriptor: MethodDescriptor,
        handler: @escaping @Sendable (RequestStream<Request>, ResponseWriter<Response>, ServerContext) async throws -> Metadata
    ) {
        register(descriptor, kind: .bidirectionalStreaming, request: Request.self, response: Response.self) { stream, context in
            let trailers = try await handler(RequestStream(stream: stream), ResponseWriter(stream: stream), context)
            return .success(finalMessage: nil, trailers: context.responseTrailers.appended(to: trailers))
        }
    }

    /// The one request of a call taking one: taken at once when it came with the end of the request stream
    /// (`takeOnlyRequest`), which spares a unary call the async reads, else read. Counted in the context's
    /// `HeldRequestBudget` (or refused by it) before it is decoded; the handler gives back the count it returns.
    @inlinable @inline(__always)
    static func singleRequest<Request: RPCMessage>(
        _ stream: any ServerCallStream, _ context: ServerContext
    ) async throws(RPCError) -> (Request, Int) {
        if let bytes = stream.takeOnlyRequest() { return try holdAndDecode(bytes, context) }
        return try await readSingleRequest(stream, context)
    }

    /// `bytes` counted in the context's `HeldRequestBudget` (or refused by it), then decoded; a request that does not
    /// decode gives its count back. Returns the request and what was counted, for `releaseRequest`.
    @usableFromInline
    static func holdAndDecode<Request: RPCMessage>(
        _ bytes: some MessageBytes, _ context: ServerContext
    ) throws(RPCError) -> (
        Request, Int
    ) {
        // The key is looked up only for a request large enough to count: most are not.
        let held =
            bytes.count > HeldRequestBudget.freeBytes ? try context.heldRequests?.hold(bytes.count, keyID: context.caller?.keyID) ?? 0 : 0
        do throws(RPCError) {
            return (try decodeRequest(bytes), held)
        } catch {
            releaseRequest(held, context)
            throw error
        }
    }

    /// Gives back what `holdAndDecode` counted.
    @usableFromInline
    static func releaseRequest(_ held: Int, _ context: ServerContext) {
        guard held > 0 else { return }
        context.heldRequests?.release(held, keyID: context.caller?.keyID)
    }

    @usableFromInline
    static func decodeRequest<Request: RPCMessage>(_ bytes: some MessageBytes) throws(RPCError) -> Request {
        try Request(receivedRequest: bytes)
    }

    @usableFromInline
    static func readSingleRequest<Request: RPCMessage>(
        _ stream: any ServerCallStream, _ context: ServerContext
    ) async throws(RPCError) -> (Request, Int) {
        guard let bytes = try await stream.nextRequest() else {
            throw RPCError(code: .invalidArgument, message: "the call expects one request message and got none")
        }
        let (request, held): (Request, Int) = try holdAndDecode(bytes, context)
        do throws(RPCError) {
            guard try await stream.nextRequest() == nil else {
                throw RPCError(code: .invalidArgument, message: "the call expects one request message and got more")
            }
            return (request, held)
        } catch {
            releaseRequest(held, context)
            throw error
        }
    }
}

/// A service whose methods can be served: the shape generated service code has.
public protocol RegistrableRPCService: Sendable {
    func registerMethods(with router: inout RPCRouter)
}

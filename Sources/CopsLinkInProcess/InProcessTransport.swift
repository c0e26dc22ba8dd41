public import CopsLinkCore
import Synchronization

/// Serves a router to clients in the same process, without sockets: what tests and embedders use.
///
/// Messages are still encoded and decoded, so codecs are exercised exactly as over TCP; each direction of a call
/// buffers at most `messageWindow` messages, and deadlines and cancellation behave as on TCP.
public struct InProcessTransport: ClientTransport {
    public let dispatcher: CallDispatcher
    public let messageWindow: Int
    /// Failed-call log lines the callers may cause (`LoggingInterceptor`); nil, the default, logs every failure: the
    /// callers are this process itself, not a peer on the network.
    public let failureLogBudget: FailureLogBudget?
    private let callIDs = CallIDs()

    public init(
        router: RPCRouter, interceptors: [any ServerInterceptor] = [], messageWindow: Int = 16,
        failureLogBudget: FailureLogBudget? = nil
    ) {
        self.dispatcher = CallDispatcher(router: router, interceptors: interceptors)
        self.messageWindow = messageWindow
        self.failureLogBudget = failureLogBudget
    }

    public func unary(
        _ descriptor: MethodDescriptor, request: some RPCMessage, options: CallOptions
    ) async throws(RPCError) -> RawUnaryResponse {
        let call = try start(descriptor, options: options)
        defer { call.cancel() }
        try await call.send(request)
        call.finishSending()
        return try await call.readSingleResponse()
    }

    public func withStreamingCall<Result: Sendable>(
        _ descriptor: MethodDescriptor, options: CallOptions, body: (any ClientCallStream) async throws -> Result
    ) async throws -> Result {
        let call = try start(descriptor, options: options)
        defer { call.cancel() }
        return try await body(call)
    }

    private func start(_ descriptor: MethodDescriptor, options: CallOptions) throws(RPCError) -> InProcessCall {
        let metadata = options.effectiveMetadata
        try metadata.validate()
        guard let route = dispatcher.router.route(forPath: descriptor.path) else {
            throw dispatcher.router.unimplementedError(forPath: descriptor.path)
        }
        let deadline = options.timeout.map { ContinuousClock.now + $0 }
        let context = ServerContext(
            descriptor: descriptor, metadata: metadata, deadline: deadline, peer: "in-process", callID: callIDs.next(),
            failureLogBudget: failureLogBudget, methodKind: route.kind, heldRequests: dispatcher.heldRequests)
        let call = InProcessCall(window: messageWindow)
        let dispatcher = self.dispatcher
        call.handlerTask = Task { await dispatcher.run(route, stream: call, context: context) }
        if let timeout = options.timeout {
            call.deadlineTask = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                call.expire(CallDispatcher.deadlinePassed(timeout))
            }
        }
        return call
    }
}

private final class CallIDs: Sendable {
    private let counter = Atomic<UInt64>(0)
    func next() -> UInt64 { counter.add(1, ordering: .relaxed).newValue }
}

/// Both ends of one in-process call.
final class InProcessCall: ServerCallStream, ClientCallStream, Sendable {
    private let requests = MessageQueue<[UInt8]>()
    private let responses = MessageQueue<ClientStreamPart>()
    private let requestCredits: MessageCredits
    private let responseCredits: MessageCredits
    private let finished = Atomic<Bool>(false)
    private let tasks = Mutex<(handler: Task<Void, Never>?, deadline: Task<Void, Never>?)>((nil, nil))

    init(window: Int) {
        requestCredits = MessageCredits(window)
        responseCredits = MessageCredits(window)
    }

    var handlerTask: Task<Void, Never>? {
        get { tasks.withLock { $0.handler } }
        set { tasks.withLock { $0.handler = newValue } }
    }

    var deadlineTask: Task<Void, Never>? {
        get { tasks.withLock { $0.deadline } }
        set { tasks.withLock { $0.deadline = newValue } }
    }

    // MARK: Server side

    func nextRequest() async throws(RPCError) -> (any MessageBytes)? {
        guard let bytes = try await requests.next() else { return nil }
        requestCredits.release()
        return bytes
    }

    func write(_ message: some RPCMessage) async throws(RPCError) {
        try await responseCredits.acquire()
        responses.push(.message(message.serializedBytes()))
    }

    func finish(_ outcome: CallOutcome) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        deadlineTask?.cancel()
        switch outcome {
        case .success(let message, let trailers):
            if let message { responses.push(.message(message.serializedBytes())) }
            responses.push(.end(trailers: trailers))
            responses.finish(.success(()))
        case .failure(let error):
            responses.finish(.failure(error))
        }
        let ended = RPCError(code: .cancelled, message: "the call has ended")
        responseCredits.close(ended)
        requestCredits.close(ended)
    }

    /// The deadline passed: the caller gets `error`, the handler's task is cancelled.
    func expire(_ error: RPCError) {
        finish(.failure(error))
        requests.finish(.failure(error))
        handlerTask?.cancel()
    }

    // MARK: Client side

    func send(_ message: some RPCMessage) async throws(RPCError) {
        try await requestCredits.acquire()
        requests.push(message.serializedBytes())
    }

    func finishSending() { requests.finish(.success(())) }

    func next() async throws(RPCError) -> ClientStreamPart {
        let part: ClientStreamPart?
        do {
            part = try await withTaskCancellationHandler {
                try await responses.next()
            } onCancel: {
                self.cancel()
            }
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .cancelled, message: "the call was cancelled by the client")
        }
        guard let part else { return .end(trailers: [:]) }
        if case .message = part { responseCredits.release() }
        return part
    }

    func cancel() {
        guard !finished.load(ordering: .acquiring) else { return }
        let error = RPCError(code: .cancelled, message: "the call was cancelled by the client")
        finish(.failure(error))
        requests.finish(.failure(error))
        handlerTask?.cancel()
    }
}

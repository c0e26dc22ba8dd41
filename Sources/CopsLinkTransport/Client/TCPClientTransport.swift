public import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
public import NIOCore
public import NIOPosix
import Synchronization

/// A client transport whose connections live on one event loop: tasks that prefer its `executor` call through it
/// without a thread switch (what load generators want).
public protocol EventLoopClientTransport: ClientTransport {
    var executor: EventLoopTaskExecutor { get }
    /// Closes the connections; calls in flight fail with UNAVAILABLE and later calls are refused.
    func close() async
}

extension EventLoopClientTransport {
    /// Runs `body` with this transport, then closes it, whether `body` returned or threw.
    public func closing<Result: Sendable>(after body: (Self) async throws -> Result) async throws -> Result {
        do {
            let result = try await body(self)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }
}

/// A `ClientTransport` over one multiplexed TCP connection, opened on first use and reopened (with backoff)
/// when it fails or the server sends GOAWAY.
public final class TCPClientTransport: EventLoopClientTransport, Sendable {
    public let configuration: ClientConfiguration
    /// The event loop every connection of this transport lives on.
    public let eventLoop: any EventLoop
    /// Callers that prefer this executor (`withTaskExecutorPreference`) run on the connection's thread and make calls
    /// without any thread switch: what load generators and latency-sensitive callers want.
    public let executor: EventLoopTaskExecutor
    private let state = Mutex(State())
    /// Plaintext to a host that is not loopback, without permission: calls carrying an API key are refused
    /// (`plaintextCredentialsRefusal`). Decided once, so that other calls pay nothing for the check.
    private let checksCredentials: Bool

    private struct State {
        var connection: ClientConnection?
        var connecting: EventLoopFuture<ClientConnection>?
        var nextAttempt: ContinuousClock.Instant?
        var nextDelay: Duration?
        var lastFailure: RPCError?
        var closed = false
    }

    public init(configuration: ClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.checksCredentials =
            configuration.tls == nil && !configuration.allowsPlaintextCredentials
            && !ClientConfiguration.isLoopback(host: configuration.host)
        self.eventLoop = group.next()
        self.executor = EventLoopTaskExecutor(eventLoop: eventLoop)
    }

    /// Runs `body` with a transport that is closed when it returns.
    public static func withTransport<Result: Sendable>(
        configuration: ClientConfiguration, _ body: (TCPClientTransport) async throws -> Result
    ) async throws -> Result {
        try await TCPClientTransport(configuration: configuration).closing(after: body)
    }

    /// Closes the connection; calls in flight fail with UNAVAILABLE and later calls are refused.
    public func close() async {
        let connection: ClientConnection? = state.withLock { state in
            state.closed = true
            defer { state.connection = nil }
            return state.connection
        }
        await connection?.close()
    }

    public func unary(
        _ descriptor: MethodDescriptor, request: some RPCMessage, options: CallOptions
    ) async throws(RPCError) -> RawUnaryResponse {
        var reachedServer = false
        return try await unary(descriptor, request: request, options: options, reachedServer: &reachedServer)
    }

    /// `unary`, saying on failure whether the call may have reached a server (`reachedServer`): false when it
    /// provably did not (no connection, or refused unprocessed by GOAWAY), so that `RoundRobinClientTransport` may
    /// send it to another instance whatever the method does.
    func unary(
        _ descriptor: MethodDescriptor, request: some RPCMessage, options: CallOptions, reachedServer: inout Bool
    ) async throws(RPCError) -> RawUnaryResponse {
        if checksCredentials, let refusal = configuration.plaintextCredentialsRefusal(metadata: options.metadata) { throw refusal }
        let deadline = options.timeout.map { ContinuousClock.now + $0 }
        var attempt = 1
        while true {
            reachedServer = false
            let connection = try await connection(before: deadline)
            let call = connection.makeCall(descriptor)
            let (frame, message) = try call.unaryFrames(header: try requestHeader(descriptor, options, deadline), request: request)
            // Handed over, not shared: the handler patches the call id into the frame without copying it.
            connection.start(call, requestFrame: consume frame, timeout: remaining(until: deadline), endsStream: message == nil)
            if let message { call.sendOpeningMessage(message) }
            do throws(RPCError) {
                return try await call.readSingleResponse()
            } catch {
                // The server never saw this call (GOAWAY, or the connection ended first): send it again.
                reachedServer = !call.wasNeverProcessed
                guard !reachedServer, attempt < Self.maxTransparentAttempts else { throw error }
                attempt += 1
            }
        }
    }

    /// Tries per unary call while earlier tries provably never reached the server.
    static let maxTransparentAttempts = 3

    public func withStreamingCall<Result: Sendable>(
        _ descriptor: MethodDescriptor, options: CallOptions, body: (any ClientCallStream) async throws -> Result
    ) async throws -> Result {
        if checksCredentials, let refusal = configuration.plaintextCredentialsRefusal(metadata: options.metadata) { throw refusal }
        let deadline = options.timeout.map { ContinuousClock.now + $0 }
        let connection = try await connection(before: deadline)
        let call = connection.makeCall(descriptor)
        let frame = try call.requestFrame(
            header: try requestHeader(descriptor, options, deadline), endStream: false)
        connection.start(call, requestFrame: consume frame, timeout: remaining(until: deadline), endsStream: false)
        do {
            let result = try await body(call)
            call.cancel()  // no-op when the call already ended
            return result
        } catch {
            call.cancel()
            throw error
        }
    }

    private func requestHeader(
        _ descriptor: MethodDescriptor, _ options: CallOptions, _ deadline: ContinuousClock.Instant?
    ) throws(RPCError) -> RequestHeader {
        let metadata = options.effectiveMetadata
        try metadata.validate()
        var timeoutMicros: UInt64 = 0
        if let remaining = remaining(until: deadline) {
            let (seconds, attoseconds) = remaining.components
            let (whole, overflow) = UInt64(max(0, seconds)).multipliedReportingOverflow(by: 1_000_000)
            timeoutMicros = overflow ? .max : max(1, whole &+ UInt64(max(0, attoseconds)) / 1_000_000_000_000)
        }
        return RequestHeader(method: descriptor.path, timeoutMicros: timeoutMicros, metadata: metadata)
    }

    private func remaining(until deadline: ContinuousClock.Instant?) -> Duration? {
        deadline.map { max(.zero, $0 - .now) }
    }

    /// The current connection, or a new one; fails fast with UNAVAILABLE while a reconnect backoff runs.
    private func connection(before deadline: ContinuousClock.Instant?) async throws(RPCError) -> ClientConnection {
        enum Next {
            case use(ClientConnection)
            case wait(EventLoopFuture<ClientConnection>)
            case fail(RPCError)
        }
        let next: Next = state.withLock { state in
            if state.closed { return .fail(RPCError(code: .unavailable, message: "the client transport is closed")) }
            if let connection = state.connection, connection.state.isAcceptingCalls { return .use(connection) }
            state.connection = nil
            if let connecting = state.connecting { return .wait(connecting) }
            if let nextAttempt = state.nextAttempt, ContinuousClock.now < nextAttempt, let failure = state.lastFailure {
                return .fail(
                    RPCError(
                        code: .unavailable, message: "\(failure.message); next reconnect attempt in \((nextAttempt - .now).secondsText)"))
            }
            let future = ClientConnection.connect(configuration, eventLoop: eventLoop)
            state.connecting = future
            future.whenComplete { [self] result in self.connectFinished(result) }
            return .wait(future)
        }
        switch next {
        case .use(let connection): return connection
        case .fail(let error): throw error
        case .wait(let future):
            do {
                guard let deadline else { return try await future.get() }
                let bounded = future.eventLoop.makePromise(of: ClientConnection.self)
                future.cascade(to: bounded)
                let timer = future.eventLoop.scheduleTask(in: TimeAmount(max(.zero, deadline - .now))) {
                    bounded.fail(RPCError(code: .deadlineExceeded, message: "the deadline passed while connecting to the server"))
                }
                defer { timer.cancel() }
                return try await bounded.futureResult.get()
            } catch let error as RPCError {
                throw error
            } catch {
                throw RPCError(code: .unavailable, message: "cannot connect to \(configuration.host):\(configuration.port): \(error)")
            }
        }
    }

    private func connectFinished(_ result: Result<ClientConnection, any Error>) {
        let closeNow: ClientConnection? = state.withLock { state in
            state.connecting = nil
            switch result {
            case .success(let connection):
                state.nextDelay = nil
                state.nextAttempt = nil
                state.lastFailure = nil
                if state.closed { return connection }
                state.connection = connection
            case .failure(let error):
                let delay = state.nextDelay ?? configuration.backoff.initial
                state.nextAttempt = .now + delay
                state.nextDelay = min(configuration.backoff.maximum, delay * configuration.backoff.multiplier)
                state.lastFailure = RPCError(
                    code: .unavailable, message: "cannot connect to \(configuration.host):\(configuration.port): \(error)")
            }
            return nil
        }
        if let closeNow { closeNow.channel.close(promise: nil) }
    }
}

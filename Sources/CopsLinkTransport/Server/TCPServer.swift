public import CopsLinkCore
import CopsLinkWire
public import CoreMetrics
public import Logging
public import NIOCore
public import NIOPosix
public import NIOSSL
import Synchronization

/// Serves an `RPCRouter` over TCP.
///
/// A swift-service-lifecycle `Service` whose `run()` is its whole life, as hummingbird's `Application`: `run()` binds,
/// serves until the task's graceful shutdown (its `ServiceGroup` on SIGTERM, say) or cancellation, drains, and
/// returns. There is no other way to start or stop it. Put it in a `ServiceGroup`, or use `withServer` for a scope
/// that cannot leak a running server; `listeningAddress` waits for the bound port.
public final class TCPServer: Sendable {
    /// Installs a protocol that lives in a module of its own (gRPC: `CopsLinkGRPC`) behind the protocol detector, on a
    /// connection whose first bytes chose it; the module depends on this one, never the other way round.
    public typealias ProtocolInstaller = @Sendable (ChannelPipeline.SynchronousOperations, ProtocolInstallContext) throws -> Void

    /// Reads per event-loop pass of a connection (NIO's read loop); a connection without an authenticated caller
    /// reads one (`ServerConnectionHandler`).
    static let maxMessagesPerRead: UInt = 16

    public let configuration: ServerConfiguration
    private let dispatcher: CallDispatcher
    private let installers: [ServerProtocol: ProtocolInstaller]
    private let group: any EventLoopGroup
    let logger: Logger
    private let metrics: ServerMetrics?
    /// Inbound bytes held by all connections (`ServerConfiguration.maxBufferedInboundBytes`).
    public let inboundBudget: InboundMemoryBudget
    /// Answer bytes held for clients that do not take them, by all connections (`ServerConfiguration.maxUnreadAnswerBytes`).
    public let unreadAnswerBudget: UnreadAnswerBudget
    /// The event loops' keyless share, when the server authenticates callers and the share is below 1.
    private let keylessPacing: KeylessPacing?
    private let state: Mutex<State>

    private struct State {
        var phase = Phase.idle
        var connections: ConnectionSlots<any Channel>
        /// Tasks waiting in `listeningAddress` for the bind, by a number of their own (to forget one on cancellation).
        var addressWaiters: [Int: CheckedContinuation<SocketAddress, any Error>] = [:]
        var nextWaiter = 0
    }

    /// Where `run()` is. Each phase comes once, in this order; `run()` moves it.
    private enum Phase {
        case idle
        case binding
        case listening(any Channel)
        /// Refusing new connections, waiting for the running calls (`GracefulShutdownEvent`).
        case draining
        case finished
    }

    /// Why `run()` or `listeningAddress` could not do what was asked.
    public struct LifecycleError: Error, CustomStringConvertible {
        public let description: String
    }

    /// - Parameter metricsFactory: where to record `ServerMetrics` (calls, latency, connections, bytes, rejected
    ///   frames); nil records none. Pass `MetricsSystem.factory` once the executable has bootstrapped it.
    /// - Parameter installers: the protocols served by other modules (`.grpc`: `GRPCServer.installer`); a protocol
    ///   enabled in `configuration.protocols` without its installer is not detected (its bytes get the native line).
    public init(
        configuration: ServerConfiguration, router: RPCRouter, interceptors: [any ServerInterceptor] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "copslink.server"),
        metricsFactory: (any MetricsFactory)? = nil, installers: [ServerProtocol: ProtocolInstaller] = [:]
    ) {
        self.configuration = configuration
        self.installers = installers
        self.dispatcher = CallDispatcher(
            router: router, interceptors: interceptors, maxConcurrentCalls: configuration.maxConcurrentCalls,
            maxOpenCallsAwaitingRequest: configuration.maxOpenCallsAwaitingRequest,
            failureLogBudget: FailureLogBudget(burst: configuration.serverLogBurst, perSecond: configuration.serverLogPerSecond),
            heldRequests: configuration.maxHeldRequestBytes > 0
                ? HeldRequestBudget(limit: configuration.maxHeldRequestBytes, perKeyLimit: configuration.maxHeldRequestBytesPerKey) : nil)
        self.group = group
        self.logger = logger
        self.metrics = metricsFactory.map { ServerMetrics(router: router, factory: $0) }
        self.inboundBudget = InboundMemoryBudget(limit: configuration.maxBufferedInboundBytes)
        self.unreadAnswerBudget = UnreadAnswerBudget(
            limit: configuration.maxUnreadAnswerBytes, perKeyLimit: configuration.maxUnreadAnswerBytesPerKey)
        // A share outside (0, 1] is taken as the nearest value in it (NaN as 1): a library caller's typo must not
        // trap at start, nor leave keyless connections no time at all.
        let keylessShare = configuration.keylessShare.isNaN ? 1 : min(1, max(0.01, configuration.keylessShare))
        self.keylessPacing =
            dispatcher.authenticatesCallers && keylessShare < 1
            ? KeylessPacing(
                share: keylessShare, burst: min(.hours(1), max(.zero, TimeAmount(configuration.keylessBurst))), metrics: metrics,
                budget: inboundBudget)
            : nil
        state = Mutex(State(connections: ConnectionSlots(limit: configuration.maxConnections)))
    }

    /// The bound address while listening; nil before `run()` has bound and once it drains.
    public var localAddress: SocketAddress? {
        state.withLock { state in
            guard case .listening(let listener) = state.phase else { return nil }
            return listener.localAddress
        }
    }

    /// The bound port while listening (useful with port 0); nil before `run()` has bound and once it drains.
    public var port: Int? { localAddress?.port }

    /// The bound address, once `run()` has bound it: waits for the bind, and throws the bind's error if it failed, or
    /// `LifecycleError` if the server is draining or has stopped.
    public var listeningAddress: SocketAddress {
        get async throws {
            let id = state.withLock { state in
                defer { state.nextWaiter += 1 }
                return state.nextWaiter
            }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SocketAddress, any Error>) in
                    let answer: Result<SocketAddress, any Error>? = state.withLock { state in
                        switch state.phase {
                        case .idle, .binding:
                            // Checked under the lock: a cancellation that came before this registration finds
                            // nothing to resume, so this is where it is seen.
                            if Task.isCancelled { return .failure(CancellationError()) }
                            state.addressWaiters[id] = continuation
                            return nil
                        case .listening(let listener):
                            return Self.address(of: listener)
                        case .draining, .finished:
                            return .failure(LifecycleError(description: "the server is not listening: it has shut down"))
                        }
                    }
                    if let answer { continuation.resume(with: answer) }
                }
            } onCancel: {
                state.withLock { $0.addressWaiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
            }
        }
    }

    private static func address(of listener: any Channel) -> Result<SocketAddress, any Error> {
        listener.localAddress.map { .success($0) } ?? .failure(LifecycleError(description: "the listening socket has no address"))
    }

    /// Records `copslink_server_inbound_buffered_bytes` (and `copslink_server_unread_answer_bytes`) once a second
    /// until the task is cancelled (with metrics on):
    /// native connections record it as they read, but gRPC streams and HTTP/JSON bodies count against the same
    /// budget without a read loop of their own.
    func recordInboundMemoryEverySecond() -> RepeatedTask? {
        guard let metrics else { return nil }
        let (budget, unreadAnswers) = (inboundBudget, unreadAnswerBudget)
        return group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            metrics.recordInboundBuffered(budget.usedBytes)
            metrics.recordUnreadAnswers(unreadAnswers.usedBytes)
        }
    }

    /// Binds and starts accepting connections; `run()`'s first step. Throws if the server ran before.
    func bind() async throws {
        try state.withLock { state in
            guard case .idle = state.phase else {
                throw LifecycleError(description: "run() was called on a TCPServer that has run already: make a new one")
            }
            state.phase = .binding
        }
        let listener: any Channel
        do {
            listener = try await makeBootstrap().bind(host: configuration.host, port: configuration.port).get()
        } catch {
            let waiters = state.withLock { state in
                state.phase = .finished
                defer { state.addressWaiters = [:] }
                return state.addressWaiters.values
            }
            for waiter in waiters { waiter.resume(throwing: error) }
            throw error
        }
        let waiters = state.withLock { state in
            state.phase = .listening(listener)
            defer { state.addressWaiters = [:] }
            return state.addressWaiters.values
        }
        let address = Self.address(of: listener)
        for waiter in waiters { waiter.resume(with: address) }
    }

    private func makeBootstrap() throws -> ServerBootstrap {
        // One TLS context for all connections: building it (certificates, keys) is the expensive part.
        let tlsContext = try configuration.tls.map { tls in
            var tls = tls
            // ALPN: the enabled protocols, unless the configuration names its own.
            if tls.applicationProtocols.isEmpty { tls.applicationProtocols = ServerProtocol.alpnIdentifiers(enabled: servedProtocols) }
            return try NIOSSLContext(configuration: tls)
        }
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: Self.maxMessagesPerRead)
            // A client's FIN after its last REQUEST reaches the handler as `inputClosed`: its calls are answered.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    // One trust per connection, shared by the slots (which close the oldest untrusted connection to
                    // make room at the limit) and the protocol's handler (which grants it).
                    let trust = ConnectionTrust(for: self.dispatcher)
                    try Self.installConnectionHandlers(
                        on: channel, configuration: self.configuration, dispatcher: self.dispatcher,
                        refusal: self.admit(channel, trust: trust), logger: self.logger, tlsContext: tlsContext,
                        metrics: self.metrics, budget: self.inboundBudget, unreadAnswers: self.unreadAnswerBudget,
                        installers: self.installers, trust: trust, keylessPacing: self.keylessPacing)
                }
            }
    }

    /// Installs the server side of one connection on `channel`: the outbound water marks, TLS (given a context) and
    /// the connection handler, exactly as the listener does for each accepted connection. Call it on the channel's
    /// event loop, before the channel becomes active. `budget` is the server's (a fresh one by default).
    ///
    /// The listener is the only production caller. It is exposed (as SPI) for harnesses that drive a server connection
    /// without sockets, such as the libFuzzer target `fuzz-connection` in `Fuzz/`, which installs it on a
    /// `NIOAsyncTestingChannel`: `@_spi(ConnectionHarness) import CopsLinkTransport`.
    @_spi(ConnectionHarness)
    public static func installConnectionHandlers(
        on channel: any Channel, configuration: ServerConfiguration, dispatcher: CallDispatcher, refusal: RejectionReason? = nil,
        logger: Logger, tlsContext: NIOSSLContext? = nil, metrics: ServerMetrics? = nil, budget: InboundMemoryBudget? = nil,
        unreadAnswers: UnreadAnswerBudget? = nil, installers: [ServerProtocol: ProtocolInstaller] = [:], trust: ConnectionTrust? = nil,
        keylessPacing: KeylessPacing? = nil
    ) throws {
        let trust = trust ?? ConnectionTrust(for: dispatcher)
        try channel.syncOptions?.setOption(
            .writeBufferWaterMark,
            value: .init(low: configuration.outboundLowWaterMark, high: configuration.outboundHighWaterMark))
        // Read small from the first byte until a caller authenticates, whatever the protocol (`UntrustedReads`).
        if dispatcher.authenticatesCallers { UntrustedReads.set(true, on: channel) }
        let sync = channel.pipeline.syncOperations
        // First in the pipeline, so that a keyless pass is timed whole, TLS included (`KeylessPacing`).
        if let keylessPacing, !trust.isTrusted { try sync.addHandler(KeylessPacer(pacing: keylessPacing, trust: trust)) }
        if let tlsContext { try sync.addHandler(NIOSSLServerHandler(context: tlsContext)) }
        let budget = budget ?? InboundMemoryBudget(limit: configuration.maxBufferedInboundBytes)
        let unreadAnswers =
            unreadAnswers
            ?? UnreadAnswerBudget(limit: configuration.maxUnreadAnswerBytes, perKeyLimit: configuration.maxUnreadAnswerBytesPerKey)
        // A connection that comes while the inbound budget is spent is refused in its own protocol's words, once its
        // first bytes have told which: the native GOAWAY REFUSED here, HTTP/JSON's 503 and gRPC's GOAWAY by their
        // handlers, which check the budget themselves.
        let native = { (connectedAt: NIODeadline?) in
            ServerConnectionHandler(
                dispatcher: dispatcher, configuration: configuration, refusal: refusal ?? (budget.isExhausted ? .overloaded : nil),
                logger: logger, metrics: metrics, budget: budget, unreadAnswers: unreadAnswers, connectedAt: connectedAt, trust: trust)
        }
        // A connection refused at accept (limit, shutdown) is answered by the native handler's GOAWAY whatever it speaks.
        let enabled = served(configuration.protocols, installers: installers)
        guard refusal == nil, enabled != [.native] else { return try sync.addHandler(native(nil)) }
        try sync.addHandler(
            ProtocolDetector(enabled: enabled, handshakeTimeout: configuration.handshakeTimeout, metrics: metrics) {
                chosen, pipeline, connectedAt in
                switch chosen {
                case .native: try pipeline.addHandler(native(connectedAt))
                case .http:
                    try HTTPJSONGateway.configure(
                        pipeline, dispatcher: dispatcher, configuration: configuration, metrics: metrics, budget: budget,
                        unreadAnswers: unreadAnswers, trust: trust)
                case .grpc:
                    guard let install = installers[.grpc] else { return try pipeline.addHandler(native(connectedAt)) }
                    try install(
                        pipeline,
                        ProtocolInstallContext(
                            dispatcher: dispatcher, configuration: configuration, budget: budget, metrics: metrics,
                            connectedAt: connectedAt, unreadAnswers: unreadAnswers, trust: trust))
                }
            })
    }

    /// The enabled protocols this server can serve: gRPC needs its installer.
    private var servedProtocols: Set<ServerProtocol> { Self.served(configuration.protocols, installers: installers) }

    private static func served(_ protocols: Set<ServerProtocol>, installers: [ServerProtocol: ProtocolInstaller]) -> Set<ServerProtocol> {
        protocols.filter { $0 != .grpc || installers[.grpc] != nil }
    }

    /// Registers a new connection; returns why it is refused, if it is. At the limit it takes the place of the
    /// oldest connection on which no caller has authenticated, which is closed (`ConnectionSlots`).
    private func admit(_ channel: any Channel, trust: ConnectionTrust) -> RejectionReason? {
        let id = ObjectIdentifier(channel)
        let (refusal, closing): (RejectionReason?, (any Channel)?) = state.withLock { state in
            switch state.phase {
            // A connection can be accepted before `bind()` has recorded the listener: `.binding` admits too.
            case .idle, .binding, .listening: break
            case .draining, .finished: return (.shuttingDown, nil)
            }
            switch state.connections.admit(id, channel, trust: trust) {
            case .admitted: return (nil, nil)
            case .admittedClosing(let oldest): return (nil, oldest)
            case .refused: return (.connectionLimit, nil)
            }
        }
        if let closing {
            // It has left the slots already; its own close callback below finds nothing to remove.
            metrics?.rejected(.untrustedConnectionReplaced)
            closing.close(promise: nil)
        }
        if refusal == nil {
            if let metrics {
                metrics.connectionsAccepted.increment()
                metrics.connectionsOpen.increment()
            }
            channel.closeFuture.whenComplete { [self] _ in
                state.withLock { $0.connections.remove(id) }
                metrics?.connectionsOpen.decrement()
            }
        }
        return refusal
    }

    /// True while the server is listening and not shutting down: what a readiness probe asks.
    public var isServing: Bool {
        state.withLock { state in
            guard case .listening = state.phase else { return false }
            return true
        }
    }

    /// Number of open connections.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Stops accepting, sends GOAWAY on every connection, lets in-flight calls finish within the grace period
    /// (`ServerConfiguration.shutdownGracePeriod`), then closes everything; `run()`'s last step.
    func drain() async {
        let (listener, connections): ((any Channel)?, [any Channel]) = state.withLock { state in
            defer { state.phase = .draining }
            guard case .listening(let listener) = state.phase else { return (nil, state.connections.connections) }
            return (listener, state.connections.connections)
        }
        try? await listener?.close()
        let deadline = NIODeadline.now() + TimeAmount(configuration.shutdownGracePeriod)
        for connection in connections {
            connection.triggerUserOutboundEvent(GracefulShutdownEvent(deadline: deadline), promise: nil)
        }
        for connection in connections {
            try? await connection.closeFuture.get()
        }
        state.withLock { $0.phase = .finished }
    }
}

/// What a protocol installed by another module shares with the server (`TCPServer.ProtocolInstaller`).
public struct ProtocolInstallContext: Sendable {
    public let dispatcher: CallDispatcher
    public let configuration: ServerConfiguration
    /// The server's inbound memory budget: what the protocol holds of its callers' bytes counts against it.
    public let budget: InboundMemoryBudget
    /// The server's call metrics, when it records any.
    public let metrics: ServerMetrics?
    /// When the connection became active: the handshake timeout counts from then, protocol detection included.
    public let connectedAt: NIODeadline?
    /// The server's unread-answer budget: what the protocol holds of its answers for clients that do not take them
    /// counts against it.
    public let unreadAnswers: UnreadAnswerBudget
    /// Whether a caller has authenticated on the connection: the protocol grants it, and the server's connection
    /// slots read it (`ConnectionSlots`).
    public let trust: ConnectionTrust

    public init(
        dispatcher: CallDispatcher, configuration: ServerConfiguration, budget: InboundMemoryBudget, metrics: ServerMetrics?,
        connectedAt: NIODeadline? = nil, unreadAnswers: UnreadAnswerBudget? = nil, trust: ConnectionTrust? = nil
    ) {
        self.trust = trust ?? ConnectionTrust(for: dispatcher)
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.budget = budget
        self.metrics = metrics
        self.connectedAt = connectedAt
        self.unreadAnswers =
            unreadAnswers
            ?? UnreadAnswerBudget(limit: configuration.maxUnreadAnswerBytes, perKeyLimit: configuration.maxUnreadAnswerBytesPerKey)
    }
}

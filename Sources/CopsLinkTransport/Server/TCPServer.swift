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
/// Use `withServer` so that the server cannot outlive its scope: it is shut down gracefully when the body returns.
public final class TCPServer: Sendable {
    public let configuration: ServerConfiguration
    private let dispatcher: CallDispatcher
    private let group: any EventLoopGroup
    private let logger: Logger
    private let metrics: ServerMetrics?
    /// Inbound bytes held by all connections (`ServerConfiguration.maxBufferedInboundBytes`).
    public let inboundBudget: InboundMemoryBudget
    private let state = Mutex(State())

    private struct State {
        var listener: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
    }

    /// - Parameter metricsFactory: where to record `ServerMetrics` (calls, latency, connections, bytes, rejected
    ///   frames); nil records none. Pass `MetricsSystem.factory` once the executable has bootstrapped it.
    public init(
        configuration: ServerConfiguration, router: RPCRouter, interceptors: [any ServerInterceptor] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "copslink.server"),
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.configuration = configuration
        self.dispatcher = CallDispatcher(router: router, interceptors: interceptors)
        self.group = group
        self.logger = logger
        self.metrics = metricsFactory.map { ServerMetrics(router: router, factory: $0) }
        self.inboundBudget = InboundMemoryBudget(limit: configuration.maxBufferedInboundBytes)
    }

    /// Starts a server, runs `body`, then shuts the server down gracefully.
    public static func withServer<Result: Sendable>(
        configuration: ServerConfiguration, router: RPCRouter, interceptors: [any ServerInterceptor] = [],
        logger: Logger = Logger(label: "copslink.server"), metricsFactory: (any MetricsFactory)? = nil,
        _ body: (TCPServer) async throws -> Result
    ) async throws -> Result {
        let server = TCPServer(
            configuration: configuration, router: router, interceptors: interceptors, logger: logger, metricsFactory: metricsFactory)
        try await server.start()
        do {
            let result = try await body(server)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// The bound address, once started.
    public var localAddress: SocketAddress? { state.withLock { $0.listener?.localAddress } }

    /// The bound port, once started (useful with port 0).
    public var port: Int? { localAddress?.port }

    /// Binds and starts accepting connections.
    public func start() async throws {
        // One TLS context for all connections: building it (certificates, keys) is the expensive part.
        let tlsContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A client's FIN after its last REQUEST reaches the handler as `inputClosed`: its calls are answered.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.installConnectionHandlers(
                        on: channel, configuration: self.configuration, dispatcher: self.dispatcher,
                        refusal: self.admit(channel), logger: self.logger, tlsContext: tlsContext, metrics: self.metrics,
                        budget: self.inboundBudget)
                }
            }
        let listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        state.withLock { $0.listener = listener }
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
        logger: Logger, tlsContext: NIOSSLContext? = nil, metrics: ServerMetrics? = nil, budget: InboundMemoryBudget? = nil
    ) throws {
        try channel.syncOptions?.setOption(
            .writeBufferWaterMark,
            value: .init(low: configuration.outboundLowWaterMark, high: configuration.outboundHighWaterMark))
        let sync = channel.pipeline.syncOperations
        if let tlsContext { try sync.addHandler(NIOSSLServerHandler(context: tlsContext)) }
        try sync.addHandler(ServerConnectionHandler(
            dispatcher: dispatcher, configuration: configuration, refusal: refusal, logger: logger, metrics: metrics,
            budget: budget ?? InboundMemoryBudget(limit: configuration.maxBufferedInboundBytes)))
    }

    /// Registers a new connection; returns why it is refused, if it is.
    private func admit(_ channel: any Channel) -> RejectionReason? {
        let id = ObjectIdentifier(channel)
        let refusal: RejectionReason? = state.withLock { state in
            if state.shuttingDown { return .shuttingDown }
            guard state.connections.count < configuration.maxConnections else { return .connectionLimit }
            if inboundBudget.isExhausted { return .overloaded }
            state.connections[id] = channel
            return nil
        }
        if refusal == nil {
            if let metrics {
                metrics.connectionsAccepted.increment()
                metrics.connectionsOpen.increment()
            }
            channel.closeFuture.whenComplete { [self] _ in
                _ = state.withLock { $0.connections.removeValue(forKey: id) }
                metrics?.connectionsOpen.decrement()
            }
        }
        return refusal
    }

    /// True while the server is listening and not shutting down: what a readiness probe asks.
    public var isServing: Bool { state.withLock { $0.listener != nil && !$0.shuttingDown } }

    /// Number of open connections.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Stops accepting, sends GOAWAY on every connection, lets in-flight calls finish within the grace period,
    /// then closes everything.
    public func shutdown(gracePeriod: Duration? = nil) async {
        let (listener, connections): ((any Channel)?, [any Channel]) = state.withLock { state in
            state.shuttingDown = true
            defer { state.listener = nil }
            return (state.listener, Array(state.connections.values))
        }
        try? await listener?.close()
        let deadline = NIODeadline.now() + TimeAmount(gracePeriod ?? configuration.shutdownGracePeriod)
        for connection in connections {
            connection.triggerUserOutboundEvent(GracefulShutdownEvent(deadline: deadline), promise: nil)
        }
        for connection in connections {
            try? await connection.closeFuture.get()
        }
    }
}

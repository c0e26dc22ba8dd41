public import NIOCore
public import NIOHTTP1
public import NIOPosix
import Synchronization

/// The operator's HTTP/1.1 endpoint beside the RPC port: `GET /metrics`, `/healthz` and `/readyz`.
///
/// It knows neither the RPC server nor the metrics backend; the executable hands both in as closures, so tests can
/// run it against a registry of their own. Every response closes its connection (`Connection: close`): scrapers and
/// probes open one connection per request anyway, and a server without keep-alive has no idle connections to bound.
public final class AdminHTTPServer: Sendable {
    /// What the endpoint serves.
    public struct Routes: Sendable {
        /// Appends the Prometheus text exposition (format 0.0.4) to the buffer.
        public var metrics: @Sendable (inout [UInt8]) -> Void
        /// True while the RPC server accepts calls: listening, not draining. `/readyz` answers 200 then, else 503.
        public var isReady: @Sendable () -> Bool

        public init(metrics: @escaping @Sendable (inout [UInt8]) -> Void, isReady: @escaping @Sendable () -> Bool) {
            self.metrics = metrics
            self.isReady = isReady
        }
    }

    public let host: String
    private let requestedPort: Int
    private let routes: Routes
    private let group: any EventLoopGroup
    private let listener = Mutex<(any Channel)?>(nil)
    /// Connections open now (`maximumConnections`).
    private let open = Atomic<Int>(0)
    /// Connections open at once; one past it is closed as it is accepted.
    public let maximumConnections: Int
    /// A connection is closed this long after it opened, answered or not: a trickling client cannot keep it.
    public let requestTimeout: TimeAmount

    /// Largest request body accepted (probes and scrapers send none); a larger one is answered 413 and closed.
    public static let maximumBodySize = 1024
    /// Bytes a connection may send in all (its request line, headers and body); past it the connection is closed.
    /// Probes and scrapers send a few hundred.
    public static let maximumRequestBytes = 16 << 10

    /// The endpoint takes no key, and without these bounds a client that trickled 78 KB heads over 20,000 connections
    /// held 4 GB of the server and every file descriptor it had, so that the RPC port accepted nothing: at most
    /// `maximumConnections` (64 by default) of at most `maximumRequestBytes` each, for at most `requestTimeout`
    /// (10 s by default) each.
    public init(
        host: String, port: Int, routes: Routes, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maximumConnections: Int = 64, requestTimeout: TimeAmount = .seconds(10)
    ) {
        self.maximumConnections = max(1, maximumConnections)
        self.requestTimeout = requestTimeout
        self.host = host
        self.requestedPort = port
        self.routes = routes
        self.group = group
    }

    /// The bound port once started (useful with port 0).
    public var port: Int? { listener.withLock { $0?.localAddress?.port } }

    public func start() async throws {
        let routes = self.routes
        let (maximumConnections, requestTimeout) = (self.maximumConnections, self.requestTimeout)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard self.open.wrappingAdd(1, ordering: .relaxed).newValue <= maximumConnections else {
                    self.open.wrappingSubtract(1, ordering: .relaxed)
                    return channel.close()
                }
                let deadline = channel.eventLoop.scheduleTask(in: requestTimeout) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in
                    deadline.cancel()
                    self.open.wrappingSubtract(1, ordering: .relaxed)
                }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(AdminRequestLimit())
                    // The HTTP decoder bounds the request line and headers (llhttp's 80 KiB); errors answer 400.
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try sync.addHandler(AdminHTTPHandler(routes: routes))
                }
            }
            .bind(host: host, port: requestedPort).get()
        listener.withLock { $0 = channel }
    }

    /// Stops listening. Requests being answered finish on their own.
    public func shutdown() async {
        let channel = listener.withLock { listener in
            defer { listener = nil }
            return listener
        }
        try? await channel?.close()
    }

    /// Starts an endpoint, runs `body`, then shuts it down.
    public static func withServer<Result: Sendable>(
        host: String, port: Int, routes: Routes, maximumConnections: Int = 64, requestTimeout: TimeAmount = .seconds(10),
        _ body: (AdminHTTPServer) async throws -> Result
    ) async throws -> Result {
        let server = AdminHTTPServer(
            host: host, port: port, routes: routes, maximumConnections: maximumConnections, requestTimeout: requestTimeout)
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
}

/// Closes a connection once it has sent more than `AdminHTTPServer.maximumRequestBytes`, before the HTTP decoder
/// (which would hold up to 80 KiB of a head). Event-loop bound.
final class AdminRequestLimit: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var received = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        guard received <= AdminHTTPServer.maximumRequestBytes else { return context.close(promise: nil) }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension AdminRequestLimit: Sendable {}

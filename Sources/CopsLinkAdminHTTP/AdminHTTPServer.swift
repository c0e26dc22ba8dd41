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

    /// Largest request body accepted (probes and scrapers send none); a larger one is answered 413 and closed.
    public static let maximumBodySize = 1024
    /// A connection that sends nothing for this long is closed, so half-open or trickling clients cannot pile up.
    public static let readTimeout: TimeAmount = .seconds(10)

    public init(host: String, port: Int, routes: Routes, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.requestedPort = port
        self.routes = routes
        self.group = group
    }

    /// The bound port once started (useful with port 0).
    public var port: Int? { listener.withLock { $0?.localAddress?.port } }

    public func start() async throws {
        let routes = self.routes
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: Self.readTimeout))
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
        host: String, port: Int, routes: Routes, _ body: (AdminHTTPServer) async throws -> Result
    ) async throws -> Result {
        let server = AdminHTTPServer(host: host, port: port, routes: routes)
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

import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Whether a connection still takes new calls; read by the pool from any thread.
final class ConnectionState: Sendable {
    private let accepting = Atomic<Bool>(true)
    var isAcceptingCalls: Bool { accepting.load(ordering: .acquiring) }
    func stopAcceptingCalls() { accepting.store(false, ordering: .releasing) }
}

/// One established, multiplexed connection to a server.
final class ClientConnection: Sendable {
    let channel: any Channel
    let state: ConnectionState
    let serverLimits: PeerLimits
    private let handler: NIOLoopBound<ClientConnectionHandler>
    private let receiveWindow: Int

    private init(
        channel: any Channel, state: ConnectionState, serverLimits: PeerLimits,
        handler: NIOLoopBound<ClientConnectionHandler>, receiveWindow: Int
    ) {
        self.channel = channel
        self.state = state
        self.serverLimits = serverLimits
        self.handler = handler
        self.receiveWindow = receiveWindow
    }

    /// How long closing a TLS connection waits for the server's `close_notify` at most (NIOSSL's default is 5 s).
    /// Nothing is left to receive by then, and a server too busy to read (a flood of connections without a key holds
    /// its reads back) made `copslink --timeout 10` return after 16 s, 5 of them spent closing.
    static let tlsCloseWait = TimeAmount.seconds(1)

    /// Connects, sends the preface and SETTINGS, and waits for the server's SETTINGS.
    static func connect(_ configuration: ClientConfiguration, eventLoop: any EventLoop) -> EventLoopFuture<ClientConnection> {
        let state = ConnectionState()
        let tlsContext: NIOSSLContext?
        do {
            tlsContext = try configuration.tls.map { tls in
                var tls = tls
                // ALPN: a server on a shared port installs the native protocol at once (PROTOCOL.md §2.1).
                if tls.applicationProtocols.isEmpty { tls.applicationProtocols = [ServerProtocol.native.alpnIdentifier] }
                tls.shutdownTimeout = min(tls.shutdownTimeout, tlsCloseWait)
                return try NIOSSLContext(configuration: tls)
            }
        } catch {
            return eventLoop.makeFailedFuture(
                RPCError(code: .invalidArgument, message: "the client's TLS configuration is unusable: \(error)"))
        }
        // SNI and hostname verification take a name; an IP address is checked against the certificate's IP entries.
        let serverName = configuration.tlsServerName ?? (Self.isIPAddress(configuration.host) ? nil : configuration.host)
        let ready = eventLoop.makePromise(of: PeerLimits.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext { try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)) }
                    try sync.addHandler(ClientConnectionHandler(configuration: configuration, ready: ready, state: state))
                }
            }
        let timeout = eventLoop.scheduleTask(in: TimeAmount(configuration.connectTimeout)) {
            ready.fail(
                RPCError(
                    code: .unavailable,
                    message: "the server did not complete the handshake within \(configuration.connectTimeout.secondsText)"))
        }
        return bootstrap.connect(host: configuration.host, port: configuration.port).flatMap { channel in
            channel.closeFuture.whenComplete { _ in
                ready.fail(RPCError(code: .unavailable, message: "the server closed the connection during the handshake"))
            }
            return ready.futureResult.flatMapThrowing { limits in
                timeout.cancel()
                let handler = try channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
                return ClientConnection(
                    channel: channel, state: state, serverLimits: limits,
                    handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                    receiveWindow: configuration.limits.initialWindowSize)
            }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }

    func makeCall(_ descriptor: MethodDescriptor) -> ClientCall {
        ClientCall(
            descriptor: descriptor, connection: handler, allocator: channel.allocator, serverLimits: serverLimits,
            receiveWindow: receiveWindow)
    }

    /// Hands `call` to the event loop, which starts it as soon as a slot is free.
    ///
    /// The frame is handed over, not shared, so that the handler patches the call id into it without copying it.
    func start(_ call: ClientCall, requestFrame: consuming ByteBuffer, timeout: Duration?, endsStream: Bool) {
        if handler.eventLoop.inEventLoop {
            handler.value.start(call, requestFrame: consume requestFrame, timeout: timeout, endsStream: endsStream)
        } else {
            let frame = requestFrame
            handler.eventLoop.execute { [handler] in
                handler.value.start(call, requestFrame: frame, timeout: timeout, endsStream: endsStream)
            }
        }
    }

    func close() async {
        try? await channel.close()
    }
}

extension ClientConnection {
    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

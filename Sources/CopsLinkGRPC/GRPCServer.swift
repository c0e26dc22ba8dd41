public import CopsLinkCore
public import CopsLinkTransport
public import NIOCore
import NIOHTTP2

/// gRPC over HTTP/2 on the server's port (PROTOCOL.md "gRPC over HTTP/2"): given to `TCPServer` as the `.grpc`
/// installer, it adds swift-nio-http2's connection handler, with the native limits as its SETTINGS, and a
/// `GRPCStreamHandler` on every stream the client opens.
public enum GRPCServer {
    /// For `TCPServer(…, installers: [.grpc: GRPCServer.installer])`.
    public static let installer: TCPServer.ProtocolInstaller = { pipeline, context in
        try configure(pipeline, context: context)
    }

    /// The native limits as HTTP/2 SETTINGS: concurrent calls → MAX_CONCURRENT_STREAMS, the header size →
    /// MAX_HEADER_LIST_SIZE, the per-call window → INITIAL_WINDOW_SIZE. The frame size stays HTTP/2's 16 KiB; the
    /// native frame limit bounds each gRPC message instead (`GRPCMessageReader`).
    static func settings(_ limits: ConnectionLimits) -> HTTP2Settings {
        [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: max(0, limits.maxConcurrentCalls)),
            HTTP2Setting(parameter: .maxHeaderListSize, value: max(0, limits.maxHeaderSize)),
            HTTP2Setting(parameter: .initialWindowSize, value: min(max(0, limits.initialWindowSize), Int(Int32.max)))
        ]
    }

    /// - Parameter context: the server's dispatcher, configuration, inbound memory budget (each stream counts the
    ///   request bytes it holds), unread-answer budget (each stream counts its answer DATA until it is sent) and call
    ///   metrics.
    public static func configure(_ pipeline: ChannelPipeline.SynchronousOperations, context: ProtocolInstallContext) throws {
        let (dispatcher, configuration, budget, metrics) = (context.dispatcher, context.configuration, context.budget, context.metrics)
        let trust = context.trust
        let state = GRPCConnectionState(
            configuration: configuration, unreadAnswers: context.unreadAnswers, serverLogBudget: dispatcher.failureLogBudget,
            trust: trust)
        // Stream channels run on their connection's event loop, where the state lives.
        let loopBoundState = NIOLoopBound(state, eventLoop: pipeline.eventLoop)
        var connectionConfiguration = NIOHTTP2Handler.ConnectionConfiguration()
        connectionConfiguration.initialSettings = settings(configuration.limits)
        var streamConfiguration = NIOHTTP2Handler.StreamConfiguration()
        // A stream's window: swift-nio-http2 moves each open stream's target by the change of INITIAL_WINDOW_SIZE when
        // the client acknowledges these SETTINGS, so a target below 65,535 could go negative for a stream opened
        // before that (it would never get a WINDOW_UPDATE). Hence at least 65,535; a stream opened before the ACK
        // may get up to 2 × window − 65,535 (PROTOCOL.md §19.3).
        streamConfiguration.targetWindowSize = min(max(65_535, configuration.limits.initialWindowSize), Int(Int32.max))
        // Before the HTTP/2 handler: no socket reads while the server's inbound budget is exhausted or the connection
        // is unwritable, and small ones until a caller authenticates.
        try pipeline.addHandler(GRPCReadGate(budget: budget, trust: trust))
        _ = try pipeline.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connectionConfiguration, streamConfiguration: streamConfiguration
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                // The stream handler reads when its call has room (HTTP/2 flow control holds the client meanwhile).
                try stream.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
                try stream.pipeline.syncOperations.addHandler(
                    GRPCStreamHandler(
                        dispatcher: dispatcher, configuration: configuration, connection: loopBoundState.value, budget: budget,
                        metrics: metrics))
            }
        }
        // A connection that comes while the inbound budget is spent gets GOAWAY at once, in HTTP/2's words.
        try pipeline.addHandler(
            GRPCConnectionHandler(
                state: state, configuration: configuration, metrics: metrics, connectedAt: context.connectedAt,
                refusal: budget.isExhausted ? .overloaded(budget: budget.limit) : nil))
    }
}

import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Prometheus
import Testing

@testable import CopsLinkGRPC

/// A gRPC connection's rules in time, on an EmbeddedChannel with its manual clock: the connection handler alone,
/// HTTP/2 frames in and out (swift-nio-http2's own handler is not under test).
@Suite("gRPC connection timers")
struct GRPCConnectionTimerTests {
    /// A connection handler on an EmbeddedChannel, connected; unless `preface` is false, the client's SETTINGS (its
    /// preface) have arrived.
    static func channel(
        metrics: ServerMetrics? = nil, preface: Bool = true, connectedAt: NIODeadline? = nil,
        _ adjust: (inout ServerConfiguration) -> Void
    ) throws -> (EmbeddedChannel, GRPCConnectionState) {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.idleTimeout = nil
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        adjust(&configuration)
        let state = GRPCConnectionState(configuration: configuration)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            GRPCConnectionHandler(state: state, configuration: configuration, metrics: metrics, connectedAt: connectedAt))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        if preface { try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .settings(.settings([])))) }
        while try channel.readInbound(as: HTTP2Frame.self) != nil {}
        return (channel, state)
    }

    /// A client that never completes its preface (the HTTP/2 magic and SETTINGS) is closed at the handshake timeout,
    /// counted from when the connection became active, as a native one is (§2.3); one whose SETTINGS came stays.
    @Test(arguments: [false, true])
    func aClientWithoutSettingsIsClosedAtTheHandshakeTimeout(sendsSettings: Bool) throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(router: RPCRouter(), factory: PrometheusMetricsFactory(registry: registry))
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.handshakeTimeout = .seconds(10)
        configuration.idleTimeout = nil
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        let channel = EmbeddedChannel()
        let connectedAt = channel.embeddedEventLoop.now
        // Protocol detection took 4 s of the 10.
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        try channel.pipeline.syncOperations.addHandler(
            GRPCConnectionHandler(
                state: GRPCConnectionState(configuration: configuration), configuration: configuration, metrics: metrics,
                connectedAt: connectedAt))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        if sendsSettings { try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .settings(.settings([])))) }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2_999))
        #expect(try Self.outbound(channel).isEmpty && channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let frames = try Self.outbound(channel)
        channel.embeddedEventLoop.run()
        let counted = registry.text.contains(
            #"copslink_server_frames_rejected_total{reason="handshake_timeout"} 1"#)
        if sendsSettings {
            #expect(frames.isEmpty && channel.isActive && !counted, "its preface was complete")
            channel.embeddedEventLoop.advanceTime(by: .seconds(60))
            #expect(channel.isActive)
            return
        }
        guard case .goAway(.maxID, .protocolError, let debugData?)? = frames.first else {
            Issue.record("expected GOAWAY PROTOCOL_ERROR, got \(frames)")
            return
        }
        #expect(String(buffer: debugData) == "no HTTP/2 SETTINGS within 10s")
        #expect(!channel.isActive && counted)
    }

    static func outbound(_ channel: EmbeddedChannel) throws -> [HTTP2Frame.FramePayload] {
        var frames: [HTTP2Frame.FramePayload] = []
        while let frame = try channel.readOutbound(as: HTTP2Frame.self) { frames.append(frame.payload) }
        return frames
    }

    static func isGoAway(_ payload: HTTP2Frame.FramePayload) -> Bool {
        if case .goAway(_, .noError, _) = payload { return true }
        return false
    }

    @Test func aConnectionWithoutStreamsForTheIdleTimeIsClosedWithGoAway() throws {
        let (channel, state) = try Self.channel { $0.idleTimeout = .seconds(30) }
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(try Self.outbound(channel).isEmpty && channel.isActive)
        // A stream holds the idle timer off; its close starts it again.
        state.streamOpened(id: 1)
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(try Self.outbound(channel).isEmpty && channel.isActive, "not idle while a stream is open")
        state.streamClosed()
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        try Self.expectGracefulDrain(channel, lastStreamID: 1)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    /// gRPC's graceful GOAWAY: GOAWAY naming every stream and a PING; once the PING is answered, the final GOAWAY
    /// naming `lastStreamID`.
    static func expectGracefulDrain(_ channel: EmbeddedChannel, lastStreamID: Int) throws {
        let first = try outbound(channel)
        guard first.count == 2, case .goAway(.maxID, .noError, _) = first[0], case .ping(let ping, ack: false) = first[1] else {
            Issue.record("expected GOAWAY and PING, got \(first)")
            return
        }
        #expect(channel.isActive, "open until the PING's ACK")
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(ping, ack: true)))
        let final = try outbound(channel)
        guard case .goAway(let last, .noError, _)? = final.first else {
            Issue.record("expected the final GOAWAY, got \(final)")
            return
        }
        #expect(last == HTTP2StreamID(lastStreamID))
    }

    /// A stream the client opened before it saw the GOAWAY is served, and named by the final GOAWAY.
    @Test func aStreamOpenedBeforeTheClientSawTheGoAwayIsServed() throws {
        let (channel, state) = try Self.channel { $0.idleTimeout = .seconds(30) }
        state.streamOpened(id: 1)
        state.streamClosed()
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        let first = try Self.outbound(channel)
        guard case .ping(let ping, ack: false)? = first.last else {
            Issue.record("expected GOAWAY and PING, got \(first)")
            return
        }
        state.streamOpened(id: 3)  // in flight when the GOAWAY went out
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(ping, ack: true)))
        let final = try Self.outbound(channel)
        guard case .goAway(let last, .noError, _)? = final.first else {
            Issue.record("expected the final GOAWAY, got \(final)")
            return
        }
        #expect(last == 3)
        channel.embeddedEventLoop.run()
        #expect(channel.isActive, "stream 3 is served")
        state.streamClosed()
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func atItsMaximumAgeAConnectionDrainsItsStreamsWithinTheGrace() throws {
        let (channel, state) = try Self.channel {
            $0.maxConnectionAge = .seconds(100)
            $0.maxConnectionAgeGrace = .seconds(30)
        }
        state.streamOpened()
        channel.embeddedEventLoop.advanceTime(by: .seconds(89))
        #expect(try Self.outbound(channel).isEmpty, "not before 90 s (100 s less its jitter)")
        channel.embeddedEventLoop.advanceTime(by: .seconds(22))
        #expect(try Self.outbound(channel).contains(where: Self.isGoAway), "GOAWAY by 110 s")
        channel.embeddedEventLoop.run()
        #expect(channel.isActive, "the open stream gets its grace")
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(!channel.isActive, "closed at the end of the grace")
    }

    @Test func anUnansweredKeepalivePingClosesTheConnection() throws {
        let (channel, state) = try Self.channel { $0.keepalive = KeepaliveConfiguration(interval: .seconds(20), timeout: .seconds(5)) }
        state.streamOpened()
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        let first = try Self.outbound(channel)
        guard case .ping(let data, ack: false)? = first.first else {
            Issue.record("expected a PING, got \(first)")
            return
        }
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(data, ack: true)))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(channel.isActive, "an answered PING keeps the connection")
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))  // the second PING, never answered
        #expect(try Self.outbound(channel).contains { if case .ping(_, ack: false) = $0 { true } else { false } })
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try Self.outbound(channel).contains(where: Self.isGoAway))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    /// A client that reads none of the answers (the connection stays past the outbound high-water mark) gets GOAWAY
    /// ENHANCE_YOUR_CALM at the unwritable timeout, counted as `slow_reader`, as a native one does; becoming writable
    /// again in time stops the clock.
    @Test func aConnectionUnwritableForTheUnwritableTimeoutIsClosed() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(router: RPCRouter(), factory: PrometheusMetricsFactory(registry: registry))
        let (channel, state) = try Self.channel(metrics: metrics) { $0.unwritableTimeout = .seconds(30) }
        state.streamOpened(id: 1)
        func setWritable(_ writable: Bool) {
            channel.isWritable = writable
            channel.pipeline.fireChannelWritabilityChanged()
        }
        setWritable(false)
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        setWritable(true)
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(try Self.outbound(channel).isEmpty && channel.isActive, "writable again within the timeout")
        setWritable(false)
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(try Self.outbound(channel).isEmpty && channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        let frames = try Self.outbound(channel)
        guard case .goAway(.maxID, .enhanceYourCalm, let debugData?)? = frames.first else {
            Issue.record("expected GOAWAY ENHANCE_YOUR_CALM, got \(frames)")
            return
        }
        #expect(String(buffer: debugData) == "the client left the server's answers unread for 30s")
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        #expect(registry.text.contains(#"copslink_server_frames_rejected_total{reason="slow_reader"} 1"#))
    }

    /// A PING flood ends with GOAWAY ENHANCE_YOUR_CALM `too_many_pings`, counted as the native one; PINGs that each
    /// follow an answer on a stream (a gRPC client's flow-control probes) do not.
    @Test func aPingFloodIsAnsweredWithEnhanceYourCalm() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(router: RPCRouter(), factory: PrometheusMetricsFactory(registry: registry))
        let (channel, state) = try Self.channel(metrics: metrics) { _ in }
        let ping = HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 7), ack: false))
        for _ in 0..<20 {
            state.answerSent()
            try channel.writeInbound(ping)
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(10))
        }
        #expect(try Self.outbound(channel).isEmpty && channel.isActive, "probes after answers are not strikes")
        for _ in 0..<5 { try channel.writeInbound(ping) }
        #expect(try Self.outbound(channel).isEmpty && channel.isActive, "five strikes are tolerated")
        try channel.writeInbound(ping)
        let frames = try Self.outbound(channel)
        guard case .goAway(.maxID, .enhanceYourCalm, let debugData?)? = frames.first else {
            Issue.record("expected GOAWAY ENHANCE_YOUR_CALM, got \(frames)")
            return
        }
        #expect(String(buffer: debugData) == "too_many_pings")
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        #expect(registry.text.contains(#"copslink_server_frames_rejected_total{reason="too_many_pings"} 1"#))
    }

    /// A client's FIN closes the connection at once, streams open or not: HTTP/2 never half-closes with a FIN.
    @Test func theClientsFinClosesTheConnection() throws {
        let (channel, state) = try Self.channel { _ in }
        state.streamOpened(id: 1)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func theClientsGoAwayClosesTheConnectionOnceItsStreamsAreDone() throws {
        let (channel, state) = try Self.channel { _ in }
        state.streamOpened()
        try channel.writeInbound(
            HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .rootStream, errorCode: .noError, opaqueData: nil)))
        channel.embeddedEventLoop.run()
        #expect(channel.isActive, "its stream is still open")
        state.streamClosed()
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    /// Its GOAWAY carries the reason as debug data, and the close counts as the native one does.
    @Test func theServersGoAwaySaysWhyAndTheCloseIsCounted() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(router: RPCRouter(), factory: PrometheusMetricsFactory(registry: registry))
        let (channel, _) = try Self.channel(metrics: metrics) { $0.idleTimeout = .seconds(1) }
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        let frames = try Self.outbound(channel)
        guard case .goAway(.maxID, .noError, let debugData?)? = frames.first else {
            Issue.record("expected a GOAWAY with debug data, got \(frames)")
            return
        }
        #expect(String(buffer: debugData) == "the connection was idle")
        let text = registry.text
        #expect(text.contains(#"copslink_server_frames_rejected_total{reason="idle_timeout"} 1"#))
    }

    /// A call still running when the maximum age's grace ends is answered UNAVAILABLE, as a native call is (§14),
    /// before the connection closes.
    @Test func aCallStillRunningAtTheEndOfTheGraceIsAnsweredUnavailable() async throws {
        let (channel, state) = try Self.channel {
            $0.maxConnectionAge = .seconds(100)
            $0.maxConnectionAgeGrace = .seconds(30)
        }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.requestIdleTimeout = nil
        var router = RPCRouter()
        router.registerClientStreaming(GRPCRequestFlowTests.method) {
            (_: RequestStream<StreamingInputCallRequest>, _) async throws -> ServerResponse<StreamingInputCallResponse> in
            await GRPCRequestFlowTests.Gate().wait()  // until cancelled
            return ServerResponse(message: StreamingInputCallResponse(messageCount: 0))
        }
        let stream = EmbeddedChannel(loop: channel.embeddedEventLoop)
        try stream.pipeline.syncOperations.addHandler(
            GRPCStreamHandler(
                dispatcher: CallDispatcher(router: router), configuration: configuration, connection: state,
                budget: InboundMemoryBudget(limit: 1 << 20)))
        try stream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": GRPCRequestFlowTests.method.path, ":authority": "x",
            "content-type": "application/grpc", "te": "trailers"
        ]
        try stream.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
        channel.embeddedEventLoop.advanceTime(by: .seconds(110))
        #expect(try Self.outbound(channel).contains(where: Self.isGoAway))
        #expect(channel.isActive, "the running call gets its grace")
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        var trailers: HPACKHeaders?
        while let frame = try stream.readOutbound(as: HTTP2Frame.FramePayload.self) {
            if case .headers(let answer) = frame, answer.endStream { trailers = answer.headers }
        }
        #expect(trailers?.first(name: "grpc-status") == "14")
        #expect(
            trailers?.first(name: "grpc-message")
                == "the connection reached its maximum age and its grace period ended before the call finished")
        #expect(!channel.isActive)
        _ = try? stream.finish()
    }
}

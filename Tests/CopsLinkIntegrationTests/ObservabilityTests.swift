import CopsLinkAdminHTTP
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import Prometheus
import Testing

/// One plain HTTP/1.1 exchange over a raw socket: the status code and the body.
private func httpRequest(port: Int, method: String = "GET", path: String) async throws -> (status: Int, body: String) {
    let peer = try await RawPeer.connect(
        port: port, firstBytes: ByteBuffer(string: "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n"))
    let response = String(buffer: try await peer.readToEnd(limit: .seconds(30)))
    await peer.close()
    let statusLine = response.prefix { $0 != "\r" }
    let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? -1
    let body = response.firstRange(of: "\r\n\r\n").map { String(response[$0.upperBound...]) } ?? ""
    return (status, body)
}

/// A server recording into its own Prometheus registry (the global MetricsSystem is never bootstrapped in tests),
/// and the admin endpoint exporting that registry, both on port 0.
private func withObservedServer<Result: Sendable>(
    probe: ProbeService = ProbeService(),
    interceptors: [any ServerInterceptor] = [],
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (TCPServer, _ rpcPort: Int, _ adminPort: Int) async throws -> Result
) async throws -> Result {
    let registry = PrometheusCollectorRegistry()
    var factory = PrometheusMetricsFactory(registry: registry)
    factory.durationHistogramBuckets[ServerMetrics.callDurationLabel] = ServerMetrics.callDurationBuckets
    var configuration = ServerConfiguration.forTesting()
    configure(&configuration)
    let server = TCPServer(
        configuration: configuration, router: makeTestRouter(probe: probe), interceptors: interceptors, logger: quietLogger(),
        metricsFactory: factory)
    return try await AdminHTTPServer.withServer(
        host: "127.0.0.1", port: 0,
        routes: .init(metrics: { registry.emit(into: &$0) }, isReady: { server.isServing })
    ) { admin in
        try await withRunningServer(server) { running in try await body(server, running.port, try #require(admin.port)) }
    }
}

@Suite("Metrics and the admin endpoint")
struct ObservabilityTests {
    /// The inbound-memory gauge follows the server's budget whatever holds the bytes: gRPC streams and HTTP/JSON
    /// bodies have no native read loop to record it, so the server records it every second too.
    @Test func theInboundMemoryGaugeFollowsTheBudgetWithoutNativeReads() async throws {
        try await withObservedServer { server, _, adminPort in
            server.inboundBudget.adjust(by: 12_345)
            defer { server.inboundBudget.adjust(by: -12_345) }
            var seen = false
            for _ in 0..<40 where !seen {
                try await Task.sleep(for: .milliseconds(100))
                seen = try await httpRequest(port: adminPort, path: "/metrics").body.contains(
                    "copslink_server_inbound_buffered_bytes 12345")
            }
            #expect(seen)
        }
    }

    @Test func metricsCountCallsByMethodAndStatusLatencyAndRejectedFrames() async throws {
        try await withObservedServer { _, rpcPort, adminPort in
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: rpcPort)) { transport in
                let service = TestService.Client(wrapping: RPCClient(transport: transport))
                for _ in 0..<3 { _ = try await service.emptyCall() }
                await expectRPCError(.notFound) {
                    _ = try await service.unaryCall(SimpleRequest(responseStatus: EchoStatus(code: 5, message: "nope")))
                }
                await expectRPCError(.unimplemented) {
                    _ = try await RPCClient(transport: transport).unary(
                        MethodDescriptor(service: "no.such.Service", method: "Call"), request: EmptyMessage(), as: EmptyMessage.self)
                }
            }
            // A protocol violation: END from a client.
            let peer = try await RawPeer.handshake(port: rpcPort)
            try await peer.send(RawFrames.frame(.end, 1))
            let goAway = try await peer.expectGoAway()
            #expect(goAway?.code == .protocolError)
            await peer.close()

            let (status, text) = try await httpRequest(port: adminPort, path: "/metrics")
            #expect(status == 200)
            let lines = Set(text.split(separator: "\n").map(String.init))
            let emptyCall = #"method="/copslink.rpc.v1.TestService/EmptyCall""#
            let unaryCall = #"method="/copslink.rpc.v1.TestService/UnaryCall""#
            for expected in [
                #"copslink_server_calls_total{\#(emptyCall),status="OK"} 3"#,
                #"copslink_server_calls_total{\#(unaryCall),status="NOT_FOUND"} 1"#,
                #"copslink_server_calls_total{method="unknown",status="UNIMPLEMENTED"} 1"#,
                #"copslink_server_call_duration_seconds_count{\#(emptyCall)} 3"#,
                #"copslink_server_call_duration_seconds_count{\#(unaryCall)} 1"#,
                #"copslink_server_call_duration_seconds_bucket{\#(emptyCall),le="+Inf"} 3"#,
                #"copslink_server_calls_in_flight{\#(emptyCall)} 0.0"#,
                #"copslink_server_frames_rejected_total{reason="end_from_client"} 1"#,
                #"copslink_server_frames_rejected_total{reason="frame_too_large"} 0"#,
                "copslink_server_connections_accepted_total 2"
            ] {
                #expect(lines.contains(expected), "missing: \(expected)")
            }
            #expect(text.contains("# TYPE copslink_server_call_duration_seconds histogram"))
            #expect(!text.contains("no.such.Service"), "client-chosen paths never become labels")
            let received = lines.first { $0.hasPrefix("copslink_server_received_bytes_total ") }
            let sent = lines.first { $0.hasPrefix("copslink_server_sent_bytes_total ") }
            #expect((received?.split(separator: " ").last.flatMap { Int($0) } ?? 0) > 100)
            #expect((sent?.split(separator: " ").last.flatMap { Int($0) } ?? 0) > 100)
        }
    }

    /// The keyless share is in the pipeline of every connection of a server that authenticates callers
    /// (`KeylessPacing`): with no time saved up and a small share, a keyless connection's reads wait (counted), and
    /// are then processed (its PING is answered); a client with a key is served meanwhile. The rules themselves are
    /// `KeylessShareTests`, on a manual clock.
    @Test func keylessReadsPastTheShareWaitAndAreThenProcessed() async throws {
        try await withObservedServer(
            interceptors: [MetadataAuthenticator()],
            configure: {
                $0.keylessShare = 0.01
                $0.keylessBurst = .zero
            }
        ) { _, rpcPort, adminPort in
            // No time saved up: after each read, the next waits ninety-nine times what it took.
            let keyless = try await RawPeer.handshake(port: rpcPort)
            // 24 KiB of PING ACKs the server ignores, then a PING it answers, in one write. A keyless connection
            // reads 16 KiB per event-loop pass, so the server reads them in two reads, one pass apart: the second
            // follows the first far sooner than the first's wait ends, whatever the machine's speed (the sleeps
            // between separate writes this test used to make outlasted that wait on a loaded machine).
            var flood = ByteBuffer()
            while flood.readableBytes < 24 * 1024 {
                flood.writeFrame(.ping, flags: .ack, rawPayload: ByteBuffer(integer: UInt64(7)))
            }
            flood.writeFrame(.ping, rawPayload: ByteBuffer(integer: UInt64(42)))
            try await keyless.send(flood)
            var answer = try await keyless.nextFrame(includingControl: true)
            while let frame = answer, frame.type != .ping { answer = try await keyless.nextFrame(includingControl: true) }
            #expect(answer?.flags.contains(.ack) == true)
            #expect(answer?.payload.getInteger(at: answer?.payload.readerIndex ?? 0, as: UInt64.self) == 42)
            // A client with a key gets its answer while keyless connections wait.
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: rpcPort)) { transport in
                let key = CallOptions(metadata: ["authorization": .text("Bearer k")])
                _ = try await TestService.Client(wrapping: RPCClient(transport: transport)).emptyCall(options: key)
            }
            await keyless.close()
            let metrics = try await httpRequest(port: adminPort, path: "/metrics").body
            let held = metrics.split(separator: "\n").first { $0.hasPrefix("copslink_server_keyless_reads_held_total ") }
            #expect((held?.split(separator: " ").last.flatMap { Double($0) } ?? 0) >= 1, "\(held ?? "no such series")")
        }
    }

    @Test func rejectionsAreCountedByReason() async throws {
        let probe = ProbeService()
        try await withObservedServer(
            probe: probe,
            configure: {
                $0.frameReadTimeout = .milliseconds(300)
                $0.limits.maxConcurrentCalls = 1
                $0.maxConnections = 2
            }
        ) { _, rpcPort, adminPort in
            // bad_preface: an SSH client on the RPC port.
            let http = try await RawPeer.connect(port: rpcPort)
            try await http.send(ByteBuffer(string: "SSH-2.0-OpenSSH_9.6\r\n"))
            _ = try await http.readToEnd(limit: .seconds(30))
            await http.close()

            // frame_too_large: a length field over the limit.
            let large = try await RawPeer.handshake(port: rpcPort)
            var length = ByteBuffer()
            length.writeInteger(UInt32.max)
            try await large.send(length)
            #expect(try await large.expectGoAway()?.code == .frameTooLarge)
            await large.close()

            // frame_read_timeout: half a frame, then nothing.
            let slow = try await RawPeer.handshake(port: rpcPort)
            var partial = RawFrames.frame(.ping, 0, message: nil)
            try await slow.send(partial.readSlice(length: 6)!)
            let goAway = try await slow.expectGoAway()
            #expect(goAway?.message == "no complete frame within 0.3s of its first bytes")
            await slow.close()

            // too_many_calls: a raw peer ignores the one-slot-per-connection limit the Swift client respects.
            let eager = try await RawPeer.handshake(port: rpcPort)
            try await eager.send(RawFrames.request(1, ProbeService.hang, message: SimpleRequest()))
            try await expectEvent(probe, "started")
            try await eager.send(RawFrames.request(2))
            var refused: EndHeader?
            while refused == nil, let frame = try await eager.nextFrame(limit: .seconds(30)) {
                if frame.type == .end { refused = try EndHeader(from: frame.header) }
            }
            #expect(refused?.statusCode == StatusCode.resourceExhausted.rawValue)
            // connection_limit: the eager peer's and this one are the two allowed, the third is refused.
            let idle = try await RawPeer.handshake(port: rpcPort)
            let extra = try await RawPeer.connect(port: rpcPort)
            #expect(try await extra.expectGoAway()?.code == .refused)
            await extra.close()
            await idle.close()
            // A cancelled call counts as CANCELLED, one cut off by the connection's close as UNAVAILABLE.
            try await eager.send(RawFrames.frame(.cancel, 1, header: CancelHeader(reason: "test")))
            try await eager.send(RawFrames.request(3, ProbeService.hang, message: SimpleRequest()))
            let events = [try await probe.nextEvent(), try await probe.nextEvent()]
            #expect(Set(events) == ["cancelled", "started"], "call 1 cancelled, call 3 started, in either order")
            await eager.close()

            var expected = Set(
                ["bad_preface", "frame_too_large", "frame_read_timeout", "too_many_calls", "connection_limit"].map {
                    #"copslink_server_frames_rejected_total{reason="\#($0)"} 1"#
                })
            expected.insert(#"copslink_server_calls_total{method="/copslink.rpc.v1.TestService/EmptyCall",status="RESOURCE_EXHAUSTED"} 1"#)
            // The close reaches the server after the peer has moved on: wait for it to be counted.
            expected.insert(#"copslink_server_calls_total{method="/copslink.test.Probe/Hang",status="CANCELLED"} 1"#)
            expected.insert(#"copslink_server_calls_total{method="/copslink.test.Probe/Hang",status="UNAVAILABLE"} 1"#)
            expected.insert(#"copslink_server_calls_in_flight{method="/copslink.test.Probe/Hang"} 0.0"#)
            var missing = expected
            for _ in 0..<300 where !missing.isEmpty {
                let (_, text) = try await httpRequest(port: adminPort, path: "/metrics")
                missing = expected.subtracting(text.split(separator: "\n").map(String.init))
                if !missing.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(missing.isEmpty, "missing: \(missing.sorted())")
        }
    }

    @Test func healthzReadyzAndUnknownRequests() async throws {
        try await withObservedServer { _, _, adminPort in
            let health = try await httpRequest(port: adminPort, path: "/healthz")
            #expect(health.status == 200)
            let ready = try await httpRequest(port: adminPort, path: "/readyz")
            #expect(ready.status == 200)
            let missing = try await httpRequest(port: adminPort, path: "/nothing")
            #expect(missing.status == 404)
            let post = try await httpRequest(port: adminPort, method: "POST", path: "/metrics")
            #expect(post.status == 405)
            let withQuery = try await httpRequest(port: adminPort, path: "/healthz?verbose=1")
            #expect(withQuery.status == 200)
        }
    }

    /// The admin endpoint takes no key, so what a client can hold there is bounded: connections past
    /// `maximumConnections` are closed as they are accepted, a connection that sends more than
    /// `maximumRequestBytes` is closed, and every connection is closed `requestTimeout` after it opened, however it
    /// trickles. (A trickling client held 4 GB and every file descriptor over 20,000 connections before.)
    @Test func theAdminEndpointBoundsConnectionsRequestBytesAndTime() async throws {
        let routes = AdminHTTPServer.Routes(metrics: { _ in }, isReady: { true })
        let head = ByteBuffer(string: "GET /metrics HTTP/1.1\r\nHost: t\r\n")
        /// Whether the server closes the connection within 15 s (a close past the rules' times comes only from them).
        func closes(_ peer: RawPeer) async throws -> Bool {
            let start = ContinuousClock.now
            _ = try await peer.readToEnd(limit: .seconds(15))
            return ContinuousClock.now - start < .seconds(15)
        }
        try await AdminHTTPServer.withServer(
            host: "127.0.0.1", port: 0, routes: routes, maximumConnections: 2, requestTimeout: .seconds(60)
        ) {
            admin in
            let port = try #require(admin.port)
            let held = [try await RawPeer.connect(port: port, firstBytes: head), try await RawPeer.connect(port: port, firstBytes: head)]
            // Both are open: each has sent part of a head, and the listener has taken them before the third.
            try await Task.sleep(for: .milliseconds(200))
            let third = try await RawPeer.connect(port: port, firstBytes: head)
            #expect(try await closes(third), "a third connection is closed at once")
            await held[1].close()
            // Over the byte limit: the head goes on past 16 KiB.
            try await Task.sleep(for: .milliseconds(200))
            let large = try await RawPeer.connect(port: port, firstBytes: head)
            try await large.send(ByteBuffer(string: "X-A: " + String(repeating: "a", count: 17_000) + "\r\n"))
            #expect(try await closes(large), "a connection past the byte limit is closed")
            await held[0].close()
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await httpRequest(port: port, path: "/healthz").status == 200, "slots free again once those closed")
        }
        try await AdminHTTPServer.withServer(host: "127.0.0.1", port: 0, routes: routes, requestTimeout: .milliseconds(500)) { admin in
            let trickler = try await RawPeer.connect(port: try #require(admin.port), firstBytes: head)
            let trickling = Task {
                for _ in 0..<100 {
                    try await trickler.send(ByteBuffer(string: "X-B: b\r\n"))
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(try await closes(trickler), "a connection is closed at its request timeout, however it trickles")
            trickling.cancel()
        }
    }

    @Test func readyzAnswers503BeforeListeningAndWhileDraining() async throws {
        let probe = ProbeService()
        var configuration = ServerConfiguration.forTesting()
        configuration.shutdownGracePeriod = .seconds(60)
        let server = TCPServer(configuration: configuration, router: makeTestRouter(probe: probe), logger: quietLogger())
        try await AdminHTTPServer.withServer(
            host: "127.0.0.1", port: 0, routes: .init(metrics: { _ in }, isReady: { server.isServing })
        ) { admin in
            let adminPort = admin.port!
            let early = try await httpRequest(port: adminPort, path: "/readyz")
            #expect(early.status == 503, "not listening yet")
            try await withRunningServer(server) { running in
                let listening = try await httpRequest(port: adminPort, path: "/readyz")
                #expect(listening.status == 200)

                try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: running.port)) {
                    transport in
                    let client = RPCClient(transport: transport)
                    let hanger = Task {
                        try await client.serverStreaming(ProbeService.hang, request: SimpleRequest(), as: SimpleResponse.self) {
                            try await $0.collect()
                        }
                    }
                    try await expectEvent(probe, "started")
                    await running.shutDownGracefully()
                    var draining = -1
                    for _ in 0..<200 {
                        draining = try await httpRequest(port: adminPort, path: "/readyz").status
                        if draining == 503 { break }
                        try await Task.sleep(for: .milliseconds(2))
                    }
                    #expect(draining == 503, "draining")
                    let health = try await httpRequest(port: adminPort, path: "/healthz")
                    #expect(health.status == 200, "the process still runs")
                    hanger.cancel()
                }
            }
        }
    }
}

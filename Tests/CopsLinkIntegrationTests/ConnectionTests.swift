import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import Synchronization
import Testing

@Suite("Connections, limits and lifecycle over TCP")
struct ConnectionTests {
    @Test(arguments: [100, 10])
    func thousandConcurrentUnaryCallsOnOneConnection(serverLimit: Int) async throws {
        try await withTestClient(.tcp, server: { $0.limits.maxConcurrentCalls = serverLimit }) { client in
            let service = TestService.Client(wrapping: client)
            let sizes = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for index in 0..<1_000 {
                    group.addTask {
                        let response = try await service.unaryCall(
                            SimpleRequest(responseSize: UInt32(index % 97), payload: [UInt8](repeating: 1, count: index % 13)),
                            // Not the point here: 0.8 s alone, over 30 s once in the parallel suite on a slow machine.
                            options: CallOptions(timeout: .seconds(120)))
                        #expect(response.receivedSize == UInt32(index % 13))
                        return (index, response.payload?.count ?? -1)
                    }
                }
                return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
            }
            #expect(sizes.count == 1_000)
            #expect(sizes.allSatisfy { $0.value == $0.key % 97 })
        }
    }

    @Test func fullClientQueueFailsWithATypedError() async throws {
        let probe = ProbeService()
        try await withTestClient(.tcp, probe: probe, server: { $0.limits.maxConcurrentCalls = 1 }, client: { $0.maxQueuedCalls = 2 }) {
            client in
            let hangers = (0..<3).map { _ in
                Task {
                    try await client.serverStreaming(ProbeService.hang, request: SimpleRequest(), as: SimpleResponse.self) {
                        try await $0.collect()
                    }
                }
            }
            try await expectEvent(probe, "started")
            // Until both other hangers wait in the queue, a short call is queued too and runs out of time instead.
            var refusal: RPCError?
            for _ in 0..<100 where refusal == nil {
                do {
                    _ = try await TestService.Client(wrapping: client).emptyCall(options: CallOptions(timeout: .milliseconds(50)))
                    Issue.record("a call got a slot although the only one is taken")
                } catch let error as RPCError {
                    if error.code == .resourceExhausted {
                        refusal = error
                    } else if error.code != .deadlineExceeded {
                        Issue.record("unexpected \(error)")
                    }
                }
            }
            #expect(refusal?.message.contains("client call queue is full: 2 calls are waiting") == true)
            for hanger in hangers { hanger.cancel() }
        }
    }

    @Test func queuedCallWaitsOnlyWithinItsDeadline() async throws {
        let probe = ProbeService()
        try await withTestClient(.tcp, probe: probe, server: { $0.limits.maxConcurrentCalls = 1 }) { client in
            let hanger = Task {
                try await client.serverStreaming(ProbeService.hang, request: SimpleRequest(), as: SimpleResponse.self) {
                    try await $0.collect()
                }
            }
            try await expectEvent(probe, "started")
            let start = ContinuousClock.now
            await expectRPCError(.deadlineExceeded) {
                _ = try await TestService.Client(wrapping: client).emptyCall(options: CallOptions(timeout: .milliseconds(200)))
            }
            #expect(ContinuousClock.now - start < .seconds(60), "bounded; without the behaviour under test the call would never end")
            hanger.cancel()
            // The slot is free again.
            _ = try await TestService.Client(wrapping: client).emptyCall(options: CallOptions(timeout: .seconds(30)))
        }
    }

    @Test func slowStreamDoesNotBlockAFastOneAndStaysBounded() async throws {
        let probe = ProbeService()
        try await withTestClient(.tcp, probe: probe, client: { $0.limits.initialWindowSize = 128 << 10 }) { client in
            let service = TestService.Client(wrapping: client)
            try await client.serverStreaming(ProbeService.flood, request: SimpleRequest(responseSize: 40), as: SimpleResponse.self) {
                responses in
                var iterator = responses.makeAsyncIterator()
                _ = try await iterator.next()
                try await Task.sleep(for: .milliseconds(300))
                // 128 KiB of credit holds two or three 64 KiB messages in flight, never the whole stream.
                #expect(probe.written.load(ordering: .relaxed) <= 4)
                for _ in 0..<20 { _ = try await service.unaryCall(SimpleRequest(responseSize: 100)) }
                var count = 1
                while try await iterator.next() != nil { count += 1 }
                #expect(count == 40)
            }
            #expect(probe.written.load(ordering: .relaxed) == 40)
        }
    }

    @Test func silentServerIsDeclaredDeadByKeepalive() async throws {
        let silent = try await SilentServer.start()
        var configuration = ClientConfiguration.forTesting(port: silent.port)
        configuration.keepalive = KeepaliveConfiguration(interval: .milliseconds(300), timeout: .milliseconds(300))
        try await TCPClientTransport.withTransport(configuration: configuration) { transport in
            let start = ContinuousClock.now
            let error = await expectRPCError(.unavailable) {
                _ = try await TestService.Client(wrapping: RPCClient(transport: transport)).emptyCall()
            }
            #expect(error?.message.contains("did not answer a keepalive PING") == true, "\(String(describing: error))")
            #expect(ContinuousClock.now - start < .seconds(60), "bounded; without the behaviour under test the call would never end")
        }
        await silent.stop()
    }

    @Test func clientEnforcesTheDeadlineWhenTheServerIsSilent() async throws {
        let silent = try await SilentServer.start()
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: silent.port)) { transport in
            let start = ContinuousClock.now
            await expectRPCError(.deadlineExceeded) {
                _ = try await TestService.Client(wrapping: RPCClient(transport: transport)).emptyCall(
                    options: CallOptions(timeout: .milliseconds(200)))
            }
            #expect(ContinuousClock.now - start < .seconds(60), "bounded; without the behaviour under test the call would never end")
        }
        await silent.stop()
    }

    @Test func clientReconnectsAfterTheServerComesBack() async throws {
        let first = TCPServer(configuration: ServerConfiguration.forTesting(), router: makeTestRouter(), logger: quietLogger())
        var configuration = ClientConfiguration.forTesting(port: 0)
        configuration.backoff.initial = .milliseconds(50)
        // The client outlives the first server (stopped when its scope ends) and reconnects to the second.
        let transport = try await withRunningServer(first) { running in
            configuration.port = running.port
            let transport = TCPClientTransport(configuration: configuration)
            do {
                _ = try await TestService.Client(wrapping: RPCClient(transport: transport)).emptyCall()
            } catch {
                await transport.close()
                throw error
            }
            return transport
        }
        do {
            await expectRPCError(.unavailable) { _ = try await TestService.Client(wrapping: RPCClient(transport: transport)).emptyCall() }
            let second = TCPServer(
                configuration: ServerConfiguration(host: "127.0.0.1", port: configuration.port), router: makeTestRouter(),
                logger: quietLogger())
            try await withRunningServer(second) { _ in
                let client = TestService.Client(wrapping: RPCClient(transport: transport))
                var succeeded = false
                for _ in 0..<50 where !succeeded {
                    do {
                        _ = try await client.emptyCall()
                        succeeded = true
                    } catch {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                #expect(succeeded)
            }
        } catch {
            await transport.close()
            throw error
        }
        await transport.close()
    }

    @Test func connectionsBeyondTheLimitAreRefused() async throws {
        try await withTCPServer(configure: { $0.maxConnections = 1 }) { _, port in
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { first in
                _ = try await TestService.Client(wrapping: RPCClient(transport: first)).emptyCall()
                try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { second in
                    let error = await expectRPCError(.unavailable) {
                        _ = try await TestService.Client(wrapping: RPCClient(transport: second)).emptyCall()
                    }
                    #expect(error?.message.contains("at its limit of 1 connections") == true)
                }
            }
        }
    }

    /// Keyless clients cannot lock others out by holding every connection slot: at the limit a new connection takes
    /// the place of the oldest one on which no caller has authenticated, never of one with a key (`ConnectionSlots`).
    @Test func atTheLimitANewConnectionReplacesTheOldestKeylessOne() async throws {
        /// Reads until the server closes `peer`; records an issue if it stays open.
        func expectClosed(_ peer: RawPeer, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            do {
                var frame = try await peer.nextFrame(includingControl: true)
                while frame != nil { frame = try await peer.nextFrame(includingControl: true) }
            } catch let error as RPCError where error.code == .deadlineExceeded {
                Issue.record("\(what) is still open", sourceLocation: sourceLocation)
            }
            await peer.close()
        }
        try await withTestServer(
            serving: makeTestRouter(), interceptors: [MetadataAuthenticator()], configure: { $0.maxConnections = 2 }, logger: quietLogger()
        ) { server in
            let port = try #require(server.port)
            // Two keyless connections that finish the handshake and stay idle: every slot.
            let oldest = try await RawPeer.handshake(port: port)
            let younger = try await RawPeer.handshake(port: port)
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { transport in
                let service = TestService.Client(wrapping: RPCClient(transport: transport))
                let key = CallOptions(metadata: ["authorization": .text("Bearer k")])
                // Admitted in place of the oldest keyless connection.
                _ = try await service.emptyCall(options: key)
                try await expectClosed(oldest, "the oldest keyless connection")
                // The next one replaces the younger keyless connection, not the one a key has been used on.
                let next = try await RawPeer.handshake(port: port)
                try await expectClosed(younger, "the younger keyless connection")
                _ = try await service.emptyCall(options: key)
                #expect(server.connectionCount == 2)
                // With a key on every connection, a new one is refused.
                var keyed = ByteBuffer()
                keyed.writeFrame(
                    .request, flags: .endStream, callID: 1,
                    header: RequestHeader(method: TestService.Method.emptyCall.path, metadata: ["authorization": .text("Bearer k")]),
                    payload: EmptyMessage())
                try await next.send(keyed)
                while let frame = try await next.nextFrame(), frame.type != .end {}
                let refused = try await RawPeer.connect(port: port)
                #expect(try await refused.expectGoAway()?.code == .refused)
                await refused.close()
                await next.close()
            }
        }
    }

    @Test func oversizedMessagesAreRejectedWithPreciseErrors() async throws {
        try await withTestClient(.tcp, server: { $0.limits.maxFrameSize = 40_000 }, client: { $0.limits.maxFrameSize = 30_000 }) { client in
            let service = TestService.Client(wrapping: client)
            let request = await expectRPCError(.resourceExhausted) {
                _ = try await service.unaryCall(SimpleRequest(payload: [UInt8](repeating: 0, count: 50_000)))
            }
            #expect(request?.message.contains("exceeds the server's maximum frame size of 40000 bytes") == true)
            let response = await expectRPCError(.resourceExhausted) {
                _ = try await service.unaryCall(SimpleRequest(responseSize: 35_000))
            }
            #expect(response?.message.contains("exceeds the client's maximum frame size of 30000 bytes") == true)
            // The connection is still good.
            let afterwards = try await service.unaryCall(SimpleRequest(responseSize: 100))
            #expect(afterwards.payload?.count == 100)
        }
    }

    @Test func metadataIsCheckedBeforeSending() async throws {
        try await withTestClient(.tcp, server: { $0.limits.maxHeaderSize = 1_024 }) { client in
            let service = TestService.Client(wrapping: client)
            let tooLarge = await expectRPCError(.resourceExhausted) {
                _ = try await service.emptyCall(options: CallOptions(metadata: ["x-big": .text(String(repeating: "a", count: 2_000))]))
            }
            #expect(tooLarge?.message.contains("exceeds the server's maximum header size of 1024 bytes") == true)
            let invalid = await expectRPCError(.invalidArgument) {
                _ = try await service.emptyCall(options: CallOptions(metadata: ["Upper-Case": .text("x")]))
            }
            #expect(invalid?.message.contains("'Upper-Case'") == true)
            let reserved = await expectRPCError(.invalidArgument) {
                _ = try await service.emptyCall(options: CallOptions(metadata: ["copslink-secret": .text("x")]))
            }
            #expect(reserved?.message.contains("reserved prefix") == true)
            _ = try await service.emptyCall()
        }
    }

    @Test func unaryCallRefusedByGoAwayIsRetriedOnANewConnection() async throws {
        let server = try await GoAwayOnFirstCallServer.start()
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port)) { transport in
            _ = try await TestService.Client(wrapping: RPCClient(transport: transport)).emptyCall(
                options: CallOptions(timeout: .seconds(30)))
        }
        #expect(server.connections.load(ordering: .relaxed) == 2)
        await server.stop()
    }

    /// The Swift client's reaction to an idle GOAWAY: its next call opens a new connection. The rule itself (when
    /// the GOAWAY comes, its code and text) is `IdleTimeoutTests` in CopsLinkTransportTests, on a manual clock.
    ///
    /// The idle time is 3 s, not less: each call (and each of its transparent retries) must reach the server within
    /// the idle time of its connection's handshake, and with the whole suite running on two shared cores a 1 s idle
    /// time lost that race three times in a row (UNAVAILABLE "the server is going away (the connection was idle for
    /// 1s)").
    @Test func clientsReconnectAfterAnIdleGoAway() async throws {
        try await withTCPServer(configure: { $0.idleTimeout = .seconds(3) }) { server, port in
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { transport in
                let client = TestService.Client(wrapping: RPCClient(transport: transport))
                _ = try await client.emptyCall()
                try await Task.sleep(for: .milliseconds(3_500))
                _ = try await client.emptyCall()
            }
        }
    }

    /// The Swift client's reaction to a maximum-age GOAWAY: with four workers calling back to back, every call
    /// succeeds across the reconnections, which do happen (the calls arrive from several client ports). The rule
    /// itself is `MaxConnectionAgeTests`, on a manual clock.
    @Test func callsSucceedAcrossMaximumAgeReconnections() async throws {
        /// The client ports the calls came from: one per connection.
        struct Peers: ServerInterceptor {
            let seen = LockedBox<Set<String>>([])
            func intercept(
                context: ServerContext, next: @Sendable (ServerContext) async throws -> CallOutcome
            ) async throws -> CallOutcome {
                seen.withLock { _ = $0.insert(context.peer) }
                return try await next(context)
            }
        }
        let peers = Peers()
        try await withTestServer(
            serving: makeTestRouter(probe: ProbeService()), interceptors: [peers],
            configure: {
                // Not shorter: on a loaded machine a new connection's handshake and first call must fit in its age
                // (at 1 s and at 2 s, three transparent attempts in a row met connections already past it with the whole
                // suite running).
                $0.maxConnectionAge = .seconds(4)
                $0.maxConnectionAgeGrace = .seconds(5)
            }, logger: quietLogger()
        ) { server in
            let port = try #require(server.port)
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { transport in
                let client = TestService.Client(wrapping: RPCClient(transport: transport))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            // Until three connections served calls: about 8-12 s, much longer on a loaded machine.
                            let end = ContinuousClock.now + .seconds(60)
                            while ContinuousClock.now < end, peers.seen.value.count < 3 {
                                _ = try await client.emptyCall(options: CallOptions(timeout: .seconds(30)))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
        #expect(peers.seen.value.count >= 3, "a minute of calls on connections of at most 4.4 s came over \(peers.seen.value.count)")
    }

    @Test func messagesBeforeAnErrorStatusAreDelivered() async throws {
        try await withTestClient(.tcp) { client in
            let request = StreamingOutputCallRequest(
                responseParameters: [ResponseParameters(size: 1), ResponseParameters(size: 2), ResponseParameters(size: 3)],
                responseStatus: EchoStatus(code: StatusCode.dataLoss.rawValue, message: "after three"))
            let received = LockedBox(0)
            await expectRPCError(.dataLoss) {
                try await TestService.Client(wrapping: client).streamingOutputCall(request) { responses in
                    for try await _ in responses { received.withLock { $0 += 1 } }
                }
            }
            #expect(received.value == 3)
        }
    }
}

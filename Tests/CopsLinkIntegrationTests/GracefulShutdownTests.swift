import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

/// A server running as copslink-server runs it, in a `ServiceGroup`.
struct RunningServer: Sendable {
    let server: TCPServer
    let port: Int
    let group: ServiceGroup
    let run: Task<Void, any Error>

    /// What SIGTERM does to copslink-server: the group's graceful shutdown, which drains the server.
    func shutDownGracefully() async { await group.triggerGracefulShutdown() }

    /// Waits for the server's `run()` (and so its group's) to return.
    func stopped() async throws { try await run.value }
}

/// Runs `server` in a `ServiceGroup` for the duration of `body` (called once it listens), shuts it down gracefully
/// when `body` returns unless `body` did, and returns once the server's `run()` has returned.
func withRunningServer<Result: Sendable>(_ server: TCPServer, _ body: (RunningServer) async throws -> Result) async throws -> Result {
    let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], cancellationSignals: [], logger: quietLogger())
    // Unstructured, so that `body` can await its end (`stopped()`); cancelled with the test.
    let run = Task { try await group.run() }
    return try await withTaskCancellationHandler {
        do {
            let port = try #require(try await server.listeningAddress.port)
            let result = try await body(RunningServer(server: server, port: port, group: group, run: run))
            await group.triggerGracefulShutdown()
            try await run.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = await run.result
            throw error
        }
    } onCancel: {
        run.cancel()
    }
}

/// The drain of PROTOCOL.md §14, in process: the server as a swift-service-lifecycle `Service` in a `ServiceGroup`,
/// whose graceful shutdown ServiceLifecycleTestKit triggers (or the group's `triggerGracefulShutdown()`). (Tests/CopsLinkLoadTests/GracefulShutdownTests sends SIGTERM to a real
/// copslink-server process.)
@Suite("Graceful shutdown in a ServiceGroup")
struct GracefulShutdownTests {
    func makeServer(probe: ProbeService, gracePeriod: Duration = .seconds(60)) -> TCPServer {
        var configuration = ServerConfiguration.forTesting()
        configuration.shutdownGracePeriod = gracePeriod
        return TCPServer(configuration: configuration, router: makeTestRouter(probe: probe), logger: quietLogger())
    }

    /// A call running at the trigger completes; a later REQUEST on its connection gets UNAVAILABLE (§14 step 3); a new
    /// connection is refused (step 1); the connection closes when its last call ends (step 4), and `run()` returns.
    @Test(.timeLimit(.minutes(1))) func drainLetsRunningCallsFinishAndRefusesNewOnes() async throws {
        let probe = ProbeService()
        let server = makeServer(probe: probe)
        let runReturned = try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], cancellationSignals: [], logger: quietLogger())
                tasks.addTask { try await group.run() }
                let port = try #require(try await server.listeningAddress.port)
                #expect(server.isServing)

                let peer = try await RawPeer.handshake(port: port)
                try await peer.send(RawFrames.request(1, ProbeService.hold, message: SimpleRequest(responseSize: 5)))
                try await expectEvent(probe, "started")

                trigger.triggerGracefulShutdown()
                let goAway = try #require(try await peer.expectGoAway())
                #expect(goAway == GoAwayHeader(lastCallID: 1, code: .noError, message: "the server is shutting down"))
                #expect(!server.isServing, "a readiness probe sees the drain")

                try await peer.send(RawFrames.request(3))
                let refused = try #require(try await peer.nextFrame(limit: .seconds(10)))
                #expect(refused.type == .end && refused.callID == 3)
                let status = try EndHeader(from: refused.header)
                #expect(status.statusCode == StatusCode.unavailable.rawValue)
                #expect(status.statusMessage == "the server is shutting down; retry the call on a new connection")

                await #expect(throws: (any Error).self, "the listener is closed") { _ = try await RawPeer.connect(port: port) }

                probe.release()
                var frames: [(FrameType, UInt64)] = []
                while let frame = try await peer.nextFrame(limit: .seconds(10)) {
                    frames.append((frame.type, frame.callID))
                    guard frame.type == .end, frame.callID == 1 else { continue }
                    // A unary call's END carries its response (§5).
                    #expect(try EndHeader(from: frame.header).statusCode == StatusCode.ok.rawValue)
                    #expect(try SimpleResponse(from: Array(frame.payload.readableBytesView)).payload?.count == 5)
                }
                #expect(frames.map { "\($0.0)/\($0.1)" } == ["\(FrameType.end)/1"], "the running call's END, then the server closes")
                await peer.close()

                try await tasks.waitForAll()
                #expect(server.connectionCount == 0)
                return true
            }
        }
        #expect(runReturned)
    }

    /// The same drain through `TCPClientTransport`: the running call's response arrives; once the server has stopped, the
    /// next call fails UNAVAILABLE.
    @Test(.timeLimit(.minutes(1))) func clientSeesTheRunningCallFinishAndTheNextRefused() async throws {
        let probe = ProbeService()
        try await withRunningServer(makeServer(probe: probe)) { running in
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: running.port)) {
                transport in
                let client = TestService.Client(wrapping: RPCClient(transport: transport))
                _ = try await client.emptyCall()
                let inFlight = Task {
                    try await RPCClient(transport: transport).unary(
                        ProbeService.hold, request: SimpleRequest(responseSize: 5), as: SimpleResponse.self
                    ).message
                }
                try await expectEvent(probe, "started")
                await running.shutDownGracefully()
                probe.release()
                let finished = try await inFlight.value
                #expect(finished.payload?.count == 5)
                try await running.stopped()
                let error = await expectRPCError(.unavailable) { _ = try await client.emptyCall() }
                #expect(error != nil)
            }
        }
    }

    /// A call that outlives the grace period is ended UNAVAILABLE and its handler cancelled (§14 step 5).
    @Test(.timeLimit(.minutes(1))) func shutdownGracePeriodIsBounded() async throws {
        let probe = ProbeService()
        try await withRunningServer(makeServer(probe: probe, gracePeriod: .milliseconds(200))) { running in
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
                let error = await expectRPCError(.unavailable) { _ = try await hanger.value }
                #expect(error?.message == "the server shut down before the call finished")
                try await expectEvent(probe, "cancelled")
            }
        }
    }

    /// A server runs once: a second `run()` throws instead of binding again.
    @Test(.timeLimit(.minutes(1))) func aServerRunsOnce() async throws {
        let server = makeServer(probe: ProbeService())
        try await withRunningServer(server) { _ in }
        await #expect(throws: TCPServer.LifecycleError.self) { try await server.run() }
        await #expect(throws: TCPServer.LifecycleError.self) { _ = try await server.listeningAddress }
    }
}

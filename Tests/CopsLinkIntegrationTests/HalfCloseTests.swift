import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import NIOCore
import Testing

/// A client that half-closes (TCP FIN after its last REQUEST) gets every call it sent answered, then the server
/// closes (PROTOCOL.md §14, "Client half-close").
@Suite("Client half-close")
struct HalfCloseTests {
    @Test func callsSentBeforeTheFINAreAnsweredThenTheServerCloses() async throws {
        try await withTCPServer { _, port in
            let peer = try await RawPeer.handshake(port: port)
            // A call still running when the FIN arrives, and one that arrives in the same write as the FIN.
            try await peer.send(RawFrames.request(1, ProbeService.nap, message: SimpleRequest(responseSize: 3, sleepMillis: 300)))
            try await peer.send(RawFrames.request(2))
            try await peer.halfClose()
            var ended: [UInt64: UInt32] = [:]
            while let frame = try await peer.nextFrame(limit: .seconds(10)) {
                if frame.type == .end { ended[frame.callID] = try EndHeader(from: frame.header).statusCode }
            }
            #expect(ended == [1: 0, 2: 0], "both calls end OK before the server closes")
            await peer.close()
        }
    }

    /// A FIN from a client that closed its socket entirely still cuts its calls off: the handler is cancelled.
    @Test(.timeLimit(.minutes(1))) func aClosedClientsCallsAreStillCancelled() async throws {
        let probe = ProbeService()
        try await withTCPServer(probe: probe) { _, port in
            let peer = try await RawPeer.handshake(port: port)
            try await peer.send(RawFrames.request(1, ProbeService.hang, message: SimpleRequest()))
            try await expectEvent(probe, "started")
            await peer.close()
            try await expectEvent(probe, "cancelled")
        }
    }

    @Test func aFINBeforeTheHandshakeCloses() async throws {
        try await withTCPServer { _, port in
            let peer = try await RawPeer.connect(port: port)
            try await peer.halfClose()
            let rest = try await peer.readToEnd(limit: .seconds(10))
            #expect(rest.readableBytes == 0)
            await peer.close()
        }
    }
}

import CopsLinkMessages
import CopsLinkCore
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import Testing

/// The slowloris defence: a frame that has started arriving must complete within `frameReadTimeout`.
@Suite("Frame read timeout")
struct FrameReadTimeoutTests {
    /// A PING frame: 26 bytes on the wire.
    private static func ping(_ value: UInt8) -> [UInt8] {
        var buffer = RawFrames.raw(type: FrameType.ping.rawValue, headerLength: 0, body: [0, 0, 0, 0, 0, 0, 0, value])
        return buffer.readBytes(length: buffer.readableBytes)!
    }

    @Test func aFrameTrickledByteByByteIsClosedAtTheTimeout() async throws {
        try await withTCPServer(configure: { $0.frameReadTimeout = .milliseconds(500) }) { _, port in
            let peer = try await RawPeer.handshake(port: port)
            let bytes = Self.ping(1)
            let start = ContinuousClock.now
            // 26 bytes at one per 200 ms would take over 5 s; the server must not wait for them.
            let trickler = Task {
                for byte in bytes {
                    try await peer.send(ByteBuffer(bytes: [byte]))
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            let goAway = try await peer.expectGoAway()
            let elapsed = ContinuousClock.now - start
            trickler.cancel()
            #expect(goAway?.code == .protocolError)
            #expect(goAway?.message == "no complete frame within 0.5s of its first bytes")
            #expect(elapsed >= .milliseconds(450), "not before the timeout")
            #expect(elapsed < .seconds(5), "before the trickle would have completed the frame; \(elapsed)")
            let rest = try await peer.readToEnd(limit: .seconds(30))
            #expect(rest.readableBytes == 0, "closed after the GOAWAY")
            await peer.close()
        }
    }
}

import CopsLinkMessages
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// A client may not announce a frame or header size too small for the server's own answers (PROTOCOL.md §2.2).
@Suite("SETTINGS minimums")
struct SettingsMinimumTests {
    private static func handshake(_ settings: SettingsHeader) -> ByteBuffer {
        var bytes = ByteBuffer()
        Preface.write(to: &bytes)
        bytes.writeFrame(.settings, header: settings, payload: NoMessage.payload)
        return bytes
    }

    @Test(
        "a max_frame_size or max_header_size below the minimum gets GOAWAY PROTOCOL_ERROR naming it",
        arguments: [
            (SettingsHeader(maxFrameSize: 16_383), "SETTINGS max_frame_size 16383 is below the minimum of 16384"),
            (SettingsHeader(maxFrameSize: 1), "SETTINGS max_frame_size 1 is below the minimum of 16384"),
            (SettingsHeader(maxHeaderSize: 1_023), "SETTINGS max_header_size 1023 is below the minimum of 1024")
        ])
    func refused(settings: SettingsHeader, message: String) async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.send(Self.handshake(settings))
        let frames = try await harness.frames()
        #expect(frames.map(\.type) == [.settings, .goAway])  // the server's own SETTINGS, then the refusal; no ACK
        let goAway = try #require(try ServerConnectionHarness.goAway(frames))
        #expect(goAway.code == .protocolError)
        #expect(goAway.message == message)
        #expect(!harness.channel.isActive)
    }

    @Test(
        "the minimums themselves and 0 (the default) are accepted",
        arguments: [
            SettingsHeader(maxFrameSize: 16_384, maxHeaderSize: 1_024), SettingsHeader()
        ])
    func accepted(settings: SettingsHeader) async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.send(Self.handshake(settings))
        #expect(try await harness.frames().map(\.type) == [.settings, .settings])
        #expect(harness.channel.isActive)
        await harness.close()
    }
}

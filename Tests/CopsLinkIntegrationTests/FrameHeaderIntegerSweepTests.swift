import CCopsLinkProtos
import CProtobufC
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import Testing

/// Issue 10, class 1, on the frame level: every integer field of the `copslink.rpc.v1` frame headers (from their
/// protobuf-c descriptors), the call id of each frame type and the PING payload get the extreme values of their
/// type over a raw socket. Each gets the answer PROTOCOL.md documents or a GOAWAY, and the server keeps accepting
/// connections. A trap in the transport kills the test process.
@Suite("Integer sweep of frame headers", .timeLimit(.minutes(2)))
struct FrameHeaderIntegerSweepTests {
    /// The REQUEST header of a Health/Check call; swept fields are appended to it.
    static let requestHeaderBase = ProtobufBytes.field(1, Health.Method.check.path)

    @Test func settingsFieldsInTheHandshakeAndLater() async throws {
        try await withTCPServer { _, port in
            for (label, header) in Self.encodings(copslink__rpc__v1__settings__descriptor) {
                // As the client's first SETTINGS: the server ACKs it (§2.2); then a call still gets its END.
                var first = ByteBuffer()
                Preface.write(to: &first)
                var settings = Self.frame(.settings, header: header)
                first.writeBuffer(&settings)
                let peer = try await RawPeer.connect(port: port, firstBytes: first)
                if try await expectAnswer(peer, "handshake SETTINGS \(label)", { $0.type == .settings && $0.flags.contains(.ack) }) {
                    try await peer.send(RawFrames.request(1, Health.Method.check, flags: .endStream, message: HealthCheckRequest()))
                    _ = try await expectAnswer(peer, "call after SETTINGS \(label)", { $0.type == .end && $0.callID == 1 })
                }
                await peer.close()

                // As a later SETTINGS on an established connection: ACKed too.
                let later = try await RawPeer.handshake(port: port)
                try await later.send(Self.frame(.settings, header: header))
                _ = try await expectAnswer(later, "later SETTINGS \(label)", { $0.type == .settings && $0.flags.contains(.ack) })
                await later.close()
            }
            try await expectServing(port)
        }
    }

    @Test func requestHeaderFields() async throws {
        try await withTCPServer { _, port in
            for (label, header) in Self.encodings(copslink__rpc__v1__request_header__descriptor) {
                let peer = try await RawPeer.handshake(port: port)
                try await peer.send(
                    Self.frame(.request, flags: [.endStream, .hasMessage], callID: 1, header: Self.requestHeaderBase + header))
                _ = try await expectAnswer(peer, "REQUEST \(label)", { $0.type == .end && $0.callID == 1 })
                await peer.close()
            }
            try await expectServing(port)
        }
    }

    @Test func windowUpdateAndCancelFieldsOnAnOpenCall() async throws {
        try await withTCPServer { _, port in
            let cases =
                Self.encodings(copslink__rpc__v1__window_update__descriptor).map { (FrameType.windowUpdate, $0) }
                + Self.encodings(copslink__rpc__v1__cancel_header__descriptor).map { (FrameType.cancel, $0) }
            for (type, (label, header)) in cases {
                let peer = try await RawPeer.handshake(port: port)
                // A bidirectional call the client keeps open: no message, no END_STREAM.
                try await peer.send(RawFrames.request(1, TestService.Method.fullDuplexCall, flags: [], message: nil))
                try await peer.send(Self.frame(type, callID: 1, header: header))
                try await expectPingAnswered(peer, "\(type) \(label)")
                await peer.close()
            }
            try await expectServing(port)
        }
    }

    /// The server does not use a client GOAWAY's fields; with no call running it closes at once, without a GOAWAY
    /// of its own (§14).
    @Test func goAwayFields() async throws {
        try await withTCPServer { _, port in
            for (label, header) in Self.encodings(copslink__rpc__v1__go_away__descriptor) {
                let peer = try await RawPeer.handshake(port: port)
                try await peer.send(Self.frame(.goAway, header: header))
                var sawClose = false
                while true {
                    let frame = try await peer.nextFrame(includingControl: true)
                    guard let frame else {
                        sawClose = true
                        break
                    }
                    if frame.type == .goAway {
                        sawClose = true
                        break
                    }
                }
                #expect(sawClose, "GOAWAY \(label): the server closes")
                await peer.close()
            }
            try await expectServing(port)
        }
    }

    /// Every PING is answered with an ACK carrying the same 8 bytes (§13), whatever they are.
    @Test(arguments: (IntegerKind.fixed64.values + IntegerKind.sfixed64.values).map { $0.2 })
    func pingPayload(_ payload: [UInt8]) async throws {
        try await withTCPServer { _, port in
            let peer = try await RawPeer.handshake(port: port)
            var buffer = ByteBuffer()
            buffer.writeFrame(.ping, rawPayload: ByteBuffer(bytes: payload))
            try await peer.send(buffer)
            _ = try await expectAnswer(
                peer, "PING \(payload)",
                {
                    $0.type == .ping && $0.flags.contains(.ack) && Array($0.payload.readableBytesView) == payload
                })
            await peer.close()
            try await expectServing(port)
        }
    }

    /// Call ids up to 2^64−1 open calls (§6); frames other than REQUEST for an id never opened get GOAWAY
    /// `PROTOCOL_ERROR` (§15.2); call id 0 on a REQUEST likewise.
    @Test func callIDs() async throws {
        try await withTCPServer { _, port in
            for id: UInt64 in [0, 1, UInt64(Int64.max), 1 << 63, .max] {
                let peer = try await RawPeer.handshake(port: port)
                try await peer.send(RawFrames.request(id, Health.Method.check, flags: .endStream, message: HealthCheckRequest()))
                _ = try await expectAnswer(peer, "REQUEST on call \(id)", { $0.type == .end && $0.callID == id && id != 0 })
                await peer.close()
                for type in [FrameType.message, .cancel, .windowUpdate] {
                    let peer = try await RawPeer.handshake(port: port)
                    let header: [UInt8] = type == .windowUpdate ? ProtobufBytes.field(1, varint: 1) : []
                    try await peer.send(Self.frame(type, flags: type == .message ? [.endStream] : [], callID: id, header: header))
                    try await expectPingAnswered(peer, "\(type) on call \(id)")
                    await peer.close()
                }
            }
            try await expectServing(port)
        }
    }

    // MARK: - Helpers

    /// `(label, header bytes)` for every swept value of every integer field of a header message.
    static func encodings(_ descriptor: ProtobufCMessageDescriptor) -> [(String, [UInt8])] {
        // CancelHeader has no integer field today; the others must yield cases, or the walk is broken.
        let name = String(cString: descriptor.name)
        let encodings = withUnsafePointer(to: descriptor) { pointer in
            IntegerField.all(in: pointer).flatMap { $0.encodings().map { ($0.label, $0.bytes) } }
        }
        #expect(!encodings.isEmpty || name == "copslink.rpc.v1.CancelHeader", "no integer field found in \(name)")
        return encodings
    }

    static func frame(_ type: FrameType, flags: FrameFlags = [], callID: UInt64 = 0, header: [UInt8]) -> ByteBuffer {
        RawFrames.raw(type: type.rawValue, flags: flags.rawValue, callID: callID, headerLength: UInt32(header.count), body: header)
    }

    /// Reads until a frame `answer` accepts (true) or a GOAWAY (false); records an issue on a close without GOAWAY
    /// or silence.
    private func expectAnswer(
        _ peer: RawPeer, _ what: String, _ answer: (Frame) -> Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Bool {
        do {
            while let frame = try await peer.nextFrame(includingControl: true) {
                if answer(frame) { return true }
                if frame.type == .goAway { return false }
            }
            Issue.record("\(what): the server closed the connection without an answer or GOAWAY", sourceLocation: sourceLocation)
        } catch let error as RPCError where error.code == .deadlineExceeded {
            Issue.record("\(what): no answer and no GOAWAY within 30 s", sourceLocation: sourceLocation)
        }
        return false
    }

    /// The connection still works after the swept frame: a PING gets its ACK, unless the frame earned a GOAWAY.
    private func expectPingAnswered(_ peer: RawPeer, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var ping = ByteBuffer()
        let payload: [UInt8] = [0x53, 0x57, 0x45, 0x45, 0x50, 0, 0, 1]
        ping.writeFrame(.ping, rawPayload: ByteBuffer(bytes: payload))
        try? await peer.send(ping)
        _ = try await expectAnswer(
            peer, what,
            {
                $0.type == .ping && $0.flags.contains(.ack) && Array($0.payload.readableBytesView) == payload
            }, sourceLocation: sourceLocation)
    }

    /// A fresh connection gets SERVING from Health.
    private func expectServing(_ port: Int) async throws {
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { transport in
            let response = try await Health.Client(wrapping: RPCClient(transport: transport)).check(
                options: CallOptions(timeout: .seconds(10)))
            #expect(response.status == .serving)
        }
    }
}

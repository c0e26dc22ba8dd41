import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import Testing

/// Raw frames for hand-driven peers.
enum RawFrames {
    static func request(
        _ id: UInt64, _ method: MethodDescriptor = TestService.Method.emptyCall, flags: FrameFlags = .endStream,
        message: (any RPCMessage)? = EmptyMessage(), timeoutMicros: UInt64 = 0
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFrame(
            .request, flags: flags, callID: id, header: RequestHeader(method: method.path, timeoutMicros: timeoutMicros), payload: message)
        return buffer
    }

    static func frame(
        _ type: FrameType, _ id: UInt64, flags: FrameFlags = [], header: (some ProtobufCCodable)? = NoMessage.header,
        message: (any RPCMessage)? = nil
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFrame(type, flags: flags, callID: id, header: header, payload: message)
        return buffer
    }

    /// A frame with arbitrary bytes after the length field.
    static func raw(type: UInt8, flags: UInt8 = 0, callID: UInt64 = 0, headerLength: UInt32, body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(Frame.fixedFieldsSize + body.count))
        buffer.writeInteger(type)
        buffer.writeInteger(flags)
        buffer.writeInteger(callID)
        buffer.writeInteger(headerLength)
        buffer.writeBytes(body)
        return buffer
    }
}

@Suite("Protocol violations")
struct ProtocolViolationTests {
    @Test func wrongPrefaceGetsOnePlainTextLine() async throws {
        try await withTCPServer { _, port in
            let peer = try await RawPeer.connect(port: port)
            try await peer.send(ByteBuffer(string: "SSH-2.0-OpenSSH_9.6\r\n"))
            let reply = String(buffer: try await peer.readToEnd())
            #expect(reply.hasPrefix("copslink: expected the CopsLink preface 'COPSLINK'"))
            #expect(reply.hasSuffix("\n") && reply.filter { $0 == "\n" }.count == 1)
            await peer.close()
        }
    }

    @Test func unsupportedVersionNamesTheSupportedOnes() async throws {
        try await withTCPServer { _, port in
            let peer = try await RawPeer.connect(port: port)
            var buffer = ByteBuffer()
            Preface.write(version: 9, to: &buffer)
            try await peer.send(buffer)
            let reply = String(buffer: try await peer.readToEnd())
            #expect(reply == "copslink: protocol version 9 is not supported; this server speaks version(s) 1\n")
            await peer.close()
        }
    }

    /// Each case: bytes after a good handshake, the GOAWAY code expected, and a phrase its message contains.
    static let violations: [(String, ByteBuffer, GoAwayHeader.Code, String)] = [
        ("unknown frame type", RawFrames.raw(type: 0x2A, headerLength: 0, body: []), .protocolError, "unknown frame type 0x2a"),
        (
            "header length past frame", RawFrames.raw(type: FrameType.request.rawValue, callID: 1, headerLength: 50, body: [1, 2, 3]),
            .protocolError, "runs past the end"
        ),
        (
            "bad protobuf header", RawFrames.raw(type: FrameType.request.rawValue, callID: 1, headerLength: 3, body: [0x0A, 0x7F, 0x41]),
            .protocolError, "malformed REQUEST header"
        ),
        (
            "frame too short",
            {
                var b = ByteBuffer()
                b.writeInteger(UInt32(3))
                b.writeBytes([1, 2, 3])
                return b
            }(),
            .protocolError, "shorter than"
        ),
        (
            "oversized frame, length field only",
            {
                var b = ByteBuffer()
                b.writeInteger(UInt32(64 << 20))
                return b
            }(),
            .frameTooLarge, "exceeds the maximum frame size of 4194304"
        ),
        ("message for a call never opened", RawFrames.frame(.message, 7, message: EmptyMessage()), .protocolError, "never opened"),
        ("END from a client", RawFrames.frame(.end, 1, header: EndHeader(statusCode: 0)), .protocolError, "sent by servers only"),
        ("call id zero", RawFrames.request(0), .protocolError, "not greater than the previous call id 0"),
        (
            "PING with a short payload", RawFrames.raw(type: FrameType.ping.rawValue, headerLength: 0, body: [1, 2]), .protocolError,
            "8 bytes"
        )
    ]

    @Test(arguments: 0..<violations.count)
    func violationGetsGoAwayAndClose(_ index: Int) async throws {
        let (_, bytes, code, phrase) = Self.violations[index]
        try await withTCPServer { _, port in
            let peer = try await RawPeer.handshake(port: port)
            try await peer.send(bytes)
            let goAway = try #require(try await peer.expectGoAway())
            #expect(goAway.code == code)
            #expect(goAway.message.contains(phrase), "\(goAway.message)")
            #expect(try await peer.nextFrame() == nil, "the server closes after GOAWAY")
            await peer.close()
        }
    }

    @Test func decreasingOrDuplicateCallIDIsAViolation() async throws {
        try await withTCPServer { _, port in
            for secondID: UInt64 in [5, 4] {
                let peer = try await RawPeer.handshake(port: port)
                try await peer.send(RawFrames.request(5))
                let end = try #require(try await peer.nextFrame())
                #expect(end.type == .end && end.callID == 5)
                try await peer.send(RawFrames.request(secondID))
                let goAway = try #require(try await peer.expectGoAway())
                #expect(goAway.code == .protocolError)
                #expect(goAway.message == "call id \(secondID) is not greater than the previous call id 5")
                #expect(goAway.lastCallID == 5)
                await peer.close()
            }
        }
    }

    @Test func windowOverflowIsAViolation() async throws {
        try await withTCPServer { _, port in
            let peer = try await RawPeer.handshake(port: port)
            let hang = MethodDescriptor(service: ProbeService.serviceName, method: "Hang")
            try await peer.send(RawFrames.request(1, hang, flags: .endStream, message: SimpleRequest()))
            try await peer.send(RawFrames.frame(.windowUpdate, 1, header: WindowUpdateHeader(increment: UInt32(Int32.max))))
            let goAway = try #require(try await peer.expectGoAway())
            #expect(goAway.code == .protocolError)
            #expect(goAway.message.contains("overflows the flow-control window of call 1"))
            await peer.close()
        }
    }

    @Test func framesForFinishedCallsAreIgnored() async throws {
        try await withTCPServer { _, port in
            let peer = try await RawPeer.handshake(port: port)
            try await peer.send(RawFrames.request(1))
            let end = try #require(try await peer.nextFrame())
            #expect(end.type == .end)
            try await peer.send(RawFrames.frame(.cancel, 1, header: CancelHeader(reason: "late")))
            try await peer.send(RawFrames.frame(.windowUpdate, 1, header: WindowUpdateHeader(increment: 100)))
            try await peer.send(RawFrames.frame(.message, 1, message: EmptyMessage()))
            try await peer.send(RawFrames.request(2))
            let second = try #require(try await peer.nextFrame())
            #expect(second.type == .end && second.callID == 2)
            #expect(try EndHeader(from: second.header).statusCode == 0)
            await peer.close()
        }
    }

    @Test func everyPingIsAnswered() async throws {
        try await withTCPServer(configure: { $0.pingPolicy.minimumInterval = .zero }) { _, port in
            let peer = try await RawPeer.handshake(port: port)
            for opaque: UInt64 in [1, 2, 0xDEAD_BEEF] {
                var buffer = ByteBuffer()
                buffer.writeFrame(.ping, rawPayload: ByteBuffer(integer: opaque))
                try await peer.send(buffer)
                let ack = try #require(try await peer.nextFrame())
                #expect(ack.type == .ping && ack.flags.contains(.ack))
                #expect(ack.payload.getInteger(at: ack.payload.readerIndex, as: UInt64.self) == opaque)
            }
            await peer.close()
        }
    }

    @Test func maxConcurrentCallsAnswersResourceExhaustedAtOnce() async throws {
        try await withTCPServer(configure: { $0.limits.maxConcurrentCalls = 3 }) { _, port in
            let peer = try await RawPeer.handshake(port: port)
            var burst = ByteBuffer()
            for id in UInt64(1)...5 {
                var frame = RawFrames.request(id, ProbeService.hang, message: SimpleRequest())
                burst.writeBuffer(&frame)
            }
            try await peer.send(burst)
            for expectedID: UInt64 in [4, 5] {
                let end = try #require(try await peer.nextFrame())
                #expect(end.type == .end && end.callID == expectedID)
                let header = try EndHeader(from: end.header)
                #expect(header.statusCode == StatusCode.resourceExhausted.rawValue)
                #expect(header.statusMessage == "too many concurrent calls: this server allows 3 per connection")
            }
            await peer.close()
        }
    }

    @Test func garbageOnOneConnectionDoesNotAffectOthers() async throws {
        try await withTCPServer { server, port in
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { transport in
                let client = TestService.Client(wrapping: RPCClient(transport: transport))
                _ = try await client.emptyCall()
                var generator = SystemRandomNumberGenerator()
                for _ in 0..<20 {
                    let peer = try await RawPeer.handshake(port: port)
                    try await peer.send(ByteBuffer(bytes: (0..<256).map { _ in UInt8.random(in: 0...255, using: &generator) }))
                    _ = try await peer.readToEnd(limit: .seconds(2))
                    await peer.close()
                    _ = try await client.unaryCall(SimpleRequest(responseSize: 10))
                }
            }
        }
    }

    /// The end-to-end keepalive check over a socket; the rule in detail (interval, timeout, ACK values) is
    /// `ServerKeepaliveTests` in CopsLinkTransportTests, on a manual clock.
    @Test func clientThatStopsAnsweringPingsIsDeclaredDead() async throws {
        try await withTCPServer(configure: {
            $0.keepalive = KeepaliveConfiguration(interval: .milliseconds(100), timeout: .milliseconds(100))
        }) { _, port in
            let peer = try await RawPeer.handshake(port: port)
            let ping = try #require(try await peer.nextFrame())
            #expect(ping.type == .ping && !ping.flags.contains(.ack))
            let goAway = try #require(try await peer.expectGoAway())
            #expect(goAway.code == .keepaliveTimeout)
            #expect(try await peer.nextFrame() == nil)
            await peer.close()
        }
    }
}

extension ByteBuffer {
    init(integer: UInt64) {
        self.init()
        writeInteger(integer)
    }
}

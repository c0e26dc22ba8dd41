import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import Testing

@Suite struct FrameEncoderTests {
    /// Decodes exactly one frame from `buffer`, which must hold nothing else.
    static func decodeOne(_ buffer: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation) throws -> Frame {
        var buffer = buffer
        var decoder = FrameDecoder(expectsPreface: false)
        let inbound = try #require(try decoder.decodeNext(&buffer), sourceLocation: sourceLocation)
        #expect(buffer.readableBytes == 0, sourceLocation: sourceLocation)
        guard case .frame(let frame) = inbound else {
            Issue.record("expected a frame", sourceLocation: sourceLocation)
            throw WireError.frameTooShort(length: 0)
        }
        return frame
    }

    /// Checks the length fields and the decoded frame of one `writeFrame` call.
    func check<Header: ProtobufCCodable & Equatable>(
        _ type: FrameType, flags: FrameFlags, callID: UInt64, header: Header?, payload: RawPayload?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var buffer = ByteBuffer()
        let size = buffer.writeFrame(type, flags: flags, callID: callID, header: header, payload: payload)
        let headerBytes = header?.serializedBytes() ?? []
        let payloadBytes = payload?.bytes ?? []
        #expect(size == buffer.readableBytes, sourceLocation: sourceLocation)
        #expect(size == 4 + 14 + headerBytes.count + payloadBytes.count, sourceLocation: sourceLocation)
        #expect(buffer.getInteger(at: 0, as: UInt32.self) == UInt32(size - 4), sourceLocation: sourceLocation)
        #expect(buffer.getInteger(at: 4, as: UInt8.self) == type.rawValue, sourceLocation: sourceLocation)
        #expect(buffer.getInteger(at: 6, as: UInt64.self) == callID, sourceLocation: sourceLocation)
        #expect(buffer.getInteger(at: 14, as: UInt32.self) == UInt32(headerBytes.count), sourceLocation: sourceLocation)
        #expect(buffer.getBytes(at: 18, length: headerBytes.count) == headerBytes, sourceLocation: sourceLocation)
        #expect(buffer.getBytes(at: 18 + headerBytes.count, length: payloadBytes.count) == payloadBytes, sourceLocation: sourceLocation)

        let frame = try Self.decodeOne(buffer, sourceLocation: sourceLocation)
        #expect(frame.type == type, sourceLocation: sourceLocation)
        #expect(frame.callID == callID, sourceLocation: sourceLocation)
        #expect(frame.flags.contains(.hasMessage) == (payload != nil), "hasMessage iff a payload", sourceLocation: sourceLocation)
        var expectedFlags = flags
        if payload != nil { expectedFlags.insert(.hasMessage) }
        #expect(frame.flags == expectedFlags, sourceLocation: sourceLocation)
        #expect(Array(frame.payload.readableBytesView) == payloadBytes, sourceLocation: sourceLocation)
        if let header {
            #expect(try Header(from: frame.header) == header, sourceLocation: sourceLocation)
        } else {
            #expect(frame.header.readableBytes == 0, sourceLocation: sourceLocation)
        }
    }

    static let payloads: [RawPayload?] = [
        nil, RawPayload([]), RawPayload([0x42]), RawPayload((0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 31) })
    ]

    @Test(arguments: payloads)
    func everyFrameTypeRoundTrips(_ payload: RawPayload?) throws {
        try check(
            .settings, flags: [], callID: 0,
            header: SettingsHeader(maxFrameSize: 1, maxConcurrentCalls: 2, initialWindowSize: 3, maxHeaderSize: 4), payload: payload)
        try check(.request, flags: .endStream, callID: 1, header: RequestHeader(method: "/a.B/C", timeoutMicros: 9), payload: payload)
        try check(.message, flags: [], callID: 2, header: NoMessage.header, payload: payload)
        try check(
            .end, flags: [], callID: 3, header: EndHeader(statusCode: 5, statusMessage: "not found \u{1F50D}\u{0}", details: [1]),
            payload: payload)
        try check(.cancel, flags: [], callID: 4, header: CancelHeader(reason: "bye"), payload: payload)
        try check(.windowUpdate, flags: [], callID: 5, header: WindowUpdateHeader(increment: 1 << 20), payload: payload)
        try check(
            .goAway, flags: [], callID: 0, header: GoAwayHeader(lastCallID: 99, code: .refused, message: "draining"), payload: payload)
        try check(.ping, flags: .ack, callID: .max, header: NoMessage.header, payload: payload)
    }

    @Test func emptyHeaderValueWritesZeroHeaderLength() throws {
        // A header that encodes to nothing is still a header: length 0, frame still decodes to the default value.
        try check(.settings, flags: .ack, callID: 0, header: SettingsHeader(), payload: nil)
    }

    @Test func exactBytes() {
        var buffer = ByteBuffer()
        let size = buffer.writeFrame(
            .windowUpdate, callID: 0x0102_0304_0506_0708, header: WindowUpdateHeader(increment: 5), payload: NoMessage.payload)
        #expect(size == 20)
        #expect(
            bytes(of: buffer) == [
                0, 0, 0, 16,  // length
                0x06,  // WINDOW_UPDATE
                0x00,  // flags
                1, 2, 3, 4, 5, 6, 7, 8,  // call id
                0, 0, 0, 2,  // header length
                0x08, 0x05  // increment = 5
            ])

        var message = ByteBuffer()
        message.writeFrame(.message, flags: .endStream, callID: 7, header: NoMessage.header, payload: RawPayload([0xAA, 0xBB]))
        #expect(bytes(of: message) == [0, 0, 0, 16, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0xAA, 0xBB])
    }

    @Test func writesAppendAfterExistingBytes() throws {
        var buffer = ByteBuffer(bytes: [0xDE, 0xAD])
        buffer.moveReaderIndex(forwardBy: 1)
        let first = buffer.writeFrame(.cancel, callID: 9, header: CancelHeader(reason: "x"), payload: NoMessage.payload)
        let second = buffer.writeFrame(.end, callID: 9, header: EndHeader(statusCode: 1), payload: RawPayload([1, 2]))
        #expect(buffer.readableBytes == 1 + first + second)
        #expect(buffer.readInteger(as: UInt8.self) == 0xAD)
        var decoder = FrameDecoder(expectsPreface: false)
        let frames = try decoder.decodeAll(&buffer)
        #expect(frames.map { $0.frame?.type } == [.cancel, .end])
        #expect(frames.last?.frame?.payload == [1, 2])
        #expect(frames.last?.frame?.flags == FrameFlags.hasMessage.rawValue)
    }

    @Test func pingWithRawPayload() throws {
        let data: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        var buffer = ByteBuffer()
        let size = buffer.writeFrame(.ping, flags: .ack, callID: 0, rawPayload: ByteBuffer(bytes: data))
        #expect(size == 4 + 14 + 8)
        #expect(size == buffer.readableBytes)
        #expect(bytes(of: buffer) == [0, 0, 0, 22, 0x07, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + data)
        let frame = try Self.decodeOne(buffer)
        #expect(frame.type == .ping)
        #expect(frame.flags == .ack)
        #expect(!frame.flags.contains(.hasMessage))
        #expect(frame.header.readableBytes == 0)
        #expect(Array(frame.payload.readableBytesView) == data)
    }

    @Test func rawPayloadWritesOnlyReadableBytes() throws {
        var source = ByteBuffer(bytes: [9, 9, 1, 2, 3, 9])
        source.moveReaderIndex(forwardBy: 2)
        source.moveWriterIndex(to: 5)
        var buffer = ByteBuffer(bytes: [0xFF])
        let size = buffer.writeFrame(.ping, callID: 3, rawPayload: source)
        #expect(size == 4 + 14 + 3)
        #expect(buffer.readableBytes == 1 + size)
        #expect(source.readableBytes == 3, "the caller's buffer is not consumed")
        buffer.moveReaderIndex(forwardBy: 1)
        let frame = try Self.decodeOne(buffer)
        #expect(Array(frame.payload.readableBytesView) == [1, 2, 3])
        #expect(frame.callID == 3)
    }

    @Test func requestHeaderWithMetadataRoundTrips() throws {
        var metadata = Metadata()
        metadata.add("authorization", "Bearer abc")
        metadata.add("trace-bin", binary: Array(0...255))
        metadata.add("copslink-request-id", "r-1")
        metadata.add("authorization", "second")
        metadata.add("empty-bin", binary: [])
        metadata.add("empty", "")
        let header = RequestHeader(method: "/copslink.test.Echo/Say", timeoutMicros: 30_000_000, metadata: metadata)
        var buffer = ByteBuffer()
        buffer.writeFrame(.request, flags: .endStream, callID: 11, header: header, payload: RawPayload([7]))
        let frame = try Self.decodeOne(buffer)
        let decoded = try RequestHeader(from: frame.header)
        #expect(decoded == header)
        #expect(decoded.metadata.entries == metadata.entries)
        #expect(decoded.metadata["trace-bin"] == [.binary(Array(0...255))])
        #expect(frame.flags == [.endStream, .hasMessage])
        #expect(Array(frame.payload.readableBytesView) == [7])
    }

    @Test func flagBits() {
        #expect(FrameFlags.endStream.rawValue == 0x01)
        #expect(FrameFlags.ack.rawValue == 0x01)
        #expect(FrameFlags.hasMessage.rawValue == 0x02)
        #expect(Frame.fixedFieldsSize == 14)
        #expect(Frame.minimumEncodedSize == 18)
    }
}

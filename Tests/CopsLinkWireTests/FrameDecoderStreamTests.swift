import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

/// One encoded frame and what decoding it must give, computed independently of the decoder.
struct SampleFrame {
    var buffer: ByteBuffer
    var expected: FrameMirror
}

enum Samples {
    static var requestHeader: RequestHeader {
        var metadata = Metadata()
        metadata.add("authorization", "Bearer t")
        metadata.add("trace-bin", binary: [0, 1, 2, 0xFF])
        return RequestHeader(method: "/copslink.test.Echo/Say", timeoutMicros: 2_000_000, metadata: metadata)
    }

    static var endHeader: EndHeader {
        EndHeader(statusCode: 0, statusMessage: "", trailers: ["count": .text("3"), "sig-bin": .binary([9, 9])])
    }

    static func make(
        _ type: FrameType, flags: FrameFlags = [], callID: UInt64, header: (some ProtobufCCodable)?, payload: RawPayload?,
        expectedFlags: FrameFlags
    ) -> SampleFrame {
        var buffer = ByteBuffer()
        buffer.writeFrame(type, flags: flags, callID: callID, header: header, payload: payload)
        let expected = FrameMirror(
            type: type, flags: expectedFlags, callID: callID, header: header?.serializedBytes() ?? [], payload: payload?.bytes ?? [])
        return SampleFrame(buffer: buffer, expected: expected)
    }

    static var all: [SampleFrame] {
        var ping = ByteBuffer()
        let pingData: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        ping.writeFrame(.ping, flags: .ack, callID: 0, rawPayload: ByteBuffer(bytes: pingData))
        return [
            make(
                .settings, callID: 0,
                header: SettingsHeader(maxFrameSize: 1 << 20, maxConcurrentCalls: 10, initialWindowSize: 65535, maxHeaderSize: 8192),
                payload: nil, expectedFlags: []),
            make(.settings, flags: .ack, callID: 0, header: NoMessage.header, payload: nil, expectedFlags: .ack),
            make(
                .request, flags: .endStream, callID: 1, header: requestHeader, payload: RawPayload([1, 2, 3]),
                expectedFlags: [.endStream, .hasMessage]),
            make(
                .message, callID: 1, header: NoMessage.header, payload: RawPayload((0..<1000).map { UInt8(truncatingIfNeeded: $0) }),
                expectedFlags: .hasMessage),
            make(.message, callID: 1, header: NoMessage.header, payload: RawPayload([]), expectedFlags: .hasMessage),
            make(.message, flags: .endStream, callID: 1, header: NoMessage.header, payload: nil, expectedFlags: .endStream),
            make(.end, callID: 1, header: endHeader, payload: RawPayload(Array("response".utf8)), expectedFlags: .hasMessage),
            make(.cancel, callID: 3, header: CancelHeader(reason: "gave up"), payload: nil, expectedFlags: []),
            make(.windowUpdate, callID: 1, header: WindowUpdateHeader(increment: 65536), payload: nil, expectedFlags: []),
            SampleFrame(buffer: ping, expected: FrameMirror(type: .ping, flags: .ack, callID: 0, header: [], payload: pingData)),
            make(
                .goAway, callID: 0, header: GoAwayHeader(lastCallID: 7, code: .enhanceYourCalm, message: "calm"), payload: nil,
                expectedFlags: []),
            make(.request, callID: .max, header: RequestHeader(method: "/a.B/C"), payload: RawPayload([0xFF]), expectedFlags: .hasMessage)
        ]
    }

    /// Every sample back to back, preceded by a preface.
    static var stream: (buffer: ByteBuffer, expected: [InboundMirror]) {
        var buffer = ByteBuffer()
        Preface.write(to: &buffer)
        var expected: [InboundMirror] = [.preface(version: 1)]
        for var sample in all {
            buffer.writeBuffer(&sample.buffer)
            expected.append(.frame(sample.expected))
        }
        return (buffer, expected)
    }
}

@Suite struct FrameDecoderStreamTests {
    @Test func verifierAgreesOnDripFedAndBulkInput() throws {
        var pairs = Samples.all.map { ($0.buffer, [InboundMirror.frame($0.expected)]) }
        // Two frames in one write.
        var twoFrames = Samples.all[2].buffer
        var second = Samples.all[6].buffer
        twoFrames.writeBuffer(&second)
        pairs.append((twoFrames, [.frame(Samples.all[2].expected), .frame(Samples.all[6].expected)]))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            MirrorDecoder(inner: FrameDecoder(expectsPreface: false))
        }
    }

    @Test func byteByByteEqualsBulk() throws {
        let (stream, expected) = Samples.stream

        var bulkDecoder = FrameDecoder(expectsPreface: true)
        var bulk = stream
        let bulkFrames = try bulkDecoder.decodeAll(&bulk)
        #expect(bulk.readableBytes == 0)
        #expect(bulkFrames == expected)

        var dripDecoder = FrameDecoder(expectsPreface: true)
        var pending = ByteBuffer()
        var dripFrames: [InboundMirror] = []
        for byte in stream.readableBytesView {
            pending.writeInteger(byte)
            let before = dripFrames.count
            dripFrames += try dripDecoder.decodeAll(&pending)
            // At most one frame completes per byte, and it completes on its last byte.
            #expect(dripFrames.count - before <= 1)
            if dripFrames.count > before { #expect(pending.readableBytes == 0) }
        }
        #expect(pending.readableBytes == 0)
        #expect(dripFrames == expected)
    }

    @Test(arguments: [2, 3, 7, 13, 64, 1000])
    func arbitraryChunkingEqualsBulk(_ chunkSize: Int) throws {
        let (stream, expected) = Samples.stream
        var decoder = FrameDecoder(expectsPreface: true)
        var pending = ByteBuffer()
        var frames: [InboundMirror] = []
        var input = stream
        while let chunk = input.readSlice(length: min(chunkSize, input.readableBytes)), chunk.readableBytes > 0 {
            var chunk = chunk
            pending.writeBuffer(&chunk)
            frames += try decoder.decodeAll(&pending)
        }
        #expect(frames == expected)
    }

    @Test func channelHandlerDecodesByteByByteAndInBulk() throws {
        let (stream, expected) = Samples.stream

        func run(chunks: [ByteBuffer]) throws -> [InboundMirror] {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(expectsPreface: true)))
            for chunk in chunks { try channel.writeInbound(chunk) }
            var frames: [InboundMirror] = []
            while let inbound = try channel.readInbound(as: InboundFrame.self) { frames.append(InboundMirror(inbound)) }
            #expect(try channel.finish().isClean)
            return frames
        }

        let bytewise = stream.readableBytesView.indices.map { stream.getSlice(at: $0, length: 1)! }
        #expect(try run(chunks: bytewise) == expected)
        #expect(try run(chunks: [stream]) == expected)
    }

    @Test func decodedHeadersAreUsableSlices() throws {
        let (stream, _) = Samples.stream
        var pending = ByteBuffer()
        var decoder = FrameDecoder(expectsPreface: true)
        var frames: [Frame] = []
        for byte in stream.readableBytesView {
            pending.writeInteger(byte)
            while let inbound = try decoder.decodeNext(&pending) {
                if case .frame(let frame) = inbound { frames.append(frame) }
            }
        }
        let request = try #require(frames.first { $0.type == .request && $0.callID == 1 })
        #expect(try RequestHeader(from: request.header) == Samples.requestHeader)
        #expect(try RawPayload(from: request.payload) == RawPayload([1, 2, 3]))
        let end = try #require(frames.first { $0.type == .end })
        #expect(try EndHeader(from: end.header) == Samples.endHeader)
        let goAway = try #require(frames.first { $0.type == .goAway })
        #expect(try GoAwayHeader(from: goAway.header) == GoAwayHeader(lastCallID: 7, code: .enhanceYourCalm, message: "calm"))
    }

    @Test func frameAtExactlyTheLimitsIsAccepted() throws {
        let limits = FrameLimits(maxFrameSize: 100, maxHeaderSize: 10)
        // length 100 = 14 fixed + 10 header + 76 payload
        var buffer = rawFrame(
            length: 100, type: 0x03, callID: 5, headerLength: 10,
            body: Array(repeating: 0xAA, count: 10) + Array(repeating: 0xBB, count: 76))
        var decoder = FrameDecoder(limits: limits, expectsPreface: false)
        let frames = try decoder.decodeAll(&buffer)
        #expect(
            frames == [
                .frame(
                    FrameMirror(
                        type: .message, flags: [], callID: 5, header: Array(repeating: 0xAA, count: 10),
                        payload: Array(repeating: 0xBB, count: 76)))
            ])
    }

    @Test func minimalFrameHasEmptyHeaderAndPayload() throws {
        var buffer = rawFrame(length: 14, type: 0x07, flags: 0xFC, callID: 0x0102_0304_0506_0708, headerLength: 0)
        var decoder = FrameDecoder(expectsPreface: false)
        let frames = try decoder.decodeAll(&buffer)
        // Reserved flag bits are passed through for the receiver to ignore.
        #expect(
            frames == [
                .frame(FrameMirror(type: .ping, flags: FrameFlags(rawValue: 0xFC), callID: 0x0102_0304_0506_0708, header: [], payload: []))
            ])
        #expect(buffer.readableBytes == 0)
    }

    @Test func incompleteFrameNeedsMoreDataAndConsumesNothing() throws {
        var full = Samples.all[2].buffer
        let total = full.readableBytes
        for cut in 0..<total {
            var decoder = FrameDecoder(expectsPreface: false)
            var partial = full.getSlice(at: full.readerIndex, length: cut)!
            #expect(try decoder.decodeNext(&partial) == nil, "cut at \(cut)")
            #expect(partial.readableBytes == cut)
        }
        var decoder = FrameDecoder(expectsPreface: false)
        #expect(try decoder.decodeNext(&full) != nil)
    }
}

import CopsLinkCore
import CopsLinkMessages
import NIOCore
import Testing

@testable import CopsLinkWire

@Suite("Frame reader")
struct FrameReaderTests {
    private static func ping(_ value: UInt8) -> [UInt8] {
        var buffer = ByteBuffer()
        _ = buffer.writeFrame(.ping, rawPayload: ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, value]))
        return buffer.readBytes(length: buffer.readableBytes)!
    }

    private static var prefaceBytes: [UInt8] {
        var preface = ByteBuffer()
        Preface.write(to: &preface)
        return preface.readBytes(length: preface.readableBytes)!
    }

    /// Appends `bytes` as one read and drains what decodes; returns the PING values read and whether a partial frame
    /// was reported.
    private static func read(_ bytes: [UInt8], into reader: inout FrameReader) throws -> (pings: [UInt8], partial: Bool) {
        reader.append(ByteBuffer(bytes: bytes))
        var pings: [UInt8] = []
        while let inbound = try reader.next() {
            if case .frame(let frame) = inbound { pings.append(frame.payload.getInteger(at: frame.payload.readerIndex + 7)!) }
        }
        return (pings, reader.startedPartialFrame())
    }

    @Test func reportsEachIncompleteFrameOnceAndNeverThePreface() throws {
        var reader = FrameReader(FrameDecoder(expectsPreface: true))
        #expect(
            try Self.read(Array(Self.prefaceBytes.prefix(5)), into: &reader).partial == false,
            "a partial preface is the handshake timeout's business")
        #expect(try reader.next() == nil)
        #expect(try Self.read(Array(Self.prefaceBytes.dropFirst(5)) + [], into: &reader).partial == false)

        let first = Self.ping(1), second = Self.ping(2)
        #expect(try Self.read(Array(first.prefix(3)), into: &reader) == ([], true))
        #expect(try Self.read(Array(first.dropFirst(3).prefix(10)), into: &reader) == ([], false), "once per frame, not per read")
        #expect(
            try Self.read(Array(first.dropFirst(13)) + second.prefix(1), into: &reader) == ([1], true),
            "the next frame started in the read that completed the first")
        #expect(try Self.read(Array(second.dropFirst(1)), into: &reader) == ([2], false))
        #expect(try Self.read(Self.ping(3) + Self.ping(4), into: &reader) == ([3, 4], false), "whole frames leave nothing partial")
        #expect(reader.bufferedBytes == 0)
    }

    @Test func framesDripFedByteByByteDecodeAsInBulk() throws {
        var stream: [UInt8] = Self.prefaceBytes
        var expected: [UInt8] = []
        for value in UInt8(1)...40 {
            stream += Self.ping(value)
            expected.append(value)
        }
        var bulk = FrameReader(FrameDecoder(expectsPreface: true))
        #expect(try Self.read(stream, into: &bulk).pings == expected)
        var drip = FrameReader(FrameDecoder(expectsPreface: true))
        var dripped: [UInt8] = []
        for byte in stream { dripped += try Self.read([byte], into: &drip).pings }
        #expect(dripped == expected)
    }

    @Test func readsThatEachEndInsideAFrameKeepTheBufferBounded() throws {
        // Every read completes one frame and starts the next: without dropping decoded bytes the buffer would grow
        // by a frame per read.
        var reader = FrameReader(FrameDecoder(expectsPreface: false))
        let frame = Self.ping(9)
        var carry: [UInt8] = Array(frame.prefix(5))
        var decoded = 0
        var leftovers: Set<Int> = []
        for _ in 0..<2_000 {  // 44 KB of stream: a buffer that kept it would far exceed the bound below
            let read = Array(carry) + Array(frame.dropFirst(5)) + Array(frame.prefix(5))
            carry = []
            decoded += try Self.read(read, into: &reader).pings.count
            leftovers.insert(reader.bufferedBytes)
        }
        #expect(decoded == 2_000)
        #expect(leftovers == [5], "each read leaves the next frame's first 5 bytes")
        #expect(reader.bufferCapacity <= 1024, "the buffer holds one partial frame, not the stream")
    }

    @Test func anOversizedLengthFailsOnItsFirstFourBytes() throws {
        var reader = FrameReader(FrameDecoder(limits: FrameLimits(maxFrameSize: 64), expectsPreface: false))
        reader.append(ByteBuffer(bytes: [0, 0, 1, 0]))  // 256 bytes announced, nothing else sent
        #expect(throws: WireError.frameTooLarge(length: 256, limit: 64)) { try reader.next() }
    }

    @Test func aWrongPrefaceFailsOnItsFirstWrongByte() throws {
        var reader = FrameReader(FrameDecoder(expectsPreface: true))
        reader.append(ByteBuffer(bytes: Array("GET".utf8)))
        #expect(throws: WireError.self) { try reader.next() }
    }

    /// The header of a partial REQUEST frame is offered once it is all in, before the rest of the frame (a server
    /// authenticates the caller from it early), and never for another frame, a header still arriving, a header past
    /// the limit, or before the preface.
    @Test func offersAPartialREQUESTsHeaderOnceItIsIn() throws {
        let header = RequestHeader(method: "/p.S/M", metadata: ["authorization": .text("Bearer k")])
        var frame = ByteBuffer()
        _ = frame.writeFrame(
            .request, flags: [.endStream, .hasMessage], callID: 1, header: header,
            payload: SimpleRequest(payload: Array(repeating: 7, count: 1000)))
        let headerLength = Int(frame.getInteger(at: Frame.Offset.headerLength, as: UInt32.self)!)
        let bytes = frame.readBytes(length: frame.readableBytes)!

        var reader = FrameReader(FrameDecoder(expectsPreface: false))
        reader.append(ByteBuffer(bytes: bytes.prefix(Frame.Offset.header + headerLength - 1)))
        #expect(try reader.next() == nil)
        #expect(reader.partialRequestHeader == nil, "a header still arriving")
        reader.append(ByteBuffer(bytes: bytes.dropFirst(Frame.Offset.header + headerLength - 1).prefix(1)))
        #expect(try reader.next() == nil)
        let offered = try #require(reader.partialRequestHeader)
        #expect(try RequestHeader(from: offered) == header)
        reader.append(ByteBuffer(bytes: bytes.dropFirst(Frame.Offset.header + headerLength)))
        #expect(try reader.next() != nil)
        #expect(reader.partialRequestHeader == nil, "nothing is buffered")

        var ping = ByteBuffer()
        _ = ping.writeFrame(.ping, rawPayload: ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, 1]))
        reader.append(ping.getSlice(at: 0, length: ping.readableBytes - 1)!)
        #expect(try reader.next() == nil)
        #expect(reader.partialRequestHeader == nil, "not a REQUEST")

        var limited = FrameReader(FrameDecoder(limits: FrameLimits(maxHeaderSize: headerLength - 1), expectsPreface: false))
        limited.append(ByteBuffer(bytes: bytes.prefix(Frame.Offset.header + headerLength)))
        #expect(limited.partialRequestHeader == nil, "a header past the limit")

        var awaiting = FrameReader(FrameDecoder(expectsPreface: true))
        awaiting.append(ByteBuffer(bytes: bytes.prefix(Frame.Offset.header + headerLength)))
        #expect(awaiting.partialRequestHeader == nil, "before the preface")
    }
}

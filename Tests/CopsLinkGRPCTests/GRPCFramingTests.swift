import CopsLinkCore
import CopsLinkTransport
import NIOCore
import NIOHTTP2
import Testing

@testable import CopsLinkGRPC

@Suite("gRPC framing, status and metadata")
struct GRPCFramingTests {
    private func framed(_ flag: UInt8, _ length: UInt32, _ body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(flag)
        buffer.writeInteger(length)
        buffer.writeBytes(body)
        return buffer
    }

    @Test func messagesAreCutAcrossDataFrames() throws {
        var reader = GRPCMessageReader(maxMessageSize: 100)
        var bytes = framed(0, 3, [1, 2, 3])
        var second = framed(0, 0, [])
        var third = framed(0, 2, [9, 8])
        bytes.writeBuffer(&second)
        bytes.writeBuffer(&third)
        // One byte at a time: a message appears only once whole.
        var seen: [[UInt8]] = []
        while let byte = bytes.readSlice(length: 1) {
            reader.append(byte)
            while let message = try reader.next() { seen.append(message) }
        }
        #expect(seen == [[1, 2, 3], [], [9, 8]])
        #expect(reader.bufferedBytes == 0)
    }

    /// The prefix's flag is 0 or 1 (compressed, which this server does not accept); another value is named as such.
    @Test func aFlagByteOtherThanCompressedIsNamed() throws {
        for (flag, message) in [
            (UInt8(1), "a compressed message arrived, but the call's grpc-encoding is identity (the only encoding this server accepts)"),
            (UInt8(2), "a message prefix's flag byte is 2; gRPC defines only 0 and 1 (compressed)")
        ] {
            var reader = GRPCMessageReader(maxMessageSize: 100)
            reader.append(framed(flag, 2, [1, 2]))
            #expect(throws: RPCError(code: .internalError, message: message)) { try reader.next() }
        }
    }

    @Test func aPartialMessageStaysBuffered() throws {
        var reader = GRPCMessageReader(maxMessageSize: 100)
        reader.append(framed(0, 4, [1, 2]))
        #expect(try reader.next() == nil)
        #expect(reader.bufferedBytes == 7)
    }

    /// DATA frames that each end inside a message: the bytes of the messages already cut out are dropped, so what the
    /// reader keeps stays near one partial message (it once kept every byte the stream sent: 150 MiB in 45 s).
    @Test func framesEndingInsideMessagesKeepTheBufferSmall() throws {
        var reader = GRPCMessageReader(maxMessageSize: 1 << 20)
        var stream = ByteBuffer()
        for _ in 0..<1_000 { stream.writeImmutableBuffer(framed(0, 4_000, [UInt8](repeating: 7, count: 4_000))) }
        var messages = 0
        var largest = 0
        while stream.readableBytes > 0, let frame = stream.readSlice(length: min(4_000, stream.readableBytes)) {
            reader.append(frame)
            while let message = try reader.next() {
                #expect(message.count == 4_000)
                messages += 1
            }
            largest = max(largest, reader.heldStorageBytes)
        }
        #expect(messages == 1_000)
        #expect(largest <= 2 * 4_005 + GRPCMessageReader.compactionSlack, "\(largest) bytes of storage held")
    }

    /// A few bytes of a message at the end of a large read are copied out instead of keeping all of the read's storage
    /// (it was 32 KiB per stream for 6 bytes).
    @Test func aPartialMessageDoesNotPinTheReadItCameIn() throws {
        var read = ByteBuffer()
        read.writeRepeatingByte(1, count: 64 << 10)
        read.writeImmutableBuffer(framed(0, 100, [1]))
        var reader = GRPCMessageReader(maxMessageSize: 1 << 20)
        reader.append(read.getSlice(at: 64 << 10, length: 6)!)
        #expect(try reader.next() == nil)
        #expect(reader.bufferedBytes == 6)
        #expect(reader.heldStorageBytes < 1 << 10, "\(reader.heldStorageBytes) bytes of storage held for 6")
    }

    @Test func aMessageLargerThanTheLimitIsRefusedFromItsPrefix() {
        var reader = GRPCMessageReader(maxMessageSize: 10)
        reader.append(framed(0, .max, []))
        #expect(
            throws: RPCError(
                code: .resourceExhausted, message: "the request message of 4294967295 bytes is larger than the server's limit of 10 bytes")
        ) {
            try reader.next()
        }
    }

    @Test func aCompressedMessageIsInternal() {
        var reader = GRPCMessageReader(maxMessageSize: 10)
        reader.append(framed(1, 1, [0]))
        #expect(throws: RPCError.self) { try reader.next() }
        do {
            _ = try reader.next()
        } catch {
            #expect(error.code == .internalError)
        }
    }

    @Test func frameWritesFlagAndLength() {
        let buffer = GRPCMessageReader.frame([7, 7], allocator: ByteBufferAllocator())
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0, 2, 7, 7])
    }

    @Test func messagesArePercentEncoded() {
        #expect(GRPCStatus.percentEncoded("plain text") == "plain text")
        #expect(GRPCStatus.percentEncoded("100% sure\n") == "100%25 sure%0A")
        #expect(GRPCStatus.percentEncoded("café") == "caf%C3%A9")
        #expect(GRPCStatus.percentDecoded("caf%C3%A9 100%25 %zz") == "café 100% %zz")
        #expect(GRPCStatus.percentDecoded(GRPCStatus.percentEncoded("ünïcödé %\t")) == "ünïcödé %\t")
    }

    @Test func trailersCarryTheNumericCodeAndMetadata() {
        var metadata = Metadata()
        metadata.add("x-a", "1")
        metadata.add("x-b-bin", binary: [0xFF, 0x00])
        let fields = GRPCStatus.trailerFields(code: .notFound, message: "no such account", metadata: metadata)
        #expect(fields.map(\.0) == ["grpc-status", "grpc-message", "x-a", "x-b-bin"])
        #expect(fields.map(\.1) == ["5", "no such account", "1", "/wA="])
        #expect(GRPCStatus.trailerFields(code: .ok, message: "", metadata: [:]).map(\.1) == ["0"])
    }

    @Test func requestHeadersBecomeMetadata() throws {
        let metadata = try GRPCMetadata.metadata([
            (":path", "/x/y"), ("content-type", "application/grpc"), ("te", "trailers"), ("grpc-timeout", "1S"),
            ("grpc-accept-encoding", "identity"), ("authorization", "Bearer k"), ("trace-bin", "/wA"), ("padded-bin", "/wA=")
        ])
        #expect(metadata[text: "authorization"] == "Bearer k")
        #expect(metadata["trace-bin"] == [.binary([0xFF, 0x00])])
        #expect(metadata["padded-bin"] == [.binary([0xFF, 0x00])])
        #expect(metadata.count == 3)
        #expect(throws: RPCError.self) { try GRPCMetadata.metadata([("x-bin", "!!!")]) }
        #expect(throws: RPCError.self) { try GRPCMetadata.metadata([("x-bin", "A")]) }
    }

    @Test func limitsBecomeSettings() {
        var limits = ConnectionLimits()
        limits.maxConcurrentCalls = 7
        limits.maxHeaderSize = 1000
        limits.initialWindowSize = 1 << 20
        let settings = GRPCServer.settings(limits)
        #expect(settings.map(\.value) == [7, 1000, 1 << 20])
        limits.initialWindowSize = .max
        #expect(GRPCServer.settings(limits).last?.value == Int(Int32.max))
    }
}

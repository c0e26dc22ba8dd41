import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

@Suite struct PrefaceTests {
    static func preface(version: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        Preface.write(version: version, to: &buffer)
        return buffer
    }

    @Test func prefaceLayout() {
        #expect(Preface.size == 12)
        #expect(bytes(of: Self.preface(version: 1)) == Array("COPSLINK".utf8) + [0, 0, 0, 1])
        #expect(bytes(of: Self.preface(version: 0x0102_0304)) == Array("COPSLINK".utf8) + [1, 2, 3, 4])
    }

    @Test func correctPrefaceDecodesInServerMode() throws {
        var buffer = Self.preface(version: 1)
        var decoder = FrameDecoder(expectsPreface: true)
        let inbound = try decoder.decodeAll(&buffer)
        #expect(inbound == [.preface(version: 1)])
        #expect(buffer.readableBytes == 0)
    }

    @Test func prefaceIsExpectedOnlyOnce() throws {
        var buffer = Self.preface(version: 1)
        buffer.writeFrame(.ping, rawPayload: ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7, 8]))
        var decoder = FrameDecoder(expectsPreface: true)
        let inbound = try decoder.decodeAll(&buffer)
        #expect(inbound.count == 2)
        #expect(inbound.first == .preface(version: 1))
        #expect(inbound.last?.frame?.type == .ping)

        // A second preface is now read as a frame: "COPS" as a length is far beyond the limit.
        var again = Self.preface(version: 1)
        #expect(throws: WireError.frameTooLarge(length: 0x434F_5053, limit: 4 << 20)) { try decoder.decodeNext(&again) }
    }

    @Test func clientModeReadsFramesAtOnce() throws {
        var buffer = ByteBuffer()
        buffer.writeFrame(.settings, header: NoMessage.header, payload: NoMessage.payload)
        var decoder = FrameDecoder(expectsPreface: false)
        #expect(try decoder.decodeAll(&buffer).map { $0.frame?.type } == [.settings])
    }

    @Test func partialCorrectPrefaceNeedsMoreData() throws {
        let full = bytes(of: Self.preface(version: 1))
        for count in 0..<full.count {
            var decoder = FrameDecoder(expectsPreface: true)
            var buffer = ByteBuffer(bytes: full.prefix(count))
            #expect(try decoder.decodeNext(&buffer) == nil, "\(count) bytes")
            #expect(buffer.readableBytes == count, "a partial preface must not be consumed")
        }
    }

    @Test func prefaceDripFedOneByteAtATime() throws {
        var decoder = FrameDecoder(expectsPreface: true)
        var pending = ByteBuffer()
        var results: [InboundMirror] = []
        for byte in bytes(of: Self.preface(version: 1)) {
            pending.writeInteger(byte)
            results += try decoder.decodeAll(&pending)
            if pending.readableBytes < Preface.size && pending.readableBytes > 0 { #expect(results.isEmpty) }
        }
        #expect(results == [.preface(version: 1)])
    }

    @Test(arguments: [
        "GET ", "G", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "\u{16}\u{03}\u{01}", "PRI * HTTP/2.0", "COPSLINX", "copslink",
        "COPS\0", "XOPSLINK\0\0\0\u{1}"
    ])
    func wrongBytesFailImmediately(_ input: String) {
        var decoder = FrameDecoder(expectsPreface: true)
        var buffer = ByteBuffer(string: input)
        let expected = Array(input.utf8.prefix(32))
        #expect(throws: WireError.badPreface(received: expected)) { try decoder.decodeNext(&buffer) }
    }

    @Test func badPrefaceIsDetectedFromTheFirstWrongByte() throws {
        // "COPS" is a valid beginning; the fifth byte is not.
        var decoder = FrameDecoder(expectsPreface: true)
        var buffer = ByteBuffer(string: "COPS")
        #expect(try decoder.decodeNext(&buffer) == nil)
        buffer.writeString("X")
        #expect(throws: WireError.badPreface(received: Array("COPSX".utf8))) { try decoder.decodeNext(&buffer) }
    }

    @Test func badPrefaceDescriptionShowsWhatArrived() {
        let error = WireError.badPreface(received: Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8))
        #expect(error.description.contains("'GET / HTTP/1.1..'"))
        #expect(error.description.contains("COPSLINK"))
        #expect(error.description.contains("supported: 1"))
        #expect(error.isPrefaceError)
    }

    @Test(arguments: [UInt32(0), 2, 3, 256, UInt32.max])
    func unsupportedVersionIsRejected(_ version: UInt32) {
        var decoder = FrameDecoder(expectsPreface: true)
        var buffer = Self.preface(version: version)
        let error = #expect(throws: WireError.self) { try decoder.decodeNext(&buffer) }
        #expect(error == .unsupportedVersion(version))
        #expect(error?.description.contains("protocol version \(version) is not supported") == true)
        #expect(error?.isPrefaceError == true)
    }

    @Test func channelReportsBadPreface() {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(expectsPreface: true)))
        #expect(throws: WireError.badPreface(received: Array("GET ".utf8))) {
            try channel.writeInbound(ByteBuffer(string: "GET "))
        }
    }
}

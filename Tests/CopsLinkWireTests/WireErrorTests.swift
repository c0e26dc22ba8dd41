import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

@Suite struct WireErrorTests {
    static func lengthOnly(_ length: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(length)
        return buffer
    }

    @Test func fewerThanFourBytesNeedMoreData() throws {
        for count in 0..<4 {
            var decoder = FrameDecoder(limits: FrameLimits(maxFrameSize: 16), expectsPreface: false)
            var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF].prefix(count))
            #expect(try decoder.decodeNext(&buffer) == nil)
        }
    }

    @Test func frameTooLargeIsRejectedFromTheLengthAlone() {
        var decoder = FrameDecoder(limits: FrameLimits(maxFrameSize: 1024), expectsPreface: false)
        var buffer = Self.lengthOnly(1025)
        let error = #expect(throws: WireError.self) { try decoder.decodeNext(&buffer) }
        #expect(error == .frameTooLarge(length: 1025, limit: 1024))
        #expect(error?.description == "frame of 1025 bytes exceeds the maximum frame size of 1024 bytes")
        #expect(error?.isPrefaceError == false)
    }

    @Test func frameTooLargeWithDefaultLimits() {
        #expect(FrameLimits().maxFrameSize == 4 << 20)
        #expect(FrameLimits().maxHeaderSize == 16 << 10)
        var decoder = FrameDecoder(expectsPreface: false)
        var buffer = Self.lengthOnly(.max)
        #expect(throws: WireError.frameTooLarge(length: 4_294_967_295, limit: 4_194_304)) { try decoder.decodeNext(&buffer) }
        var justOver = Self.lengthOnly(4 << 20 + 1)
        #expect(throws: WireError.frameTooLarge(length: 4_194_305, limit: 4_194_304)) { try decoder.decodeNext(&justOver) }
    }

    @Test func lengthAtTheLimitWaitsForTheFrame() throws {
        var decoder = FrameDecoder(limits: FrameLimits(maxFrameSize: 1024), expectsPreface: false)
        var buffer = Self.lengthOnly(1024)
        #expect(try decoder.decodeNext(&buffer) == nil)
        #expect(buffer.readableBytes == 4)
    }

    @Test func frameTooLargeThroughTheChannel() {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(FrameDecoder(limits: FrameLimits(maxFrameSize: 64), expectsPreface: false)))
        #expect(throws: WireError.frameTooLarge(length: 65, limit: 64)) { try channel.writeInbound(Self.lengthOnly(65)) }
    }

    @Test(arguments: [UInt32(0), 1, 4, 13])
    func frameTooShortIsRejectedFromTheLengthAlone(_ length: UInt32) {
        var decoder = FrameDecoder(expectsPreface: false)
        var buffer = Self.lengthOnly(length)
        let error = #expect(throws: WireError.self) { try decoder.decodeNext(&buffer) }
        #expect(error == .frameTooShort(length: Int(length)))
        #expect(error?.description == "frame length \(length) is shorter than the 14 bytes of fixed fields")
    }

    @Test func headerLengthPastFrame() {
        var decoder = FrameDecoder(expectsPreface: false)
        // 14 fixed bytes + 3 body bytes, but the header claims 4.
        var buffer = rawFrame(length: 17, type: 0x02, callID: 1, headerLength: 4, body: [1, 2, 3])
        let error = #expect(throws: WireError.self) { try decoder.decodeNext(&buffer) }
        #expect(error == .headerLengthPastFrame(headerLength: 4, frameLength: 17))
        #expect(error?.description == "header length 4 runs past the end of a 17-byte frame")
    }

    @Test func headerLengthPastFrameWithHugeHeaderLength() {
        var decoder = FrameDecoder(expectsPreface: false)
        var buffer = rawFrame(length: 14, type: 0x02, headerLength: .max)
        #expect(throws: WireError.headerLengthPastFrame(headerLength: 4_294_967_295, frameLength: 14)) { try decoder.decodeNext(&buffer) }
    }

    @Test func headerTooLarge() throws {
        let limits = FrameLimits(maxFrameSize: 1 << 20, maxHeaderSize: 8)
        var decoder = FrameDecoder(limits: limits, expectsPreface: false)
        var buffer = rawFrame(length: 14 + 9, type: 0x02, headerLength: 9, body: Array(repeating: 0, count: 9))
        let error = #expect(throws: WireError.self) { try decoder.decodeNext(&buffer) }
        #expect(error == .headerTooLarge(size: 9, limit: 8))
        #expect(error?.description == "frame header of 9 bytes exceeds the maximum header size of 8 bytes")

        var fits = FrameDecoder(limits: limits, expectsPreface: false)
        var atLimit = rawFrame(length: 14 + 8, type: 0x02, headerLength: 8, body: Array(repeating: 0, count: 8))
        #expect(try fits.decodeNext(&atLimit) != nil)
    }

    @Test func headerTooLargeWithDefaultLimit() {
        var decoder = FrameDecoder(expectsPreface: false)
        let size = (16 << 10) + 1
        var buffer = rawFrame(length: UInt32(14 + size), type: 0x04, headerLength: UInt32(size), body: Array(repeating: 0, count: size))
        #expect(throws: WireError.headerTooLarge(size: 16385, limit: 16384)) { try decoder.decodeNext(&buffer) }
    }

    @Test(arguments: [UInt8(0x00), 0x09, 0x10, 0x7F, 0x80, 0xFF])
    func unknownFrameType(_ type: UInt8) {
        var decoder = FrameDecoder(expectsPreface: false)
        var buffer = rawFrame(length: 14, type: type, headerLength: 0)
        let error = #expect(throws: WireError.self) { try decoder.decodeNext(&buffer) }
        #expect(error == .unknownFrameType(type))
        #expect(error?.description == "unknown frame type 0x\(String(type, radix: 16))")
        #expect(error?.isPrefaceError == false)
    }

    @Test func unknownFrameTypeDescriptions() {
        #expect(WireError.unknownFrameType(0x09).description.contains("0x9"))
        #expect(WireError.unknownFrameType(0xFF).description.contains("0xff"))
    }

    @Test func everyKnownTypeByteDecodes() throws {
        for type in FrameType.allCases {
            var decoder = FrameDecoder(expectsPreface: false)
            var buffer = rawFrame(length: 14, type: type.rawValue, headerLength: 0)
            #expect(try decoder.decodeAll(&buffer).first?.frame?.type == type)
        }
        #expect(FrameType.allCases.map(\.rawValue) == Array(1...8))
        #expect(
            FrameType.allCases.map(\.description) == ["SETTINGS", "REQUEST", "MESSAGE", "END", "CANCEL", "WINDOW_UPDATE", "PING", "GOAWAY"])
    }

    @Test func unknownFrameTypeThroughTheChannel() {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(expectsPreface: false)))
        #expect(throws: WireError.unknownFrameType(0x09)) {
            try channel.writeInbound(rawFrame(length: 14, type: 0x09, headerLength: 0))
        }
    }

    @Test func prefaceErrorClassification() {
        #expect(WireError.badPreface(received: []).isPrefaceError)
        #expect(WireError.unsupportedVersion(2).isPrefaceError)
        #expect(WireError.unsupportedVersion(2).description.contains("2"))
        #expect(!WireError.frameTooLarge(length: 1, limit: 0).isPrefaceError)
        #expect(!WireError.frameTooShort(length: 1).isPrefaceError)
        #expect(!WireError.headerLengthPastFrame(headerLength: 1, frameLength: 0).isPrefaceError)
        #expect(!WireError.headerTooLarge(size: 1, limit: 0).isPrefaceError)
    }
}

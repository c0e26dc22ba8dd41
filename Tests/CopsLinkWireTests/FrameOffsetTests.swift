import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import Testing

/// `Frame.Offset` is the one statement of the layout; the encoder and the peek and patch helpers must agree with it.
@Suite struct FrameOffsetTests {
    @Test func theOffsetsNameTheFieldsTheEncoderWrites() throws {
        var buffer = ByteBuffer(bytes: [0xAA, 0xBB])  // a frame need not start at index 0
        buffer.moveReaderIndex(forwardBy: 2)
        let header = GoAwayHeader(lastCallID: 9, code: .noError, message: "bye")
        buffer.writeFrame(.goAway, flags: .ack, callID: 0x0102_0304_0506_0708, header: header, payload: NoMessage.payload)
        let start = buffer.readerIndex
        #expect(buffer.getInteger(at: start + Frame.Offset.type, as: UInt8.self) == FrameType.goAway.rawValue)
        #expect(buffer.getInteger(at: start + Frame.Offset.flags, as: UInt8.self) == FrameFlags.ack.rawValue)
        #expect(buffer.getInteger(at: start + Frame.Offset.callID, as: UInt64.self) == 0x0102_0304_0506_0708)
        let headerLength = header.serializedBytes().count
        #expect(buffer.frameHeaderLength() == headerLength)
        #expect(buffer.getBytes(at: start + Frame.Offset.header, length: headerLength) == header.serializedBytes())
        #expect(Frame.Offset.header == 4 + Frame.fixedFieldsSize)
    }

    @Test func settingTheCallIDPatchesOnlyThatField() throws {
        var buffer = ByteBuffer()
        buffer.writeFrame(.request, flags: .endStream, header: RequestHeader(method: "/a.B/C"), payload: NoMessage.payload)
        let before = Array(buffer.readableBytesView)
        buffer.setFrameCallID(77)
        var decoder = FrameDecoder(expectsPreface: false)
        guard case .frame(let frame)? = try decoder.decodeNext(&buffer) else { throw WireError.frameTooShort(length: 0) }
        #expect(frame.callID == 77 && frame.type == .request && frame.flags == .endStream)
        var after = ByteBuffer(bytes: before)
        after.setFrameCallID(77)
        #expect(Array(after.readableBytesView)[..<Frame.Offset.callID] == before[..<Frame.Offset.callID])
        #expect(Array(after.readableBytesView)[Frame.Offset.headerLength...] == before[Frame.Offset.headerLength...])
    }
}

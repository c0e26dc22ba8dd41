import CopsLinkCodecs
import CopsLinkCore
import NIOCore

extension ByteBuffer: MessageSink {
    public mutating func appendBytes(count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: count) { buffer in
            body(UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(count)))
            return count
        }
    }
}

extension ByteBuffer: MessageBytes {
    public var count: Int { readableBytes }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeReadableBytes(body)
    }
}

extension ByteBuffer {
    /// Appends one frame, packing header and payload in place (no intermediate buffers), and returns its size.
    @discardableResult
    public mutating func writeFrame(
        _ type: FrameType, flags: FrameFlags = [], callID: UInt64 = 0,
        header: (some ProtobufCCodable)?, payload: (any RPCMessage)?
    ) -> Int {
        let start = writerIndex
        var flags = flags
        if payload != nil { flags.insert(.hasMessage) }
        writeInteger(UInt32(0))  // length, patched below
        writeInteger(type.rawValue)
        writeInteger(flags.rawValue)
        writeInteger(callID)
        let headerLengthIndex = writerIndex
        writeInteger(UInt32(0))  // header length, patched below
        let headerStart = writerIndex
        header?.serialize(into: &self)
        setInteger(UInt32(writerIndex - headerStart), at: headerLengthIndex)
        payload?.serialize(into: &self)
        let frameSize = writerIndex - start
        setInteger(UInt32(frameSize - 4), at: start)
        return frameSize
    }

    /// Appends a frame with no header and a raw payload (PING).
    @discardableResult
    public mutating func writeFrame(_ type: FrameType, flags: FrameFlags = [], callID: UInt64 = 0, rawPayload: ByteBuffer) -> Int {
        writeInteger(UInt32(Frame.fixedFieldsSize + rawPayload.readableBytes))
        writeInteger(type.rawValue)
        writeInteger(flags.rawValue)
        writeInteger(callID)
        writeInteger(UInt32(0))
        var payload = rawPayload
        writeBuffer(&payload)
        return Frame.minimumEncodedSize + rawPayload.readableBytes
    }
}

/// Typed `nil`s for frames without a header or a payload.
public enum NoMessage {
    public static let header: SettingsHeader? = nil
    public static let payload: (any RPCMessage)? = nil
}

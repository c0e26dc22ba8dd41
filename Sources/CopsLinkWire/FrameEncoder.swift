public import CopsLinkCore
public import CopsLinkMessages
public import NIOCore

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
    ///
    /// Generic in the payload, not `any RPCMessage`: a message larger than an existential's inline buffer (most
    /// requests) would be boxed on the heap to be passed. Inlinable so that it is specialized for each header and
    /// payload type where it is called, instead of running generically with type metadata looked up per frame.
    @discardableResult
    @inlinable
    public mutating func writeFrame(
        _ type: FrameType, flags: FrameFlags = [], callID: UInt64 = 0,
        header: (some ProtobufCCodable)?, payload: (some RPCMessage)?
    ) -> Int {
        guard let payload else { return writeFrame(type, flags: flags, callID: callID, header: header) { _ in } }
        return writeFrame(type, flags: flags, callID: callID, header: header, message: payload)
    }

    /// `writeFrame` for a message that is there. Code that is generic over the message type and not specialized for
    /// it (the client's calls, reached through the transport protocol) looked up the metadata of an `Optional` of
    /// that type for every frame when it went through the optional payload above.
    @discardableResult
    @inlinable
    public mutating func writeFrame(
        _ type: FrameType, flags: FrameFlags = [], callID: UInt64 = 0, header: (some ProtobufCCodable)?, message: some RPCMessage
    ) -> Int {
        writeFrame(type, flags: flags.union(.hasMessage), callID: callID, header: header) { message.serialize(into: &$0) }
    }

    /// `writeFrame` for a payload whose type is known only at run time (a call's final message, say). The message is
    /// packed through its protocol witness; nothing generic over its type runs, so no type metadata is looked up
    /// for it (building an `Optional` of the opened type did, on every call).
    @discardableResult
    @inlinable
    public mutating func writeFrame(
        _ type: FrameType, flags: FrameFlags = [], callID: UInt64 = 0,
        header: (some ProtobufCCodable)?, payload: (any RPCMessage)?
    ) -> Int {
        guard let payload else { return writeFrame(type, flags: flags, callID: callID, header: header) { _ in } }
        return writeFrame(type, flags: flags.union(.hasMessage), callID: callID, header: header) { payload.serialize(into: &$0) }
    }

    /// The frame with `payload` writing the message part; `flags` already say whether there is one.
    @inlinable
    mutating func writeFrame(
        _ type: FrameType, flags: FrameFlags, callID: UInt64, header: (some ProtobufCCodable)?, payload: (inout ByteBuffer) -> Void
    ) -> Int {
        let start = writerIndex
        writeInteger(UInt32(0))  // length, patched below
        writeInteger(type.rawValue)
        writeInteger(flags.rawValue)
        writeInteger(callID)
        let headerLengthIndex = writerIndex
        writeInteger(UInt32(0))  // header length, patched below
        let headerStart = writerIndex
        header?.serialize(into: &self)
        setInteger(UInt32(writerIndex - headerStart), at: headerLengthIndex)
        payload(&self)
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
    public static let payload: SettingsHeader? = nil
}

public import NIOCore

/// One frame: `u32 length · u8 type · u8 flags · u64 call id · u32 header length · header · payload`, big-endian.
///
/// `header` and `payload` are slices of the receive buffer, not copies.
public struct Frame: Sendable {
    /// Bytes before the header: type, flags, call id, header length.
    public static let fixedFieldsSize = 1 + 1 + 8 + 4
    /// Bytes of a frame with an empty header and payload, length field included.
    public static let minimumEncodedSize = 4 + fixedFieldsSize

    /// Where each fixed field starts, counted from the frame's first byte (its length field): the one statement of
    /// the layout that the decoder, the encoder and the call id and header length patches and peeks all use.
    public enum Offset {
        public static let type = 4
        public static let flags = 5
        public static let callID = 6
        public static let headerLength = 14
        public static let header = 18
    }

    public var type: FrameType
    public var flags: FrameFlags
    public var callID: UInt64
    public var header: ByteBuffer
    public var payload: ByteBuffer

    public init(
        type: FrameType, flags: FrameFlags = [], callID: UInt64 = 0, header: ByteBuffer = ByteBuffer(), payload: ByteBuffer = ByteBuffer()
    ) {
        self.type = type
        self.flags = flags
        self.callID = callID
        self.header = header
        self.payload = payload
    }
}

/// The bytes a client sends first: `COPSLINK` and a u32 protocol version.
public enum Preface {
    public static let magic: [UInt8] = Array("COPSLINK".utf8)
    public static let size = magic.count + 4
    /// The protocol versions this implementation speaks.
    public static let supportedVersions: [UInt32] = [1]
    public static let currentVersion: UInt32 = 1

    public static func write(version: UInt32 = currentVersion, to buffer: inout ByteBuffer) {
        buffer.writeBytes(magic)
        buffer.writeInteger(version)
    }
}

/// Limits the frame decoder enforces: the frame size from the length field alone, before buffering the frame;
/// the header size once the frame is complete.
public struct FrameLimits: Sendable, Hashable {
    /// Largest accepted value of the length field (bytes after it). Default 4 MiB.
    public var maxFrameSize: Int
    /// Largest accepted header. Default 16 KiB.
    public var maxHeaderSize: Int

    public init(maxFrameSize: Int = 4 << 20, maxHeaderSize: Int = 16 << 10) {
        self.maxFrameSize = maxFrameSize
        self.maxHeaderSize = maxHeaderSize
    }
}

extension ByteBuffer {
    /// The header length field of the frame that starts at the reader index (an encoded frame, not yet sent).
    public func frameHeaderLength() -> Int {
        Int(getInteger(at: readerIndex + Frame.Offset.headerLength, as: UInt32.self)!)
    }

    /// Writes `id` into the call id field of the frame that starts at the reader index: frames are encoded before
    /// their call has an id (a queued client call) and get it when they go out.
    public mutating func setFrameCallID(_ id: UInt64) {
        setInteger(id, at: readerIndex + Frame.Offset.callID)
    }
}

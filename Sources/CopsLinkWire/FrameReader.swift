public import NIOCore

/// Decodes a connection's byte stream inside the channel handler that consumes the frames.
///
/// Why not a `ByteToMessageHandler(FrameDecoder)` in front: it would hand each frame on wrapped in `NIOAny`, which
/// holds three words inline; a frame is seven, so every frame would cost a heap box, on top of a pass through the
/// pipeline. Buffered bytes are bounded by the decoder's limits: a frame whose length field is too large
/// is refused from its first four bytes.
public struct FrameReader {
    public private(set) var decoder: FrameDecoder
    /// Bytes received and not yet decoded: at most one partial frame between reads.
    private var buffered: ByteBuffer?
    /// Whether the partial frame now buffered has been reported by `startedPartialFrame`.
    private var partialFrameReported = false

    public init(_ decoder: FrameDecoder) {
        self.decoder = decoder
    }

    /// Adds received bytes.
    public mutating func append(_ bytes: ByteBuffer) {
        guard buffered != nil else {
            buffered = bytes  // the common case: reads end on a frame boundary, and nothing is copied
            return
        }
        // What remains of the buffer is one partial frame, moved to the front (or copied, if the buffer is shared with
        // frames still being handled).
        buffered!.appendDroppingReadBytes(bytes)
    }

    /// Bytes received and not yet decoded (at most one partial frame between reads).
    public var bufferedBytes: Int { buffered?.readableBytes ?? 0 }

    /// The size of the buffer holding them, decoded bytes included (for tests of the bound).
    var bufferCapacity: Int { buffered?.capacity ?? 0 }

    /// The memory the undecoded bytes keep alive: the whole storage of the buffer holding them (a partial frame
    /// grows it by doubling, and a slice keeps all of a read's storage), 0 when nothing is buffered.
    public var heldStorageBytes: Int { buffered?.storageCapacity ?? 0 }

    /// The header of the partial REQUEST frame buffered, once all of the header is (`FrameDecoder.requestHeaderAhead`).
    public var partialRequestHeader: ByteBuffer? { buffered.flatMap { decoder.requestHeaderAhead(of: $0) } }

    /// The next preface or frame, or nil until more bytes arrive. Frames are slices of the received bytes.
    public mutating func next() throws(WireError) -> InboundFrame? {
        guard buffered != nil else { return nil }
        guard let inbound = try decoder.decodeNext(&buffered!) else { return nil }
        partialFrameReported = false
        if buffered!.readableBytes == 0 { buffered = nil }
        return inbound
    }

    /// True once for each frame whose first bytes are buffered without the rest (after the preface), for the
    /// frame-read timeout; call after `next()` returned nil.
    public mutating func startedPartialFrame() -> Bool {
        guard !partialFrameReported, let buffered, buffered.readableBytes > 0, !decoder.isAwaitingPreface else { return false }
        partialFrameReported = true
        return true
    }
}

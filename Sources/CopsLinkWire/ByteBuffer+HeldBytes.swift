public import NIOCore

/// Keeping received bytes that wait for more: shared by the readers that hold a partial frame or message
/// (`FrameReader`, the gRPC message reader) and by the native handler's held request messages.
extension ByteBuffer {
    /// Appends `bytes` after dropping the bytes already read, so that a stream of reads that each end inside a frame
    /// or message does not grow the buffer without end: what remains is moved to the front (or copied, if the storage
    /// is shared with slices still in use).
    public mutating func appendDroppingReadBytes(_ bytes: ByteBuffer) {
        var bytes = bytes
        discardReadBytes()
        writeBuffer(&bytes)
    }

    /// The readable bytes in storage of their own when the storage holding them is more than twice their size plus
    /// `slack` (a slice of a large read, or a buffer grown by earlier frames), otherwise this buffer: a few held bytes
    /// must not keep a whole read's storage alive.
    public func compacted(slack: Int = 4096, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        guard storageCapacity > 2 * readableBytes + slack else { return self }
        var copy = allocator.buffer(capacity: readableBytes)
        copy.writeImmutableBuffer(self)
        return copy
    }
}

public import CopsLinkCore
import CopsLinkWire
public import NIOCore

/// Cuts gRPC's length-prefixed messages (a compressed flag byte, a 4-byte big-endian length, the bytes) out of a
/// stream's DATA frames. Hostile input: a length above `maxMessageSize` is refused before anything is buffered for
/// it, and a set compressed flag is refused (only the identity encoding is accepted).
public struct GRPCMessageReader {
    public let maxMessageSize: Int
    /// Whose limit `maxMessageSize` is, as the refusal names it.
    private let limitOwner: String
    private var buffer: ByteBuffer?

    /// - Parameter limitOwner: names the limit in the refusal: "the server's", or the method's.
    public init(maxMessageSize: Int, limitOwner: String = "the server's") {
        self.maxMessageSize = maxMessageSize
        self.limitOwner = limitOwner
    }

    /// Bytes held for a message not yet whole.
    public var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    /// The memory those bytes keep alive: the whole storage of the buffer holding them, 0 when nothing is held.
    /// `next` keeps it within twice the held bytes plus `compactionSlack` between DATA frames.
    public var heldStorageBytes: Int { buffer?.storageCapacity ?? 0 }

    /// Storage a partial message may keep beyond twice its size before `next` copies it out.
    static let compactionSlack = 4096

    public mutating func append(_ bytes: ByteBuffer) {
        guard buffer != nil else {
            buffer = bytes  // the common case: a DATA frame holds whole messages, and nothing is copied
            return
        }
        // Without dropping the messages already cut out, a stream of DATA frames that each end inside a message grew
        // the buffer by every byte the stream ever sent (found by a hostile client: 150 MiB in 45 s on one keyless
        // stream).
        buffer!.appendDroppingReadBytes(bytes)
    }

    /// The next whole message; nil when more bytes are needed.
    public mutating func next() throws(RPCError) -> [UInt8]? {
        guard var buffer else { return nil }
        guard buffer.readableBytes >= 5,
            let flag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self)
        else {
            compact()
            return nil
        }
        guard flag == 0 else {
            // gRPC's message prefix has one flag, compressed (1); any other value is no message at all.
            guard flag == 1 else {
                throw RPCError(
                    code: .internalError, message: "a message prefix's flag byte is \(flag); gRPC defines only 0 and 1 (compressed)")
            }
            throw RPCError(
                code: .internalError,
                message: "a compressed message arrived, but the call's grpc-encoding is identity (the only encoding this server accepts)")
        }
        guard UInt64(length) <= UInt64(maxMessageSize) else {
            throw RPCError(
                code: .resourceExhausted,
                message: "the request message of \(length) bytes is larger than \(limitOwner) limit of \(maxMessageSize) bytes")
        }
        let size = Int(length)  // at most maxMessageSize: fits
        guard buffer.readableBytes - 5 >= size else {
            compact()
            return nil
        }
        buffer.moveReaderIndex(forwardBy: 5)
        let message = buffer.readBytes(length: size) ?? []
        self.buffer = buffer.readableBytes == 0 ? nil : buffer
        return message
    }

    /// Copies a partial message out of a buffer far larger than it: a slice of a connection's read (a few bytes of
    /// a message at the end of a DATA frame pinned all of that read's storage, 32 KiB per stream) or a buffer grown
    /// by earlier messages. Called when `next` finds no whole message, so at most once per DATA frame.
    private mutating func compact() {
        buffer = buffer?.compacted(slack: Self.compactionSlack)
    }

    /// The framing of `message` (identity encoding): flag 0, its length, its bytes.
    public static func frame(_ message: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: message.count + 5)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(truncatingIfNeeded: message.count))
        buffer.writeBytes(message)
        return buffer
    }
}

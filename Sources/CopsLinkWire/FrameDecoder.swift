public import NIOCore

/// What the decoder produces: the preface (server side only), then frames.
public enum InboundFrame: Sendable {
    case preface(version: UInt32)
    case frame(Frame)
}

/// Splits the byte stream into frames, checking every length before it buffers the frame.
///
/// The connection handlers use it through `FrameReader`; as a `ByteToMessageDecoder` it serves tools and tests that
/// put it in a pipeline of their own.
///
/// A frame whose length field exceeds `limits.maxFrameSize` is rejected as soon as its first four bytes arrive.
/// Unknown frame types are reported as `WireError.unknownFrameType` (a protocol violation).
public struct FrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = InboundFrame

    public var limits: FrameLimits
    private var awaitingPreface: Bool
    /// Whether the preface (server side) has yet to arrive.
    public var isAwaitingPreface: Bool { awaitingPreface }

    /// - Parameter expectsPreface: true on the server, which reads the client's preface first.
    public init(limits: FrameLimits = FrameLimits(), expectsPreface: Bool) {
        self.limits = limits
        self.awaitingPreface = expectsPreface
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let inbound = try decodeNext(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(inbound))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// Decodes one preface or frame from `buffer`, or returns nil if more bytes are needed. Usable without a channel.
    public mutating func decodeNext(_ buffer: inout ByteBuffer) throws(WireError) -> InboundFrame? {
        if awaitingPreface {
            guard let version = try Self.readPreface(&buffer) else { return nil }
            awaitingPreface = false
            return .preface(version: version)
        }
        guard let length = try frameLength(buffer), buffer.readableBytes >= 4 + length else { return nil }

        let start = buffer.readerIndex
        let typeByte = buffer.getInteger(at: start + Frame.Offset.type, as: UInt8.self)!
        let flags = buffer.getInteger(at: start + Frame.Offset.flags, as: UInt8.self)!
        let callID = buffer.getInteger(at: start + Frame.Offset.callID, as: UInt64.self)!
        let headerLength = try self.headerLength(buffer, frameLength: length)
        guard let type = FrameType(rawValue: typeByte) else { throw .unknownFrameType(typeByte) }

        buffer.moveReaderIndex(forwardBy: Frame.Offset.header)
        let header = buffer.readSlice(length: headerLength)!
        let payload = buffer.readSlice(length: length - Frame.fixedFieldsSize - headerLength)!
        return .frame(Frame(type: type, flags: FrameFlags(rawValue: flags), callID: callID, header: header, payload: payload))
    }

    /// The header of the REQUEST frame `buffer` starts with, once the header has arrived and before the rest of the
    /// frame has: a server holding the frame for want of memory reads the caller's key from it early. Nil before the
    /// preface, for another frame type, for a header not yet all in, or for a frame that breaks the limits
    /// (`decodeNext` reports that once it is complete, or at once for its length field).
    public func requestHeaderAhead(of buffer: ByteBuffer) -> ByteBuffer? {
        let start = buffer.readerIndex
        guard !awaitingPreface, buffer.readableBytes >= Frame.Offset.header,
            buffer.getInteger(at: start + Frame.Offset.type, as: UInt8.self) == FrameType.request.rawValue,
            let length = try? frameLength(buffer), let headerLength = try? headerLength(buffer, frameLength: length),
            buffer.readableBytes >= Frame.Offset.header + headerLength
        else { return nil }
        return buffer.getSlice(at: start + Frame.Offset.header, length: headerLength)
    }

    /// The length field of the frame `buffer` starts with, checked against the limits from its four bytes alone; nil
    /// until they have arrived.
    private func frameLength(_ buffer: ByteBuffer) throws(WireError) -> Int? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self).map(Int.init) else { return nil }
        guard length <= limits.maxFrameSize else { throw .frameTooLarge(length: length, limit: limits.maxFrameSize) }
        guard length >= Frame.fixedFieldsSize else { throw .frameTooShort(length: length) }
        return length
    }

    /// The header length field of the frame `buffer` starts with (its fixed fields have arrived), checked against the
    /// frame's length and the header limit.
    private func headerLength(_ buffer: ByteBuffer, frameLength length: Int) throws(WireError) -> Int {
        let headerLength = Int(buffer.getInteger(at: buffer.readerIndex + Frame.Offset.headerLength, as: UInt32.self)!)
        guard headerLength <= length - Frame.fixedFieldsSize else {
            throw .headerLengthPastFrame(headerLength: headerLength, frameLength: length)
        }
        guard headerLength <= limits.maxHeaderSize else { throw .headerTooLarge(size: headerLength, limit: limits.maxHeaderSize) }
        return headerLength
    }

    /// Checks the magic byte by byte, so that a wrong peer (an HTTP client, say) is told at once.
    private static func readPreface(_ buffer: inout ByteBuffer) throws(WireError) -> UInt32? {
        let available = min(buffer.readableBytes, Preface.magic.count)
        let received = buffer.getBytes(at: buffer.readerIndex, length: available) ?? []
        guard received.elementsEqual(Preface.magic.prefix(available)) else {
            throw .badPreface(received: buffer.getBytes(at: buffer.readerIndex, length: min(buffer.readableBytes, 32)) ?? [])
        }
        guard buffer.readableBytes >= Preface.size else { return nil }
        buffer.moveReaderIndex(forwardBy: Preface.magic.count)
        let version = buffer.readInteger(as: UInt32.self)!
        guard Preface.supportedVersions.contains(version) else { throw .unsupportedVersion(version) }
        return version
    }
}

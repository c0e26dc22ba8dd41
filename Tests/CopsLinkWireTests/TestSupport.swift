import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore

/// `InboundFrame` with its buffers as byte arrays, so that decoded frames can be compared.
enum InboundMirror: Equatable, CustomStringConvertible {
    case preface(version: UInt32)
    case frame(FrameMirror)

    init(_ inbound: InboundFrame) {
        switch inbound {
        case .preface(let version): self = .preface(version: version)
        case .frame(let frame): self = .frame(FrameMirror(frame))
        }
    }

    var frame: FrameMirror? {
        if case .frame(let frame) = self { return frame }
        return nil
    }

    var description: String {
        switch self {
        case .preface(let version): "preface(\(version))"
        case .frame(let frame): "\(frame)"
        }
    }
}

struct FrameMirror: Equatable, CustomStringConvertible {
    var type: FrameType
    var flags: UInt8
    var callID: UInt64
    var header: [UInt8]
    var payload: [UInt8]

    init(type: FrameType, flags: FrameFlags, callID: UInt64, header: [UInt8], payload: [UInt8]) {
        self.type = type
        self.flags = flags.rawValue
        self.callID = callID
        self.header = header
        self.payload = payload
    }

    init(_ frame: Frame) {
        self.init(
            type: frame.type, flags: frame.flags, callID: frame.callID,
            header: Array(frame.header.readableBytesView), payload: Array(frame.payload.readableBytesView))
    }

    var description: String { "\(type) flags=\(flags) call=\(callID) header=\(header.count)B payload=\(payload.count)B" }
}

/// `FrameDecoder` as a decoder of `InboundMirror`s, for `ByteToMessageDecoderVerifier` (which needs Equatable output).
struct MirrorDecoder: ByteToMessageDecoder {
    typealias InboundOut = InboundMirror
    var inner: FrameDecoder

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let inbound = try inner.decodeNext(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(InboundMirror(inbound)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// A payload message that is its own bytes.
struct RawPayload: RPCMessage, Equatable {
    static let protoName = "copslink.test.RawPayload"
    var bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(RPCError) { self.bytes = Array(bytes) }
    func serialize(into sink: inout some MessageSink) {
        bytes.withUnsafeBytes { source in sink.appendBytes(count: source.count) { $0.copyMemory(from: source) } }
    }
}

extension FrameDecoder {
    /// Decodes everything `buffer` holds, throwing the first error.
    mutating func decodeAll(_ buffer: inout ByteBuffer) throws(WireError) -> [InboundMirror] {
        var result: [InboundMirror] = []
        while let inbound = try decodeNext(&buffer) { result.append(InboundMirror(inbound)) }
        return result
    }
}

func bytes(of buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

/// A buffer holding a raw frame assembled field by field, without `writeFrame`.
func rawFrame(length: UInt32, type: UInt8, flags: UInt8 = 0, callID: UInt64 = 0, headerLength: UInt32, body: [UInt8] = []) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(length)
    buffer.writeInteger(type)
    buffer.writeInteger(flags)
    buffer.writeInteger(callID)
    buffer.writeInteger(headerLength)
    buffer.writeBytes(body)
    return buffer
}

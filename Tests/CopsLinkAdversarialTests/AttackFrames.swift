import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import NIOCore

/// Payload bytes sent as they are: a message the server will try to decode, or no valid message at all.
struct RawBytes: RPCMessage {
    static let protoName = "copslink.adversarial.RawBytes"
    var bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(RPCError) { self.bytes = Array(bytes) }
    func serialize(into sink: inout some MessageSink) {
        bytes.withUnsafeBytes { source in sink.appendBytes(count: source.count) { $0.copyMemory(from: source) } }
    }
}

/// Frames as an attacker writes them.
enum AttackFrames {
    /// The preface and a SETTINGS frame with the defaults.
    static func prefaceAndSettings() -> ByteBuffer {
        var buffer = ByteBuffer()
        Preface.write(to: &buffer)
        buffer.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload)
        return buffer
    }

    /// A REQUEST frame appended to `buffer`: by default a whole unary call (END_STREAM and the message).
    static func request(
        _ id: UInt64, _ method: String, message: some RPCMessage, token: String? = nil, metadata: Metadata = [:],
        endStream: Bool = true, timeoutMicros: UInt64 = 0, into buffer: inout ByteBuffer
    ) {
        var metadata = metadata
        if let token { metadata.add("authorization", "Bearer \(token)") }
        buffer.writeFrame(
            .request, flags: endStream ? .endStream : [], callID: id,
            header: RequestHeader(method: method, timeoutMicros: timeoutMicros, metadata: metadata), payload: message)
    }

    /// A REQUEST frame on its own.
    static func request(
        _ id: UInt64, _ method: MethodDescriptor, message: some RPCMessage, token: String? = nil, metadata: Metadata = [:],
        endStream: Bool = true, timeoutMicros: UInt64 = 0
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        request(
            id, method.path, message: message, token: token, metadata: metadata, endStream: endStream, timeoutMicros: timeoutMicros,
            into: &buffer)
        return buffer
    }

    /// The first `count` bytes of a frame whose length field announces `length`: the server must buffer them and
    /// wait for the rest, which never comes.
    static func partialFrame(length: Int, sending count: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(length))
        buffer.writeInteger(FrameType.message.rawValue)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt64(1))
        buffer.writeInteger(UInt32(0))
        buffer.writeRepeatingByte(0x61, count: max(0, count - buffer.readableBytes))
        return buffer
    }
}

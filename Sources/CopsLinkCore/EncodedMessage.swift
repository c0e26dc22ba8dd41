/// A message already in its wire form, sent as it is.
///
/// What a handler returns when it holds the encoded bytes of its answer (a read model kept encoded in the store), so
/// that the server copies them into the frame instead of decoding them into a message only to encode it again. A
/// method whose .proto comment has a line `@encoded-response` takes it in its generated handler signature; callers
/// still see the plain `Message`, and nothing on the wire says how the answer was made.
public struct EncodedMessage<Message: RPCMessage>: RPCMessage {
    public static var protoName: String { Message.protoName }

    /// The encoded message. Not validated: whoever makes an `EncodedMessage` vouches that these bytes decode as
    /// `Message` (the read model's tests compare them with the message assembled from scratch).
    public var bytes: [UInt8]

    /// Wraps bytes that are an encoded `Message`.
    @inlinable
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Encodes `message`: for the paths that have the message rather than its bytes.
    public init(_ message: Message) { bytes = message.serializedBytes() }

    /// Copies the bytes without decoding them.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws(RPCError) { self.bytes = Array(bytes) }

    @inlinable
    public var knownSerializedSize: Int? { bytes.count }

    @inlinable
    public func serialize(into sink: inout some MessageSink) {
        bytes.withUnsafeBytes { source in
            sink.appendBytes(count: source.count) { $0.copyMemory(from: source) }
        }
    }

    /// The message these bytes encode.
    public func decoded() throws(RPCError) -> Message {
        try Message(from: bytes)
    }
}

/// A destination that protobuf encoders write into in place, without an intermediate copy.
///
/// The TCP transport conforms NIO's `ByteBuffer`, so messages are packed straight into the outgoing frame.
public protocol MessageSink {
    /// Appends exactly `count` bytes, which `body` writes into the buffer it is given.
    mutating func appendBytes(count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void)
}

/// Serialized message bytes as a transport holds them (a slice of the receive buffer, or an array).
public protocol MessageBytes: Sendable {
    var count: Int { get }
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
}

/// A protobuf message with a codec.
public protocol RPCMessage: Sendable {
    /// Fully qualified protobuf name, e.g. `copslink.rpc.v1.SimpleRequest`.
    static var protoName: String { get }
    /// Decodes standard protobuf bytes. Throws `RPCError` with `.invalidArgument` for malformed input, and with
    /// `.resourceExhausted` when decoding would take more memory than the codec allows for the message's size.
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(RPCError)
    /// Encodes standard protobuf bytes into `sink`.
    func serialize(into sink: inout some MessageSink)
    /// The encoded size when it is known without encoding (bytes already in wire form), else nil: a transport sizes
    /// the frame it writes the message into by it, rather than growing the frame's buffer (a copy) as it writes.
    /// Default: nil.
    var knownSerializedSize: Int? { get }
    /// What in `bytes`, which decoded as this message, the decoded value does not hold as it was sent (a codec that
    /// cannot keep every value: protobuf-c cuts a string at U+0000); nil when nothing. The server refuses such a
    /// request rather than act on a value its client did not send. Default: nil.
    static func alteredField(inReceived bytes: UnsafeRawBufferPointer) -> String?
}

extension RPCMessage {
    public var knownSerializedSize: Int? { nil }

    public static func alteredField(inReceived bytes: UnsafeRawBufferPointer) -> String? { nil }

    /// Decodes the bytes a transport delivered.
    public init(from bytes: some MessageBytes) throws(RPCError) {
        do {
            self = try bytes.withUnsafeBytes { try Self(serializedBytes: $0) }
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .internalError, message: "decoding \(Self.protoName) failed")
        }
    }

    /// Decodes a request message the server received, for its handler: INVALID_ARGUMENT `request message is not a
    /// valid <name>` when the bytes do not decode (with the reason when the decode was stopped at its memory bound),
    /// and INVALID_ARGUMENT `request message is not a valid <name>: <field> …` when the decoded value would not hold
    /// what was sent (`alteredField(inReceived:)`).
    public init(receivedRequest bytes: some MessageBytes) throws(RPCError) {
        do {
            self = try Self(from: bytes)
        } catch {
            throw RPCError.invalidRequest(Self.protoName, decodeError: error)
        }
        if let altered = bytes.withUnsafeBytes({ Self.alteredField(inReceived: $0) }) {
            throw RPCError(code: .invalidArgument, message: "request message is not a valid \(Self.protoName): \(altered)")
        }
    }

    /// The encoded bytes, for tests and the in-process transport.
    public func serializedBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        serialize(into: &bytes)
        return bytes
    }
}

extension RPCError {
    /// The status for request bytes that did not decode as `protoName`: INVALID_ARGUMENT `request message is not a
    /// valid <name>`, with the reason appended when the decode was stopped at its memory bound.
    public static func invalidRequest(_ protoName: String, decodeError: RPCError) -> RPCError {
        let suffix = decodeError.code == .resourceExhausted ? ": \(decodeError.message)" : ""
        return RPCError(code: .invalidArgument, message: "request message is not a valid \(protoName)\(suffix)")
    }
}

extension Array: MessageSink where Element == UInt8 {
    /// `body` writes all `count` bytes (the protocol's contract), so they are not zeroed first. Zeroing them by
    /// appending `repeatElement(0, count:)` went byte by byte where the generic path is not specialized (debug
    /// builds): tens of seconds for a 4 MiB message.
    public mutating func appendBytes(count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            body(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
        if isEmpty {
            self = bytes
        } else {
            append(contentsOf: bytes)
        }
    }
}

extension Array: MessageBytes where Element == UInt8 {}

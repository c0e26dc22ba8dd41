/// proto3's canonical JSON mapping (protobuf.dev/programming-guides/json) for every message of proto/, as a
/// transcoder between JSON and the protobuf binary encoding, driven by the generated `ProtoSchema`. The HTTP/JSON
/// gateway turns a JSON request into the bytes the handlers already decode, and their answers' bytes into JSON; so
/// there is one mapping, and it follows the .proto files by construction.
///
/// Writing: lowerCamelCase names (or the .proto names, `Options.protoFieldNames`), fields in declaration order,
/// 64-bit integers as decimal strings, enums by value name (an unknown number as the number), `bytes` as base64,
/// singular fields at their default value left out (`Options.defaultValues` writes them), present message fields
/// written even when empty. Reading: either name; numbers or decimal strings for every integer type; enums by name
/// or number; base64 in either alphabet, padding optional; `null` as the default. A member the message does not
/// have is refused (INVALID_ARGUMENT at the gateway), as is a field given twice.
public enum ProtoJSON {
    public struct Options: Sendable, Hashable {
        /// Names as in the .proto (`customer_id`) instead of lowerCamelCase (`customerId`).
        public var protoFieldNames = false
        /// Singular scalar fields at their default value (`""`, `0`, `false`, the zero enum) and empty repeated
        /// fields are written too.
        public var defaultValues = false
        public init(protoFieldNames: Bool = false, defaultValues: Bool = false) {
            self.protoFieldNames = protoFieldNames
            self.defaultValues = defaultValues
        }
    }

    /// The JSON text of the message `messageName` encoded in `binary`.
    public static func json(
        fromBinary binary: some Collection<UInt8>, messageName: String, options: Options = Options()
    ) throws(ProtoJSONError) -> [UInt8] {
        guard let message = CompiledProtoSchema.shared.messageIndex(messageName) else {
            throw ProtoJSONError("no message named \(messageName)")
        }
        var writer = JSONWriter()
        // JSON takes about three times the bytes of the binary encoding (quoted names, base64, decimal digits).
        writer.bytes.reserveCapacity(binary.count * 3 + 16)
        let transcoder = BinaryToJSON(options: options)
        var failure: ProtoJSONError?
        let write = { (binary: UnsafeRawBufferPointer) -> Void in
            do throws(ProtoJSONError) { try transcoder.write(binary, message: message, into: &writer) } catch { failure = error }
        }
        if binary.withContiguousStorageIfAvailable({ (binary) -> Void in write(UnsafeRawBufferPointer(binary)) }) == nil {
            Array(binary).withUnsafeBytes(write)
        }
        if let failure { throw failure }
        return writer.bytes
    }

    /// The protobuf binary encoding of the JSON text `json` for the message `messageName`.
    public static func binary(fromJSON json: some Collection<UInt8>, messageName: String) throws(ProtoJSONError) -> [UInt8] {
        let value: JSONValue
        do { value = try JSONValue.parse(json) } catch { throw ProtoJSONError(error.description) }
        return try binary(from: value, messageName: messageName)
    }

    /// The protobuf binary encoding of a parsed JSON value for the message `messageName`.
    public static func binary(from value: JSONValue, messageName: String) throws(ProtoJSONError) -> [UInt8] {
        guard let schema = ProtoSchema.message(messageName) else { throw ProtoJSONError("no message named \(messageName)") }
        var output: [UInt8] = []
        try JSONToBinary.message(value, schema, path: "", into: &output)
        return output
    }

    /// Messages nest at most this deep (the .proto files nest a few levels; a binary input nested deeper is hostile).
    static let maxDepth = 32
}

/// Why a JSON text does not map to the message, naming the field (`account.customer.equipment[2].zoneNumber`).
public struct ProtoJSONError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }

    static func field(_ path: String, _ problem: String) -> ProtoJSONError {
        ProtoJSONError(path.isEmpty ? problem : "field '\(path.prefix(200))': \(problem)")
    }
}

public import CopsLinkCore
public import CopsLinkMessages

/// What `copslink --json` prints: one JSON object on one line, the response message in proto3's JSON mapping
/// written by `ProtoJSON`, the HTTP/JSON gateway's own code (PROTOCOL.md §18.2), with the .proto field names and
/// default values written. One mapping in the project: a script reads the same fields, enum names and 64-bit
/// strings from the CLI as from the gateway, only under the .proto names.
///
/// The CLI adds only what no message carries, after the message's fields (`extras`: `"replayed"`, a rejected
/// signal's Contact ID), and on a failed call prints its own error object (`error(code:name:message:)`), both with
/// the gateway's `JSONWriter`. Passcodes are never printed, whatever a server sends (`PasscodeCarrying`).
public enum CLIJSON {
    /// The options every message is written with: `.proto` names (`account_number`, as README's `jq` examples
    /// read them) and default values, so every field is there for a script to read.
    public static let options = ProtoJSON.Options(protoFieldNames: true, defaultValues: true)

    /// A member the CLI adds beside a message's fields.
    public enum Extra: Sendable, Equatable {
        case bool(Bool)
        case strings([String])
    }

    /// `message` as `--json` prints it: its proto3 JSON with `extras` after its fields (each named unlike any field
    /// of the message), passcodes blanked.
    public static func text(_ message: some RPCMessage, extras: KeyValuePairs<String, Extra> = [:]) throws(ProtoJSONError) -> String {
        let bytes = (message as? any PasscodeCarrying)?.withoutPasscodes().serializedBytes() ?? message.serializedBytes()
        let name = type(of: message).protoName
        var writer = JSONWriter()
        writer.bytes = try ProtoJSON.json(fromBinary: bytes, messageName: name, options: options)
        guard !extras.isEmpty else { return String(decoding: writer.bytes, as: UTF8.self) }
        // ProtoJSON writes one object: the extras go before its closing brace.
        guard writer.bytes.last == UInt8(ascii: "}") else { throw ProtoJSONError("\(name) was not written as an object") }
        writer.bytes.removeLast()
        for (key, value) in extras {
            if writer.bytes.count > 1 { writer.raw(",") }
            writer.string(key)
            writer.raw(":")
            switch value {
            case .bool(let flag): writer.raw(flag ? "true" : "false")
            case .strings(let strings):
                writer.raw("[")
                for (index, string) in strings.enumerated() {
                    if index > 0 { writer.raw(",") }
                    writer.string(string)
                }
                writer.raw("]")
            }
        }
        writer.raw("}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// What a failed call prints with `--json`: `{"code":5,"name":"NOT_FOUND","message":"…"}` (the status code's
    /// number and name, and the message also written to stderr).
    public static func error(code: Int, name: String, message: String) -> String {
        var writer = JSONWriter()
        writer.raw("{\"code\":")
        writer.raw(String(code))
        writer.raw(",\"name\":")
        writer.string(name)
        writer.raw(",\"message\":")
        writer.string(message)
        writer.raw("}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

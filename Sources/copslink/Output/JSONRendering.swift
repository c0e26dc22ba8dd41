import CopsLinkCore
import CopsLinkMessages
import Foundation

/// `--json` output: one JSON object per command, keys sorted.
///
/// Every message in it is written by `ProtoJSON`, the proto3 JSON mapping the server's HTTP/JSON gateway uses
/// (PROTOCOL.md §18), with the .proto field names (`account_number`) and default values written out: one mapping
/// in the project. So enums are their full value names (`AUTHORITY_TYPE_POLICE`), 64-bit integers (the `*_ms`
/// timestamps) decimal strings, `bytes` base64, an absent message `null`. A command's object is its response
/// message, and only the CLI's own additions beside its fields (`"replayed"` for a replayed mutation, a rejected
/// signal's `message`, the rows of every RequestTestData page together). Passcodes are never written: the server
/// returns none.
typealias JSONObject = [String: Any]

enum JSONOutput {
    static func render(_ object: JSONObject) -> String {
        guard JSONSerialization.isValidJSONObject(object),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The options of every message the CLI writes.
    static let options = ProtoJSON.Options(protoFieldNames: true, defaultValues: true)

    /// `message` in the proto3 JSON mapping, as a JSON object.
    static func object(_ message: some RPCMessage) -> JSONObject {
        let bytes = message.serializedBytes()
        guard let json = try? ProtoJSON.json(fromBinary: bytes, messageName: type(of: message).protoName, options: options),
            let object = try? JSONSerialization.jsonObject(with: Data(json)) as? JSONObject
        else {
            // Every message of proto/ is in the generated schema (tested): this is not reached.
            return ["error": "no JSON mapping for \(type(of: message).protoName)"]
        }
        return object
    }
}

extension RPCMessage {
    /// This message in the proto3 JSON mapping (`JSONOutput.object`).
    var json: JSONObject { JSONOutput.object(self) }
}

extension Array where Element: RPCMessage {
    var json: [JSONObject] { map(\.json) }
}

extension Optional where Wrapped: RPCMessage {
    var json: Any { self.map { $0.json as Any } ?? NSNull() }
}

/// Method kinds as the proto enum names them (`copslink.rpc.v1.MethodInfo.Kind`), for the text table.
enum MethodKindName {
    static func of(_ kind: MethodKind) -> String {
        switch kind {
        case .unary: "UNARY"
        case .serverStreaming: "SERVER_STREAMING"
        case .clientStreaming: "CLIENT_STREAMING"
        case .bidirectionalStreaming: "BIDI_STREAMING"
        }
    }
}

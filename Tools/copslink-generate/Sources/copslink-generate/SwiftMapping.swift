/// What the generator cannot read from the .proto files: how CopsLink's hand-written Swift names differ from the
/// proto names, and which services hand their trailers to the handlers. Edit here when adding such a case
/// (CONTRIBUTING.md).
enum SwiftMapping {
    /// Proto messages whose Swift type (in CopsLinkMessages) has another name than the message's name in its package.
    static let typeNames: [String: String] = [
        "copslink.rpc.v1.MetadataEntry": "Metadata.Entry",
        "copslink.rpc.v1.Settings": "SettingsHeader",
        "copslink.rpc.v1.WindowUpdate": "WindowUpdateHeader",
        "copslink.rpc.v1.GoAway": "GoAwayHeader",
        "copslink.rpc.v1.Empty": "EmptyMessage"
    ]

    /// Proto messages with no Swift type of their own, and what stands for them in the messages that hold them.
    static let inlined: [String: String] = [
        "copslink.rpc.v1.Payload": "its `body`, as `[UInt8]?` (nil: no Payload)"
    ]

    /// Requests with fields that a typed client may still leave out (defaulting to `Type()`), because their empty
    /// value is a meaningful request. Requests without fields are always defaulted.
    static let defaultedRequests: Set<String> = [
        // The empty service name asks about the server as a whole.
        "copslink.rpc.v1.HealthCheckRequest"
    ]

    /// Services whose handlers choose their trailers: unary and client-streaming handlers return `ServerResponse`,
    /// streaming-response handlers return the trailers (`Metadata`), and the client also returns whole
    /// `ClientResponse`s (`…Response` for unary methods). Every other service's handlers return just the message.
    static let servicesWithTrailers: Set<String> = [
        "copslink.rpc.v1.TestService"
    ]

    /// The Swift type of a proto message (full name, no leading dot).
    static func swiftType(_ protoName: String, in files: [ProtoFile]) -> String {
        if let name = typeNames[protoName] { return name }
        for file in files {
            if let message = file.messages.first(where: { $0.fullName == protoName }) { return message.localName }
        }
        return String(protoName.split(separator: ".").last ?? "")
    }
}

extension String {
    /// `LinkAccount` → `linkAccount`, `URLLookup` → `urlLookup`.
    var lowerCamel: String {
        let characters = Array(self)
        var upper = 0
        while upper < characters.count, characters[upper].isUppercase { upper += 1 }
        if upper > 1, upper < characters.count { upper -= 1 }
        return String(characters[..<upper]).lowercased() + String(characters[upper...])
    }

    /// The last word of a camel-case type name, lower-cased and made plural: `TestDataPage` → `pages`,
    /// `StreamingOutputCallResponse` → `responses`, `Signal` → `signals`. Names a stream of that type.
    var pluralLastWord: String {
        let characters = Array(self)
        let start = characters.lastIndex { $0.isUppercase } ?? 0
        let word = String(characters[start...]).lowercased()
        if word.hasSuffix("s") || word.hasSuffix("x") || word.hasSuffix("ch") || word.hasSuffix("sh") { return word + "es" }
        if word.hasSuffix("y"), let before = word.dropLast().last, !"aeiou".contains(before) { return word.dropLast() + "ies" }
        return word + "s"
    }

    var upperFirst: String { prefix(1).uppercased() + dropFirst() }
}

import Foundation

/// The schema as files in this repository: the `.proto` sources under `proto/` and the protobuf-c code generated from
/// them under `Sources/CCopsLinkProtos` (`scripts/generate --check` keeps the two in step).
enum ProtoSchemaFiles {
    /// The package root, found from this file's path (tests run from the source tree).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every message type the generated C code defines a descriptor for, by full proto name, with the `.pb-c.c` file
    /// that defines it. This is the list the drift test must cover; no hand-written list can go stale.
    static func generatedMessageNames() throws -> [String: String] {
        var names: [String: String] = [:]
        let pattern = /const ProtobufCMessageDescriptor \w+ =\s*\{\s*PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,\s*"([^"]+)"/
        for file in try files(under: "Sources/CCopsLinkProtos", ending: ".pb-c.c") {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: pattern) { names[String(match.1)] = file.lastPathComponent }
        }
        return names
    }

    /// A field as written in a `.proto` file.
    struct Field: Hashable, CustomStringConvertible {
        /// Full name of the message holding it, e.g. `copslink.v1.Customer`.
        var messageName: String
        var name: String
        var number: UInt32
        /// Marked `@sensitive` in its leading or trailing comment: a secret that descriptions and logs must redact.
        var isSensitive: Bool
        var location: String
        var description: String { "\(messageName).\(name) (\(location))" }
    }

    /// The comment marker for a secret field, in the field's leading comment or at the end of its line.
    static let sensitiveMarker = "@sensitive"

    /// Every field of every message in `proto/`, nested messages and oneof members included.
    static func protoFields() throws -> [Field] {
        try files(under: "proto", ending: ".proto").flatMap { file in
            parseFields(try String(contentsOf: file, encoding: .utf8), file: file.lastPathComponent)
        }
    }

    /// A reading of proto3 as this repository writes it: comments are line comments, and a field's leading comment
    /// sits on the lines right above it. Each line is cut into statements at `{`, `}` and `;`, so one-line messages
    /// (`message Empty {}`, `message A { int64 at_ms = 1; }`) read too. Good enough because the test compares the
    /// result with the descriptors: a field misread or missed fails that comparison.
    static func parseFields(_ text: String, file: String) -> [Field] {
        var package = ""
        var scopes: [Scope] = []
        var leadingComment: [String] = []
        var fields: [Field] = []
        let fieldPattern = /^(?:(?:repeated|optional|required)\s+)?(?:map<[^>]*>|[A-Za-z_][\w.]*)\s+([A-Za-z_]\w*)\s*=\s*(\d+)/
        let scopePattern = /^(message|enum|oneof|service)\s+(\w+)\s*\{$/
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var code = Substring(rawLine)
            var comment: Substring = ""
            if let range = rawLine.range(of: "//") {
                code = rawLine[..<range.lowerBound]
                comment = rawLine[range.upperBound...]
            }
            if code.allSatisfy(\.isWhitespace) {
                if comment.isEmpty { leadingComment = [] } else { leadingComment.append(String(comment)) }
                continue
            }
            let comments = leadingComment + [String(comment)]
            leadingComment = []
            for statement in statements(code) {
                if statement == "}" {
                    if !scopes.isEmpty { scopes.removeLast() }
                } else if let match = statement.firstMatch(of: scopePattern) {
                    switch match.1 {
                    case "message": scopes.append(.message(String(match.2)))
                    case "oneof": scopes.append(.oneof)
                    default: scopes.append(.other)
                    }
                } else if let match = statement.firstMatch(of: /^package\s+([\w.]+)\s*;$/) {
                    package = String(match.1)
                } else if let match = statement.firstMatch(of: fieldPattern) {
                    // In a message or one of its oneofs; enum values have no type, so they never match the pattern.
                    switch scopes.last {
                    case .message?, .oneof?:
                        fields.append(
                            field(match.1, match.2, scopes: scopes, package: package, comments: comments, at: "\(file):\(index + 1)"))
                    default: break
                    }
                }
            }
        }
        return fields
    }

    /// `code` cut after each `{`, `}` and `;`, trimmed, empty pieces dropped.
    private static func statements(_ code: Substring) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in code {
            current.append(character)
            if character == "{" || character == "}" || character == ";" {
                pieces.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            }
        }
        pieces.append(current.trimmingCharacters(in: .whitespaces))
        return pieces.filter { !$0.isEmpty }
    }

    private enum Scope {
        case message(String)
        case oneof, other
    }

    private static func field(
        _ name: Substring, _ number: Substring, scopes: [Scope], package: String, comments: [String], at location: String
    ) -> Field {
        let messages = scopes.compactMap { scope -> String? in
            if case .message(let name) = scope { return name }
            return nil
        }
        return Field(
            messageName: ([package] + messages).filter { !$0.isEmpty }.joined(separator: "."), name: String(name),
            number: UInt32(number) ?? 0, isSensitive: comments.contains { $0.contains(sensitiveMarker) }, location: location)
    }

    private static func files(under directory: String, ending suffix: String) throws -> [URL] {
        let root = packageRoot.appendingPathComponent(directory)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.lastPathComponent.hasSuffix(suffix) }
            .sorted { $0.path < $1.path }
    }
}

/// Builds Swift source text with four-space indentation.
struct SwiftWriter {
    private(set) var text = ""
    private var indent = ""

    /// Lines longer than this are wrapped by `signature`.
    static let lineLimit = 120

    mutating func line(_ content: String = "") {
        text += content.isEmpty ? "\n" : indent + content + "\n"
    }

    mutating func indented(_ body: (inout SwiftWriter) -> Void) {
        indent += "    "
        body(&self)
        indent.removeLast(4)
    }

    /// `header {`, the body indented, `}`. A header already ending in `{` or `in` is not given another `{`.
    mutating func block(_ header: String, _ body: (inout SwiftWriter) -> Void) {
        line(header.hasSuffix("{") || header.hasSuffix(" in") ? header : header + " {")
        indented(body)
        line("}")
    }

    /// A .proto comment as a doc comment, line by line (protoc keeps the space after `//`).
    mutating func doc(_ comment: String) {
        var lines = comment.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix(" ") ? String(line.dropFirst()) : String(line)
        }
        while lines.last?.trimmingWhitespace.isEmpty == true { lines.removeLast() }
        for content in lines {
            let trimmed = String(content.reversed().drop { $0 == " " }.reversed())
            line(trimmed.isEmpty ? "///" : "/// " + trimmed)
        }
    }

    /// `head` + parameters + `tail` on one line when it fits (and `forceWrap` is not set), else the parameters on
    /// a line of their own (or one per line, when even that does not fit).
    mutating func signature(_ head: String, _ parameters: [String], _ tail: String, forceWrap: Bool = false) {
        let oneLine = head + parameters.joined(separator: ", ") + tail
        if !forceWrap, indent.count + oneLine.count <= Self.lineLimit {
            line(oneLine)
            return
        }
        line(head)
        indented { out in
            let joined = parameters.joined(separator: ", ")
            if out.indent.count + joined.count <= Self.lineLimit {
                out.line(joined)
            } else {
                for (index, parameter) in parameters.enumerated() {
                    out.line(parameter + (index == parameters.count - 1 ? "" : ","))
                }
            }
        }
        line(tail.hasPrefix(")") ? tail : ")" + tail)
    }

    /// `call { (parameters) in` and the body, with the closure's parameters on a line of their own when the
    /// whole does not fit.
    mutating func route(_ call: String, _ parameters: String, _ body: (inout SwiftWriter) -> Void) {
        let oneLine = "\(call) { (\(parameters)) in"
        if indent.count + oneLine.count <= Self.lineLimit {
            line(oneLine)
            indented(body)
        } else {
            line(call + " {")
            indented { out in
                out.line("(\(parameters)) in")
                body(&out)
            }
        }
        line("}")
    }

    /// `head` + `arguments` + `tail` on one line, or with a break after `head` when that does not fit.
    mutating func wrapped(_ head: String, _ arguments: String, _ tail: String) {
        if indent.count + head.count + arguments.count + tail.count <= Self.lineLimit {
            line(head + arguments + tail)
        } else {
            line(head)
            indented { $0.line(arguments + tail) }
        }
    }
}

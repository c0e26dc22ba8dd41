/// Client-supplied text as an error message or a signal rejection may quote it: short, and on one line.
public enum ClientText {
    /// Bytes of client text an answer quotes at most.
    public static let maximumQuotedBytes = 64

    /// At most the first `maximumQuotedBytes` UTF-8 bytes of `text` (whole scalars), with `…` when cut; control
    /// characters and backslashes escaped (`\n`, `\u{1B}`), so quoted text can neither forge a line nor grow an answer.
    public static func excerpt(_ text: String) -> String {
        var result = ""
        var bytes = 0
        for scalar in text.unicodeScalars {
            bytes += UTF8.width(scalar)
            guard bytes <= maximumQuotedBytes else { return result + "…" }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\\": result += "\\\\"
            case _
            where scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format
                || scalar == "\u{2028}" || scalar == "\u{2029}":
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// A parsed JSON document, numbers kept as their text so that 64-bit integers convert exactly.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number as written (`-12`, `1.5e3`).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order (duplicates kept; the mapping refuses them).
    case object([(key: String, value: JSONValue)])

    /// Values one document may hold (`parse`): 100,000.
    public static let defaultMaxValues = 100_000

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.elementsEqual(b) { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// Parses RFC 8259 JSON: one value, surrounded by whitespace only. Strings must be valid UTF-8 (escaped
    /// surrogates must pair). Arrays and objects nest at most `maxDepth` deep, so hostile input cannot exhaust the
    /// stack, and a document holds at most `maxValues` values, so that its tree stays small whatever its shape (an
    /// 8 MiB body of `[[],[],…]` is 2.8 million values, about 120 MB as a tree; the largest valid CopsLink request
    /// has a few thousand). The caller bounds the byte count.
    public static func parse(
        _ bytes: some Collection<UInt8>, maxDepth: Int = 64, maxValues: Int = defaultMaxValues
    ) throws(JSONParseError) -> JSONValue {
        let array = Array(bytes)
        var parser = JSONParser(bytes: array, maxDepth: maxDepth, maxValues: maxValues)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == array.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }
}

/// Why a document is not JSON, with the byte offset.
public struct JSONParseError: Error, CustomStringConvertible, Equatable {
    public let offset: Int
    public let reason: String
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

private struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    let maxValues: Int
    var index = 0
    var values = 0

    init(bytes: [UInt8], maxDepth: Int, maxValues: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxValues = maxValues
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of the document") }
        values += 1
        guard values <= maxValues else { throw error("more than \(maxValues) values in one document") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw error("unexpected end of the document") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw error("unexpected character")
        }
        index += count
    }

    private mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nested deeper than \(maxDepth) levels") }
        index += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name in quotes") }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            members.append((key, try value(depth: depth)))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of the document") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            index += 1
            return .object(members)
        }
    }

    private mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nested deeper than \(maxDepth) levels") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of the document") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            index += 1
            return .array(elements)
        }
    }

    /// Characters a number may have: more than any value of a proto field needs (an Int64 takes 20, a Double's
    /// shortest form 24). A longer one is refused as it is read: one request of megabytes of digits held an event
    /// loop for seconds in the conversions after the parse.
    static let maximumNumberLength = 64

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, at most `maximumNumberLength` characters.
    private mutating func number() throws(JSONParseError) -> String {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("a number needs digits") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            try digits(from: start)
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("a fraction needs digits") }
            try digits(from: start)
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("an exponent needs digits") }
            try digits(from: start)
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// Skips digits; throws once the number begun at `start` is longer than `maximumNumberLength`.
    private mutating func digits(from start: Int) throws(JSONParseError) {
        while index < bytes.count, isDigit(bytes[index]) {
            index += 1
            guard index - start <= Self.maximumNumberLength else {
                throw error("a number of more than \(Self.maximumNumberLength) characters")
            }
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func string() throws(JSONParseError) -> String {
        index += 1  // the opening quote
        var utf8: [UInt8] = []
        var runStart = index
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                utf8 += bytes[runStart..<index]
                index += 1
                break
            }
            if byte < 0x20 { throw error("a control character in a string must be escaped") }
            if byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            utf8 += bytes[runStart..<index]
            index += 1
            guard index < bytes.count else { throw error("unterminated string") }
            let escaped = bytes[index]
            index += 1
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(try hex4())
                if (0xD800..<0xDC00).contains(scalar) {
                    guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                    else { throw error("an escaped high surrogate must be followed by an escaped low surrogate") }
                    index += 2
                    let low = UInt32(try hex4())
                    guard (0xDC00..<0xE000).contains(low) else { throw error("an escaped high surrogate must be followed by a low one") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw error("an escaped low surrogate without a high one")
                }
                // Every value here is a valid scalar: surrogates were paired or refused above.
                utf8 += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw error("unknown escape '\\\(Character(Unicode.Scalar(escaped)))'")
            }
            runStart = index
        }
        guard let text = String(validating: utf8, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
        return text
    }

    private mutating func hex4() throws(JSONParseError) -> UInt16 {
        guard bytes.count - index >= 4 else { throw error("\\u needs four hex digits") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("\\u needs four hex digits")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }
}

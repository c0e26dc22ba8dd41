import CopsLinkCore

/// JSON → binary.
enum JSONToBinary {
    static func message(
        _ value: JSONValue, _ schema: ProtoMessageSchema, path: String, into output: inout [UInt8], depth: Int = 0
    ) throws(ProtoJSONError) {
        guard depth < ProtoJSON.maxDepth else { throw .field(path, "messages nested deeper than \(ProtoJSON.maxDepth) levels") }
        guard case .object(let members) = value else { throw .field(path, "expected a JSON object for \(schema.fullName)") }
        var seen = Set<Int>()
        for (key, member) in members {
            guard let index = schema.fieldIndex(name: key) else {
                throw .field(join(path, ClientText.excerpt(key)), "\(schema.fullName) has no such field")
            }
            let field = schema.fields[index]
            let fieldPath = join(path, field.jsonName)
            guard seen.insert(index).inserted else { throw .field(fieldPath, "given twice") }
            if case .null = member { continue }
            guard field.repeated else {
                try single(member, field, path: fieldPath, into: &output, depth: depth)
                continue
            }
            guard case .array(let elements) = member else { throw .field(fieldPath, "expected a JSON array") }
            if field.kind.isPackable {
                guard !elements.isEmpty else { continue }
                var packed: [UInt8] = []
                for (position, element) in elements.enumerated() {
                    try scalar(element, field.kind, path: "\(fieldPath)[\(position)]", into: &packed)
                }
                output.appendTag(field.number, .lengthDelimited)
                output.appendVarint(UInt64(packed.count))
                output += packed
            } else {
                for (position, element) in elements.enumerated() {
                    let elementPath = "\(fieldPath)[\(position)]"
                    if case .null = element { throw .field(elementPath, "null is not allowed in a repeated field") }
                    try single(element, field, path: elementPath, into: &output, depth: depth)
                }
            }
        }
    }

    /// One value with its tag.
    private static func single(
        _ value: JSONValue, _ field: ProtoFieldSchema, path: String, into output: inout [UInt8], depth: Int
    ) throws(ProtoJSONError) {
        switch field.kind {
        case .message(let name):
            guard let schema = ProtoSchema.message(name) else { throw .field(path, "no message named \(name)") }
            var nested: [UInt8] = []
            try message(value, schema, path: path, into: &nested, depth: depth + 1)
            output.appendTag(field.number, .lengthDelimited)
            output.appendVarint(UInt64(nested.count))
            output += nested
        case .string:
            guard case .string(let text) = value else { throw .field(path, "expected a JSON string") }
            output.appendTag(field.number, .lengthDelimited)
            output.appendVarint(UInt64(text.utf8.count))
            output += text.utf8
        case .bytes:
            guard case .string(let text) = value, let bytes = Base64.decode(text) else {
                throw .field(path, "expected base64 text in a JSON string")
            }
            output.appendTag(field.number, .lengthDelimited)
            output.appendVarint(UInt64(bytes.count))
            output += bytes
        default:
            output.appendTag(field.number, field.kind.wireType)
            try scalar(value, field.kind, path: path, into: &output)
        }
    }

    /// A numeric, boolean or enum value without its tag.
    private static func scalar(
        _ value: JSONValue, _ kind: ProtoFieldSchema.Kind, path: String, into output: inout [UInt8]
    ) throws(ProtoJSONError) {
        switch kind {
        case .bool:
            guard case .bool(let flag) = value else { throw .field(path, "expected true or false") }
            output.appendVarint(flag ? 1 : 0)
        case .int32:
            output.appendVarint(UInt64(bitPattern: Int64(try integer(value, Int32.self, path))))
        case .int64:
            output.appendVarint(UInt64(bitPattern: try integer(value, Int64.self, path)))
        case .uint32:
            output.appendVarint(UInt64(try integer(value, UInt32.self, path)))
        case .uint64:
            output.appendVarint(try integer(value, UInt64.self, path))
        case .sint32:
            let number = Int64(try integer(value, Int32.self, path))
            output.appendVarint(UInt64(bitPattern: (number << 1) ^ (number >> 63)))
        case .sint64:
            let number = try integer(value, Int64.self, path)
            output.appendVarint(UInt64(bitPattern: (number << 1) ^ (number >> 63)))
        case .fixed32: output.appendLittleEndian(try integer(value, UInt32.self, path))
        case .sfixed32: output.appendLittleEndian(try integer(value, Int32.self, path))
        case .fixed64: output.appendLittleEndian(try integer(value, UInt64.self, path))
        case .sfixed64: output.appendLittleEndian(try integer(value, Int64.self, path))
        case .float:
            let number = try floatingPoint(value, path)
            guard !number.isFinite || abs(number) <= Double(Float.greatestFiniteMagnitude) else {
                throw .field(path, "out of range for a float")
            }
            output.appendLittleEndian(Float(number).bitPattern)
        case .double: output.appendLittleEndian(try floatingPoint(value, path).bitPattern)
        case .enumeration(let name):
            let number: Int32
            if case .string(let valueName) = value {
                guard let found = ProtoSchema.enumeration(name)?.number(of: valueName) else {
                    throw .field(path, "\(name) has no value '\(ClientText.excerpt(valueName))'")
                }
                number = found
            } else {
                number = try integer(value, Int32.self, path)
            }
            output.appendVarint(UInt64(bitPattern: Int64(number)))
        case .string, .bytes, .message:
            throw .field(path, "cannot be packed")  // not reached: these kinds are not packable
        }
    }

    /// An integer from a JSON number or a decimal string (proto3 JSON accepts both for every integer type); an
    /// exponent or fraction only when the value is still a whole number.
    private static func integer<T: FixedWidthInteger>(_ value: JSONValue, _: T.Type, _ path: String) throws(ProtoJSONError) -> T {
        let text: String
        switch value {
        case .number(let number): text = number
        case .string(let string): text = string
        default: throw .field(path, "expected an integer")
        }
        if let exact = T(text) { return exact }
        // `1e3`, `5.0`: whole numbers written another way, within the range where a Double is exact.
        // Whole is decided on the digits: a Double would round 999.99999999999999999999 to 1000.
        if isWholeDecimal(text), let double = Double(text), abs(double) <= 9_007_199_254_740_992, let exact = T(exactly: double) {
            return exact
        }
        throw .field(path, "'\(ClientText.excerpt(text))' is not a whole number in the range of \(T.self)")
    }

    /// Whether `text` is a JSON number (`-`, digits, an optional fraction and exponent) whose value is whole: every
    /// digit right of the decimal point, once the exponent has moved it, is 0.
    static func isWholeDecimal(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let integerPart = bytes.prefix(while: isDigit)
        bytes = bytes.dropFirst(integerPart.count)
        var fraction = bytes.prefix(0)
        if bytes.first == UInt8(ascii: ".") {
            fraction = bytes.dropFirst().prefix(while: isDigit)
            guard !fraction.isEmpty else { return false }
            bytes = bytes.dropFirst(1 + fraction.count)
        }
        guard !integerPart.isEmpty else { return false }
        var exponent = 0
        if let marker = bytes.first, marker == UInt8(ascii: "e") || marker == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            var sign = 1
            if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
                sign = first == UInt8(ascii: "-") ? -1 : 1
                bytes = bytes.dropFirst()
            }
            let digits = bytes.prefix(while: isDigit)
            guard !digits.isEmpty else { return false }
            for digit in digits { exponent = min(1_000_000_000, exponent * 10 + Int(digit - UInt8(ascii: "0"))) }
            exponent *= sign
            bytes = bytes.dropFirst(digits.count)
        }
        guard bytes.isEmpty else { return false }
        // The digits, integer part then fraction; the decimal point sits after `point` of them.
        let point = integerPart.count + exponent
        var index = 0
        for digit in [integerPart, fraction].joined() {
            if index >= point, digit != UInt8(ascii: "0") { return false }
            index += 1
        }
        return true
    }

    private static func floatingPoint(_ value: JSONValue, _ path: String) throws(ProtoJSONError) -> Double {
        switch value {
        case .number(let text):
            if let number = Double(text), number.isFinite { return number }
        case .string("NaN"): return .nan
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        case .string(let text):
            if let number = Double(text), number.isFinite { return number }
        default: break
        }
        throw .field(path, "expected a number")
    }

    private static func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
}

/// Binary → JSON, through `CompiledProtoSchema`.
///
/// One pass over a message's bytes collects its known fields' values, as entries pointing into the input, in one
/// scratch array that the whole document shares (a nested message uses the part after its parent's entries and gives
/// it back); the entries are put in declaration order by a counting sort when the wire order differs, and each field's
/// values are then written straight from the input: strings escaped from their bytes, numbers as digits, keys and enum
/// names copied from the compiled schema. An Account's answer over HTTP/JSON took about 80 µs this way before (values
/// as slices in an array per message, filtered once per field, schemas looked up by name for every value, every
/// number and string through a `String`); `ReferenceBinaryToJSON` in the tests is that version, and the two must
/// agree byte for byte.
struct BinaryToJSON {
    let options: ProtoJSON.Options

    /// One value as it came off the wire; `bytes` points into the buffer being read.
    enum Value {
        case varint(UInt64)
        case fixed32(UInt32)
        case fixed64(UInt64)
        case bytes(UnsafeRawBufferPointer)

        var isDefault: Bool {
            switch self {
            case .varint(let value): value == 0
            case .fixed32(let value): value == 0
            case .fixed64(let value): value == 0
            case .bytes(let bytes): bytes.isEmpty
            }
        }
    }

    /// A known field's value, by the field's index in its message.
    struct Entry {
        var field: Int
        var value: Value
    }

    /// Writes the message `message` (an index in `CompiledProtoSchema.shared.messages`) encoded in `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer, message: Int, into writer: inout JSONWriter) throws(ProtoJSONError) {
        var scratch: [Entry] = []
        scratch.reserveCapacity(64)
        try write(bytes, message: message, into: &writer, depth: 0, scratch: &scratch)
    }

    private func write(
        _ bytes: UnsafeRawBufferPointer, message index: Int, into writer: inout JSONWriter, depth: Int, scratch: inout [Entry]
    ) throws(ProtoJSONError) {
        guard depth < ProtoJSON.maxDepth else { throw ProtoJSONError("messages nested deeper than \(ProtoJSON.maxDepth) levels") }
        let message = CompiledProtoSchema.shared.messages[index]
        let fields = message.fields
        let base = scratch.count
        defer { scratch.removeLast(scratch.count - base) }
        var inOrder = true
        var previous = -1  // the field index of the previous known field on the wire
        var reader = WireBytesReader(bytes)
        while let (number, wireType) = try reader.nextTag() {
            let value = try reader.value(wireType)
            guard let index = message.fieldIndex(number: number) else { continue }  // unknown fields are not mapped
            let field = fields[index]
            if field.repeated, field.packable, case .bytes(let packed) = value {
                var elements = WireBytesReader(packed)
                while !elements.atEnd { scratch.append(Entry(field: index, value: try elements.value(field.wireType))) }
            } else {
                guard wireType == field.wireType else {
                    throw ProtoJSONError(
                        "malformed protobuf: field \(field.schema.name) of \(message.schema.fullName) has wire type \(wireType)")
                }
                scratch.append(Entry(field: index, value: value))
            }
            if index < previous { inOrder = false }
            previous = index
        }
        if !inOrder { Self.sortByField(&scratch, from: base, fieldCount: fields.count) }

        let end = scratch.count
        writer.raw("{")
        var first = true
        var cursor = base
        for (index, field) in fields.enumerated() {
            let group = cursor
            while cursor < end, scratch[cursor].field == index { cursor += 1 }
            if field.repeated {
                if group == cursor, !options.defaultValues { continue }
                key(field, first: &first, into: &writer)
                writer.raw("[")
                for position in group..<cursor {
                    if position > group { writer.raw(",") }
                    try value(scratch[position].value, field, into: &writer, depth: depth, scratch: &scratch)
                }
                writer.raw("]")
            } else if field.kind == .message {
                guard group < cursor else {
                    if options.defaultValues {
                        key(field, first: &first, into: &writer)
                        writer.raw("null")
                    }
                    continue
                }
                key(field, first: &first, into: &writer)
                if cursor - group == 1 {
                    try value(scratch[group].value, field, into: &writer, depth: depth, scratch: &scratch)
                } else {
                    // A message field given more than once is the merge of its occurrences: their bytes put together.
                    var merged: [UInt8] = []
                    for position in group..<cursor {
                        if case .bytes(let part) = scratch[position].value { merged.append(contentsOf: part) }
                    }
                    var failure: ProtoJSONError?
                    merged.withUnsafeBytes { merged in
                        do throws(ProtoJSONError) {
                            try value(.bytes(merged), field, into: &writer, depth: depth, scratch: &scratch)
                        } catch {
                            failure = error
                        }
                    }
                    if let failure { throw failure }
                }
            } else {
                // The last occurrence of a singular field wins.
                let last = group < cursor ? scratch[cursor - 1].value : field.zero
                if last.isDefault, !options.defaultValues { continue }
                key(field, first: &first, into: &writer)
                try value(last.isDefault ? field.zero : last, field, into: &writer, depth: depth, scratch: &scratch)
            }
        }
        writer.raw("}")
    }

    /// Puts the entries from `start` in field order, keeping each field's values in the order they came (a counting
    /// sort: linear whatever the input's order).
    private static func sortByField(_ scratch: inout [Entry], from start: Int, fieldCount: Int) {
        let entries = Array(scratch[start...])
        var next = [Int](repeating: 0, count: fieldCount + 1)
        for entry in entries { next[entry.field + 1] += 1 }
        for index in 1..<next.count { next[index] += next[index - 1] }
        for entry in entries {
            scratch[start + next[entry.field]] = entry
            next[entry.field] += 1
        }
    }

    private func key(_ field: CompiledProtoSchema.Field, first: inout Bool, into writer: inout JSONWriter) {
        if !first { writer.raw(",") }
        first = false
        writer.bytes.append(contentsOf: options.protoFieldNames ? field.protoKey : field.jsonKey)
    }

    private func value(
        _ raw: Value, _ field: CompiledProtoSchema.Field, into writer: inout JSONWriter, depth: Int, scratch: inout [Entry]
    ) throws(ProtoJSONError) {
        switch (field.kind, raw) {
        case (.bool, .varint(let value)): writer.raw(value != 0 ? "true" : "false")
        case (.int32, .varint(let value)): writer.decimal(Int64(Int32(truncatingIfNeeded: value)))
        case (.uint32, .varint(let value)): writer.decimal(UInt64(UInt32(truncatingIfNeeded: value)))
        case (.sint32, .varint(let value)): writer.decimal(Int64(Int32(truncatingIfNeeded: Self.unzigzag(value))))
        case (.int64, .varint(let value)): writer.quotedDecimal(Int64(bitPattern: value))
        case (.uint64, .varint(let value)): writer.quotedDecimal(value)
        case (.sint64, .varint(let value)): writer.quotedDecimal(Self.unzigzag(value))
        case (.fixed32, .fixed32(let value)): writer.decimal(UInt64(value))
        case (.sfixed32, .fixed32(let value)): writer.decimal(Int64(Int32(bitPattern: value)))
        case (.fixed64, .fixed64(let value)): writer.quotedDecimal(value)
        case (.sfixed64, .fixed64(let value)): writer.quotedDecimal(Int64(bitPattern: value))
        case (.float, .fixed32(let value)): floatingPoint(Double(Float(bitPattern: value)), into: &writer)
        case (.double, .fixed64(let value)): floatingPoint(Double(bitPattern: value), into: &writer)
        case (.enumeration, .varint(let value)):
            let number = Int32(truncatingIfNeeded: value)
            if field.target >= 0, let name = CompiledProtoSchema.shared.enums[field.target].quotedNames[number] {
                writer.bytes.append(contentsOf: name)
            } else {
                writer.decimal(Int64(number))
            }
        case (.string, .bytes(let bytes)):
            guard UTF8Validation.isValid(bytes) else {
                throw ProtoJSONError("malformed protobuf: field \(field.schema.name) is not valid UTF-8")
            }
            writer.string(utf8: bytes)
        case (.bytes, .bytes(let bytes)):
            writer.raw("\"")
            Base64.encode(bytes, into: &writer)
            writer.raw("\"")
        case (.message, .bytes(let bytes)):
            guard field.target >= 0 else { throw ProtoJSONError("no message named \(field.typeName)") }
            try write(bytes, message: field.target, into: &writer, depth: depth + 1, scratch: &scratch)
        default:
            throw ProtoJSONError("malformed protobuf: field \(field.schema.name) has the wrong wire type")
        }
    }

    private func floatingPoint(_ value: Double, into writer: inout JSONWriter) {
        if value.isNaN {
            writer.raw("\"NaN\"")
        } else if value.isInfinite {
            writer.raw(value < 0 ? "\"-Infinity\"" : "\"Infinity\"")
        } else {
            writer.raw(String(value))
        }
    }

    private static func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }
}

/// Reads tags and values out of a buffer, with every length checked against what is left.
struct WireBytesReader {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }

    /// How far the reader has read.
    var offset: Int { index }

    mutating func nextTag() throws(ProtoJSONError) -> (number: UInt32, wireType: UInt8)? {
        guard !atEnd else { return nil }
        let tag = try varint()
        let number = tag >> 3
        guard number > 0, number <= 536_870_911 else { throw ProtoJSONError("malformed protobuf: field number \(number)") }
        return (UInt32(number), UInt8(tag & 7))
    }

    mutating func value(_ wireType: UInt8) throws(ProtoJSONError) -> BinaryToJSON.Value {
        switch WireType(rawValue: wireType) {
        case .varint: return .varint(try varint())
        case .fixed32:
            guard bytes.count - index >= 4 else { throw truncated }
            defer { index += 4 }
            return .fixed32(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)))
        case .fixed64:
            guard bytes.count - index >= 8 else { throw truncated }
            defer { index += 8 }
            return .fixed64(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)))
        case .lengthDelimited:
            let length = try varint()
            guard length <= UInt64(bytes.count - index) else { throw truncated }
            let start = index
            index += Int(length)
            return .bytes(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        case nil: throw ProtoJSONError("malformed protobuf: wire type \(wireType)")
        }
    }

    mutating func varint() throws(ProtoJSONError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard index < bytes.count else { throw truncated }
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw ProtoJSONError("malformed protobuf: a varint longer than 10 bytes")
    }

    private var truncated: ProtoJSONError { ProtoJSONError("malformed protobuf: truncated") }
}

/// UTF-8 validity of a string field's bytes, without making a `String`: ASCII (nearly every value here) is checked a
/// word at a time, anything else by the standard library's validation.
enum UTF8Validation {
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let words = bytes.count / 8
        for word in 0..<words where bytes.loadUnaligned(fromByteOffset: word * 8, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 {
            return String(validating: bytes, as: UTF8.self) != nil
        }
        index = words * 8
        while index < bytes.count {
            if bytes[index] >= 0x80 { return String(validating: bytes, as: UTF8.self) != nil }
            index += 1
        }
        return true
    }
}

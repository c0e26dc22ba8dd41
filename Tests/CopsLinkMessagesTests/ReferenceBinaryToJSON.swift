import CopsLinkCore

@testable import CopsLinkMessages

/// The transcoder before it read through raw pointers (kept as the oracle the new one must agree with byte for byte):
/// values collected per message in an array of slices, filtered per field, schemas looked up by name.
struct ReferenceBinaryToJSON {
    let options: ProtoJSON.Options

    func write(
        _ bytes: ArraySlice<UInt8>, _ schema: ProtoMessageSchema, into writer: inout JSONWriter, depth: Int
    ) throws(ProtoJSONError) {
        guard depth < ProtoJSON.maxDepth else { throw ProtoJSONError("messages nested deeper than \(ProtoJSON.maxDepth) levels") }
        // Every known field's values as they came, by field index: one array for the message, not one per field.
        var values: [(field: Int, value: ReferenceRawValue)] = []
        var reader = ReferenceWireReader(bytes)
        while let (number, wireType) = try reader.nextTag() {
            let raw = try reader.value(wireType)
            guard let index = schema.fieldIndex(number: number) else { continue }  // unknown fields are not mapped
            let field = schema.fields[index]
            if field.repeated, field.kind.isPackable, case .bytes(let packed) = raw {
                var elements = ReferenceWireReader(packed)
                while !elements.atEnd { values.append((index, try elements.value(field.kind.wireType.rawValue))) }
            } else {
                guard wireType == field.kind.wireType.rawValue else {
                    throw ProtoJSONError("malformed protobuf: field \(field.name) of \(schema.fullName) has wire type \(wireType)")
                }
                values.append((index, raw))
            }
        }

        writer.raw("{")
        var first = true
        for (index, field) in schema.fields.enumerated() {
            let raws = values.lazy.filter { $0.field == index }.map(\.value)
            if field.repeated {
                if raws.isEmpty, !options.defaultValues { continue }
                key(field, first: &first, into: &writer)
                writer.raw("[")
                for (position, raw) in raws.enumerated() {
                    if position > 0 { writer.raw(",") }
                    try value(raw, field, into: &writer, depth: depth)
                }
                writer.raw("]")
            } else if case .message = field.kind {
                guard !raws.isEmpty else {
                    if options.defaultValues {
                        key(field, first: &first, into: &writer)
                        writer.raw("null")
                    }
                    continue
                }
                key(field, first: &first, into: &writer)
                if raws.count == 1, let only = raws.first {
                    try value(only, field, into: &writer, depth: depth)
                } else {
                    // A message field given more than once is the merge of its occurrences: their bytes put together.
                    var merged: [UInt8] = []
                    for case .bytes(let part) in raws { merged += part }
                    try value(.bytes(merged[...]), field, into: &writer, depth: depth)
                }
            } else {
                let last = values.last { $0.field == index }?.value ?? (field.kind.wireType == .lengthDelimited ? .bytes([]) : .varint(0))
                if last.isDefault, !options.defaultValues { continue }
                key(field, first: &first, into: &writer)
                try value(last.isDefault ? Self.zero(field.kind) : last, field, into: &writer, depth: depth)
            }
        }
        writer.raw("}")
    }

    /// A default value written out: zero in the field's own wire type.
    private static func zero(_ kind: ProtoFieldSchema.Kind) -> ReferenceRawValue {
        switch kind.wireType {
        case .varint: .varint(0)
        case .fixed32: .fixed32(0)
        case .fixed64: .fixed64(0)
        case .lengthDelimited: .bytes([])
        }
    }

    private func key(_ field: ProtoFieldSchema, first: inout Bool, into writer: inout JSONWriter) {
        if !first { writer.raw(",") }
        first = false
        writer.string(options.protoFieldNames ? field.name : field.jsonName)
        writer.raw(":")
    }

    private func value(
        _ raw: ReferenceRawValue, _ field: ProtoFieldSchema, into writer: inout JSONWriter, depth: Int
    ) throws(ProtoJSONError) {
        switch (field.kind, raw) {
        case (.bool, .varint(let value)): writer.raw(value != 0 ? "true" : "false")
        case (.int32, .varint(let value)): writer.raw(String(Int32(truncatingIfNeeded: value)))
        case (.uint32, .varint(let value)): writer.raw(String(UInt32(truncatingIfNeeded: value)))
        case (.sint32, .varint(let value)): writer.raw(String(Int32(truncatingIfNeeded: Self.unzigzag(value))))
        case (.int64, .varint(let value)): quoted(String(Int64(bitPattern: value)), into: &writer)
        case (.uint64, .varint(let value)): quoted(String(value), into: &writer)
        case (.sint64, .varint(let value)): quoted(String(Self.unzigzag(value)), into: &writer)
        case (.fixed32, .fixed32(let value)): writer.raw(String(value))
        case (.sfixed32, .fixed32(let value)): writer.raw(String(Int32(bitPattern: value)))
        case (.fixed64, .fixed64(let value)): quoted(String(value), into: &writer)
        case (.sfixed64, .fixed64(let value)): quoted(String(Int64(bitPattern: value)), into: &writer)
        case (.float, .fixed32(let value)): floatingPoint(Double(Float(bitPattern: value)), into: &writer)
        case (.double, .fixed64(let value)): floatingPoint(Double(bitPattern: value), into: &writer)
        case (.enumeration(let name), .varint(let value)):
            let number = Int32(truncatingIfNeeded: value)
            if let valueName = ProtoSchema.enumeration(name)?.name(of: number) {
                writer.string(valueName)
            } else {
                writer.raw(String(number))
            }
        case (.string, .bytes(let bytes)):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ProtoJSONError("malformed protobuf: field \(field.name) is not valid UTF-8")
            }
            writer.string(text)
        case (.bytes, .bytes(let bytes)):
            writer.raw("\"")
            Base64.encode(bytes, into: &writer)
            writer.raw("\"")
        case (.message(let name), .bytes(let bytes)):
            guard let schema = ProtoSchema.message(name) else { throw ProtoJSONError("no message named \(name)") }
            try write(bytes, schema, into: &writer, depth: depth + 1)
        default:
            throw ProtoJSONError("malformed protobuf: field \(field.name) has the wrong wire type")
        }
    }

    private func quoted(_ text: String, into writer: inout JSONWriter) {
        writer.raw("\"")
        writer.raw(text)
        writer.raw("\"")
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

/// One field value as it came off the wire.
enum ReferenceRawValue {
    case varint(UInt64)
    case fixed32(UInt32)
    case fixed64(UInt64)
    case bytes(ArraySlice<UInt8>)

    var isDefault: Bool {
        switch self {
        case .varint(let value): value == 0
        case .fixed32(let value): value == 0
        case .fixed64(let value): value == 0
        case .bytes(let bytes): bytes.isEmpty
        }
    }
}

/// Reads tags and values with every length checked against what is left.
struct ReferenceWireReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    var atEnd: Bool { index >= bytes.endIndex }

    mutating func nextTag() throws(ProtoJSONError) -> (number: UInt32, wireType: UInt8)? {
        guard !atEnd else { return nil }
        let tag = try varint()
        let number = tag >> 3
        guard number > 0, number <= 536_870_911 else { throw ProtoJSONError("malformed protobuf: field number \(number)") }
        return (UInt32(number), UInt8(tag & 7))
    }

    mutating func value(_ wireType: UInt8) throws(ProtoJSONError) -> ReferenceRawValue {
        switch WireType(rawValue: wireType) {
        case .varint: return .varint(try varint())
        case .fixed32:
            guard bytes.endIndex - index >= 4 else { throw truncated }
            var value: UInt32 = 0
            for shift in 0..<4 { value |= UInt32(bytes[index + shift]) << (8 * shift) }
            index += 4
            return .fixed32(value)
        case .fixed64:
            guard bytes.endIndex - index >= 8 else { throw truncated }
            var value: UInt64 = 0
            for shift in 0..<8 { value |= UInt64(bytes[index + shift]) << (8 * shift) }
            index += 8
            return .fixed64(value)
        case .lengthDelimited:
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - index) else { throw truncated }
            let start = index
            index += Int(length)
            return .bytes(bytes[start..<index])
        case nil: throw ProtoJSONError("malformed protobuf: wire type \(wireType)")
        }
    }

    mutating func varint() throws(ProtoJSONError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard index < bytes.endIndex else { throw truncated }
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw ProtoJSONError("malformed protobuf: a varint longer than 10 bytes")
    }

    private var truncated: ProtoJSONError { ProtoJSONError("malformed protobuf: truncated") }
}

/// `ProtoSchema` compiled once for writing JSON (`BinaryToJSON`): each field's message or enum resolved to an index
/// instead of a name looked up for every value, its kind without the name, its key already written as JSON in both
/// spellings, enum value names already quoted, and field numbers to fields in a table.
struct CompiledProtoSchema: Sendable {
    /// A field's type, without the names that `ProtoFieldSchema.Kind` carries.
    enum Kind: Sendable, Equatable {
        case bool, string, bytes
        case int32, int64, uint32, uint64, sint32, sint64, fixed32, fixed64, sfixed32, sfixed64
        case float, double
        case enumeration, message
    }

    /// A class, as `Message` is: the transcoder takes one for every value, and a reference is one retain where a
    /// struct of arrays and strings was five.
    final class Field: Sendable {
        let schema: ProtoFieldSchema
        let kind: Kind
        let wireType: UInt8
        let repeated: Bool
        let packable: Bool
        /// The index of the field's message in `messages` or of its enum in `enums`; -1 for other kinds, or when proto/
        /// declares no type of that name.
        let target: Int
        /// The message's or enum's full name.
        let typeName: String
        /// `"customerId":` and `"customer_id":`, as JSON.
        let jsonKey: [UInt8]
        let protoKey: [UInt8]

        init(
            schema: ProtoFieldSchema, kind: Kind, wireType: UInt8, repeated: Bool, packable: Bool, target: Int, typeName: String,
            jsonKey: [UInt8], protoKey: [UInt8]
        ) {
            self.schema = schema
            self.kind = kind
            self.wireType = wireType
            self.repeated = repeated
            self.packable = packable
            self.target = target
            self.typeName = typeName
            self.jsonKey = jsonKey
            self.protoKey = protoKey
        }

        /// The default value in the field's wire type.
        var zero: BinaryToJSON.Value {
            switch WireType(rawValue: wireType) {
            case .fixed32: .fixed32(0)
            case .fixed64: .fixed64(0)
            case .lengthDelimited: .bytes(UnsafeRawBufferPointer(start: nil, count: 0))
            case .varint, nil: .varint(0)
            }
        }
    }

    final class Message: Sendable {
        let schema: ProtoMessageSchema
        let fields: [Field]
        /// Field index by number, -1 where none; empty when the numbers are too large for a table.
        let indexByNumber: [Int32]

        init(schema: ProtoMessageSchema, fields: [Field], indexByNumber: [Int32]) {
            self.schema = schema
            self.fields = fields
            self.indexByNumber = indexByNumber
        }

        func fieldIndex(number: UInt32) -> Int? {
            guard !indexByNumber.isEmpty else { return schema.fieldIndex(number: number) }
            guard number < indexByNumber.count else { return nil }
            let index = indexByNumber[Int(number)]
            return index < 0 ? nil : Int(index)
        }
    }

    struct Enumeration: Sendable {
        /// Each value's name as a JSON string (the first name of an aliased number).
        let quotedNames: [Int32: [UInt8]]
    }

    let messages: [Message]
    let enums: [Enumeration]
    private let messageIndexByName: [String: Int]

    static let shared = CompiledProtoSchema(messages: ProtoSchema.generatedMessages, enums: ProtoSchema.generatedEnums)

    /// Field numbers up to this are found through a table (proto/'s largest is a few dozen).
    private static let tableLimit: UInt32 = 1_024

    init(messages: [ProtoMessageSchema], enums: [ProtoEnumSchema]) {
        let messageIndex = Dictionary(messages.enumerated().map { ($1.fullName, $0) }, uniquingKeysWith: { first, _ in first })
        let enumIndex = Dictionary(enums.enumerated().map { ($1.fullName, $0) }, uniquingKeysWith: { first, _ in first })
        self.messages = messages.map { message in
            let fields = message.fields.map { Self.field($0, messageIndex: messageIndex, enumIndex: enumIndex) }
            let largest = message.fields.map(\.number).max() ?? 0
            var table: [Int32] = []
            if largest <= Self.tableLimit {
                table = Array(repeating: -1, count: Int(largest) + 1)
                for (index, field) in message.fields.enumerated() { table[Int(field.number)] = Int32(index) }
            }
            return Message(schema: message, fields: fields, indexByNumber: table)
        }
        self.enums = enums.map { enumeration in
            Enumeration(
                quotedNames: enumeration.namesByNumber.mapValues { name in
                    var writer = JSONWriter()
                    writer.string(name)
                    return writer.bytes
                })
        }
        messageIndexByName = messageIndex
    }

    /// The index of the message named `fullName`, if proto/ declares it.
    func messageIndex(_ fullName: String) -> Int? { messageIndexByName[fullName] }

    private static func field(_ field: ProtoFieldSchema, messageIndex: [String: Int], enumIndex: [String: Int]) -> Field {
        let kind: Kind
        var target = -1
        var typeName = ""
        switch field.kind {
        case .bool: kind = .bool
        case .string: kind = .string
        case .bytes: kind = .bytes
        case .int32: kind = .int32
        case .int64: kind = .int64
        case .uint32: kind = .uint32
        case .uint64: kind = .uint64
        case .sint32: kind = .sint32
        case .sint64: kind = .sint64
        case .fixed32: kind = .fixed32
        case .fixed64: kind = .fixed64
        case .sfixed32: kind = .sfixed32
        case .sfixed64: kind = .sfixed64
        case .float: kind = .float
        case .double: kind = .double
        case .enumeration(let name):
            kind = .enumeration
            target = enumIndex[name] ?? -1
            typeName = name
        case .message(let name):
            kind = .message
            target = messageIndex[name] ?? -1
            typeName = name
        }
        return Field(
            schema: field, kind: kind, wireType: field.kind.wireType.rawValue, repeated: field.repeated, packable: field.kind.isPackable,
            target: target, typeName: typeName, jsonKey: key(field.jsonName), protoKey: key(field.name))
    }

    private static func key(_ name: String) -> [UInt8] {
        var writer = JSONWriter()
        writer.string(name)
        writer.raw(":")
        return writer.bytes
    }
}

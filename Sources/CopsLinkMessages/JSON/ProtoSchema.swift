/// The shape of every message and enum of proto/ as proto3's JSON mapping needs it: field names (proto and
/// lowerCamelCase), numbers, types and enum value names. `scripts/generate` writes the tables
/// (`ProtoSchema+Messages.swift`) from the descriptor set, so the JSON mapping can never drift from the .proto files.
public enum ProtoSchema {
    /// The message named `fullName` (`copslink.v1.Account`), if proto/ declares it.
    public static func message(_ fullName: String) -> ProtoMessageSchema? { messagesByName[fullName] }

    /// The enum named `fullName` (`copslink.v1.PhoneType`), if proto/ declares it.
    public static func enumeration(_ fullName: String) -> ProtoEnumSchema? { enumsByName[fullName] }

    private static let messagesByName = Dictionary(uniqueKeysWithValues: generatedMessages.map { ($0.fullName, $0) })
    private static let enumsByName = Dictionary(uniqueKeysWithValues: generatedEnums.map { ($0.fullName, $0) })
}

/// One message: its fields in declaration order, found by number (binary) or by either name (JSON). A class: the
/// tables are built once and only read, and the transcoder passes them around without copying their strings.
public final class ProtoMessageSchema: Sendable {
    public let fullName: String
    public let fields: [ProtoFieldSchema]
    private let indexByNumber: [UInt32: Int]
    private let indexByName: [String: Int]

    public init(_ fullName: String, _ fields: [ProtoFieldSchema]) {
        self.fullName = fullName
        self.fields = fields
        var byNumber: [UInt32: Int] = [:]
        var byName: [String: Int] = [:]
        for (index, field) in fields.enumerated() {
            byNumber[field.number] = index
            byName[field.name] = index
            byName[field.jsonName] = index
        }
        indexByNumber = byNumber
        indexByName = byName
    }

    /// The index in `fields` of the field with this number.
    public func fieldIndex(number: UInt32) -> Int? { indexByNumber[number] }

    /// The index in `fields` of the field with this JSON name or proto name (parsers accept both).
    public func fieldIndex(name: String) -> Int? { indexByName[name] }
}

/// One field of a message.
public final class ProtoFieldSchema: Sendable {
    /// The field's type; messages and enums by full name.
    public enum Kind: Sendable, Hashable {
        case bool, string, bytes
        case int32, int64, uint32, uint64, sint32, sint64, fixed32, fixed64, sfixed32, sfixed64
        case float, double
        case enumeration(String)
        case message(String)
    }

    public let number: UInt32
    /// The name in the .proto (`customer_id`).
    public let name: String
    /// proto3 JSON's name (`customerId`).
    public let jsonName: String
    public let kind: Kind
    public let repeated: Bool

    public init(_ number: UInt32, _ name: String, _ jsonName: String, _ kind: Kind, repeated: Bool = false) {
        self.number = number
        self.name = name
        self.jsonName = jsonName
        self.kind = kind
        self.repeated = repeated
    }
}

/// One enum: value names by number and numbers by name.
public struct ProtoEnumSchema: Sendable {
    public let fullName: String
    /// The first name of each number (internal: `CompiledProtoSchema` quotes them once).
    let namesByNumber: [Int32: String]
    private let numbersByName: [String: Int32]

    public init(_ fullName: String, _ values: [(Int32, String)]) {
        self.fullName = fullName
        var names: [Int32: String] = [:]
        var numbers: [String: Int32] = [:]
        for (number, name) in values {
            if names[number] == nil { names[number] = name }  // the first name of an aliased number
            numbers[name] = number
        }
        namesByNumber = names
        numbersByName = numbers
    }

    public func name(of number: Int32) -> String? { namesByNumber[number] }
    public func number(of name: String) -> Int32? { numbersByName[name] }
}

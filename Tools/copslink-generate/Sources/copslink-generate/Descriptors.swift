/// The parts of a `google.protobuf.FileDescriptorSet` the generator uses, decoded by hand (field numbers from
/// google/protobuf/descriptor.proto), with the leading comments from `source_code_info`.
struct ProtoFile {
    /// Path under proto/, e.g. `copslink/v1/account.proto`.
    var name = ""
    var package = ""
    /// The comment above `syntax`: the file's header.
    var headerComment: String?
    /// Every message of the file, nested ones after their parent, in declaration order.
    var messages: [ProtoMessage] = []
    /// Every enum of the file, nested ones (`Outer.Kind`) included, in declaration order.
    var enums: [ProtoEnum] = []
    var services: [ProtoService] = []
}

struct ProtoEnum {
    /// Full name without the leading dot, e.g. `copslink.v1.PhoneType`.
    var fullName = ""
    var values: [(name: String, number: Int32)] = []
}

struct ProtoMessage {
    /// Full name without the leading dot, e.g. `copslink.rpc.v1.GoAway`.
    var fullName = ""
    /// The name inside its package, e.g. `GoAway` or `Outer.Inner`.
    var localName = ""
    var fields: [ProtoField] = []
    var comment: String?
}

struct ProtoField {
    var name = ""
    var number = 0
    /// `FieldDescriptorProto.Type`: 9 string, 12 bytes, 8 bool, 11 message, 14 enum, 3 int64, 13 uint32, …
    var type = 0
    var repeated = false
    /// For messages and enums: the full name without the leading dot.
    var typeName = ""
    /// The lowerCamelCase name proto3's JSON mapping uses (protoc fills it in).
    var jsonName = ""
}

struct ProtoService {
    var name = ""
    var fullName = ""
    var methods: [ProtoMethod] = []
    var comment: String?
}

struct ProtoMethod {
    var name = ""
    /// Full names without the leading dot.
    var inputType = ""
    var outputType = ""
    var clientStreaming = false
    var serverStreaming = false
    var comment: String?
    /// `option idempotency_level`: 0 unknown, 1 `NO_SIDE_EFFECTS`, 2 `IDEMPOTENT`.
    var idempotencyLevel = 0

    /// The marker line that makes a method's handler answer with `EncodedMessage` (see CopsLinkCore).
    static let encodedResponseMarker = "@encoded-response"
    /// Whether the comment has the marker line.
    var encodedResponse: Bool {
        comment?.split(separator: "\n").contains { String($0).trimmingWhitespace == Self.encodedResponseMarker } ?? false
    }
    /// The comment without marker lines, for doc comments.
    var docComment: String? {
        guard let comment, encodedResponse else { return comment }
        return comment.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { String($0).trimmingWhitespace != Self.encodedResponseMarker }.joined(separator: "\n")
    }
}

enum DescriptorSet {
    /// Decodes a serialized FileDescriptorSet (`protoc --descriptor_set_out --include_source_info`).
    static func decode(_ bytes: [UInt8]) throws -> [ProtoFile] {
        // FileDescriptorSet.file = 1
        try ProtobufReader.fields(of: bytes[...]).filter { $0.number == 1 }.map { try decodeFile($0.bytes) }
    }

    private static func decodeFile(_ bytes: ArraySlice<UInt8>) throws -> ProtoFile {
        var file = ProtoFile()
        var messageFields: [ArraySlice<UInt8>] = []
        var serviceFields: [ArraySlice<UInt8>] = []
        var comments: [[Int]: String] = [:]
        for field in try ProtobufReader.fields(of: bytes) {
            switch field.number {
            case 1: file.name = field.string
            case 2: file.package = field.string
            case 4: messageFields.append(field.bytes)
            case 5: file.enums.append(try decodeEnum(field.bytes, localPrefix: "", packagePrefix: "\(file.package)."))
            case 6: serviceFields.append(field.bytes)
            case 9: comments = try decodeComments(field.bytes)
            default: break
            }
        }
        file.headerComment = comments[[12]]
        let prefix = file.package.isEmpty ? "" : file.package + "."
        for (index, message) in messageFields.enumerated() {
            try decodeMessage(message, localPrefix: "", packagePrefix: prefix, path: [4, index], comments, into: &file)
        }
        for (index, service) in serviceFields.enumerated() {
            file.services.append(try decodeService(service, packagePrefix: prefix, path: [6, index], comments))
        }
        return file
    }

    private static func decodeMessage(
        _ bytes: ArraySlice<UInt8>, localPrefix: String, packagePrefix: String, path: [Int], _ comments: [[Int]: String],
        into file: inout ProtoFile
    ) throws {
        var message = ProtoMessage()
        var nested: [ArraySlice<UInt8>] = []
        var enums: [ArraySlice<UInt8>] = []
        for field in try ProtobufReader.fields(of: bytes) {
            switch field.number {
            case 1: message.localName = localPrefix + field.string
            case 2: message.fields.append(try decodeField(field.bytes))
            case 3: nested.append(field.bytes)
            case 4: enums.append(field.bytes)
            default: break
            }
        }
        message.fullName = packagePrefix + message.localName
        message.comment = comments[path]
        file.messages.append(message)
        for child in enums {
            file.enums.append(try decodeEnum(child, localPrefix: message.localName + ".", packagePrefix: packagePrefix))
        }
        for (index, child) in nested.enumerated() {
            try decodeMessage(
                child, localPrefix: message.localName + ".", packagePrefix: packagePrefix, path: path + [3, index], comments,
                into: &file)
        }
    }

    private static func decodeEnum(_ bytes: ArraySlice<UInt8>, localPrefix: String, packagePrefix: String) throws -> ProtoEnum {
        var result = ProtoEnum()
        for field in try ProtobufReader.fields(of: bytes) {
            switch field.number {
            case 1: result.fullName = packagePrefix + localPrefix + field.string
            case 2:
                var name = "", number: Int32 = 0
                for value in try ProtobufReader.fields(of: field.bytes) {
                    switch value.number {
                    case 1: name = value.string
                    case 2: number = Int32(truncatingIfNeeded: value.int)
                    default: break
                    }
                }
                result.values.append((name, number))
            default: break
            }
        }
        return result
    }

    private static func decodeField(_ bytes: ArraySlice<UInt8>) throws -> ProtoField {
        var field = ProtoField()
        for wire in try ProtobufReader.fields(of: bytes) {
            switch wire.number {
            case 1: field.name = wire.string
            case 3: field.number = wire.int
            case 4: field.repeated = wire.int == 3  // LABEL_REPEATED
            case 5: field.type = wire.int
            case 6: field.typeName = String(wire.string.drop { $0 == "." })
            case 10: field.jsonName = wire.string
            default: break
            }
        }
        return field
    }

    private static func decodeService(
        _ bytes: ArraySlice<UInt8>, packagePrefix: String, path: [Int], _ comments: [[Int]: String]
    ) throws -> ProtoService {
        var service = ProtoService()
        var methodIndex = 0
        for field in try ProtobufReader.fields(of: bytes) {
            switch field.number {
            case 1: service.name = field.string
            case 2:
                service.methods.append(try decodeMethod(field.bytes, comment: comments[path + [2, methodIndex]]))
                methodIndex += 1
            default: break
            }
        }
        service.fullName = packagePrefix + service.name
        service.comment = comments[path]
        return service
    }

    private static func decodeMethod(_ bytes: ArraySlice<UInt8>, comment: String?) throws -> ProtoMethod {
        var method = ProtoMethod(comment: comment)
        for field in try ProtobufReader.fields(of: bytes) {
            switch field.number {
            case 1: method.name = field.string
            case 2: method.inputType = String(field.string.drop { $0 == "." })
            case 3: method.outputType = String(field.string.drop { $0 == "." })
            case 4:  // MethodOptions
                for option in try ProtobufReader.fields(of: field.bytes) where option.number == 34 {
                    method.idempotencyLevel = option.int  // idempotency_level
                }
            case 5: method.clientStreaming = field.bool
            case 6: method.serverStreaming = field.bool
            default: break
            }
        }
        return method
    }

    /// SourceCodeInfo: the leading comment of every location that has one, by its path.
    private static func decodeComments(_ bytes: ArraySlice<UInt8>) throws -> [[Int]: String] {
        var comments: [[Int]: String] = [:]
        for location in try ProtobufReader.fields(of: bytes) where location.number == 1 {
            var path: [Int] = []
            var leading: String?
            for field in try ProtobufReader.fields(of: location.bytes) {
                switch field.number {
                case 1: path += try ProtobufReader.packedVarints(field).map { Int(truncatingIfNeeded: $0) }
                case 3: leading = field.string
                default: break
                }
            }
            if let leading, !leading.trimmingWhitespace.isEmpty { comments[path] = leading }
        }
        return comments
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

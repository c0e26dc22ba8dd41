import CCopsLinkProtos
import CProtobufC

#if canImport(Glibc)
import Glibc
#endif

/// Compares two protobuf-c messages of one descriptor field by field, and names every field that differs.
///
/// The drift test compares bytes; this turns a byte mismatch into "which field of which message".
enum ProtobufCMessageDiff {
    struct Difference: CustomStringConvertible {
        /// Path from the top message, e.g. `customer.passcode` or `responding_parties[1].phones[0].type`.
        var path: String
        var messageName: String
        var fieldName: String
        var fieldNumber: UInt32
        var type: ProtobufCType
        var expected: String
        var actual: String

        /// `message.field`, e.g. `copslink.v1.Customer.passcode`.
        var field: String { "\(messageName).\(fieldName)" }

        var description: String {
            "\(messageName).\(fieldName) (field \(fieldNumber), at \(path)): protobuf-c sent \(expected), the Swift codec gave back \(actual)"
        }
    }

    static func differences(
        _ expected: UnsafePointer<ProtobufCMessage>, _ actual: UnsafePointer<ProtobufCMessage>, path: String = ""
    ) -> [Difference] {
        let descriptor = expected.pointee.descriptor!
        let messageName = String(cString: descriptor.pointee.name)
        let left = UnsafeRawPointer(expected)
        let right = UnsafeRawPointer(actual)
        var found: [Difference] = []
        for field in UnsafeBufferPointer(start: descriptor.pointee.fields, count: Int(descriptor.pointee.n_fields)) {
            let fieldName = String(cString: field.name)
            let fieldPath = path.isEmpty ? fieldName : "\(path).\(fieldName)"
            func differ(_ expected: String, _ actual: String, at path: String = fieldPath) {
                found.append(
                    Difference(
                        path: path, messageName: messageName, fieldName: fieldName, fieldNumber: field.id, type: field.type,
                        expected: expected,
                        actual: actual))
            }
            let quantifierL = left + Int(field.quantifier_offset)
            let quantifierR = right + Int(field.quantifier_offset)
            if field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue != 0 {
                let caseL = quantifierL.loadUnaligned(as: UInt32.self)
                let caseR = quantifierR.loadUnaligned(as: UInt32.self)
                if caseL != field.id && caseR != field.id { continue }
                if caseL != caseR {
                    differ(
                        caseL == field.id ? "this oneof member" : "oneof case \(caseL)",
                        caseR == field.id ? "this oneof member" : "oneof case \(caseR)")
                    continue
                }
            }
            if field.label == PROTOBUF_C_LABEL_REPEATED {
                let countL = quantifierL.loadUnaligned(as: Int.self)
                let countR = quantifierR.loadUnaligned(as: Int.self)
                guard countL == countR else {
                    differ("\(countL) elements", "\(countR) elements")
                    continue
                }
                let size = ProtobufCMessageFiller.elementSize(field.type)
                guard size > 0, countL > 0 else { continue }
                let elementsL = (left + Int(field.offset)).loadUnaligned(as: UnsafeRawPointer.self)
                let elementsR = (right + Int(field.offset)).loadUnaligned(as: UnsafeRawPointer.self)
                for index in 0..<countL {
                    let nested = compare(field, elementsL + index * size, elementsR + index * size, path: "\(fieldPath)[\(index)]") {
                        differ($0, $1, at: "\(fieldPath)[\(index)]")
                    }
                    found += nested
                }
                continue
            }
            if field.label == PROTOBUF_C_LABEL_OPTIONAL, field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue == 0,
                ProtobufCMessageFiller.hasPresenceFlag(field.type)
            {
                let hasL = quantifierL.loadUnaligned(as: protobuf_c_boolean.self) != 0
                let hasR = quantifierR.loadUnaligned(as: protobuf_c_boolean.self) != 0
                if hasL != hasR { differ(hasL ? "set" : "unset", hasR ? "set" : "unset") }
                if !hasL || !hasR { continue }
            }
            let nested = compare(field, left + Int(field.offset), right + Int(field.offset), path: fieldPath) { differ($0, $1) }
            found += nested
        }
        return found
    }

    /// Compares one value (a field or one element); scalars are reported through `differ`, sub-messages recursively.
    private static func compare(
        _ field: ProtobufCFieldDescriptor, _ left: UnsafeRawPointer, _ right: UnsafeRawPointer, path: String,
        differ: (String, String) -> Void
    ) -> [Difference] {
        if field.type == PROTOBUF_C_TYPE_MESSAGE {
            let messageL = left.loadUnaligned(as: UnsafePointer<ProtobufCMessage>?.self)
            let messageR = right.loadUnaligned(as: UnsafePointer<ProtobufCMessage>?.self)
            switch (messageL, messageR) {
            case (nil, nil): return []
            case (let messageL?, let messageR?): return differences(messageL, messageR, path: path)
            default:
                differ(messageL == nil ? "no sub-message" : "a sub-message", messageR == nil ? "none" : "a sub-message")
                return []
            }
        }
        let valueL = text(field.type, left)
        let valueR = text(field.type, right)
        if valueL != valueR { differ(valueL, valueR) }
        return []
    }

    /// A scalar, string or bytes value as text (strings and bytes quoted).
    static func text(_ type: ProtobufCType, _ pointer: UnsafeRawPointer) -> String {
        switch type {
        case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32, PROTOBUF_C_TYPE_ENUM:
            return "\(pointer.loadUnaligned(as: Int32.self))"
        case PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_FIXED32:
            return "\(pointer.loadUnaligned(as: UInt32.self))"
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64:
            return "\(pointer.loadUnaligned(as: Int64.self))"
        case PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64:
            return "\(pointer.loadUnaligned(as: UInt64.self))"
        case PROTOBUF_C_TYPE_FLOAT: return "\(pointer.loadUnaligned(as: Float.self))"
        case PROTOBUF_C_TYPE_DOUBLE: return "\(pointer.loadUnaligned(as: Double.self))"
        case PROTOBUF_C_TYPE_BOOL: return pointer.loadUnaligned(as: protobuf_c_boolean.self) != 0 ? "true" : "false"
        case PROTOBUF_C_TYPE_STRING:
            guard let string = pointer.loadUnaligned(as: UnsafePointer<CChar>?.self) else { return "NULL" }
            return String(reflecting: String(cString: string))
        case PROTOBUF_C_TYPE_BYTES:
            let data = pointer.loadUnaligned(as: ProtobufCBinaryData.self)
            guard data.len > 0, let base = data.data else { return "\"\"" }
            return String(reflecting: String(decoding: UnsafeBufferPointer(start: base, count: data.len), as: UTF8.self))
        default:
            return "(type \(type.rawValue))"
        }
    }
}

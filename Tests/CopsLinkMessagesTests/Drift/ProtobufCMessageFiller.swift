import CCopsLinkProtos
import CProtobufC

#if canImport(Glibc)
import Glibc
#endif

/// Builds a protobuf-c C struct from nothing but its descriptor, every field set to a value that is not the
/// default, and remembers what it put where.
///
/// The descriptors say, per field, its type, label and where it lives in the struct (`offset`; for repeated fields the
/// count at `quantifier_offset`, for oneof members the case there, for proto2-style optional scalars the `has_` flag
/// there), so a field added to a `.proto` is filled without touching this code. Every value is unique (a counter), so
/// a value found or missing later names exactly one field.
///
/// Owns every allocation (freed in `deinit`); a message it built is valid while the filler lives.
final class ProtobufCMessageFiller {
    /// One field set somewhere in the tree, for naming failures and for the redaction checks.
    struct Filled {
        /// The message type holding the field, e.g. `copslink.v1.Customer`.
        var messageName: String
        var fieldName: String
        var fieldNumber: UInt32
        var type: ProtobufCType
        /// Field path from the top message, e.g. `responding_parties[1].passcode`.
        var path: String
        /// The value as text (strings and bytes: the text itself).
        var text: String
    }

    /// Which value family to use. Each variant also picks another member of every oneof (member `rawValue % count`),
    /// so that running all of them sets every field at least once (while no oneof has more members than there are
    /// variants; `DescriptorDriftTests` checks that every field was set).
    enum Variant: Int, CaseIterable, CustomStringConvertible, Sendable {
        /// Small positive numbers (1000 + n); 64-bit fields above 2^32; the first non-zero enum value.
        case plain
        /// Negative signed values, unsigned values with the top bit set; the last enum value; bytes with a NUL in them.
        case edges
        /// Enum values no `.proto` names (proto3 enums are open: they must survive a decode and re-encode).
        case unknownEnums

        var description: String { ["plain values", "edge values", "unknown enum values"][rawValue] }
    }

    /// Sub-messages deeper than this are left unset. The schemas are not recursive (protobuf-c has no depth limit of
    /// its own), so this only keeps a recursive one from hanging the test; today's deepest nesting is far less.
    static let maximumDepth = 10

    let variant: Variant
    private(set) var filled: [Filled] = []
    /// Every message type a struct was built for (the top one and the sub-messages).
    private(set) var reachedMessages: Set<String> = []
    /// Every field set, sub-message fields included, as `message.field` (e.g. `copslink.v1.Customer.address`).
    private(set) var setFields: Set<String> = []
    /// Fields the filler could not set (a type it does not know): each must fail the test.
    private(set) var unsupported: [String] = []
    private var counter = 0
    private var allocations: [UnsafeMutableRawPointer] = []

    init(variant: Variant) { self.variant = variant }

    deinit { for pointer in allocations { free(pointer) } }

    /// A zeroed, owned allocation of `size` bytes (at least 1, aligned for any C type).
    private func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let pointer = calloc(1, max(size, 1))!
        allocations.append(pointer)
        return pointer
    }

    /// A message of `descriptor` with every field set; sub-messages down to `maximumDepth`.
    func message(
        _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, path: String = "", depth: Int = 0
    ) -> UnsafeMutablePointer<ProtobufCMessage> {
        let raw = allocate(descriptor.pointee.sizeof_message)
        protobuf_c_message_init(descriptor, raw)
        let messageName = String(cString: descriptor.pointee.name)
        reachedMessages.insert(messageName)
        let fields = UnsafeBufferPointer(start: descriptor.pointee.fields, count: Int(descriptor.pointee.n_fields))
        for field in fields {
            let fieldName = String(cString: field.name)
            let fieldPath = path.isEmpty ? fieldName : "\(path).\(fieldName)"
            if field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue != 0 {
                // Members of one oneof share the case word at `quantifier_offset`; set only the chosen one.
                let members = fields.filter {
                    $0.flags & PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue != 0 && $0.quantifier_offset == field.quantifier_offset
                }
                guard members[variant.rawValue % members.count].id == field.id else { continue }
                (raw + Int(field.quantifier_offset)).storeBytes(of: field.id, as: UInt32.self)
            }
            let context = Context(messageName: messageName, fieldName: fieldName, field: field, depth: depth)
            switch field.label {
            case PROTOBUF_C_LABEL_REPEATED:
                let size = Self.elementSize(field.type)
                guard size > 0 else {
                    unsupported.append("\(messageName).\(fieldName) (type \(field.type.rawValue))")
                    continue
                }
                // Past the depth limit a repeated sub-message stays empty: protobuf-c cannot pack NULL elements.
                if field.type == PROTOBUF_C_TYPE_MESSAGE, depth >= Self.maximumDepth { continue }
                let elements = allocate(2 * size)
                for index in 0..<2 { setValue(at: elements + index * size, context, path: "\(fieldPath)[\(index)]") }
                (raw + Int(field.quantifier_offset)).storeBytes(of: 2, as: Int.self)  // size_t n_…
                (raw + Int(field.offset)).storeBytes(of: elements, as: UnsafeMutableRawPointer.self)
            case PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_LABEL_NONE:
                if field.label == PROTOBUF_C_LABEL_OPTIONAL, field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue == 0,
                    Self.hasPresenceFlag(field.type)
                {
                    (raw + Int(field.quantifier_offset)).storeBytes(of: 1, as: protobuf_c_boolean.self)
                }
                setValue(at: raw + Int(field.offset), context, path: fieldPath)
            default:
                unsupported.append("\(messageName).\(fieldName) (label \(field.label.rawValue))")
            }
        }
        return raw.assumingMemoryBound(to: ProtobufCMessage.self)
    }

    private struct Context {
        var messageName: String
        var fieldName: String
        var field: ProtobufCFieldDescriptor
        var depth: Int
    }

    /// Writes one value of the field's type at `pointer` (the field itself, or one element of a repeated field).
    private func setValue(at pointer: UnsafeMutableRawPointer, _ context: Context, path: String) {
        counter += 1
        let n = counter
        let edges = variant == .edges
        var text: String
        switch context.field.type {
        case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32:
            let value = Int32(edges ? -(1000 + n) : 1000 + n)
            pointer.storeBytes(of: value, as: Int32.self)
            text = "\(value)"
        case PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_FIXED32:
            let value = edges ? UInt32(0x8000_0000) | UInt32(n) : UInt32(1000 + n)
            pointer.storeBytes(of: value, as: UInt32.self)
            text = "\(value)"
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64:
            let value = edges ? -(Int64(1) << 40 + Int64(n)) : Int64(1) << 33 + Int64(n)
            pointer.storeBytes(of: value, as: Int64.self)
            text = "\(value)"
        case PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64:
            let value = edges ? UInt64(1) << 63 | UInt64(n) : UInt64(1) << 33 + UInt64(n)
            pointer.storeBytes(of: value, as: UInt64.self)
            text = "\(value)"
        case PROTOBUF_C_TYPE_FLOAT:
            let value = Float(n) + 0.5
            pointer.storeBytes(of: value, as: Float.self)
            text = "\(value)"
        case PROTOBUF_C_TYPE_DOUBLE:
            let value = Double(n) + 0.25
            pointer.storeBytes(of: value, as: Double.self)
            text = "\(value)"
        case PROTOBUF_C_TYPE_BOOL:
            pointer.storeBytes(of: 1, as: protobuf_c_boolean.self)
            text = "true"
        case PROTOBUF_C_TYPE_ENUM:
            let value = enumValue(context.field, n: n)
            pointer.storeBytes(of: value, as: Int32.self)
            text = "\(value)"
        case PROTOBUF_C_TYPE_STRING:
            // Unique and self-delimiting ("s1_x_" is no substring of "s11_x_"), so a search finds this field only.
            text = "s\(n)_\(context.fieldName)_"
            pointer.storeBytes(of: cString(text), as: UnsafeMutablePointer<CChar>.self)
        case PROTOBUF_C_TYPE_BYTES:
            // UTF-8 (some bytes fields carry text and are validated); the edge variant adds a NUL, which `bytes`
            // must carry and C strings cannot.
            text = "b\(n)_\(context.fieldName)_" + (edges ? "\u{0}" : "")
            let bytes = Array(text.utf8)
            let data = allocate(bytes.count)
            data.copyMemory(from: bytes, byteCount: bytes.count)
            pointer.storeBytes(
                of: ProtobufCBinaryData(len: bytes.count, data: data.assumingMemoryBound(to: UInt8.self)), as: ProtobufCBinaryData.self)
        case PROTOBUF_C_TYPE_MESSAGE:
            let nested = context.field.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
            guard context.depth < Self.maximumDepth else { return }
            let message = self.message(nested, path: path, depth: context.depth + 1)
            pointer.storeBytes(of: message, as: UnsafeMutablePointer<ProtobufCMessage>.self)
            setFields.insert("\(context.messageName).\(context.fieldName)")
            return  // its own fields are recorded one by one
        default:
            unsupported.append("\(context.messageName).\(context.fieldName) (type \(context.field.type.rawValue))")
            return
        }
        setFields.insert("\(context.messageName).\(context.fieldName)")
        filled.append(
            Filled(
                messageName: context.messageName, fieldName: context.fieldName, fieldNumber: context.field.id, type: context.field.type,
                path: path, text: text))
    }

    /// A non-zero value of the field's enum: the first or last named one, or (variant `unknownEnums`) one not named.
    private func enumValue(_ field: ProtobufCFieldDescriptor, n: Int) -> Int32 {
        let descriptor = field.descriptor.assumingMemoryBound(to: ProtobufCEnumDescriptor.self)
        let named = UnsafeBufferPointer(start: descriptor.pointee.values, count: Int(descriptor.pointee.n_values)).map(\.value)
        let nonZero = named.filter { $0 != 0 }
        switch variant {
        case .unknownEnums:
            var value = Int32(10_000 + n)
            while named.contains(value) { value += 1 }
            return value
        case .edges: return nonZero.last ?? 0
        case .plain: return nonZero.first ?? 0
        }
    }

    private func cString(_ text: String) -> UnsafeMutablePointer<CChar> {
        let bytes = Array(text.utf8) + [0]
        let pointer = allocate(bytes.count)
        pointer.copyMemory(from: bytes, byteCount: bytes.count)
        return pointer.assumingMemoryBound(to: CChar.self)
    }

    /// Bytes one element of a field of `type` takes in the C struct (0: a type this filler does not know).
    static func elementSize(_ type: ProtobufCType) -> Int {
        switch type {
        case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32, PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_FIXED32,
            PROTOBUF_C_TYPE_FLOAT, PROTOBUF_C_TYPE_ENUM:
            4
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64, PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64,
            PROTOBUF_C_TYPE_DOUBLE:
            8
        case PROTOBUF_C_TYPE_BOOL: MemoryLayout<protobuf_c_boolean>.size
        case PROTOBUF_C_TYPE_STRING, PROTOBUF_C_TYPE_MESSAGE: MemoryLayout<UnsafeMutableRawPointer>.size
        case PROTOBUF_C_TYPE_BYTES: MemoryLayout<ProtobufCBinaryData>.size
        default: 0
        }
    }

    /// Whether an optional (proto2 or proto3 `optional`) field of `type` has a `has_` flag; strings and messages
    /// mark presence by a non-NULL pointer instead.
    static func hasPresenceFlag(_ type: ProtobufCType) -> Bool {
        type != PROTOBUF_C_TYPE_STRING && type != PROTOBUF_C_TYPE_MESSAGE
    }
}

/// protobuf-c packing and unpacking for the drift tests.
enum ProtobufC {
    static func pack(_ message: UnsafePointer<ProtobufCMessage>) -> [UInt8] {
        let size = protobuf_c_message_get_packed_size(message)
        guard size > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = protobuf_c_message_pack(message, buffer.baseAddress)
        }
    }

    /// Unpacks `bytes` and passes the message to `body`; nil when protobuf-c rejects them. Frees what it unpacked.
    static func withUnpacked<Result>(
        _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, _ bytes: [UInt8], _ body: (UnsafePointer<ProtobufCMessage>?) -> Result
    ) -> Result {
        let message = bytes.withUnsafeBufferPointer { protobuf_c_message_unpack(descriptor, nil, $0.count, $0.baseAddress) }
        defer { if let message { protobuf_c_message_free_unpacked(message, nil) } }
        return body(message.map { UnsafePointer($0) })
    }
}

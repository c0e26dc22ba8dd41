import CCopsLinkProtos
import CProtobufC
import CopsLinkCore
import CopsLinkMessages

/// One message type, filled field by field through protobuf-c, packed by protobuf-c, decoded by its Swift codec and
/// encoded again by it.
///
/// Comparing the bytes is sound because both sides are packed by the same protobuf-c code (the Swift codecs build
/// C structs and call `protobuf_c_message_pack`, which writes fields in field-number order), so equal content gives
/// equal bytes; a difference means the Swift type lost or changed a value. The field-by-field diff (both byte
/// strings unpacked again by protobuf-c) then names the field.
struct CodecDriftProbe {
    var protoName: String
    var swiftType: String
    var variant: ProtobufCMessageFiller.Variant
    /// What protobuf-c packed from the filled struct.
    var sent: [UInt8]
    /// What the Swift codec encoded after decoding `sent`, or why it refused to decode them.
    var returned: Result<[UInt8], RPCError>
    /// Fields that did not survive the Swift codec (empty when `returned == sent`).
    var differences: [ProtobufCMessageDiff.Difference]
    /// Differences a test accepted (moved out of `differences`), so they do not count as unexplained.
    var excused: [ProtobufCMessageDiff.Difference] = []
    /// The filled struct against protobuf-c's own unpacking of `sent`: must be empty (checks the filler and the diff).
    var fillerDifferences: [ProtobufCMessageDiff.Difference]
    /// `description`, `debugDescription` and `dump` of the decoded Swift value: what logs and errors could show.
    var renderings: [String]
    var filled: [ProtobufCMessageFiller.Filled]
    var reachedMessages: Set<String>
    var setFields: Set<String>
    var unsupported: [String]

    /// Bytes differ but no field does: something protobuf-c does not model in the struct (unknown fields, say).
    var unexplainedByteDifference: Bool {
        guard case .success(let bytes) = returned, bytes != sent else { return false }
        return differences.isEmpty && excused.isEmpty
    }

    static func run<T: ProtobufCCodable>(_ type: T.Type, variant: ProtobufCMessageFiller.Variant) -> CodecDriftProbe {
        let filler = ProtobufCMessageFiller(variant: variant)
        let descriptor = T.cDescriptor.pointer
        let cMessage = filler.message(descriptor)
        let sent = ProtobufC.pack(cMessage)
        let fillerDifferences = ProtobufC.withUnpacked(descriptor, sent) { unpacked in
            unpacked.map { ProtobufCMessageDiff.differences(cMessage, $0) } ?? []
        }
        var renderings: [String] = []
        let returned: Result<[UInt8], RPCError>
        do throws(RPCError) {
            let value = try T(from: sent)
            var dumped = ""
            dump(value, to: &dumped)
            renderings = ["\(value)", String(reflecting: value), dumped]
            returned = .success(value.serializedBytes())
        } catch {
            returned = .failure(error)
        }
        var differences: [ProtobufCMessageDiff.Difference] = []
        if case .success(let bytes) = returned, bytes != sent {
            differences = ProtobufC.withUnpacked(descriptor, sent) { expected in
                ProtobufC.withUnpacked(descriptor, bytes) { actual in
                    guard let expected, let actual else { return [] }
                    return ProtobufCMessageDiff.differences(expected, actual)
                }
            }
        }
        return CodecDriftProbe(
            protoName: String(cString: descriptor.pointee.name), swiftType: String(reflecting: T.self), variant: variant, sent: sent,
            returned: returned, differences: differences, fillerDifferences: fillerDifferences, renderings: renderings,
            filled: filler.filled, reachedMessages: filler.reachedMessages, setFields: filler.setFields, unsupported: filler.unsupported)
    }
}

/// The message descriptors reachable from some roots through their sub-message fields, by full proto name.
enum DescriptorGraph {
    static func messages(from roots: [UnsafePointer<ProtobufCMessageDescriptor>]) -> [String: UnsafePointer<ProtobufCMessageDescriptor>] {
        var found: [String: UnsafePointer<ProtobufCMessageDescriptor>] = [:]
        var pending = roots
        while let descriptor = pending.popLast() {
            let name = String(cString: descriptor.pointee.name)
            guard found[name] == nil else { continue }
            found[name] = descriptor
            for field in UnsafeBufferPointer(start: descriptor.pointee.fields, count: Int(descriptor.pointee.n_fields))
            where field.type == PROTOBUF_C_TYPE_MESSAGE {
                pending.append(field.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self))
            }
        }
        return found
    }

    /// Name and number of each field, for comparing with the reading of the `.proto` files.
    static func fields(of descriptor: UnsafePointer<ProtobufCMessageDescriptor>) -> [(name: String, number: UInt32)] {
        UnsafeBufferPointer(start: descriptor.pointee.fields, count: Int(descriptor.pointee.n_fields)).map {
            (String(cString: $0.name), $0.id)
        }
    }
}

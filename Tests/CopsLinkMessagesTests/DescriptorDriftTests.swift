import CCopsLinkProtos
import CProtobufC
import CopsLinkCore
import CopsLinkMessages
import Testing

/// The codecs are written by hand over protobuf-c; nothing else notices when a `.proto` field has no Swift
/// counterpart (protobuf-c decodes it and the Swift type silently drops it). These tests fill every field of every
/// message type, as the protobuf-c descriptors list them, and require each value to survive the Swift codec.
@Suite("Codec drift: every field of every .proto message survives its Swift codec")
struct DescriptorDriftTests {
    /// The generated C code defines the list of message types; each must have a Swift codec or sit inside a message
    /// that has one (then its fields travel, and are checked, through that codec: `copslink.rpc.v1.Payload`).
    @Test func everyGeneratedMessageHasASwiftCodecOrIsHeldByOne() throws {
        let generated = try ProtoSchemaFiles.generatedMessageNames()
        #expect(generated.count > 60, "read \(generated.count) message descriptors from Sources/CCopsLinkProtos")
        var codecs: [String: String] = [:]
        var reached: Set<String> = []
        for codec in MessageCodecCatalog.all {
            let descriptorName = String(cString: codec.cDescriptor.pointer.pointee.name)
            #expect(descriptorName == codec.protoName, "\(codec) has protoName \(codec.protoName) but the descriptor of \(descriptorName)")
            #expect(codecs.updateValue(String(reflecting: codec), forKey: descriptorName) == nil, "\(descriptorName) is listed twice")
            reached.formUnion(DescriptorGraph.messages(from: [codec.cDescriptor.pointer]).keys)
        }
        for (name, file) in generated.sorted(by: { $0.key < $1.key }) where codecs[name] == nil && !reached.contains(name) {
            Issue.record(
                "\(name) (generated in \(file)) has no Swift codec, and no message with one contains it: write its codec and map it in Tools/copslink-generate (SwiftMapping), then run scripts/generate"
            )
        }
        for name in codecs.keys.sorted() where generated[name] == nil {
            Issue.record("MessageCatalog lists \(codecs[name]!) for \(name), which the generated code does not define")
        }
    }

    @Test(arguments: ProtobufCMessageFiller.Variant.allCases)
    func everyFieldSurvivesTheSwiftCodec(_ variant: ProtobufCMessageFiller.Variant) throws {
        var fieldsChecked = 0
        var messagesReached: Set<String> = []
        var closedEnumsSeen: Set<String> = []
        for codec in MessageCodecCatalog.all {
            var probe = CodecDriftProbe.run(codec, variant: variant)
            if variant == .unknownEnums {
                let isExcused = { (difference: ProtobufCMessageDiff.Difference) in
                    Self.closedEnumFields[difference.field] != nil && difference.type == PROTOBUF_C_TYPE_ENUM
                }
                probe.excused = probe.differences.filter(isExcused)
                probe.differences.removeAll(where: isExcused)
                closedEnumsSeen.formUnion(probe.excused.map(\.field))
            }
            Self.expectSurvived(probe)
            fieldsChecked += probe.filled.count
            messagesReached.formUnion(probe.reachedMessages)
        }
        if variant == .unknownEnums {
            #expect(closedEnumsSeen == Set(Self.closedEnumFields.keys), "closedEnumFields lists fields that now keep unknown values")
        }
        #expect(fieldsChecked > 1000, "\(variant): \(fieldsChecked) field values checked")
        let generated = Set(try ProtoSchemaFiles.generatedMessageNames().keys)
        #expect(generated.subtracting(messagesReached).sorted() == [], "\(variant): message types no fill reached")
    }

    /// The variants together set every field the descriptors list (a oneof with more members than there are variants
    /// would leave one unset), so the test above checks them all.
    @Test func theVariantsTogetherSetEveryField() {
        let descriptors = DescriptorGraph.messages(from: MessageCodecCatalog.all.map { $0.cDescriptor.pointer })
        let all = Set(descriptors.flatMap { name, descriptor in DescriptorGraph.fields(of: descriptor).map { "\(name).\($0.name)" } })
        var filled: Set<String> = []
        for variant in ProtobufCMessageFiller.Variant.allCases {
            for codec in MessageCodecCatalog.all {
                filled.formUnion(CodecDriftProbe.run(codec, variant: variant).setFields)
            }
        }
        #expect(all.count > 200, "the descriptors list \(all.count) fields")
        #expect(all.subtracting(filled).sorted() == [], "fields no variant sets")
    }

    /// Enum fields whose Swift type is closed on purpose: a value this build does not name reads as another. proto3
    /// enums are open, so every other enum field must keep an unknown value; an entry here that is no longer needed
    /// fails the test, so the list cannot outlive its reason.
    static let closedEnumFields: [String: String] = [
        "copslink.rpc.v1.MethodInfo.kind":
            "MethodInfo.kind is CopsLinkCore's closed MethodKind: a kind this build does not know (from a newer server) reads as unary"
    ]

    /// Records an issue naming each field of `probe` that did not come back from the Swift codec as protobuf-c sent it.
    static func expectSurvived(_ probe: CodecDriftProbe, sourceLocation: SourceLocation = #_sourceLocation) {
        let subject = "\(probe.protoName) (\(probe.swiftType), \(probe.variant))"
        for field in probe.unsupported {
            Issue.record(
                "\(subject): the filler cannot set \(field); teach ProtobufCMessageFiller its type", sourceLocation: sourceLocation)
        }
        for difference in probe.fillerDifferences {
            Issue.record("\(subject): protobuf-c itself did not round-trip \(difference)", sourceLocation: sourceLocation)
        }
        switch probe.returned {
        case .failure(let error):
            Issue.record("\(subject): the Swift codec refused protobuf-c's bytes: \(error)", sourceLocation: sourceLocation)
        case .success(let bytes):
            for difference in probe.differences {
                Issue.record("\(subject) drops or changes \(difference)", sourceLocation: sourceLocation)
            }
            if probe.unexplainedByteDifference {
                Issue.record(
                    "\(subject): re-encoded bytes differ with no field differing:\n  sent     \(probe.sent.hex)\n  returned \(bytes.hex)",
                    sourceLocation: sourceLocation)
            }
        }
    }

    /// The guard itself: a codec that forgets one field is caught, and the failure names the message and the field.
    @Test func aCodecThatDropsAFieldIsNamed() {
        let probe = CodecDriftProbe.run(AddressWithoutZip.self, variant: .plain)
        #expect(
            probe.differences.map(\.description) == [
                "copslink.v1.Address.zip (field 5, at zip): protobuf-c sent \"s5_zip_\", the Swift codec gave back \"\""
            ])
        let nested = CodecDriftProbe.run(CustomerWithoutAddressZip.self, variant: .plain)
        #expect(nested.differences.map(\.path) == ["address.zip"])
        #expect(nested.differences.map(\.messageName) == ["copslink.v1.Address"])
    }
}

/// `Address` with a codec that forgets `zip`, as a hand-written codec could after the field was added.
private struct AddressWithoutZip: ProtobufCCodable, Hashable {
    typealias CMessage = Copslink__V1__Address
    static let protoName = "copslink.v1.Address"
    static let cDescriptor = Address.cDescriptor
    var address: Address

    func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> { address.makeCMessage(in: &arena) }

    init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        address = try Address(cMessage: message)
        address.zip = ""
    }
}

/// `Customer` whose address loses its zip code: the diff names the nested field and its own message type.
private struct CustomerWithoutAddressZip: ProtobufCCodable, Hashable {
    typealias CMessage = Copslink__V1__Customer
    static let protoName = "copslink.v1.Customer"
    static let cDescriptor = Customer.cDescriptor
    var customer: Customer

    func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> { customer.makeCMessage(in: &arena) }

    init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        customer = try Customer(cMessage: message)
        customer.address?.zip = ""
    }
}

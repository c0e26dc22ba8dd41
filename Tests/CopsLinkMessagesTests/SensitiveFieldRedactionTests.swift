import CCopsLinkProtos
import CProtobufC
import CopsLinkCore
import CopsLinkMessages
import Testing

/// Secrets (passcodes) are marked in the `.proto` with a `@sensitive` comment, and the Swift descriptions of every
/// message that can hold one show it redacted (`PasscodeRedaction.swift`). Both directions are checked against what
/// the Swift types really print: a marked field whose value shows, and a string field that is hidden but not marked,
/// each fail, naming the field.
@Suite("Sensitive fields: marked in the .proto exactly where the Swift descriptions redact")
struct SensitiveFieldRedactionTests {
    /// The `.proto` reading must agree with the descriptors, field for field, or a marker could sit on a field it misread.
    @Test func theProtoFilesAndTheDescriptorsListTheSameFields() throws {
        let parsed = try ProtoSchemaFiles.protoFields()
        let descriptors = DescriptorGraph.messages(from: MessageCodecCatalog.all.map { $0.cDescriptor.pointer })
        let fromProto = Set(parsed.map { "\($0.messageName).\($0.name) = \($0.number)" })
        let fromDescriptors = Set(
            descriptors.flatMap { name, descriptor in
                DescriptorGraph.fields(of: descriptor).map { "\(name).\($0.name) = \($0.number)" }
            })
        #expect(fromProto.count > 200, "read \(fromProto.count) fields from proto/")
        #expect(fromProto.subtracting(fromDescriptors).sorted() == [], "in proto/ but in no descriptor")
        #expect(fromDescriptors.subtracting(fromProto).sorted() == [], "in the descriptors but not read from proto/")
    }

    @Test func everySensitiveFieldIsRedactedAndEveryRedactedFieldIsMarked() throws {
        let fields = try ProtoSchemaFiles.protoFields()
        let sensitive = Set(fields.filter(\.isSensitive).map { "\($0.messageName).\($0.name)" })
        #expect(sensitive.contains("copslink.v1.Customer.passcode"))
        var checked: Set<String> = []
        var reported: Set<String> = []
        for codec in MessageCodecCatalog.all {
            let probe = CodecDriftProbe.run(codec, variant: .plain)
            guard !probe.renderings.isEmpty else {
                Issue.record("\(probe.protoName): the Swift codec refused protobuf-c's bytes")
                continue
            }
            // A field the Swift type drops is hidden for that reason; the drift test reports it.
            let lost = Set(probe.differences.map(\.path))
            for field in probe.filled where !lost.contains(field.path) {
                let name = "\(field.messageName).\(field.fieldName)"
                let forms = field.type == PROTOBUF_C_TYPE_BYTES ? [field.text, "\(Array(field.text.utf8))"] : [field.text]
                let shownIn = probe.renderings.indices.filter { index in forms.contains { probe.renderings[index].contains($0) } }
                let hiddenFrom = probe.renderings.indices.filter { !shownIn.contains($0) }
                // One issue per message type and field (a repeated or nested field occurs several times).
                let subject = "\(probe.protoName) (\(probe.swiftType)) at \(field.path)"
                if sensitive.contains(name) {
                    checked.insert(name)
                    if !shownIn.isEmpty, reported.insert("\(probe.protoName) \(name)").inserted {
                        Issue.record("\(subject): \(name) is marked @sensitive but its value shows in \(Self.names(shownIn))")
                    }
                } else if field.type == PROTOBUF_C_TYPE_STRING, !hiddenFrom.isEmpty, reported.insert("\(probe.protoName) \(name)").inserted
                {
                    // Only strings: bytes may be summarised ("<4 bytes>" for binary metadata), numbers are no secrets.
                    Issue.record(
                        "\(subject): the value of \(name) is hidden from \(Self.names(hiddenFrom)) but not marked; if it is a secret, mark it `// \(ProtoSchemaFiles.sensitiveMarker)` in its .proto"
                    )
                }
            }
        }
        #expect(checked == sensitive, "marked fields no message type reaches: \(sensitive.subtracting(checked).sorted())")
    }

    /// What `CodecDriftProbe.renderings` holds, in order.
    static func names(_ renderings: [Int]) -> String {
        renderings.map { ["String(describing:)", "String(reflecting:)", "dump"][$0] }.joined(separator: ", ")
    }

    @Test func theMarkerIsReadFromTheLeadingOrTheTrailingComment() {
        let fields = ProtoSchemaFiles.parseFields(
            """
            syntax = "proto3";
            package p.v1;
            // @sensitive (a message comment marks no field)
            message Outer {
              // A secret.
              // @sensitive
              string leading = 1;
              string trailing = 2;  // @sensitive
              // sensitive, in prose only
              string plain = 3;
              message Inner {
                repeated string items = 1;
              }
              oneof choice {
                string text = 4;  // @sensitive
                bytes binary = 5;
              }
              enum Kind { KIND_UNSPECIFIED = 0; }
              map<string, string> labels = 6;
            }
            message Empty {}
            message After { int64 at_ms = 1; }
            """, file: "p.proto")
        #expect(
            fields.map { "\($0.messageName).\($0.name)=\($0.number)\($0.isSensitive ? " sensitive" : "")" } == [
                "p.v1.Outer.leading=1 sensitive", "p.v1.Outer.trailing=2 sensitive", "p.v1.Outer.plain=3", "p.v1.Outer.Inner.items=1",
                "p.v1.Outer.text=4 sensitive", "p.v1.Outer.binary=5", "p.v1.Outer.labels=6", "p.v1.After.at_ms=1"
            ])
    }
}

import CCopsLinkProtos
import CProtobufC
import CopsLinkCore
import CopsLinkMessages
import Testing

@testable import CopsLinkAccounts

/// Every string and repeated field of every AccountService request message, found by walking the protobuf-c
/// descriptors (so a field added to a `.proto` later is covered without touching this test), gets an oversized value;
/// `checkFieldLimits()` must refuse it naming that very field.
@Suite("Field limits cover every field")
struct FieldLimitCoverageTests {
    /// More than any limit in `FieldLimits` allows: the bytes of one string, and the entries of one list (lists are
    /// at most 1,000 long; far longer lists of empty entries are refused earlier, by the decode memory bound).
    static let oversizedBytes = 10_001
    static let oversizedCount = 1_001

    /// An oversized value somewhere in a message: the bytes that put it there (appended to an empty message; a
    /// singular sub-message occurring again merges, a repeated one gains an element), the field's path with element
    /// indexes written `[]`, and the start of the refusal naming it.
    struct Probe {
        var bytes: [UInt8]
        var path: String
        var isList: Bool
        var expectedStart: String {
            isList ? "\(path) has " : "\(path) is \(FieldLimitCoverageTests.oversizedBytes) bytes; at most "
        }
    }

    @Test func everyStringAndListOfEveryRequestIsBounded() throws {
        var probed = 0
        probed += try check(LinkAccountRequest.self)
        probed += try check(GetAccountRequest.self)
        probed += try check(UnlinkAccountRequest.self)
        probed += try check(SyncCustomerRequest.self)
        probed += try check(SearchAuthoritiesRequest.self)
        probed += try check(AddAccountAuthoritiesRequest.self)
        probed += try check(RemoveAccountAuthorityRequest.self)
        probed += try check(SetCentralStationZonesRequest.self)
        probed += try check(ListTestCategoriesRequest.self)
        probed += try check(GetTestStatusRequest.self)
        probed += try check(PlaceOnTestRequest.self)
        probed += try check(PlaceOffTestRequest.self)
        probed += try check(RequestTestDataRequest.self)
        probed += try check(Signal.self)
        #expect(probed > 100, "the descriptor walk found the fields (\(probed))")
    }

    /// Checks every probe of `Message`; returns how many there were.
    func check<Message: ProtobufCCodable & FieldLimitChecked>(
        _ type: Message.Type, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Int {
        let probes = Self.probes(Message.cDescriptor.pointer)
        for probe in probes {
            let message = try probe.bytes.withUnsafeBytes { try Message(serializedBytes: $0) }
            do {
                try message.checkFieldLimits()
                Issue.record("\(Message.protoName).\(probe.path) is not bounded", sourceLocation: sourceLocation)
            } catch {
                #expect(error.code == .invalidArgument, sourceLocation: sourceLocation)
                let named = error.message.replacing(/\[[0-9]+\]/, with: "[]")
                #expect(named.hasPrefix(probe.expectedStart), "\(Message.protoName): \(error.message)", sourceLocation: sourceLocation)
            }
        }
        return probes.count
    }

    static func probes(_ descriptor: UnsafePointer<ProtobufCMessageDescriptor>) -> [Probe] {
        var probes: [Probe] = []
        for index in 0..<Int(descriptor.pointee.n_fields) {
            let field = descriptor.pointee.fields[index]
            let name = String(cString: field.name)
            let repeated = field.label == PROTOBUF_C_LABEL_REPEATED
            switch field.type {
            case PROTOBUF_C_TYPE_STRING, PROTOBUF_C_TYPE_BYTES:
                let value = Self.lengthDelimited(field.id, Array(repeating: UInt8(ascii: "x"), count: oversizedBytes))
                probes.append(Probe(bytes: value, path: repeated ? "\(name)[]" : name, isList: false))
                if repeated {
                    let empty = Self.lengthDelimited(field.id, [])
                    probes.append(Probe(bytes: Array((0..<oversizedCount).map { _ in empty }.joined()), path: name, isList: true))
                }
            case PROTOBUF_C_TYPE_MESSAGE:
                let nested = field.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
                for inner in Self.probes(nested) {
                    probes.append(
                        Probe(
                            bytes: Self.lengthDelimited(field.id, inner.bytes), path: "\(name)\(repeated ? "[]" : "").\(inner.path)",
                            isList: inner.isList))
                }
                if repeated {
                    let empty = Self.lengthDelimited(field.id, [])
                    probes.append(Probe(bytes: Array((0..<oversizedCount).map { _ in empty }.joined()), path: name, isList: true))
                }
            default:
                continue
            }
        }
        return probes
    }

    /// Field `id` with wire type 2 and `payload`.
    static func lengthDelimited(_ id: UInt32, _ payload: [UInt8]) -> [UInt8] {
        varint(UInt64(id) << 3 | 2) + varint(UInt64(payload.count)) + payload
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }
}

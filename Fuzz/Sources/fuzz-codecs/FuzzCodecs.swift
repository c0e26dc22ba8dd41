import CopsLinkCore
// libFuzzer target: every message codec of CopsLinkMessages over protobuf-c.
//
// Input: byte 0 selects the message type (`codecs[byte % codecs.count]`, the order below is part of the corpus
// format: append new types at the end); the rest is handed to `init(serializedBytes:)`. Whatever decodes must
// re-encode to bytes that decode to an equal value, re-encode to the same bytes, and have `serializedSize` equal
// to the encoded length. Any mismatch traps (a crash libFuzzer reports with its reproducer).
//
// COPSLINK_FUZZ_MAKE_CORPUS=<dir> writes the seed corpus (see Corpus.swift) into <dir> and exits instead of fuzzing.
import CopsLinkMessages
import FuzzSupport

/// One message type: its name and the round-trip check over it.
struct Codec: Sendable {
    let name: String
    let roundTrip: @Sendable (UnsafeRawBufferPointer) -> Void
}

func codec<M: ProtobufCCodable & Equatable>(_ type: M.Type) -> Codec {
    Codec(name: M.protoName) { bytes in
        guard let first = try? M(serializedBytes: bytes) else { return }
        let encoded = first.serializedBytes()
        check(
            encoded.count == first.serializedSize, "\(M.protoName): serializedSize \(first.serializedSize) ≠ \(encoded.count) bytes written"
        )
        let second: M
        do {
            second = try encoded.withUnsafeBytes { try M(serializedBytes: $0) }
        } catch {
            fail("\(M.protoName): its own encoding does not decode: \(error)\n  first: \(first)\n  bytes: \(hex(encoded))")
        }
        check(second == first, "\(M.protoName): decode(encode(x)) ≠ x\n  first:  \(first)\n  second: \(second)\n  bytes: \(hex(encoded))")
        let again = second.serializedBytes()
        check(again == encoded, "\(M.protoName): encoding is not stable\n  once:  \(hex(encoded))\n  twice: \(hex(again))")
    }
}

/// Every message type in CopsLinkMessages. Append only: the index is the first byte of every corpus file, which is
/// why this is not `MessageCatalog.types` in its order; `initialize` checks that the two hold the same types.
let codecs: [Codec] = [
    // Framing headers (proto/copslink/rpc/v1/frame.proto).
    codec(SettingsHeader.self), codec(RequestHeader.self), codec(Metadata.Entry.self), codec(EndHeader.self),
    codec(CancelHeader.self), codec(WindowUpdateHeader.self), codec(GoAwayHeader.self),
    // Built-in services: health, server info, conformance TestService.
    codec(HealthCheckRequest.self), codec(HealthCheckResponse.self),
    codec(ServerInfoRequest.self), codec(ServerInfoResponse.self), codec(ServiceInfo.self), codec(MethodInfo.self),
    codec(EmptyMessage.self), codec(EchoStatus.self), codec(SimpleRequest.self), codec(SimpleResponse.self),
    codec(StreamingInputCallRequest.self), codec(StreamingInputCallResponse.self), codec(ResponseParameters.self),
    codec(StreamingOutputCallRequest.self), codec(StreamingOutputCallResponse.self),
    // The account model (proto/copslink/v1/account.proto).
    codec(Address.self), codec(Equipment.self), codec(Customer.self), codec(Phone.self), codec(RespondingParty.self),
    codec(CentralStationParty.self), codec(Authority.self), codec(AccountAuthority.self), codec(Zone.self),
    codec(MappedZone.self), codec(TestCategory.self), codec(UserRef.self), codec(TestAuthorization.self),
    codec(TestSession.self), codec(TestStatus.self), codec(Account.self), codec(TestHistoryEntry.self),
    codec(TestResult.self), codec(Signal.self),
    // AccountService requests and responses (proto/copslink/v1/account_service.proto).
    codec(LinkAccountRequest.self), codec(LinkAccountResponse.self), codec(GetAccountRequest.self),
    codec(UnlinkAccountRequest.self), codec(UnlinkAccountResponse.self), codec(SyncCustomerRequest.self),
    codec(SyncCustomerResponse.self), codec(SearchAuthoritiesRequest.self), codec(SearchAuthoritiesResponse.self),
    codec(AuthorityToAdd.self), codec(AddAccountAuthoritiesRequest.self), codec(AddAccountAuthoritiesResponse.self),
    codec(RemoveAccountAuthorityRequest.self), codec(RemoveAccountAuthorityResponse.self),
    codec(SetCentralStationZonesRequest.self), codec(SetCentralStationZonesResponse.self),
    codec(ListTestCategoriesRequest.self), codec(ListTestCategoriesResponse.self), codec(GetTestStatusRequest.self),
    codec(PlaceOnTestRequest.self), codec(PlaceOnTestResponse.self), codec(PlaceOffTestRequest.self),
    codec(PlaceOffTestResponse.self), codec(RequestTestDataRequest.self), codec(TestDataPage.self),
    codec(SignalRejection.self), codec(ReportSignalsResponse.self)
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let codec = codecs[Int(data[0]) % codecs.count]
    codec.roundTrip(UnsafeRawBufferPointer(start: data + 1, count: size - 1))
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    precondition(Set(codecs.map(\.name)).count == codecs.count, "a message type is listed twice")
    let catalog = Set(MessageCatalog.types.map { $0.protoName })
    let missing = catalog.subtracting(codecs.map(\.name)).sorted()
    precondition(missing.isEmpty, "not fuzzed: \(missing); append them to `codecs`")
    precondition(catalog.isSuperset(of: codecs.map(\.name)), "`codecs` lists a type that MessageCatalog does not")
    writeCorpusIfAsked(writeCorpus(to:))
    return 0
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
}

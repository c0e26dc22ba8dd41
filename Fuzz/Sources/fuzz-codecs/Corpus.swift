import CopsLinkCore
// The seed corpus of fuzz-codecs: for every message type its empty encoding, the protoc-made reference vectors of
// Tests/CopsLinkMessagesTests/Vectors, the sub-messages of the full account vector, and a few requests built here.
// Each file is the selector byte followed by the encoded message. Written by
// `COPSLINK_FUZZ_MAKE_CORPUS=Fuzz/Corpus/fuzz-codecs Fuzz/.build/debug/fuzz-codecs` (scripts/fuzz --make-corpus).
import CopsLinkMessages
import Foundation
import FuzzSupport

private let vectorsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Tests/CopsLinkMessagesTests/Vectors")

/// Reference vector file → message type.
private let vectorTypes: [String: String] = [
    "account_full": Account.protoName, "cancel_header": CancelHeader.protoName, "end_header_ok": EndHeader.protoName,
    "end_header_unicode": EndHeader.protoName, "go_away": GoAwayHeader.protoName,
    "go_away_unknown_code": GoAwayHeader.protoName, "place_on_test_request": PlaceOnTestRequest.protoName,
    "request_header_metadata": RequestHeader.protoName, "request_header_minimal": RequestHeader.protoName,
    "settings": SettingsHeader.protoName, "signal": Signal.protoName, "test_data_page_results": TestDataPage.protoName,
    "window_update": WindowUpdateHeader.protoName
]

func writeCorpus(to directory: String) {
    var seeds: [(name: String, bytes: [UInt8])] = []
    func add(_ name: String, _ typeName: String, _ bytes: [UInt8]) {
        guard let index = codecs.firstIndex(where: { $0.name == typeName }) else { fail("no codec for \(typeName)") }
        seeds.append((name, [UInt8(index)] + bytes))
    }
    func add<M: RPCMessage>(_ name: String, _ message: M) { add(name, M.protoName, message.serializedBytes()) }

    for codec in codecs { add("empty-\(codec.name)", codec.name, []) }
    for (file, typeName) in vectorTypes.sorted(by: { $0.key < $1.key }) {
        let bytes = [UInt8](FileManager.default.contents(atPath: vectorsDirectory.appendingPathComponent("\(file).bin").path) ?? Data())
        add("vector-\(file)", typeName, bytes)
    }
    let accountBytes = [UInt8](
        FileManager.default.contents(atPath: vectorsDirectory.appendingPathComponent("account_full.bin").path) ?? Data())
    guard let account = try? accountBytes.withUnsafeBytes({ try Account(serializedBytes: $0) }) else {
        fail("account_full.bin does not decode")
    }
    if let customer = account.customer {
        add("customer", customer)
        if let address = customer.address { add("address", address) }
        if let equipment = customer.equipment.first { add("equipment", equipment) }
        add("link-account-request", LinkAccountRequest(requestID: "3f2c9a1e-0d7b-4c55-9e61-2b8f0c4d5a77", customer: customer))
        add("sync-customer-request", SyncCustomerRequest(customer: customer))
    }
    if let party = account.respondingParties.first {
        add("central-station-party", party)
        if let phone = party.phones.first { add("phone", phone) }
    }
    if let authority = account.authorities.first {
        add("account-authority", authority)
        if let inner = authority.authority { add("authority", inner) }
        add("add-authorities-response", AddAccountAuthoritiesResponse(added: [authority]))
    }
    if let mapped = account.mappedZones.first { add("mapped-zone", mapped) }
    if let zone = account.unmappedZones.first {
        add("zone", zone)
        add("set-zones-request", SetCentralStationZonesRequest(customerID: "cust-1001", zones: [zone]))
    }
    if let status = account.testStatus {
        add("test-status", status)
        if let session = status.current {
            add("test-session", session)
            add("place-on-test-response", PlaceOnTestResponse(session: session))
            if let category = session.category { add("test-category", category) }
        }
    }
    add("link-account-response", LinkAccountResponse(account: account, created: true))
    add("get-account-request", GetAccountRequest(customerID: "cust-1001"))
    add(
        "search-authorities-request", SearchAuthoritiesRequest(customerID: "cust-1001", type: AuthorityType(rawValue: 1), zip: "84601-1234")
    )
    add("authority-to-add", AuthorityToAdd(authorityID: "pd-1", permitNumber: "P-77"))
    add(
        "add-authorities-request",
        AddAccountAuthoritiesRequest(customerID: "cust-1001", authorities: [AuthorityToAdd(authorityID: "pd-1")], addedBy: "dealer"))
    add(
        "request-test-data",
        RequestTestDataRequest(
            customerID: "cust-1001", type: TestDataType(rawValue: 2), fromMs: 1_717_000_000_000, toMs: 1_717_200_000_000, pageSize: 100))
    add("signal-rejection", SignalRejection(index: 3, reason: "not Contact ID"))
    add(
        "report-signals-response",
        ReportSignalsResponse(received: 4, testResults: 2, storedAsHistory: 1, rejected: [SignalRejection(index: 3, reason: "bad")]))
    add("health-request", HealthCheckRequest(service: "copslink.rpc.v1.TestService"))
    add("health-response", HealthCheckResponse(status: .serving))
    let method = MethodInfo(name: "UnaryCall", kind: .unary, requestType: SimpleRequest.protoName, responseType: SimpleResponse.protoName)
    add("method-info", method)
    add("service-info", ServiceInfo(name: "copslink.rpc.v1.TestService", methods: [method]))
    add(
        "server-info-response",
        ServerInfoResponse(
            serverVersion: "0.1.0", protocolVersions: [1], services: [ServiceInfo(name: "copslink.rpc.v1.TestService", methods: [method])],
            limits: SettingsHeader(maxFrameSize: 4 << 20, maxConcurrentCalls: 100, initialWindowSize: 256 << 10, maxHeaderSize: 16 << 10)))
    add("echo-status", EchoStatus(code: 3, message: "bad \u{0} input"))
    add(
        "simple-request",
        SimpleRequest(responseSize: 10, payload: [1, 2, 3], responseStatus: EchoStatus(code: 5, message: "x"), sleepMillis: 1))
    add("simple-response", SimpleResponse(payload: [0, 1, 2], receivedSize: 3))
    add("streaming-input-request", StreamingInputCallRequest(payload: [9, 9]))
    add("streaming-input-response", StreamingInputCallResponse(aggregatedPayloadSize: 4, messageCount: 2))
    add("response-parameters", ResponseParameters(size: 3, intervalMillis: 2))
    add(
        "streaming-output-request",
        StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 1), ResponseParameters(size: 2)], payload: [7]))
    add("streaming-output-response", StreamingOutputCallResponse(payload: [0, 1]))
    add("metadata-entry", Metadata.Entry(key: "x-trace", value: .text("abc")))
    add("metadata-entry-binary", Metadata.Entry(key: "x-bin", value: .binary([0, 255])))

    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for seed in seeds {
        let path = "\(directory)/\(seed.name)"
        guard FileManager.default.createFile(atPath: path, contents: Data(seed.bytes)) else { fail("cannot write \(path)") }
    }
    print("fuzz-codecs: wrote \(seeds.count) seeds to \(directory)")
}

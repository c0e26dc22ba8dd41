import CCopsLinkProtos
import CProtobufC
import CopsLinkAccounts
import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import Foundation
import Testing

/// Issue 10, class 1: arithmetic on client-supplied numbers must not trap. Every integer field of every request
/// message of every service copslink-server registers gets the extreme values of its type, one field at a time,
/// on top of a request that reaches deep into its handler; the server must answer each call with a status (any
/// code) and keep serving. A trap kills the test process, so a crash fails the run.
@Suite("Integer sweep of request messages", .timeLimit(.minutes(2)))
struct RequestIntegerSweepTests {
    /// The services copslink-server registers, as protobuf-c descriptors (the method and field list comes from them).
    static var services: [ProtobufCServiceDescriptor] {
        [
            copslink__v1__account_service__descriptor, copslink__rpc__v1__health__descriptor,
            copslink__rpc__v1__server_info__descriptor, copslink__rpc__v1__test_service__descriptor
        ]
    }

    @Test func everyIntegerFieldOfEveryRequestGetsAStatusAndTheServerKeepsServing() async throws {
        try await withSweepServer { router, transport in
            var swept = Set<String>()
            var calls = 0
            let bases = Self.baseRequests(nowMs: SystemAccountClock().nowMs())
            for service in Self.services {
                let serviceName = String(cString: service.name)
                for method in UnsafeBufferPointer(start: service.methods, count: Int(service.n_methods)) {
                    let descriptor = MethodDescriptor(service: serviceName, method: String(cString: method.name))
                    swept.insert(descriptor.path)
                    let base = bases[descriptor.path] ?? []
                    var requests = [("base request", base)]
                    for field in IntegerField.all(in: method.input) {
                        requests += field.encodings(templates: Self.templates).map { ($0.label, base + $0.bytes) }
                    }
                    calls += requests.count
                    try await sweep(descriptor, requests, transport)
                    try await expectHealthy(transport, after: descriptor.path)
                }
            }
            #expect(calls > 100, "the descriptors yielded \(calls) calls")
            // A service registered without a descriptor in the list above would go unswept.
            #expect(Set(router.methods.map(\.descriptor.path)).subtracting(swept).isEmpty)
            try await expectHealthy(transport, after: "the whole sweep")
        }
    }

    /// The walk reaches top-level and nested fields of every integer type the schema uses.
    @Test func theDescriptorWalkFindsTopLevelAndNestedFields() {
        let requestTestData = withUnsafePointer(to: copslink__v1__request_test_data_request__descriptor) { IntegerField.all(in: $0) }
        #expect(requestTestData.map(\.description) == ["type (enum)", "from_ms (int64)", "to_ms (int64)", "page_size (uint32)"])
        let linkAccount = withUnsafePointer(to: copslink__v1__link_account_request__descriptor) { IntegerField.all(in: $0) }
        #expect(linkAccount.map(\.path).contains("responding_parties.phones.type"))
        // A nested field is wrapped in its enclosing sub-messages: field 3 (responding_parties), then 5 (phones).
        let phoneType = linkAccount.first { $0.path == "responding_parties.phones.type" }
        #expect(phoneType?.encodings().first { $0.label.hasSuffix("=1") }?.bytes == [0x1A, 0x04, 0x2A, 0x02, 0x10, 0x01])
    }

    /// Sends the requests 32 at a time, below the server's concurrent-call limit (each with a short deadline, so
    /// that sleeps asked for by the conformance service end the call with DEADLINE_EXCEEDED), and expects a status
    /// for each.
    private func sweep(_ method: MethodDescriptor, _ requests: [(String, [UInt8])], _ transport: any ClientTransport) async throws {
        for start in stride(from: 0, to: requests.count, by: 32) {
            let outcomes = await withTaskGroup(of: (String, String?).self) { group in
                for (label, bytes) in requests[start..<min(start + 32, requests.count)] {
                    group.addTask { (label, await Self.call(method, bytes, transport)) }
                }
                return await group.reduce(into: [(String, String?)]()) { $0.append($1) }
            }
            for (label, failure) in outcomes {
                #expect(failure == nil, "\(method.path) with \(label): \(failure ?? "")")
            }
        }
    }

    /// Nil when the call ended with a status from the server; otherwise what went wrong.
    private static func call(_ method: MethodDescriptor, _ bytes: [UInt8], _ transport: any ClientTransport) async -> String? {
        do {
            try await transport.withStreamingCall(method, options: CallOptions(timeout: .seconds(3))) { call in
                try await call.send(RawRequest(bytes: bytes))
                call.finishSending()
                while case .message = try await call.next() {}
            }
            return nil
        } catch let error as RPCError {
            // UNAVAILABLE means the connection went away: the server dropped it (or died) instead of answering.
            return error.code == .unavailable ? "\(error)" : nil
        } catch {
            return "not a status: \(error)"
        }
    }

    private func expectHealthy(_ transport: any ClientTransport, after what: String) async throws {
        let client = Health.Client(wrapping: RPCClient(transport: transport))
        let response = try await client.check(HealthCheckRequest(), options: CallOptions(timeout: .seconds(10)))
        #expect(response.status == .serving, "health after \(what)")
    }

    /// Requests that get deep into their handlers with the demo data: existing customers, a valid test category,
    /// a date range with data, a signal of a linked account. A method without an entry is swept from an empty
    /// message.
    static func baseRequests(nowMs: Int64) -> [String: [UInt8]] {
        let day: Int64 = 86_400_000
        let party = RespondingParty(id: "sweep-party", priority: 1, firstName: "Sweep", phones: [Phone(number: "801-555-0199")])
        let requests: [(MethodDescriptor, any RPCMessage)] = [
            (AccountService.Method.getAccount, GetAccountRequest(customerID: "demo-1")),
            (
                AccountService.Method.linkAccount,
                LinkAccountRequest(
                    customer: Customer(
                        id: "sweep-customer", firstName: "Sweep", address: Address(zip: "84601"),
                        equipment: [Equipment(id: "eq-1", zoneNumber: "001")]),
                    respondingParties: [party])
            ),
            (
                AccountService.Method.syncCustomer,
                SyncCustomerRequest(
                    customer: Customer(
                        id: "demo-2", companyName: "Sweep", address: Address(zip: "84058"),
                        equipment: [Equipment(id: "eq-1", zoneNumber: "001")]),
                    respondingParties: [party])
            ),
            (AccountService.Method.searchAuthorities, SearchAuthoritiesRequest(customerID: "demo-1", type: AuthorityType(rawValue: 1))),
            (
                AccountService.Method.setCentralStationZones,
                SetCentralStationZonesRequest(customerID: "demo-2", zones: [Zone(zoneNumber: "001")])
            ),
            (AccountService.Method.getTestStatus, GetTestStatusRequest(customerID: "demo-1")),
            (AccountService.Method.placeOnTest, PlaceOnTestRequest(customerID: "demo-4", categoryID: "service", durationHours: 1)),
            (
                AccountService.Method.requestTestData,
                RequestTestDataRequest(
                    customerID: "demo-3", type: TestDataType(rawValue: 2), fromMs: nowMs - 30 * day, toMs: nowMs)
            ),
            (
                AccountService.Method.reportSignals,
                Signal(
                    accountNumber: "22-8763", qualifier: 1, eventCode: "130", partition: 1, zoneOrUser: "001")
            ),
            (TestService.Method.unaryCall, SimpleRequest(responseSize: 1)),
            (TestService.Method.streamingOutputCall, StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 1)])),
            (TestService.Method.fullDuplexCall, StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 1)])),
            (TestService.Method.streamingInputCall, StreamingInputCallRequest(payload: [1, 2, 3]))
        ]
        return Dictionary(uniqueKeysWithValues: requests.map { ($0.0.path, $0.1.serializedBytes()) })
    }

    /// Valid sub-messages that a swept nested field is appended to (a repeated sub-message field gets a new element,
    /// which would otherwise fail validation before the handler uses the number).
    static let templates: [String: [UInt8]] = [
        "copslink.v1.RespondingParty": ProtobufBytes.field(1, "sweep-party-2") + ProtobufBytes.field(3, "Sweep"),
        "copslink.v1.Phone": ProtobufBytes.field(1, "801-555-0198"),
        "copslink.v1.Zone": ProtobufBytes.field(1, "002"),
        "copslink.rpc.v1.ResponseParameters": ProtobufBytes.field(1, varint: 1)
    ]
}

/// Request bytes sent as they are.
struct RawRequest: RPCMessage {
    static let protoName = "raw"
    var bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }
    init(serializedBytes bytes: UnsafeRawBufferPointer) { self.bytes = Array(bytes) }

    func serialize(into sink: inout some MessageSink) {
        sink.appendBytes(count: bytes.count) { $0.copyBytes(from: bytes) }
    }
}

/// A server as copslink-server assembles it (account service on SQLite with the demo data, authentication off as
/// with `--insecure-disable-auth`, conformance service, health, server info) on 127.0.0.1, and a client transport.
func withSweepServer<Result: Sendable>(
    _ body: (RPCRouter, any ClientTransport) async throws -> Result
) async throws -> Result {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("copslink-sweep-\(UUID().uuidString).sqlite").path
    defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
    let store = try SQLiteAccountStore(path: path)
    let clock = SystemAccountClock()
    try await DemoData.seedIfEmpty(store, nowMs: clock.nowMs())
    let expiry = TestExpiryScheduler(store: store, clock: clock, logger: quietLogger())
    var router = RPCRouter()
    AccountServiceImplementation(store: store, clock: clock, expiry: expiry).registerMethods(with: &router)
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.handshakeTimeout = .seconds(60)
    ConformanceService(maxResponseSize: configuration.limits.maxFrameSize).registerMethods(with: &router)
    HealthService(services: router.services + [Health.serviceName, ServerInfo.serviceName]).registerMethods(with: &router)
    ServerInfo.register(
        into: &router, serverVersion: "sweep", protocolVersions: Preface.supportedVersions, limits: configuration.limits.settingsHeader)
    let finalRouter = router
    return try await TCPServer.withServer(configuration: configuration, router: router, logger: quietLogger()) { server in
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port!)) { transport in
            try await body(finalRouter, transport)
        }
    }
}

import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import Foundation
import NIOCore
import Testing

/// Issue 10, class 6: errors and logs echoed client input. A 1 MB id became a 1 MB status message and 1 MB of log per
/// call; a newline in an id, a service name or a status message forged a separate line in the text log.
extension AdversarialTests {
    /// A line break, then what a forged line would look like, then a carriage return: if any of it reaches the log
    /// unescaped, a line of the log starts with the marker.
    static func forgery(_ marker: String) -> String { "x\n\(marker) critical copslink.server : forged\r\n\(marker)" }

    @Test(
        "6: megabyte values get short status messages and little log; newlines in ids, paths and metadata forge no log line; failed calls do not flood the log",
        arguments: ["text", "json"])
    func clientTextInErrorsAndLogs(logFormat: String) async throws {
        let server = try await AttackServer.start(logFormat: logFormat)
        defer { server.stop() }

        try await server.withAttack("6-client-text-\(logFormat)", growthBound: 32 * mebibyte) {
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port)) {
                transport in
                let client = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: server.demoToken))
                let health = Health.Client(wrapping: RPCClient(transport: transport))
                let options = CallOptions(timeout: .seconds(20))

                // A 1 MB value in every place that may quote it: each status message stays short, and so does the log.
                let logBefore = server.logSize()
                let huge = String(repeating: "i", count: mebibyte)
                var messages: [(String, String)] = []
                func record(_ what: String, _ body: () async throws -> Void) async {
                    do {
                        try await body()
                        messages.append((what, "OK"))
                    } catch let error as RPCError {
                        messages.append((what, error.message))
                    } catch {
                        messages.append((what, "\(error)"))
                    }
                }
                await record("GetAccount customer_id") {
                    _ = try await client.getAccount(GetAccountRequest(customerID: huge), options: options)
                }
                await record("LinkAccount zip") {
                    _ = try await client.linkAccount(
                        LinkAccountRequest(customer: Customer(id: "echo-1", lastName: "x", address: Address(zip: huge))), options: options)
                }
                await record("LinkAccount equipment zone") {
                    _ = try await client.linkAccount(
                        LinkAccountRequest(
                            customer: Customer(
                                id: "echo-2", lastName: "x", address: Address(zip: "84601"),
                                equipment: [Equipment(id: "e", zoneNumber: huge)])),
                        options: options)
                }
                await record("LinkAccount account_number") {
                    _ = try await client.linkAccount(
                        LinkAccountRequest(
                            customer: Customer(id: "echo-3", lastName: "x", address: Address(zip: "84601")), accountNumber: huge),
                        options: options)
                }
                await record("SearchAuthorities zip") {
                    _ = try await client.searchAuthorities(SearchAuthoritiesRequest(type: .police, zip: huge), options: options)
                }
                await record("PlaceOnTest category_id") {
                    _ = try await client.placeOnTest(
                        PlaceOnTestRequest(customerID: "demo-1", categoryID: huge, durationHours: 1), options: options)
                }
                await record("RemoveAccountAuthority id") {
                    _ = try await client.removeAccountAuthority(
                        RemoveAccountAuthorityRequest(customerID: "demo-1", accountAuthorityID: huge), options: options)
                }
                await record("Health service") { _ = try await health.check(HealthCheckRequest(service: huge), options: options) }
                await record("ReportSignals account_number") {
                    let signal = Signal(receiverNumber: "1", line: "1", accountNumber: huge, eventCode: "130")
                    let response = try await client.reportSignals(Messages([signal]), options: options)
                    if let reason = response.rejected.first?.reason { throw RPCError(code: .invalidArgument, message: reason) }
                }
                // The header limit (16 KiB) bounds a method path and metadata keys.
                let peer = try await AttackPeer.handshake(port: server.port)
                let longPath = "/copslink.v1.AccountService/" + String(repeating: "P", count: 15_000)
                var buffer = ByteBuffer()
                AttackFrames.request(1, longPath, message: GetAccountRequest(customerID: "demo-1"), token: server.demoToken, into: &buffer)
                try await peer.send(buffer)
                messages.append(("method path", try await peer.end(of: 1).statusMessage))
                buffer.clear()
                AttackFrames.request(
                    2, AccountService.Method.getAccount.path, message: GetAccountRequest(customerID: "demo-1"), token: server.demoToken,
                    metadata: [String(repeating: "K", count: 15_000): .text("v")], into: &buffer)
                try await peer.send(buffer)
                messages.append(("metadata key", try await peer.end(of: 2).statusMessage))

                for (what, message) in messages {
                    #expect(message.utf8.count <= 256, "\(what): a status message of \(message.utf8.count) bytes: \(message.prefix(120))…")
                }
                let logGrowth = server.logSize() - logBefore
                print(
                    "[adversarial] 6-client-text-\(logFormat): \(messages.count) calls with a 1 MB (or 15 KB) value logged \(logGrowth) bytes"
                )
                #expect(logGrowth < 64 * kibibyte, "calls with megabyte values logged \(logGrowth) bytes")

                // Forgery through every path that may log client text.
                let marker = "FORGED-\(UUID().uuidString.prefix(8))"
                let forged = Self.forgery(marker)
                _ = try? await client.getAccount(GetAccountRequest(customerID: forged), options: options)
                _ = try? await client.linkAccount(
                    LinkAccountRequest(customer: Customer(id: "forge-1", lastName: "x", address: Address(zip: forged))), options: options)
                _ = try? await client.linkAccount(
                    LinkAccountRequest(
                        customer: Customer(
                            id: forged, lastName: "x", address: Address(zip: "84601"),
                            equipment: [Equipment(id: forged, zoneNumber: forged)])),
                    options: options)
                _ = try? await client.placeOnTest(
                    PlaceOnTestRequest(customerID: "demo-1", categoryID: forged, durationHours: 1, comment: forged), options: options)
                _ = try? await client.searchAuthorities(SearchAuthoritiesRequest(type: .police, zip: forged), options: options)
                _ = try? await health.check(HealthCheckRequest(service: forged), options: options)
                _ = try? await client.reportSignals(
                    Messages([Signal(receiverNumber: forged, line: forged, accountNumber: forged, contactID: forged, eventCode: forged)]),
                    options: options)
                // Raw frames for what the Swift client would refuse to send: the method path, request-id metadata,
                // metadata keys and the authorization value.
                let raw: [(String, Metadata, String?)] = [
                    ("/copslink.v1.AccountService/GetAccount" + forged, [:], server.demoToken),
                    ("/copslink.v1.Account" + forged + "/GetAccount", [:], server.demoToken),
                    (AccountService.Method.getAccount.path, [Metadata.requestIDKey: .text(forged)], server.demoToken),
                    (AccountService.Method.getAccount.path, ["request-id": .text(forged)], server.demoToken),
                    (AccountService.Method.getAccount.path, [forged: .text("v")], server.demoToken),
                    (AccountService.Method.getAccount.path, ["authorization": .text("Bearer " + forged)], nil),
                    (AccountService.Method.getAccount.path, ["authorization": .text(forged)], nil)
                ]
                for (index, (path, metadata, token)) in raw.enumerated() {
                    let id = UInt64(3 + index)
                    buffer.clear()
                    AttackFrames.request(
                        id, path, message: GetAccountRequest(customerID: forged), token: token, metadata: metadata, into: &buffer)
                    try await peer.send(buffer)
                    _ = try? await peer.end(of: id)
                }
                await peer.close()

                // A flood of failing calls on one connection: 2,000 unknown customers, pipelined 50 at a time (under
                // the concurrency limit, so that every one reaches its handler and fails NOT_FOUND).
                let flooder = try await AttackPeer.handshake(port: server.port)
                let flooderAddress = "\(flooder.channel.localAddress?.port ?? -1)"
                var codes: [UInt32: Int] = [:]
                for batch in 0..<UInt64(40) {
                    buffer.clear()
                    for id in (batch * 50 + 1)...(batch * 50 + 50) {
                        AttackFrames.request(
                            id, AccountService.Method.getAccount.path, message: GetAccountRequest(customerID: "flood-\(id)"),
                            token: server.demoToken, into: &buffer)
                    }
                    try await flooder.send(buffer)
                    var ended = 0
                    while ended < 50, let frame = try await flooder.nextFrame() {
                        guard frame.type == .end else { continue }
                        ended += 1
                        codes[try EndHeader(from: frame.header).statusCode, default: 0] += 1
                    }
                }
                #expect(codes == [StatusCode.notFound.rawValue: 2_000], "\(codes)")
                await flooder.close()
                try await Task.sleep(for: .milliseconds(500))  // the log is written asynchronously

                let log = server.log()
                let lines = log.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                let forgedLines = lines.filter { $0.hasPrefix(marker) || $0.trimmingCharacters(in: .whitespaces).hasPrefix(marker) }
                #expect(
                    forgedLines.isEmpty,
                    "\(logFormat) log: \(forgedLines.count) forged lines, e.g. \(forgedLines.first.map(String.init) ?? "")")
                #expect(!log.contains("\r"), "\(logFormat) log: a raw carriage return")
                let malformed = lines.filter { !Self.isWellFormed(String($0), format: logFormat) }
                #expect(
                    malformed.isEmpty,
                    "\(logFormat) log: \(malformed.count) lines not in the log format, e.g. \(malformed.first.map { String($0.prefix(200)) } ?? "")"
                )
                let floodLines = lines.filter { $0.contains("127.0.0.1:\(flooderAddress)") }.count
                let markerLines = lines.filter { $0.contains(marker) }.count
                print(
                    "[adversarial] 6-client-text-\(logFormat): the marker is on \(markerLines) lines; 2,000 failed calls logged \(floodLines) lines"
                )
                #expect(floodLines < 200, "2,000 failed calls on one connection logged \(floodLines) lines")
            }
        }
    }

    /// A text line starts `<timestamp> <level> `; a JSON line is one JSON object.
    static func isWellFormed(_ line: String, format: String) -> Bool {
        if format == "json" {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) else { return false }
            return object is [String: Any]
        }
        let parts = line.split(separator: " ", maxSplits: 2)
        let levels: Set<Substring> = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        return parts.count == 3 && parts[0].first?.isNumber == true && parts[0].contains("T") && levels.contains(parts[1])
    }
}

import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Testing

/// Issue 10, class 1: arithmetic on client-supplied numbers must not trap. One `RequestTestData` with an extreme
/// `from_ms` and a read-only key used to kill the process.
extension AdversarialTests {
    /// Statuses that mean "the server could not cope", not "your request is wrong": none of them may answer a number.
    static let crashLikeCodes: Set<StatusCode> = [.unknown, .internalError, .unavailable, .dataLoss]

    @Test(
        "1: extreme from_ms/to_ms/page_size (read-only key), test durations, signal times and deadlines are answered with a status, and the server lives"
    )
    func extremeNumbers() async throws {
        let server = try await AttackServer.start()
        defer { server.stop() }
        let readOnly = try await server.createKey(dealer: "demo", roles: "read")
        var configuration = ClientConfiguration.forTesting(port: server.port)
        configuration.connectTimeout = .seconds(5)
        try await TCPClientTransport.withTransport(configuration: configuration) { transport in
            let reader = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: readOnly))
            let writer = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: server.demoToken))
            let options = CallOptions(timeout: .seconds(10))

            try await server.withAttack("1-arithmetic", growthBound: 24 * mebibyte) {
                // RequestTestData: every combination of extreme bounds and page sizes, both types. demo-3 has a year of
                // history; at most three pages are read, then the call is cancelled.
                let times: [Int64] = [.min, -1, 0, 1, .max]
                for type in [TestDataType.history, .results, TestDataType(rawValue: .max)] {
                    for from in times {
                        for to in times {
                            for pageSize: UInt32 in [0, 1, .max] {
                                let request = RequestTestDataRequest(
                                    customerID: "demo-3", type: type, fromMs: from, toMs: to, pageSize: pageSize)
                                do {
                                    try await reader.requestTestData(request, options: options) { pages in
                                        var read = 0
                                        for try await _ in pages {
                                            read += 1
                                            if read == 3 { break }
                                        }
                                    }
                                } catch let error as RPCError {
                                    try server.requireRunning()
                                    #expect(!Self.crashLikeCodes.contains(error.code), "RequestTestData \(request): \(error)")
                                    if error.code == .invalidArgument, type != TestDataType(rawValue: .max) {
                                        // A value out of range names its field; from after to is about the range.
                                        #expect(
                                            ["from_ms", "to_ms", "page_size", "range"].contains { names(error.message, $0) },
                                            "INVALID_ARGUMENT must name the field: \(error)")
                                    }
                                    #expect(error.message.utf8.count <= 256, "a short status message: \(error.message.utf8.count) bytes")
                                }
                            }
                        }
                    }
                }

                // PlaceOnTest: extreme durations and start times (demo-2, so that the honest client keeps demo-4).
                for hours: UInt32 in [0, 1, 720, 721, .max] {
                    for minutes: UInt32 in [0, 59, 60, .max] {
                        for effective in [Int64.min, -1, 0, .max] {
                            let request = PlaceOnTestRequest(
                                customerID: "demo-2", categoryID: "service", durationHours: hours, durationMinutes: minutes,
                                effectiveAtMs: effective)
                            do {
                                _ = try await writer.placeOnTest(request, options: options)
                                _ = try await writer.placeOffTest(PlaceOffTestRequest(customerID: "demo-2"), options: options)
                            } catch let error as RPCError {
                                try server.requireRunning()
                                #expect(
                                    !Self.crashLikeCodes.contains(error.code),
                                    "PlaceOnTest \(hours) h \(minutes) min at \(effective): \(error)")
                            }
                        }
                    }
                }

                // ReportSignals: extreme times, qualifiers and partitions in one stream.
                let signals = [Int64.min, -1, 0, .max].flatMap { time in
                    [UInt32(0), 1, .max].map { number in
                        Signal(
                            receiverNumber: "1", line: "1", accountNumber: "22-8762", receivedAtMs: time, qualifier: number,
                            eventCode: "130",
                            partition: number, zoneOrUser: "001")
                    }
                }
                do {
                    let response = try await writer.reportSignals(Messages(signals), options: options)
                    #expect(response.received == UInt32(signals.count))
                } catch let error as RPCError {
                    try server.requireRunning()
                    #expect(!Self.crashLikeCodes.contains(error.code), "ReportSignals: \(error)")
                }

                // Deadlines at the top of the range saturate (PROTOCOL.md §9): the call is answered.
                for timeout in [UInt64.max, UInt64(Int64.max), UInt64(Int64.max) + 1, 1] {
                    let peer = try await AttackPeer.handshake(port: server.port)
                    try await peer.send(AttackFrames.request(1, Health.Method.check, message: HealthCheckRequest(), timeoutMicros: timeout))
                    let end = try await peer.end(of: 1)
                    #expect(end.statusCode == 0 || end.statusCode == StatusCode.deadlineExceeded.rawValue, "timeout \(timeout): \(end)")
                    await peer.close()
                }
            }
        }
    }
}

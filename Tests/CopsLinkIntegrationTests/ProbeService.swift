import CopsLinkCore
import CopsLinkMessages
import Synchronization
import Testing

/// A test-only service whose handlers report what happened to them: whether they were cancelled, how many
/// messages they managed to write before flow control held them.
final class ProbeService: RegistrableRPCService, Sendable {
    static let serviceName = "copslink.test.Probe"
    static let hang = MethodDescriptor(service: serviceName, method: "Hang")
    static let flood = MethodDescriptor(service: serviceName, method: "Flood")
    static let stall = MethodDescriptor(service: serviceName, method: "Stall")
    static let fail = MethodDescriptor(service: serviceName, method: "Fail")
    static let nap = MethodDescriptor(service: serviceName, method: "Nap")
    static let hold = MethodDescriptor(service: serviceName, method: "Hold")

    /// What `Fail` throws: a status with details and trailing metadata.
    static let failure = RPCError(
        code: .failedPrecondition, message: "account is on test", details: [0x08, 0x96, 0x01, 0x00, 0xFF],
        metadata: ["x-reason": .text("on-test"), "x-blob-bin": .binary([0, 1, 2])])

    private let events = AsyncMessageQueue<String>()
    private let releases = AsyncMessageQueue<Void>()
    let written = Atomic<Int>(0)

    /// The next thing a handler reported ("started", "cancelled", "finished").
    func nextEvent() async throws -> String? { try await events.next() }

    /// Lets one `Hold` call answer.
    func release() { releases.push(()) }

    func registerMethods(with router: inout RPCRouter) {
        // Writes one message (when asked for a non-zero size), then waits until cancelled.
        router.registerServerStreaming(Self.hang) { [self] (request: SimpleRequest, writer: ResponseWriter<SimpleResponse>, _) in
            events.push("started")
            if request.responseSize > 0 { try await writer.write(SimpleResponse(payload: [1])) }
            do {
                try await Task.sleep(for: .seconds(60))
                events.push("finished")
            } catch {
                events.push(Task.isCancelled ? "cancelled" : "error")
                throw error
            }
            return [:]
        }
        // Reports "started", sleeps `sleepMillis`, answers `responseSize` bytes.
        router.registerUnary(Self.nap) { [self] (request: SimpleRequest, _) -> ServerResponse<SimpleResponse> in
            events.push("started")
            try await Task.sleep(for: .milliseconds(request.sleepMillis))
            return ServerResponse(message: SimpleResponse(payload: [UInt8](repeating: 1, count: Int(request.responseSize))))
        }
        // Reports "started", waits for `release()`, answers `responseSize` bytes: a call that ends when the test says.
        router.registerUnary(Self.hold) { [self] (request: SimpleRequest, _) -> ServerResponse<SimpleResponse> in
            events.push("started")
            _ = try await releases.next()
            return ServerResponse(message: SimpleResponse(payload: [UInt8](repeating: 1, count: Int(request.responseSize))))
        }
        router.registerUnary(Self.fail) { (_: EmptyMessage, _) -> ServerResponse<EmptyMessage> in throw Self.failure }
        // A client-streaming handler that never reads its requests, so no credit is ever granted back.
        router.registerClientStreaming(Self.stall) { (_: RequestStream<SimpleRequest>, _) -> ServerResponse<SimpleResponse> in
            try await Task.sleep(for: .seconds(60))
            return ServerResponse(message: SimpleResponse())
        }
        // Writes `responseSize` messages of 64 KiB each as fast as flow control allows.
        router.registerServerStreaming(Self.flood) { [self] (request: SimpleRequest, writer: ResponseWriter<SimpleResponse>, _) in
            let chunk = [UInt8](repeating: 7, count: 64 << 10)
            for _ in 0..<request.responseSize {
                try await writer.write(SimpleResponse(payload: chunk))
                written.add(1, ordering: .relaxed)
            }
            return [:]
        }
    }
}

/// Expects the probe's next event to be `expected`.
func expectEvent(_ probe: ProbeService, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let event = try await probe.nextEvent()
    #expect(event == expected, sourceLocation: sourceLocation)
}

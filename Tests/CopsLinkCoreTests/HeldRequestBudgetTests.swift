import CopsLinkCore
import Testing

/// Requests held by running handlers are bounded server-wide and per key: a request that would pass either bound is
/// refused before its handler runs, and what a handler held is given back when it returns.
@Suite struct HeldRequestBudgetTests {
    static let slow = MethodDescriptor(service: "copslink.test.EchoService", method: "Slow")

    @Test func largeRequestsCountPerKeyAndServerWideSmallOnesDoNot() throws {
        let budget = HeldRequestBudget(limit: 30_000, perKeyLimit: 12_000)
        #expect(try budget.hold(HeldRequestBudget.freeBytes, keyID: "a") == 0)
        let first = try budget.hold(10_000, keyID: "a")
        #expect(first == 10_000 && budget.usedBytes == 10_000 && budget.usedBytes(ofKey: "a") == 10_000)
        #expect(throws: RPCError.self) { try budget.hold(5_000, keyID: "a") }
        #expect(budget.usedBytes == 10_000 && budget.usedBytes(ofKey: "a") == 10_000, "a refusal counts nothing")
        let second = try budget.hold(11_000, keyID: "b")
        let third = try budget.hold(9_000, keyID: nil)  // a server without keys: only the server-wide bound
        do {
            _ = try budget.hold(5_000, keyID: "c")
            Issue.record("the server-wide bound was passed")
        } catch {
            #expect(error.code == .resourceExhausted)
            #expect(error.message.hasPrefix("the server's running calls hold 30000 bytes of requests; this request of 5000 bytes"))
        }
        #expect(budget.usedBytes(ofKey: "c") == 0, "a server-wide refusal gives the key's count back")
        budget.release(first, keyID: "a")
        budget.release(second, keyID: "b")
        budget.release(third, keyID: nil)
        #expect(budget.usedBytes == 0 && budget.usedBytes(ofKey: "a") == 0 && budget.usedBytes(ofKey: "b") == 0)
    }

    /// Handlers that wait until released, counting how many started.
    final class Gate: Sendable {
        let started = LockedBox(0)
        private let waiters = LockedBox<[CheckedContinuation<Void, Never>]>([])
        private let open = LockedBox(false)

        func wait() async {
            started.withLock { $0 += 1 }
            await withCheckedContinuation { continuation in
                let resumeNow = open.withLock { open in
                    if open { return true }
                    waiters.withLock { $0.append(continuation) }
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        func release() {
            open.withLock { $0 = true }
            for waiter in waiters.withLock({ waiters in
                defer { waiters = [] }
                return waiters
            }) { waiter.resume() }
        }
    }

    static func call(
        _ dispatcher: CallDispatcher, bytes: Int, key: String, onlyRequest: Bool = true
    ) async -> FakeServerCallStream {
        let request = [UInt8](repeating: 1, count: bytes)
        let stream = onlyRequest ? FakeServerCallStream(requests: [], onlyRequest: request) : FakeServerCallStream(requests: [request])
        var context = ServerContext(
            descriptor: slow, metadata: [:], deadline: nil, peer: "test", callID: 1, heldRequests: dispatcher.heldRequests)
        context.caller = Caller(tenant: "dealer", roles: [], keyID: key)
        await dispatcher.run(dispatcher.router.route(forPath: slow.path)!, stream: stream, context: context)
        return stream
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<2_000 where !condition() { try await Task.sleep(for: .milliseconds(1)) }
        #expect(condition())
    }

    @Test(.timeLimit(.minutes(1)), arguments: [true, false])
    func aRequestPastTheBudgetIsRefusedBeforeItsHandlerRunsAndGivenBackWhenItReturns(onlyRequest: Bool) async throws {
        let gate = Gate()
        var router = RPCRouter()
        router.registerUnary(Self.slow) { (request: RawMessage, _) in
            await gate.wait()
            return ServerResponse(message: RawMessage([UInt8(request.bytes.count % 256)]))
        }
        let budget = HeldRequestBudget(limit: 25_000, perKeyLimit: 15_000)
        let dispatcher = CallDispatcher(router: router, heldRequests: budget)
        let first = Task { await Self.call(dispatcher, bytes: 10_000, key: "a", onlyRequest: onlyRequest) }
        try await Self.waitUntil { gate.started.value == 1 }
        #expect(budget.usedBytes == 10_000)

        // The key's share: refused at once, its handler never started.
        let overKey = await Self.call(dispatcher, bytes: 6_000, key: "a", onlyRequest: onlyRequest)
        #expect(overKey.failure.value?.code == .resourceExhausted)
        #expect(overKey.failure.value?.message.hasPrefix("API key a's running calls hold 10000 bytes of requests") == true)
        let second = Task { await Self.call(dispatcher, bytes: 12_000, key: "b", onlyRequest: onlyRequest) }
        try await Self.waitUntil { gate.started.value == 2 }
        // The server's: 22,000 held, 5,000 more would pass 25,000.
        let overServer = await Self.call(dispatcher, bytes: 5_000, key: "c", onlyRequest: onlyRequest)
        #expect(overServer.failure.value?.message.hasPrefix("the server's running calls hold 22000 bytes") == true)
        #expect(gate.started.value == 2)
        // A small request is not counted: it runs whatever is held.
        let small = Task { await Self.call(dispatcher, bytes: 100, key: "c", onlyRequest: onlyRequest) }
        try await Self.waitUntil { gate.started.value == 3 }

        gate.release()
        for task in [first, second, small] { #expect(await task.value.failure.value == nil) }
        #expect(budget.usedBytes == 0 && budget.usedBytes(ofKey: "a") == 0 && budget.usedBytes(ofKey: "b") == 0)
        // Given back: the same request runs now.
        let again = await Self.call(dispatcher, bytes: 6_000, key: "a", onlyRequest: onlyRequest)
        #expect(again.failure.value == nil && again.outcomes.value == 1)
    }

    @Test func aRequestThatDoesNotDecodeGivesItsCountBack() async throws {
        var router = RPCRouter()
        router.registerUnary(Self.slow) { (request: RawMessage, _) in ServerResponse(message: request) }
        let budget = HeldRequestBudget(limit: 25_000, perKeyLimit: 25_000)
        let dispatcher = CallDispatcher(router: router, heldRequests: budget)
        let stream = FakeServerCallStream(requests: [], onlyRequest: [0xFF] + [UInt8](repeating: 0, count: 9_999))
        var context = ServerContext(
            descriptor: Self.slow, metadata: [:], deadline: nil, peer: "test", callID: 1, heldRequests: budget)
        context.caller = Caller(tenant: "dealer", roles: [], keyID: "a")
        await dispatcher.run(router.route(forPath: Self.slow.path)!, stream: stream, context: context)
        #expect(stream.failure.value?.code == .invalidArgument)
        #expect(budget.usedBytes == 0 && budget.usedBytes(ofKey: "a") == 0)
    }
}

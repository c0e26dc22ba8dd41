import CopsLinkCore
import Testing

@Suite struct AsyncMessageQueueTests {
    @Test func takeOnlyIfEndedTakesTheOneElementOfASuccessfullyEndedQueue() async throws {
        let open = AsyncMessageQueue<Int>()
        open.push(1)
        #expect(open.takeOnlyIfEnded() == nil)  // not ended: more may come
        open.finish(.success(()))
        #expect(try await open.next() == 1)

        let two = AsyncMessageQueue<Int>()
        two.push(1)
        two.push(2)
        two.finish(.success(()))
        #expect(two.takeOnlyIfEnded() == nil)  // not the only one
        #expect(try await two.next() == 1)
        #expect(try await two.next() == 2)

        let failed = AsyncMessageQueue<Int>()
        failed.push(1)
        failed.finish(.failure(RPCError(code: .cancelled, message: "gone")), deliveringBuffered: true)
        #expect(failed.takeOnlyIfEnded() == nil)  // the reader must see the failure

        let one = AsyncMessageQueue<Int>()
        one.push(7)
        one.finish(.success(()))
        #expect(one.takeOnlyIfEnded() == 7)
        #expect(one.takeOnlyIfEnded() == nil)
        #expect(try await one.next() == nil)

        let empty = AsyncMessageQueue<Int>()
        empty.finish(.success(()))
        #expect(empty.takeOnlyIfEnded() == nil)
    }

    @Test func pushBeforeNextIsBufferedInOrder() async throws {
        let queue = AsyncMessageQueue<Int>()
        queue.push(1)
        queue.push(2)
        queue.push(3)
        #expect(try await queue.next() == 1)
        #expect(try await queue.next() == 2)
        #expect(try await queue.next() == 3)
        #expect(!queue.isFinished)
    }

    @Test func nextBeforePushSuspendsAndResumes() async throws {
        let queue = AsyncMessageQueue<String>()
        let finished = LockedBox(false)
        let consumer = Task {
            let value = try await queue.next()
            finished.value = true
            return value
        }
        // Give the consumer time to reach its suspension point; it must still be waiting.
        for _ in 0..<20 {
            await Task.yield()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(finished.value == false)
        queue.push("hello")
        #expect(try await consumer.value == "hello")
        #expect(finished.value == true)

        // A second suspended read, resumed by the next push.
        let second = Task { try await queue.next() }
        try await Task.sleep(for: .milliseconds(20))
        queue.push("world")
        #expect(try await second.value == "world")
    }

    @Test func successfulFinishDrainsBufferedThenReturnsNil() async throws {
        let queue = AsyncMessageQueue<Int>()
        queue.push(10)
        queue.push(20)
        queue.finish(.success(()))
        #expect(queue.isFinished)
        #expect(try await queue.next() == 10)
        #expect(try await queue.next() == 20)
        #expect(try await queue.next() == nil)
        #expect(try await queue.next() == nil)
    }

    @Test func successfulFinishResumesAWaitingConsumerWithNil() async throws {
        let queue = AsyncMessageQueue<Int>()
        let consumer = Task { try await queue.next() }
        try await Task.sleep(for: .milliseconds(20))
        queue.finish(.success(()))
        #expect(try await consumer.value == nil)
    }

    @Test func failedFinishDropsBufferedAndThrows() async throws {
        let queue = AsyncMessageQueue<Int>()
        queue.push(1)
        queue.push(2)
        let failure = RPCError(code: .cancelled, message: "call was cancelled")
        queue.finish(.failure(failure))
        #expect(queue.isFinished)
        let error = await #expect(throws: RPCError.self) { try await queue.next() }
        #expect(error == failure)
        // Stays failed.
        let again = await #expect(throws: RPCError.self) { try await queue.next() }
        #expect(again == failure)
    }

    @Test func failedFinishResumesAWaitingConsumerWithTheError() async throws {
        let queue = AsyncMessageQueue<Int>()
        let consumer = Task { () async throws(RPCError) -> Int? in try await queue.next() }
        try await Task.sleep(for: .milliseconds(20))
        let failure = RPCError(code: .deadlineExceeded, message: "deadline passed", details: [9], metadata: ["k": .text("v")])
        queue.finish(.failure(failure))
        let result = await consumer.result
        #expect(throws: failure) { try result.get() }
    }

    @Test func pushAfterFinishIsIgnored() async throws {
        let queue = AsyncMessageQueue<Int>()
        queue.push(1)
        queue.finish(.success(()))
        queue.push(2)
        #expect(try await queue.next() == 1)
        #expect(try await queue.next() == nil)

        let failed = AsyncMessageQueue<Int>()
        failed.finish(.failure(RPCError(code: .unavailable, message: "gone")))
        failed.push(3)
        await #expect(throws: RPCError(code: .unavailable, message: "gone")) { try await failed.next() }
    }

    @Test func onlyTheFirstFinishCounts() async throws {
        let queue = AsyncMessageQueue<Int>()
        queue.push(5)
        queue.finish(.success(()))
        queue.finish(.failure(RPCError(code: .internalError, message: "late")))
        #expect(try await queue.next() == 5)
        #expect(try await queue.next() == nil)

        let failed = AsyncMessageQueue<Int>()
        failed.finish(.failure(RPCError(code: .aborted, message: "first")))
        failed.finish(.success(()))
        await #expect(throws: RPCError(code: .aborted, message: "first")) { try await failed.next() }
    }

    @Test func orderSurvivesBufferCompaction() async throws {
        let queue = AsyncMessageQueue<Int>()
        var received: [Int] = []
        for value in 0..<100 { queue.push(value) }
        for _ in 0..<70 { received.append(try #require(try await queue.next())) }
        for value in 100..<300 { queue.push(value) }
        for _ in 0..<65 { received.append(try #require(try await queue.next())) }
        for value in 300..<310 { queue.push(value) }
        queue.finish(.success(()))
        while let value = try await queue.next() { received.append(value) }
        #expect(received == Array(0..<310))
    }

    @Test func producerAndConsumerOnDifferentTasks() async throws {
        let queue = AsyncMessageQueue<Int>()
        let consumer = Task {
            var values: [Int] = []
            while let value = try await queue.next() { values.append(value) }
            return values
        }
        for value in 0..<1000 {
            queue.push(value)
            if value % 100 == 0 { await Task.yield() }
        }
        queue.finish(.success(()))
        #expect(try await consumer.value == Array(0..<1000))
    }

    @Test func cancellingAWaitingReaderThrowsCancelledAndLeavesTheQueueOpen() async throws {
        let queue = AsyncMessageQueue<Int>()
        let reader = Task { () async throws(RPCError) -> Int? in try await queue.next() }
        try await Task.sleep(for: .milliseconds(20))
        reader.cancel()
        let result = await reader.result
        #expect(throws: RPCError.self) { try result.get() }
        if case .failure(let error) = result { #expect((error as? RPCError)?.code == .cancelled) }
        #expect(!queue.isFinished)
        // A new reader still gets what is pushed later.
        queue.push(7)
        #expect(try await queue.next() == 7)
    }

    @Test func readerInACancelledTaskStillGetsBufferedElementsFirst() async throws {
        let queue = AsyncMessageQueue<Int>()
        queue.push(1)
        let reader = Task { () async -> [Result<Int?, RPCError>] in
            withUnsafeCurrentTask { $0?.cancel() }
            var results: [Result<Int?, RPCError>] = []
            for _ in 0..<2 {
                do throws(RPCError) { results.append(.success(try await queue.next())) } catch { results.append(.failure(error)) }
            }
            return results
        }
        let results = await reader.value
        #expect(results.count == 2)
        #expect(try results[0].get() == 1)
        #expect(throws: RPCError.self) { try results[1].get() }
        if case .failure(let error) = results[1] { #expect(error.code == .cancelled) }
        #expect(!queue.isFinished)
    }
}

/// `elementsAtEnd`: one wait, for the end or a second element. A broken rule may leave a reader waiting: the time
/// limit turns that into a failure.
@Suite(.timeLimit(.minutes(1))) struct MessageQueueElementsAtEndTests {
    /// What `elementsAtEnd` returned (a tuple returned from a typed-throws task crashes Swift 6.3's SIL generation).
    struct AtEnd: Sendable, Equatable {
        var first: Int?
        var count: Int
    }

    static func read(_ queue: AsyncMessageQueue<Int>) async throws(RPCError) -> AtEnd {
        let (first, count) = try await queue.elementsAtEnd()
        return AtEnd(first: first, count: count)
    }

    /// `task`'s value, the task cancelled if the test is (at its time limit): a reader that a broken rule leaves
    /// waiting then fails the test instead of hanging the run.
    static func value<T: Sendable>(of task: Task<T, any Error>) async throws -> T {
        try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    @Test func aPushDoesNotResumeAReaderWaitingForTheEnd() async throws {
        let queue = AsyncMessageQueue<Int>()
        let returned = LockedBox(false)
        let reader = Task { () async throws(RPCError) -> AtEnd in
            defer { returned.value = true }
            return try await Self.read(queue)
        }
        try await Task.sleep(for: .milliseconds(20))
        queue.push(1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(returned.value == false, "the push resumed the reader before the end")
        queue.push(2)
        queue.finish(.success(()))
        #expect(try await Self.value(of: reader) == AtEnd(first: 1, count: 2))
        #expect(try await queue.next() == nil, "what was there was taken")
    }

    /// Elements not taken grant no flow-control credit: a sender of more than one could wait for credit while the
    /// reader waits for the end, so a second element ends the wait.
    @Test func aSecondElementEndsTheWaitBeforeTheEnd() async throws {
        let queue = AsyncMessageQueue<Int>()
        let reader = Task { () async throws(RPCError) -> AtEnd in try await Self.read(queue) }
        try await Task.sleep(for: .milliseconds(20))
        queue.push(1)
        queue.push(2)
        #expect(try await Self.value(of: reader) == AtEnd(first: 1, count: 2))
        #expect(!queue.isFinished)
    }

    @Test func anEndedQueueAnswersAtOnce() async throws {
        let one = AsyncMessageQueue<Int>()
        one.push(7)
        one.finish(.success(()))
        let (first, count) = try await one.elementsAtEnd()
        #expect(first == 7)
        #expect(count == 1)

        let empty = AsyncMessageQueue<Int>()
        empty.finish(.success(()))
        let (none, zero) = try await empty.elementsAtEnd()
        #expect(none == nil)
        #expect(zero == 0)
    }

    @Test func aFailedEndThrowsItsErrorEvenWithElementsDelivered() async throws {
        let queue = AsyncMessageQueue<Int>()
        let reader = Task { () async throws(RPCError) -> AtEnd in try await Self.read(queue) }
        try await Task.sleep(for: .milliseconds(20))
        queue.push(1)
        queue.finish(.failure(RPCError(code: .notFound, message: "gone")), deliveringBuffered: true)
        let result = await reader.result
        guard case .failure(let error) = result else {
            Issue.record("expected NOT_FOUND, got \(result)")
            return
        }
        #expect((error as? RPCError)?.code == .notFound)
    }

    /// Cancelled while it waits: CANCELLED, the queue stays open, and a later `next` is resumed by a push again.
    @Test func cancellingAReaderWaitingForTheEndLeavesTheQueueUsable() async throws {
        let queue = AsyncMessageQueue<Int>()
        let reader = Task { () async throws(RPCError) -> AtEnd in try await Self.read(queue) }
        try await Task.sleep(for: .milliseconds(20))
        reader.cancel()
        let result = await reader.result
        guard case .failure(let error) = result else {
            Issue.record("expected CANCELLED, got \(result)")
            return
        }
        #expect((error as? RPCError)?.code == .cancelled)
        #expect(!queue.isFinished)
        let next = Task { () async throws(RPCError) -> Int? in try await queue.next() }
        try await Task.sleep(for: .milliseconds(20))
        queue.push(5)
        #expect(try await Self.value(of: next) == 5)
    }
}

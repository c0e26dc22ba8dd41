import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkTestSupport
import Dispatch
import GRDB
import Testing

@testable import CopsLinkSQLite

/// Group commit (`SQLiteGroupCommit`): concurrent writes share one transaction, each body in its own savepoint.
/// To line writes up in one batch without timing, a first write holds the writer (its body waits on a semaphore, on
/// GRDB's writer thread) until the others have queued behind it.
@Suite("Group commit of concurrent writes")
struct GroupCommitTests {
    struct BodyFailed: Error, Equatable { let index: Int }

    /// A fresh store, closed and deleted after `body`. Its batches are bounded by count only, unless a test gives
    /// `maximumWriteBatchDuration`: the writes a test lines up share a batch however slowly their bodies run.
    static func withStore<Result>(
        maximumWriteBatchDuration: Duration = .seconds(3600), _ body: (SQLiteAccountStore) async throws -> Result
    ) async throws -> Result {
        let path = temporaryDatabasePath("copslink-group-commit")
        defer { removeDatabase(at: path) }
        let store = try SQLiteAccountStore(path: path, maximumWriteBatchDuration: maximumWriteBatchDuration)
        defer { try? store.close() }
        return try await body(store)
    }

    /// Starts a write that holds the writer until `release` is signalled, and returns once its body runs. Writes
    /// queued meanwhile join its batch once its body returns.
    ///
    /// Callers signal `release` on every way out (`defer`): the store's `close()` waits for the writer, so a test
    /// that threw while the writer was held blocked a thread of the cooperative pool for good, and two such tests hung
    /// the whole run.
    static func holdWriter(_ store: SQLiteAccountStore, release: DispatchSemaphore) async throws -> Task<Void, any Error> {
        let running = LockedBox(false)
        let holder = Task {
            try await store.write(.allDealers) { transaction in
                running.withLock { $0 = true }
                release.wait()
                try transaction.saveTestCategories([TestCategory(id: "holder")])
            }
        }
        try await waitUntil("the holding write runs") { running.value }
        return holder
    }

    /// Holds GRDB's writer queue itself, outside the group commit, until `release` is signalled: writes queued
    /// meanwhile make a batch of their own. The same rule about `release` as `holdWriter`'s.
    static func holdWriterQueue(_ store: SQLiteAccountStore, release: DispatchSemaphore) async throws {
        let running = LockedBox(false)
        store.pool.asyncWriteWithoutTransaction { _ in
            running.withLock { $0 = true }
            release.wait()
        }
        try await waitUntil("the writer queue is held") { running.value }
    }

    /// Starts `count` writes of test categories `<prefix>0`… of all dealers, and returns once they are queued behind
    /// a held writer.
    static func queueCategoryWrites(_ store: SQLiteAccountStore, count: Int, prefix: String) async throws -> Task<Void, any Error> {
        let writers = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await store.write(.allDealers) { try $0.saveTestCategories([TestCategory(id: "\(prefix)\(index)")]) }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await waitUntil("\(count) writes queue") { store.commits.queuedWrites == count }
        return writers
    }

    /// Polls `condition` (no timing asserted: the deadline only ends a test that would otherwise hang).
    static func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let started = ContinuousClock.now
        while !condition() {
            try #require(ContinuousClock.now - started < .seconds(60), "waiting for \(what)")
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    static func categoryIDs(_ store: SQLiteAccountStore) async throws -> Set<String> {
        Set(try await store.read(.allDealers) { try $0.testCategories().map(\.id) })
    }

    /// The commit a write waits for is synced to disk (`synchronous = FULL`) on the connection that commits: GRDB's
    /// WAL set-up sets NORMAL on it after the connection's own set-up ran, under which a commit is not synced.
    @Test func theWriterCommitsWithSynchronousFull() async throws {
        try await Self.withStore { store in
            let setting = try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
            #expect(setting == SQLiteAccountStore.synchronousFull)
        }
    }

    /// Savepoint journals stay in memory (`temp_store = MEMORY`, 2): spilled past 64 KiB, they were a temporary file
    /// created per commit and took three quarters of the writer's `pwrite` calls under LinkAccounts.
    @Test func theWriterKeepsSavepointJournalsInMemory() async throws {
        try await Self.withStore { store in
            let setting = try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA temp_store") }
            #expect(setting == 2)
        }
    }

    @Test func concurrentWritesLandAndEachCallerGetsItsOwnResult() async throws {
        try await Self.withStore { store in
            let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for index in 0..<100 {
                    group.addTask {
                        let answer = try await store.write(.allDealers) { transaction in
                            try transaction.saveTestCategories([TestCategory(id: "c\(index)", description: "written by \(index)")])
                            return "answer \(index)"
                        }
                        return (index, answer)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(results.count == 100)
            #expect(results.allSatisfy { $0.value == "answer \($0.key)" }, "each caller gets its own body's result")
            let stored = try await Self.categoryIDs(store)
            #expect((0..<100).allSatisfy { stored.contains("c\($0)") }, "every write landed")
            #expect(store.writeStatistics.writes >= 100)
        }
    }

    @Test func writesQueuedBehindABusyWriterCommitTogether() async throws {
        try await Self.withStore { store in
            let before = store.writeStatistics
            let release = DispatchSemaphore(value: 0)
            let holder = try await Self.holdWriter(store, release: release)
            defer { release.signal() }  // a failed wait below still lets the store close
            let writers = try await Self.queueCategoryWrites(store, count: 20, prefix: "q")
            release.signal()
            try await holder.value
            try await writers.value
            let after = store.writeStatistics
            #expect(after.writes - before.writes == 21)
            #expect(after.transactions - before.transactions == 1, "the holder's batch takes the 20: \(before) → \(after)")
            #expect(after.largestBatch == 21)
            let stored = try await Self.categoryIDs(store)
            #expect((0..<20).allSatisfy { stored.contains("q\($0)") })
        }
    }

    @Test func aFailingBodyIsUndoneAloneAndItsCallerGetsItsError() async throws {
        try await Self.withStore { store in
            let release = DispatchSemaphore(value: 0)
            let holder = try await Self.holdWriter(store, release: release)
            defer { release.signal() }  // a failed wait below still lets the store close
            let outcomes = Task {
                await withTaskGroup(of: (Int, Result<Int, BodyFailed>).self) { group in
                    for index in 0..<10 {
                        group.addTask {
                            do {
                                return (
                                    index,
                                    .success(
                                        try await store.write(.allDealers) { transaction in
                                            try transaction.saveTestCategories([TestCategory(id: "f\(index)")])
                                            if index == 4 { throw BodyFailed(index: index) }
                                            return index
                                        })
                                )
                            } catch {
                                return (index, .failure(error as? BodyFailed ?? BodyFailed(index: -1)))
                            }
                        }
                    }
                    return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
                }
            }
            try await Self.waitUntil("10 writes queue") { store.commits.queuedWrites == 10 }
            let before = store.writeStatistics
            release.signal()
            try await holder.value
            let results = await outcomes.value
            #expect(results[4] == .failure(BodyFailed(index: 4)), "the failing body's caller gets its own error")
            #expect((0..<10).filter { $0 != 4 }.allSatisfy { results[$0] == .success($0) }, "\(results)")
            let stored = try await Self.categoryIDs(store)
            #expect(!stored.contains("f4"), "the failing body's write is rolled back")
            #expect((0..<10).filter { $0 != 4 }.allSatisfy { stored.contains("f\($0)") }, "the other bodies' writes are kept")
            let after = store.writeStatistics
            #expect(
                after.transactions - before.transactions <= 1 && after.largestBatch == 10, "the nine shared the holder's commit: \(after)")
        }
    }

    /// The bodies of a batch run in the order they queued, each seeing the writes of those before it (and not the
    /// write of one that failed).
    @Test func aLaterBodySeesTheEarlierBodiesOfItsBatch() async throws {
        try await Self.withStore { store in
            let release = DispatchSemaphore(value: 0)
            let holder = try await Self.holdWriter(store, release: release)
            defer { release.signal() }  // a failed wait below still lets the store close
            let first = Task { try await store.write(.allDealers) { try $0.saveTestCategories([TestCategory(id: "first")]) } }
            try await Self.waitUntil("the first write queues") { store.commits.queuedWrites == 1 }
            let failing = Task {
                try await store.write(.allDealers) { transaction in
                    try transaction.saveTestCategories([TestCategory(id: "undone")])
                    throw BodyFailed(index: 1)
                }
            }
            try await Self.waitUntil("the failing write queues") { store.commits.queuedWrites == 2 }
            let later = Task {
                try await store.write(.allDealers) { transaction in
                    (try transaction.testCategory(id: "first") != nil, try transaction.testCategory(id: "undone") != nil)
                }
            }
            try await Self.waitUntil("the later write queues") { store.commits.queuedWrites == 3 }
            release.signal()
            try await holder.value
            try await first.value
            await #expect(throws: BodyFailed(index: 1)) { try await failing.value }
            let (seesFirst, seesUndone) = try await later.value
            #expect(seesFirst, "a later body sees an earlier body's write")
            #expect(!seesUndone, "a later body does not see a failed body's write")
        }
    }

    /// Dealers take turns: a write of one dealer queued behind ten of another's runs after one of them, not after all
    /// ten, and each dealer's writes run in the order they queued.
    @Test func dealersTakeTurnsAndEachDealersWritesKeepTheirOrder() async throws {
        try await Self.withStore { store in
            let release = DispatchSemaphore(value: 0)
            let holder = try await Self.holdWriter(store, release: release)
            defer { release.signal() }  // a failed wait below still lets the store close
            let order = LockedBox([String]())
            func write(_ owner: String, _ index: Int) -> Task<Void, any Error> {
                Task { try await store.write(.dealer(owner)) { _ in order.withLock { $0.append("\(owner)\(index)") } } }
            }
            var writes = [Task<Void, any Error>]()
            for index in 0..<10 {
                writes.append(write("flood", index))
                try await Self.waitUntil("flood write \(index) queues") { store.commits.queuedWrites == index + 1 }
            }
            writes.append(write("other", 0))
            try await Self.waitUntil("the other owner's write queues") { store.commits.queuedWrites == 11 }
            writes.append(write("third", 0))
            try await Self.waitUntil("the third owner's write queues") { store.commits.queuedWrites == 12 }
            release.signal()
            try await holder.value
            for write in writes { try await write.value }
            #expect(order.value == ["flood0", "other0", "third0"] + (1..<10).map { "flood\($0)" }, "\(order.value)")
        }
    }

    /// A batch takes no further body once its bodies have run `maximumWriteBatchDuration`: with none at all, each
    /// write queued behind the writer commits alone.
    @Test func aBatchTakesNoFurtherBodyPastItsDuration() async throws {
        try await Self.withStore(maximumWriteBatchDuration: .zero) { store in
            let release = DispatchSemaphore(value: 0)
            let holder = try await Self.holdWriter(store, release: release)
            defer { release.signal() }  // a failed wait below still lets the store close
            let writers = try await Self.queueCategoryWrites(store, count: 5, prefix: "d")
            let before = store.writeStatistics
            release.signal()
            try await holder.value
            try await writers.value
            let after = store.writeStatistics
            #expect(after.writes - before.writes == 6)
            #expect(after.transactions - before.transactions == 6, "each write in a transaction of its own: \(before) → \(after)")
            #expect(after.largestBatch == 1)
            let stored = try await Self.categoryIDs(store)
            #expect((0..<5).allSatisfy { stored.contains("d\($0)") })
        }
    }

    /// A COMMIT that fails (here a deferred foreign key, checked only at COMMIT) fails every write of its batch, and
    /// none of them is written.
    @Test func aFailedCommitFailsEveryWriteOfItsBatch() async throws {
        try await Self.withStore { store in
            try await store.commits.write(owner: "") { db in
                try db.execute(sql: "CREATE TABLE parent (id TEXT PRIMARY KEY); CREATE TABLE child (parent_id TEXT REFERENCES parent(id))")
            }
            try await store.write(.allDealers) { try $0.saveTestCategories([TestCategory(id: "before")]) }
            let release = DispatchSemaphore(value: 0)
            try await Self.holdWriterQueue(store, release: release)
            defer { release.signal() }  // a failed wait below still lets the store close
            let writes = Task {
                await withTaskGroup(of: (Int, (any Error)?).self) { group in
                    for index in 0..<5 {
                        group.addTask {
                            do {
                                try await store.commits.write(owner: "") { db in
                                    if index == 2 {
                                        try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
                                        try db.execute(sql: "INSERT INTO child (parent_id) VALUES ('missing')")
                                    } else {
                                        try db.execute(sql: "INSERT INTO parent (id) VALUES (?)", arguments: ["p\(index)"])
                                    }
                                }
                                return (index, nil)
                            } catch {
                                return (index, error)
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }
            try await Self.waitUntil("5 writes queue") { store.commits.queuedWrites == 5 }
            release.signal()
            let errors = await writes.value
            #expect(errors.count == 5)
            for (index, error) in errors {
                let code = (error as? DatabaseError)?.extendedResultCode
                #expect(code == .SQLITE_CONSTRAINT_FOREIGNKEY, "write \(index) fails with the commit's error: \(String(describing: error))")
            }
            let parents = try await store.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM parent") }
            #expect(parents == 0, "nothing of the failed batch is written")
            #expect(try await Self.categoryIDs(store).contains("before"), "the write before it stays committed")
        }
    }
}

/// Writes whose callers are gone leave the queue instead of keeping the writer busy.
@Suite("Group commit: cancelled writes")
struct GroupCommitCancellationTests {
    @Test func aWriteCancelledWhileQueuedIsNotRunAndTheOthersCommit() async throws {
        try await GroupCommitTests.withStore { store in
            let release = DispatchSemaphore(value: 0)
            let holder = try await GroupCommitTests.holdWriter(store, release: release)
            defer { release.signal() }  // a failed wait below still lets the store close
            let ran = LockedBox(Set<Int>())
            let writes = (0..<6).map { index in
                Task {
                    try await store.write(.allDealers) { transaction in
                        ran.withLock { _ = $0.insert(index) }
                        try transaction.saveTestCategories([TestCategory(id: "w\(index)")])
                    }
                }
            }
            try await GroupCommitTests.waitUntil("6 writes queue") { store.commits.queuedWrites == 6 }
            writes[1].cancel()
            writes[4].cancel()
            // They leave the queue while the writer is still held: their callers do not wait for a batch.
            try await GroupCommitTests.waitUntil("the cancelled writes leave the queue") { store.commits.queuedWrites == 4 }
            release.signal()
            try await holder.value
            for index in [1, 4] {
                await #expect(throws: CancellationError.self, "write \(index)") { try await writes[index].value }
            }
            for index in [0, 2, 3, 5] { try await writes[index].value }
            #expect(ran.value == [0, 2, 3, 5])
            let stored = try await GroupCommitTests.categoryIDs(store)
            #expect(stored.isSuperset(of: ["w0", "w2", "w3", "w5"]) && stored.isDisjoint(with: ["w1", "w4"]))
        }
    }

    @Test func aWriteOfACancelledTaskIsNotQueued() async throws {
        try await GroupCommitTests.withStore { store in
            let ran = LockedBox(false)
            let write = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await store.write(.allDealers) { _ in ran.withLock { $0 = true } }
            }
            await #expect(throws: CancellationError.self) { try await write.value }
            #expect(!ran.value)
            #expect(store.commits.queuedWrites == 0)
            // The queue still works.
            try await store.write(.allDealers) { try $0.saveTestCategories([TestCategory(id: "after")]) }
            #expect(try await GroupCommitTests.categoryIDs(store).contains("after"))
        }
    }

    /// A batch left with only cancelled writes ends the drain: the next write still runs.
    @Test func aQueueOfOnlyCancelledWritesDrains() async throws {
        try await GroupCommitTests.withStore { store in
            let release = DispatchSemaphore(value: 0)
            let holder = try await GroupCommitTests.holdWriter(store, release: release)
            defer { release.signal() }  // a failed wait below still lets the store close
            let writes = (0..<100).map { index in
                Task { try await store.write(.allDealers) { try $0.saveTestCategories([TestCategory(id: "x\(index)")]) } }
            }
            try await GroupCommitTests.waitUntil("100 writes queue") { store.commits.queuedWrites == 100 }
            for write in writes { write.cancel() }
            try await GroupCommitTests.waitUntil("the cancelled writes leave the queue") { store.commits.queuedWrites == 0 }
            release.signal()
            try await holder.value
            for write in writes { await #expect(throws: CancellationError.self) { try await write.value } }
            try await store.write(.allDealers) { try $0.saveTestCategories([TestCategory(id: "later")]) }
            let stored = try await GroupCommitTests.categoryIDs(store)
            #expect(stored.contains("later") && !stored.contains { $0.hasPrefix("x") })
        }
    }
}

@_spi(ConnectionHarness) import CopsLinkTransport
import Dispatch
import NIOPosix
import Synchronization
import Testing

/// `ThreadPoolTurns` on a pool of its own: keys take turns, each key's jobs keep their order.
@Suite("Thread pool turns")
struct ThreadPoolTurnsTests {
    /// One worker, held by a job of key A while A queues five more and then B one: B's job runs second, not
    /// behind A's five (the pool's own order would run it last).
    @Test func keysTakeTurnsAndEachKeysJobsKeepTheirOrder() throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? pool.syncShutdownGracefully() }
        let turns = ThreadPoolTurns(pool: pool)
        let held = DispatchSemaphore(value: 0)
        let order = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        func job(_ name: String) -> ThreadPoolTurns.Job {
            {
                order.withLock { $0.append(name) }
                done.signal()
            }
        }
        let started = DispatchSemaphore(value: 0)
        turns.enqueue(key: "A") {
            started.signal()
            held.wait()
            order.withLock { $0.append("A0") }
            done.signal()
        }
        // A0's turn is taken once it runs: A's next job is queued after it.
        started.wait()
        for index in 1...5 { turns.enqueue(key: "A", job("A\(index)")) }
        turns.enqueue(key: "B", job("B1"))
        #expect(turns.waitingKeys == ["A", "B"])
        held.signal()
        for _ in 0..<7 { done.wait() }
        #expect(order.withLock { $0 } == ["A0", "A1", "B1", "A2", "A3", "A4", "A5"])
        #expect(turns.waitingKeys == [])
    }

    /// Jobs run at once up to the pool's threads; past that they wait for a worker, and every one runs. (Synchronous
    /// tests: they block threads on semaphores.)
    @Test func asManyJobsRunAtOnceAsThePoolHasThreads() throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        defer { try? pool.syncShutdownGracefully() }
        let turns = ThreadPoolTurns(pool: pool)
        let held = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        for key in ["A", "B", "C"] {
            turns.enqueue(key: key) {
                started.signal()
                held.wait()
            }
        }
        started.wait()
        started.wait()
        #expect(turns.waitingKeys == ["C"], "two run, the third waits")
        held.signal()
        held.signal()
        started.wait()
        held.signal()
        let ran = DispatchSemaphore(value: 0)
        turns.enqueue(key: "A") { ran.signal() }
        ran.wait()
        #expect(turns.waitingKeys == [])
    }
}

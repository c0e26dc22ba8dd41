import Dispatch
import Foundation
import NIOPosix

/// The threads transaction bodies run on: an `NIOThreadPool` as large as the connection pool, so that every leased
/// connection can have a body running on it and no body waits for a thread while holding a connection.
struct StoreThreads: Sendable {
    let pool: NIOThreadPool

    init(count: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, count))
        pool.start()
    }

    /// Runs `body` on one of the store's threads, marked as such for `assertOnStoreThread`.
    func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await pool.runIfActive {
            #if DEBUG
            Thread.current.threadDictionary[Self.markerKey] = true
            defer { Thread.current.threadDictionary[Self.markerKey] = nil }
            #endif
            return try body()
        }
    }

    /// Stops the threads without waiting for them to be joined, on a queue of its own. Waiting (NIO's async
    /// `shutdownGracefully` joins on `DispatchQueue.global()`, which on Linux is Swift's cooperative pool) hung a
    /// whole test process once: a body still blocked in a query when its store closed kept its thread, the join
    /// blocked a cooperative thread for good, and no task ran again. Later `run` calls fail at once either way.
    func shutdown() async throws {
        pool.shutdownGracefully(queue: Self.shutdownQueue) { _ in }
    }

    private static let shutdownQueue = DispatchQueue(label: "copslink.postgres.store-threads.shutdown")

    #if DEBUG
    private static let markerKey = "copslink.postgres.store-thread"
    #endif

    /// Debug builds: traps unless called inside `run`, i.e. a query would block an event loop or a thread of Swift's
    /// concurrency pool.
    static func assertOnStoreThread(file: StaticString = #fileID, line: UInt = #line) {
        #if DEBUG
        assert(
            Thread.current.threadDictionary[markerKey] as? Bool == true,
            "a PostgreSQL store query waited outside the store's threads", file: file, line: line)
        #endif
    }
}

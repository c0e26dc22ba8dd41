import NIOCore
import NIOPosix

/// One thread for the tests that drive EmbeddedChannels from async code. An EmbeddedEventLoop may be used only from
/// the thread that made it (NIO reports any other as API misuse, and will make it a crash), and neither a nonisolated
/// async function nor the main actor keeps to one thread: under `swift test` the main queue's jobs run on whichever
/// worker thread drains it. The actor's executor is a one-thread event loop, so a test isolated to it, and every
/// `nonisolated(nonsending)` helper it awaits, runs on that thread.
@globalActor
actor EmbeddedTestActor {
    static let shared = EmbeddedTestActor()
    private static let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()

    nonisolated var unownedExecutor: UnownedSerialExecutor { Self.loop.executor.asUnownedSerialExecutor() }
}

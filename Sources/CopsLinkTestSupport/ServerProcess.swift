public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real `copslink-server` process on a free port, for tests that run binaries or kill the server.
public final class ServerProcess: @unchecked Sendable {
    // Sendable by confinement: every stored property is set in `init` and only read afterwards; Process's
    // terminate, kill and waitUntilExit are safe from any thread.
    public let process: Process
    public let port: Int
    public let database: String
    /// The demo dealer's API key the server printed (with `--demo`), if any.
    public let demoToken: String?
    /// What the server printed on stdout up to its `listening on` line.
    public let startupOutput: String

    public var address: String { "127.0.0.1:\(port)" }

    /// Starts `copslink-server` on `database` (a fresh temporary file by default) and waits for `listening on`,
    /// off the cooperative pool. Without `authenticated`, the server runs with `--insecure-disable-auth` (calls act
    /// for the demo dealer), as most tests are about something else. The server's log goes to `standardError`
    /// (discarded by default; `arguments` may set `--log-level` again, the last one counts).
    public static func start(
        database: String = temporaryDatabasePath(), arguments: [String] = [], authenticated: Bool = false,
        standardError: FileHandle = .nullDevice
    ) async throws -> ServerProcess {
        try await offCooperativePool {
            try ServerProcess(database: database, arguments: arguments, authenticated: authenticated, standardError: standardError)
        }
    }

    /// Starts `copslink-server` and blocks until it prints `listening on`. Prefer `start` in async code.
    public init(
        database: String = temporaryDatabasePath(), arguments: [String] = [], authenticated: Bool = false,
        standardError: FileHandle = .nullDevice
    ) throws {
        self.database = database
        process = Process()
        process.executableURL = try builtBinary("copslink-server")
        // A 2 s grace period rather than 10: `stop()` blocks its thread, often one of the cooperative pool's two, until
        // the server has drained, and a test that left a call open held every other test that long.
        process.arguments =
            ["--host", "127.0.0.1", "--port", "0", "--database", database, "--log-level", "error", "--grace-period", "2"]
            + (authenticated ? [] : ["--insecure-disable-auth"]) + arguments
        let output = makePipe()
        process.standardOutput = output
        process.standardError = standardError
        try spawn(process)
        var collected = ""
        let deadline = Date().addingTimeInterval(30)
        while !collected.contains("listening on") || !collected.hasSuffix("\n"), Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            collected += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = collected.range(of: "listening on 127.0.0.1:"),
            let port = Int(collected[range.upperBound...].prefix { $0.isNumber })
        else {
            process.terminate()
            process.waitUntilExit()
            throw TestSupportError.noListeningLine(collected)
        }
        self.port = port
        startupOutput = collected
        demoToken = collected.range(of: "demo API key").flatMap { range in
            collected[range.upperBound...].split(separator: "\n").first?.split(separator: " ").last.map(String.init)
        }
        // Keep draining stdout so that the server never blocks on a full pipe.
        let handle = output.fileHandleForReading
        startBlockingThread { while !handle.availableData.isEmpty {} }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    public func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// SIGTERM, then the wait for the exit (and, with `removingDatabase`, the database's removal) on a thread of its
    /// own. For the `defer` that ends a test: `stop()` there held one of the cooperative pool's threads, two on a
    /// 2-core machine, until the server had drained, and meanwhile every other test's handshake waited (the clean-clone
    /// CI runs that failed on a handshake timeout). Only where nothing after the call needs the server gone: not where
    /// an outer `defer` then removes its database or directory (that would race the draining server), nor between
    /// two servers on one database. The database's removal is skipped if the test process exits first.
    public func stopInBackground(removingDatabase: Bool = false) {
        if process.isRunning { process.terminate() }
        startBlockingThread { [self] in
            process.waitUntilExit()
            if removingDatabase { removeDatabase(at: database) }
        }
    }

    /// `stop()`, waiting off the cooperative pool: for a test that needs the server gone before it goes on (a restart
    /// on the same database), without holding one of the pool's threads while the server drains.
    public func stopAndWait() async {
        _ = try? await offCooperativePool { self.stop() }
    }

    /// `kill()`, waiting off the cooperative pool.
    public func killAndWait() async {
        _ = try? await offCooperativePool { self.kill() }
    }

    /// Stops the server and deletes its database.
    public func stopAndRemoveDatabase() {
        stop()
        removeDatabase(at: database)
    }
}

import Foundation

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

    public var address: String { "127.0.0.1:\(port)" }

    /// Starts `copslink-server` on `database` (a fresh temporary file by default) and waits for `listening on`,
    /// off the cooperative pool.
    public static func start(database: String = temporaryDatabasePath(), arguments: [String] = []) async throws -> ServerProcess {
        try await offCooperativePool { try ServerProcess(database: database, arguments: arguments) }
    }

    /// Starts `copslink-server` and blocks until it prints `listening on`. Prefer `start` in async code.
    public init(database: String = temporaryDatabasePath(), arguments: [String] = []) throws {
        self.database = database
        process = Process()
        process.executableURL = try builtBinary("copslink-server")
        process.arguments = ["--host", "127.0.0.1", "--port", "0", "--database", database, "--log-level", "error"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var collected = ""
        let deadline = Date().addingTimeInterval(30)
        while !collected.contains("\n"), Date() < deadline {
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
        // Keep draining stdout so that the server never blocks on a full pipe.
        let handle = output.fileHandleForReading
        DispatchQueue.global().async { while !handle.availableData.isEmpty {} }
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

    /// Stops the server and deletes its database.
    public func stopAndRemoveDatabase() {
        stop()
        removeDatabase(at: database)
    }
}

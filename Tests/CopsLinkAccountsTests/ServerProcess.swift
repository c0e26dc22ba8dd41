import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `copslink-server` process, for tests that kill it.
final class ServerProcess: @unchecked Sendable {
    // Sendable by confinement: `process` and `output` are set in `init` and only read afterwards; Process and
    // FileHandle are thread-safe for the calls made here (terminate/kill, reading the pipe).
    let process: Process
    let port: Int

    /// The built server binary, next to this package's build products.
    static var executable: URL {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root.deleteLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/copslink-server")
    }

    /// Starts the server on a free port and waits for its `listening on` line.
    init(database: String, arguments: [String] = []) throws {
        process = Process()
        process.executableURL = Self.executable
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
            throw ServerProcessError.noListeningLine(collected)
        }
        self.port = port
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func terminate() {
        process.terminate()
        process.waitUntilExit()
    }
}

enum ServerProcessError: Error {
    case noListeningLine(String)
}

import Foundation
import Testing

// The approach of Tests/CopsLinkCLITests/CLIHarness.swift: built binaries from .build/debug, a real server process.

/// The package root, found by walking up from this file to Package.swift.
let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        url.deleteLastPathComponent()
    }
    return url
}()

enum LoadHarnessError: Error, CustomStringConvertible {
    case missingBinary(String)
    case noListeningLine(String)

    var description: String {
        switch self {
        case .missingBinary(let path): "\(path) is not built; run `swift build --build-tests` first"
        case .noListeningLine(let output): "copslink-server did not print 'listening on': \(output)"
        }
    }
}

/// A built binary from `.build/debug`.
func builtBinary(_ name: String) throws -> URL {
    let url = packageRoot.appendingPathComponent(".build/debug/\(name)")
    guard FileManager.default.isExecutableFile(atPath: url.path) else { throw LoadHarnessError.missingBinary(url.path) }
    return url
}

/// A `copslink-server --demo` process on a free port with its own temporary directory (database and report files);
/// terminated by `stop()`.
final class LoadTestServer: @unchecked Sendable {
    // Sendable by confinement: set in init, only read afterwards; Process.terminate/waitUntilExit are thread-safe.
    let process: Process
    let port: Int
    let directory: URL

    var address: String { "127.0.0.1:\(port)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("copslink-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = try builtBinary("copslink-server")
        process.arguments = [
            "--host", "127.0.0.1", "--port", "0", "--database", directory.appendingPathComponent("load.sqlite").path, "--demo",
            "--log-level", "error",
        ]
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
            throw LoadHarnessError.noListeningLine(collected)
        }
        self.port = port
        // Keep draining stdout so that the server never blocks on a full pipe.
        let handle = output.fileHandleForReading
        DispatchQueue.global().async { while !handle.availableData.isEmpty {} }
    }

    func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    static func with<T>(_ body: (LoadTestServer) throws -> T) throws -> T {
        let server = try LoadTestServer()
        defer { server.stop() }
        return try body(server)
    }
}

struct LoadRunResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs the built `copslink-load` with COPSLINK_SERVER and COPSLINK_TOKEN removed from the environment.
func copslinkLoad(_ arguments: [String]) throws -> LoadRunResult {
    let process = Process()
    process.executableURL = try builtBinary("copslink-load")
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["COPSLINK_SERVER"] = nil
    environment["COPSLINK_TOKEN"] = nil
    process.environment = environment
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read stderr on another thread while stdout is read here, so neither pipe can fill up and block the child.
    let errorData = LockedBytes()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errorData.set(err.fileHandleForReading.readDataToEndOfFile())
        group.leave()
    }
    let outputData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return LoadRunResult(
        status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
        stderr: String(decoding: errorData.get(), as: UTF8.self))
}

final class LockedBytes: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}

/// A JSON report file as a dictionary.
func jsonReport(at url: URL) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    return try #require(value as? [String: Any], "not a JSON object: \(url.path)")
}

/// Checks that a `latency_us` object has p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ p99.99 ≤ max, all above zero.
func expectOrderedPercentiles(_ latency: Any?, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let object = try #require(latency as? [String: Any], "\(label) is missing", sourceLocation: sourceLocation)
    let values = try ["p50", "p90", "p99", "p99_9", "p99_99", "max"].map {
        try #require(object[$0] as? Int, "\(label).\($0)", sourceLocation: sourceLocation)
    }
    #expect(values == values.sorted(), "\(label): \(values)", sourceLocation: sourceLocation)
    #expect(values[0] > 0, "\(label): \(values)", sourceLocation: sourceLocation)
}

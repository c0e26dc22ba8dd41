import Foundation
import Testing

/// The package root, found by walking up from this file to Package.swift.
let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        url.deleteLastPathComponent()
    }
    return url
}()

/// A built binary from `.build/debug` (build with `swift build --build-tests` first).
func builtBinary(_ name: String) throws -> URL {
    let url = packageRoot.appendingPathComponent(".build/debug/\(name)")
    guard FileManager.default.isExecutableFile(atPath: url.path) else { throw HarnessError.missingBinary(url.path) }
    return url
}

enum HarnessError: Error, CustomStringConvertible {
    case missingBinary(String)
    case noListeningLine(String)

    var description: String {
        switch self {
        case .missingBinary(let path): "\(path) is not built; run `swift build --build-tests` first"
        case .noListeningLine(let output): "copslink-server did not print 'listening on': \(output)"
        }
    }
}

/// A `copslink-server --demo` process on a free port with its own temporary database; terminated by `stop()`.
final class DemoServer: @unchecked Sendable {
    // Sendable by confinement: set in init, only read afterwards; Process.terminate/waitUntilExit are thread-safe.
    let process: Process
    let port: Int
    let directory: URL

    var address: String { "127.0.0.1:\(port)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("copslink-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = try builtBinary("copslink-server")
        process.arguments = [
            "--host", "127.0.0.1", "--port", "0", "--database", directory.appendingPathComponent("cli.sqlite").path, "--demo",
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
            throw HarnessError.noListeningLine(collected)
        }
        self.port = port
        // Keep draining stdout so that the server never blocks on a full pipe.
        let handle = output.fileHandleForReading
        DispatchQueue.global().async { while !handle.availableData.isEmpty {} }
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` with a fresh server, stopping it afterwards.
    static func with<T>(_ body: (DemoServer) throws -> T) throws -> T {
        let server = try DemoServer()
        defer { server.stop() }
        return try body(server)
    }
}

struct CLIResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }

    /// stdout parsed as exactly one JSON object.
    func jsonObject() throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        return try #require(value as? [String: Any], "stdout is not one JSON object: \(stdout)")
    }
}

/// Runs the built `copslink` binary; `environment` entries are added to (or, with nil, removed from) this
/// process's environment. COPSLINK_SERVER is removed unless given, so that tests do not depend on the caller's.
func copslink(_ arguments: [String], stdin: String? = nil, environment: [String: String?] = [:]) throws -> CLIResult {
    let process = Process()
    process.executableURL = try builtBinary("copslink")
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["COPSLINK_SERVER"] = nil
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read stderr on another thread while stdout is read here, so neither pipe can fill up and block the child.
    let errorData = LockedData()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errorData.set(err.fileHandleForReading.readDataToEndOfFile())
        group.leave()
    }
    let outputData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CLIResult(
        status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
        stderr: String(decoding: errorData.get(), as: UTF8.self))
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}

/// A Contact ID message `ACCT 18 Q EEE GG CCC S` with its checksum (digit values, 0 counting 10, add up to a
/// multiple of 15), written independently of the server's builder.
func contactID(account: String, qualifier: Int = 1, event: String, partition: String = "01", zone: String) -> String {
    let body = account + "18" + String(qualifier) + event + partition + zone
    let sum = body.reduce(0) { total, character in
        total + (character == "0" ? 10 : Int(String(character), radix: 16)!)
    }
    let checksum = (15 - sum % 15) % 15
    let digit = checksum == 0 ? "F" : checksum == 10 ? "0" : String(checksum, radix: 16, uppercase: true)
    return "\(account) 18 \(qualifier) \(event) \(partition) \(zone) \(digit)"
}

/// YYYY-MM-DD in UTC, `days` days from today.
func utcDate(daysFromToday days: Int) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let date = calendar.date(byAdding: .day, value: days, to: Date())!
    let parts = calendar.dateComponents([.year, .month, .day], from: date)
    return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
}

import CopsLinkTestSupport
import Foundation
import Testing

/// `--max-connections` may not promise more connections than the process has file descriptors for.
@Suite("Open-file limit")
struct FileDescriptorLimitTests {
    @Test func maxConnectionsIsClampedToTheOpenFileLimitWithAWarning() async throws {
        // The pipe reads and the wait block: off the cooperative pool, which has one thread per core.
        let (collected, log) = try await offCooperativePool(Self.runServerUnderLowFileLimit)
        #expect(collected.contains("listening on"))
        #expect(log.contains("--max-connections 1000 exceeds what the open-file limit allows; serving at most 236"), "\(log)")
    }

    private static func runServerUnderLowFileLimit() throws -> (stdout: String, stderr: String) {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // A hard limit of 300 descriptors: the server raises its soft limit to it, and allows 300 - 64 connections.
        process.arguments = [
            "-c", "ulimit -n 300 && exec \"$0\" \"$@\"", try builtBinary("copslink-server").path,
            "--port", "0", "--database", database, "--insecure-disable-auth", "--max-connections", "1000"
        ]
        let output = makePipe(), errors = makePipe()
        process.standardOutput = output
        process.standardError = errors
        try spawn(process)
        var collected = ""
        let deadline = Date().addingTimeInterval(30)
        while !collected.contains("listening on"), Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            collected += String(decoding: chunk, as: UTF8.self)
        }
        process.terminate()
        process.waitUntilExit()
        return (collected, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }
}

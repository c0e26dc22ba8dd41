import CopsLinkTestSupport
import Foundation

/// A `copslink-server --demo` process that authenticates every call, started with the flags an attack needs, its
/// log (stderr) kept in a file: the log-forging tests read it, and a failing test can show it.
struct AttackServer: Sendable {
    let server: ServerProcess
    let logFile: URL

    var port: Int { server.port }
    var pid: Int32 { server.process.processIdentifier }
    var database: String { server.database }
    /// The demo dealer's key (roles read, write, test-control).
    var demoToken: String { server.demoToken ?? "" }

    /// Starts the server with `flags` after the defaults (a later flag wins), logging at `logLevel` in `logFormat`.
    static func start(_ flags: [String] = [], logFormat: String = "text", logLevel: String = "info") async throws -> AttackServer {
        let database = temporaryDatabasePath("copslink-adversarial")
        let logFile = URL(fileURLWithPath: database + ".log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        defer { try? log.close() }  // the child holds its own descriptor
        let server = try await ServerProcess.start(
            database: database, arguments: ["--demo", "--log-level", logLevel, "--log-format", logFormat] + flags,
            authenticated: true, standardError: log)
        return AttackServer(server: server, logFile: logFile)
    }

    /// Creates a key with `copslink-server keys create` on the running server's database.
    func createKey(dealer: String, roles: String) async throws -> String {
        let run = try await runBuiltBinary(
            "copslink-server", ["keys", "create", "--database", database, "--dealer", dealer, "--roles", roles, "--quiet"])
        guard run.status == 0 else { throw TestSupportError.commandFailed("keys create failed: \(run)") }
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What the server has logged so far.
    func log() -> String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// The size of the log so far, in bytes.
    func logSize() -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: logFile.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// Whether the process is still alive (an attack that crashes it fails every test).
    var isRunning: Bool { server.process.isRunning }

    /// Stops the server without waiting for it to drain (`ServerProcess.stopInBackground`): for the `defer` that
    /// ends an attack test.
    func stop() {
        server.stopInBackground(removingDatabase: true)
        try? FileManager.default.removeItem(at: logFile)
    }
}

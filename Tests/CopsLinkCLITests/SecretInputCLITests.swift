import CopsLinkTestSupport
import Foundation
import Testing

/// Keys and passcodes need not be on the command line (`ps`, shell history), and a key does not leave the machine
/// in plaintext unless told to.
@Suite("Secrets on the command line")
struct SecretInputCLITests {
    /// A file holding `text`, owner-only; removed by the caller.
    func secretFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("copslink-secret-\(UUID().uuidString)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("--token-file works like --token; a missing file or both options is a validation error")
    func tokenFile() async throws {
        let server = try await ServerProcess.start(arguments: ["--demo"], authenticated: true)
        defer { server.stopInBackground(removingDatabase: true) }
        let token = try #require(server.demoToken)
        let file = try secretFile(token + "\n")
        defer { try? FileManager.default.removeItem(atPath: file) }

        let byFile = try await copslink(
            ["--server", server.address, "--token-file", file, "account", "get", "demo-1"], environment: ["COPSLINK_TOKEN": nil])
        #expect(byFile.status == 0, "\(byFile)")
        #expect(!byFile.stdout.contains(token) && !byFile.stderr.contains(token))

        let missing = try await copslink(
            ["--server", server.address, "--token-file", "/nonexistent/copslink-key", "account", "get", "demo-1"])
        #expect(missing.status == 64, "\(missing)")
        #expect(missing.stderr.contains("--token-file '/nonexistent/copslink-key' cannot be read"), "\(missing)")

        let both = try await copslink(["--server", server.address, "--token", token, "--token-file", file, "health"])
        #expect(both.status == 64, "\(both)")
        #expect(both.stderr.contains("Give --token or --token-file, not both."), "\(both)")

        let load = try await runBuiltBinary(
            "copslink-load", ["--server", server.address, "--token-file", "/nonexistent/copslink-key", "--duration", "1"])
        #expect(load.status == 64, "\(load)")
        #expect(load.stderr.contains("--token-file '/nonexistent/copslink-key' cannot be read"), "\(load)")
    }

    @Test(
        "--passcode-file and COPSLINK_PASSCODE store the passcode without it being an argument",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func passcodeFile() async throws {
        try await DemoServer.with { server in
            let file = try secretFile("blue heron\r\n")
            defer { try? FileManager.default.removeItem(atPath: file) }
            let byFile = try await copslink([
                "--server", server.address, "account", "link", "secret-1", "--first-name", "Ada", "--zip", "84601", "--passcode-file", file
            ])
            #expect(byFile.status == 0, "\(byFile)")
            let byEnvironment = try await copslink(
                ["--server", server.address, "account", "link", "secret-2", "--first-name", "Ada", "--zip", "84601"],
                environment: ["COPSLINK_PASSCODE": "green owl"])
            #expect(byEnvironment.status == 0, "\(byEnvironment)")
            let stored = try await runSQLite(
                server.database, "SELECT id || '=' || passcode FROM customer WHERE id LIKE 'demo/secret-%' ORDER BY id")
            #expect(stored == "demo/secret-1=blue heron\ndemo/secret-2=green owl\n")

            let unreadable = try await copslink([
                "--server", server.address, "account", "link", "secret-3", "--first-name", "Ada", "--passcode-file", "/nonexistent/passcode"
            ])
            #expect(unreadable.status == 64, "\(unreadable)")
            #expect(unreadable.stderr.contains("--passcode-file '/nonexistent/passcode' cannot be read"), "\(unreadable)")
        }
    }

    func runSQLite(_ database: String, _ query: String) async throws -> String {
        // The read and the wait block: off the cooperative pool.
        try await offCooperativePool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = ["-readonly", database, query]
            let output = makePipe()
            process.standardOutput = output
            try spawn(process)
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
    }

    @Test("a key is not sent in plaintext to another host unless --insecure-plaintext")
    func plaintextKeyIsRefused() async throws {
        // 192.0.2.0/24 is TEST-NET-1: nothing answers there.
        let refused = try await copslink(["--server", "192.0.2.5:7420", "--token", "clk_x", "--timeout", "1", "account", "get", "demo-1"])
        #expect(refused.status == 9, "\(refused)")
        #expect(
            refused.stderr
                == "copslink: FAILED_PRECONDITION: refusing to send an API key in plaintext to 192.0.2.5:7420; use --tls or --insecure-plaintext\n",
            "\(refused)")
        let allowed = try await copslink(
            ["--server", "192.0.2.5:7420", "--token", "clk_x", "--timeout", "1", "--insecure-plaintext", "account", "get", "demo-1"])
        #expect([4, 14].contains(allowed.status), "the call is attempted (and finds nobody in time): \(allowed)")
        let withoutKey = try await copslink(
            ["--server", "192.0.2.5:7420", "--timeout", "1", "health"], environment: ["COPSLINK_TOKEN": nil])
        #expect([4, 14].contains(withoutKey.status), "\(withoutKey)")
        // health and describe call only methods open without a key: a key in the environment is left out, not refused.
        for command in [["health"], ["describe"]] {
            let keyless = try await copslink(
                ["--server", "192.0.2.5:7420", "--timeout", "1"] + command, environment: ["COPSLINK_TOKEN": "clk_x"])
            #expect([4, 14].contains(keyless.status), "\(command): \(keyless)")
        }

        let load = try await runBuiltBinary(
            "copslink-load", ["--server", "192.0.2.5:7420", "--token", "clk_x", "--timeout", "1", "--duration", "1"])
        #expect(load.status == 1, "\(load)")
        #expect(
            load.stderr.contains("refusing to send an API key in plaintext to 192.0.2.5:7420; use --tls or --insecure-plaintext"), "\(load)"
        )
    }
}

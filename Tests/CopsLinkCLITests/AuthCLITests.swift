import CopsLinkTestSupport
import Foundation
import Testing

/// API keys end to end: `copslink-server keys …` on the database of a running authenticated server, and `copslink`
/// with `--token` or `COPSLINK_TOKEN`.
@Suite("API keys from the command line")
struct AuthCLITests {
    func serverAdmin(_ arguments: [String]) async throws -> BinaryRun {
        try await runBuiltBinary("copslink-server", arguments)
    }

    @Test("calls need a key; the demo key works by flag and by environment; health needs none")
    func keysAreRequired() async throws {
        let server = try await ServerProcess.start(arguments: ["--demo"], authenticated: true)
        defer { server.stopInBackground(removingDatabase: true) }
        let token = try #require(server.demoToken)
        #expect(token.hasPrefix("clk_"))

        let anonymous = try await copslink(["--server", server.address, "account", "get", "demo-1"], environment: ["COPSLINK_TOKEN": nil])
        #expect(anonymous.status == 16, "\(anonymous)")
        #expect(anonymous.stderr.contains("UNAUTHENTICATED"))

        let byFlag = try await copslink(["--server", server.address, "--token", token, "--json", "account", "get", "demo-1"])
        #expect(byFlag.status == 0, "\(byFlag)")
        let byEnvironment = try await copslink(
            ["--server", server.address, "--json", "account", "get", "demo-1"], environment: ["COPSLINK_TOKEN": token])
        #expect(byEnvironment.status == 0, "\(byEnvironment)")

        let health = try await copslink(["--server", server.address, "health"], environment: ["COPSLINK_TOKEN": nil])
        #expect(health.status == 0, "\(health)")
    }

    @Test("keys create, list and revoke: roles, dealers and revocation take effect on the running server")
    func keyLifecycle() async throws {
        let server = try await ServerProcess.start(arguments: ["--demo"], authenticated: true)
        defer { server.stopInBackground(removingDatabase: true) }

        let created = try await serverAdmin([
            "keys", "create", "--database", server.database, "--dealer", "demo", "--roles", "read", "--name", "reports", "--quiet"
        ])
        #expect(created.status == 0, "\(created)")
        let reader = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let readerID = String(reader.dropFirst(4).prefix(16))

        let read = try await copslink(["--server", server.address, "--token", reader, "account", "get", "demo-1"])
        #expect(read.status == 0, "\(read)")
        let placed = try await copslink([
            "--server", server.address, "--token", reader, "test", "on", "demo-1", "--category", "service", "--hours", "1"
        ])
        #expect(placed.status == 7, "\(placed)")
        #expect(placed.stderr.contains("PERMISSION_DENIED"))

        let other = try await serverAdmin([
            "keys", "create", "--database", server.database, "--dealer", "acme", "--roles", "admin", "--quiet"
        ])
        let foreign = try await copslink(
            [
                "--server", server.address, "--token", other.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "account", "get",
                "demo-1"
            ])
        #expect(foreign.status == 5, "another dealer's customer is NOT_FOUND: \(foreign)")

        let listed = try await serverAdmin(["keys", "list", "--database", server.database, "--dealer", "demo"])
        #expect(listed.status == 0, "\(listed)")
        #expect(listed.stdout.contains(readerID) && listed.stdout.contains("reports"))
        #expect(!listed.stdout.contains(String(reader.suffix(64))), "a listing must never show a secret")
        #expect(!listed.stdout.contains("acme"))

        let revoked = try await serverAdmin(["keys", "revoke", "--database", server.database, readerID])
        #expect(revoked.status == 0, "\(revoked)")
        let again = try await serverAdmin(["keys", "revoke", "--database", server.database, readerID])
        #expect(again.status == 0 && again.stdout.contains("was already revoked at"), "revoking twice is no error: \(again)")
        let unknown = try await serverAdmin(["keys", "revoke", "--database", server.database, "0000000000000000"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no key 0000000000000000"), "\(unknown)")
        // A whole key is taken for its id, and its secret is never echoed.
        let secret = String(repeating: "ab", count: 32)
        let whole = try await serverAdmin(["keys", "revoke", "--database", server.database, "clk_0000000000000000_" + secret])
        #expect(whole.status == 1 && whole.stderr.contains("no key 0000000000000000"), "\(whole)")
        #expect(!(whole.stdout + whole.stderr).contains(secret), "\(whole)")
        let twoLines = try await serverAdmin(
            ["keys", "create", "--database", server.database, "--dealer", "acme", "--roles", "read", "--name", "a\nb"])
        #expect(twoLines.status == 64 && twoLines.stderr.contains("--name must be one line of text"), "\(twoLines)")
        // The server caches keys for 5 s: the revoked key fails from then on.
        var status: Int32 = 0
        for _ in 0..<40 where status == 0 {
            try await Task.sleep(for: .milliseconds(250))
            status = try await copslink(["--server", server.address, "--token", reader, "account", "get", "demo-1"]).status
        }
        #expect(status == 16)

        let badRole = try await serverAdmin(["keys", "create", "--database", server.database, "--dealer", "demo", "--roles", "root"])
        #expect(badRole.status != 0 && badRole.stderr.contains("unknown role"))
    }
}

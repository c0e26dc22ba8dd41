import CopsLinkTestSupport
import Foundation
import Testing

/// What a newcomer meets first (issue 11): the demo key across restarts, `keys` on a wrong path, failures under
/// `--json`, the missing-key and connection-failure messages, and usage errors that say what is wrong.
@Suite("The command line as a newcomer meets it")
struct NewcomerCLITests {
    @Test("a restart on the same database prints the same, still valid demo key; --rotate-demo-key replaces it")
    func demoKeySurvivesRestarts() async throws {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }
        let first = try await ServerProcess.start(database: database, arguments: ["--demo"], authenticated: true)
        let token = try #require(first.demoToken)
        // The line to paste names the port listened on, not the --port 0 asked for.
        #expect(
            first.startupOutput.contains(
                "try: export COPSLINK_TOKEN=\(token); scripts/copslink --server 127.0.0.1:\(first.port) account get demo-1"),
            "\(first.startupOutput)")
        await first.stopAndWait()

        let second = try await ServerProcess.start(database: database, arguments: ["--demo"], authenticated: true)
        #expect(second.demoToken == token, "a restart must print the same demo key")
        let kept = try await copslink(["--server", second.address, "--token", token, "account", "get", "demo-1"])
        #expect(kept.status == 0, "the exported key keeps working after a restart: \(kept)")
        await second.stopAndWait()

        let third = try await ServerProcess.start(database: database, arguments: ["--demo", "--rotate-demo-key"], authenticated: true)
        defer { third.stop() }
        let rotated = try #require(third.demoToken)
        #expect(rotated != token)
        let old = try await copslink(["--server", third.address, "--token", token, "account", "get", "demo-1"])
        #expect(old.status == 16, "a rotated key is revoked: \(old)")
    }

    @Test("keys create refuses a database path that does not exist unless --create is given")
    func keysCreateNeedsAnExistingDatabase() async throws {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }
        let refused = try await runBuiltBinary(
            "copslink-server", ["keys", "create", "--database", database, "--dealer", "demo", "--roles", "read"])
        #expect(refused.status == 64, "\(refused)")
        #expect(refused.stderr.contains("no such file") && refused.stderr.contains("--create"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: database), "nothing may be created")
        // list and revoke have no --create, so their refusal does not suggest it.
        let listed = try await runBuiltBinary("copslink-server", ["keys", "list", "--database", database])
        #expect(listed.status == 64, "\(listed)")
        #expect(listed.stderr.contains("no such file") && !listed.stderr.contains("--create"), "\(listed)")
        let created = try await runBuiltBinary(
            "copslink-server", ["keys", "create", "--database", database, "--dealer", "demo", "--roles", "read", "--create", "--quiet"])
        #expect(created.status == 0, "\(created)")
        #expect(FileManager.default.fileExists(atPath: database))
    }

    @Test("--json failures print {code, name, message} on stdout; the missing key names --token; connection failures are one line")
    func failuresAsANewcomerSeesThem() async throws {
        let server = try await ServerProcess.start(arguments: ["--demo"], authenticated: true)
        defer { server.stopInBackground(removingDatabase: true) }
        let missing = try await copslink(
            ["--server", server.address, "--json", "account", "get", "demo-1"], environment: ["COPSLINK_TOKEN": nil])
        #expect(missing.status == 16, "\(missing)")
        let object = try missing.jsonObject()
        #expect(object["code"] as? Int == 16)
        #expect(object["name"] as? String == "UNAUTHENTICATED")
        let message = try #require(object["message"] as? String)
        #expect(message.contains("--token") && message.contains("COPSLINK_TOKEN"), "\(message)")
        #expect(missing.stderr.contains("--token"), "\(missing)")

        let help = try await copslink(["--help"])
        #expect(help.stdout.contains("--token"), "copslink --help must list --token")

        // A port nothing listens on: the server's own port after it stopped is not safe, so use port 1.
        let refused = try await copslink(["--server", "127.0.0.1:1", "health"])
        #expect(refused.status == 14, "\(refused)")
        let lines = refused.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("connection refused") && lines[0].count < 200, "\(refused.stderr)")
    }

    @Test("--hours -1 says negative; a date-only --to in the future says so")
    func usageErrorsSayWhatIsWrong() async throws {
        let negative = try await copslink(["--server", "127.0.0.1:1", "test", "on", "demo-1", "--category", "service", "--hours", "-1"])
        #expect(negative.status == 64, "\(negative)")
        #expect(negative.stderr.contains("--hours -1 is negative"), "\(negative)")

        let future = try await copslink(
            [
                "--server", "127.0.0.1:1", "test", "data", "demo-3", "--type", "results", "--from", utcDate(daysFromToday: 5),
                "--to", utcDate(daysFromToday: 10)
            ])
        #expect(future.status == 64, "\(future)")
        #expect(future.stderr.contains("is a day in the future"), "\(future)")

        let early = try await copslink(["--server", "127.0.0.1:1", "test", "data", "demo-3", "--type", "results", "--from", "1960-01-01"])
        #expect(early.status == 64, "\(early)")
        #expect(early.stderr.contains("--from '1960-01-01' is outside the times the service takes"), "\(early)")

        let unpaired = try await copslink(
            ["--server", "127.0.0.1:1", "test", "on", "demo-1", "--category", "service", "--verified-by", "passcode"])
        #expect(unpaired.status == 64, "\(unpaired)")
        #expect(unpaired.stderr.contains("--verified-by needs --authorized-by"), "\(unpaired)")

        let zero = try await copslink(
            ["--server", "127.0.0.1:1", "test", "on", "demo-1", "--category", "service", "--hours", "0", "--minutes", "0"])
        #expect(zero.status == 64, "\(zero)")
        #expect(zero.stderr.contains("A test lasts at least a minute; leave --hours and --minutes out"), "\(zero)")
    }

    @Test("a PostgreSQL URL nothing answers on says connection refused, in one line")
    func unreachablePostgres() async throws {
        let result = try await runBuiltBinary("copslink-server", ["--database", "postgres://copslink@127.0.0.1:1/copslink", "--port", "0"])
        #expect(result.status != 0, "\(result)")
        #expect(
            result.stderr.contains(
                "cannot connect to postgres://copslink@127.0.0.1:1/copslink: connection refused (is PostgreSQL running there?)"),
            "\(result)")
    }

    @Test("table output escapes control characters of stored text")
    func controlCharactersAreEscaped() async throws {
        try await ServerProcess.with { server in
            let comment = "Panel \u{1B}[31mred\u{1B}[0m swap"
            let placed = try await copslink(
                ["--server", server.address, "test", "on", "demo-1", "--category", "service", "--hours", "1", "--comment", comment])
            #expect(placed.status == 0, "\(placed)")
            let status = try await copslink(["--server", server.address, "test", "status", "demo-1"])
            #expect(!status.stdout.contains("\u{1B}"), "raw ESC reached the terminal: \(status.stdout)")
            #expect(status.stdout.contains("\\u{1B}[31mred"), "\(status.stdout)")
        }
    }

    @Test("--party carries the responding party's other fields; a server message naming an RPC names the CLI command")
    func fullPartiesAndCommandNames() async throws {
        try await ServerProcess.with { server in
            let linked = try await copslink(
                [
                    "--server", server.address, "account", "link", "cust-full", "--first-name", "Ada", "--last-name", "Lovelace",
                    "--street", "1 Main St", "--city", "Provo", "--state", "UT", "--zip", "84601",
                    "--party",
                    "1:Ada Lovelace:801-555-0102/mobile:keyholder:key:email=ada@example.com:relation=owner:language=en:phone=801-555-0199/work/12:enhanced-verification=yes"
                ])
            #expect(linked.status == 0, "\(linked)")
            // id= names the party, so that a later change of priorities keeps who is who (a test's authorizer).
            let named = try await copslink(
                [
                    "--server", server.address, "--json", "account", "link", "cust-named", "--first-name", "Grace", "--zip", "84601",
                    "--party", "1:Grace Hopper:801-555-0102:keyholder:id=grace", "--party", "2:Alan Turing:801-555-0103"
                ])
            #expect(named.status == 0, "\(named)")
            let shown = try await copslink(["--server", server.address, "--json", "account", "get", "cust-named"])
            #expect(shown.stdout.contains(#""id":"grace""#) && shown.stdout.contains(#""id":"p-2""#), "\(shown.stdout)")
            let unknownField = try await copslink([
                "--server", server.address, "account", "link", "cust-x", "--party", "1:A B:801-555-0102:contact::colour=red"
            ])
            #expect(unknownField.status == 64 && unknownField.stderr.contains("unknown field 'colour'"), "\(unknownField)")
            let badType = try await copslink(["--server", server.address, "account", "link", "cust-x", "--party", "1:A B:801-555-0102/fax"])
            #expect(badType.status == 64 && badType.stderr.contains("unknown phone type 'fax'"), "\(badType)")

            let category = try await copslink(
                ["--server", server.address, "test", "on", "demo-1", "--category", "no-such", "--minutes", "5"])
            #expect(category.status == 3, "\(category)")
            #expect(!category.stderr.contains("ListTestCategories") && category.stderr.contains("copslink test categories"), "\(category)")
        }
    }
}

import CopsLinkTestSupport
import Foundation
import Testing

/// The built `copslink` binary against a real `copslink-server --demo` process, as a script would use it.
@Suite("copslink command line")
struct CLITests {
    @Test("health exits 0 when serving, with --server before or after the subcommand")
    func health() async throws {
        try await DemoServer.with { server in
            let before = try await copslink(["--server", server.address, "health"])
            #expect(before.status == 0, "\(before)")
            #expect(before.stdout.contains("SERVING"))
            let after = try await copslink(["health", "--server", server.address, "copslink.v1.AccountService"])
            #expect(after.status == 0, "\(after)")
            let json = try await copslink(["--server", server.address, "--json", "health"])
            #expect(json.status == 0, "\(json)")
            // The HealthCheckResponse, nothing else, on one line.
            #expect(json.stdout == #"{"status":"SERVING"}"# + "\n", "\(json)")
            let unknown = try await copslink(["--server", server.address, "health", "no.such.Service"])
            #expect(unknown.status == 5, "\(unknown)")
            #expect(unknown.stderr.contains("NOT_FOUND"))
        }
    }

    @Test("global options work before, between and after the subcommand names, and from COPSLINK_SERVER")
    func globalOptionPlacement() async throws {
        try await DemoServer.with { server in
            for arguments in [
                ["--server", server.address, "--json", "account", "get", "demo-1"],
                ["--server=\(server.address)", "account", "--json", "get", "demo-1"],
                ["account", "--server", server.address, "get", "--timeout", "5", "demo-1", "--json"],
                ["account", "get", "demo-1", "--json", "--server", server.address]
            ] {
                let result = try await copslink(arguments)
                #expect(result.status == 0, "\(arguments): \(result)")
                #expect(try result.jsonObject()["account_number"] as? String == "22-8761", "\(arguments)")
            }
            let fromEnvironment = try await copslink(
                ["--json", "account", "get", "demo-1"], environment: ["COPSLINK_SERVER": server.address])
            #expect(fromEnvironment.status == 0, "\(fromEnvironment)")
        }
    }

    @Test("describe lists the services and methods")
    func describe() async throws {
        try await DemoServer.with { server in
            let text = try await copslink(["--server", server.address, "describe"])
            #expect(text.status == 0, "\(text)")
            #expect(text.stdout.contains("copslink.v1.AccountService"))
            #expect(text.stdout.contains("RequestTestData"))
            let json = try await copslink(["--server", server.address, "describe", "--json"])
            let services = try #require(try json.jsonObject()["services"] as? [[String: Any]])
            #expect(services.contains { $0["name"] as? String == "copslink.v1.AccountService" })
        }
    }

    @Test("account get --json prints one JSON object, without any passcode")
    func accountGetJSON() async throws {
        try await DemoServer.with { server in
            let result = try await copslink(["--server", server.address, "account", "get", "demo-1", "--json"])
            #expect(result.status == 0, "\(result)")
            let account = try result.jsonObject()
            #expect(account["account_number"] as? String == "22-8761")
            #expect(account["link_state"] as? String == "LINK_STATE_LINKED")
            #expect((account["customer"] as? [String: Any])?["id"] as? String == "demo-1")
            #expect((account["responding_parties"] as? [Any])?.count == 2)
            // The server returns no passcode: the proto3 field is there (defaults are written), empty.
            #expect((account["customer"] as? [String: Any])?["passcode"] as? String == "")
            #expect(!result.stdout.contains("\"owl\""))  // demo-1's passcode
            #expect(!result.stdout.contains("pass-p-"))  // the demo parties' passcodes
            #expect(result.stderr.isEmpty)

            let text = try await copslink(["--server", server.address, "account", "get", "demo-1"])
            #expect(text.status == 0, "\(text)")
            #expect(text.stdout.contains("22-8761"))
            #expect(!text.stdout.lowercased().contains("passcode"))
        }
    }

    @Test("an unknown customer exits 5 with NOT_FOUND on stderr")
    func accountNotFound() async throws {
        try await DemoServer.with { server in
            let result = try await copslink(["--server", server.address, "account", "get", "nobody", "--json"])
            #expect(result.status == 5, "\(result)")
            #expect(result.stderr.hasPrefix("copslink: NOT_FOUND: "), "\(result)")
            #expect(result.stderr.contains("nobody"))
            // With --json the failure is also one JSON object on stdout, for scripts.
            let object = try result.jsonObject()
            #expect(object["code"] as? Int == 5 && object["name"] as? String == "NOT_FOUND", "\(result)")
            #expect(result.stdout.hasPrefix(#"{"code":5,"name":"NOT_FOUND","message":""#), "in this order, on one line: \(result)")
            #expect((object["message"] as? String)?.contains("nobody") == true, "\(result)")
        }
    }

    @Test("test on, status, a second test on fails FAILED_PRECONDITION, test off")
    func testOnAndOff() async throws {
        try await DemoServer.with { server in
            let on = try await copslink(["--server", server.address, "test", "on", "demo-1", "--category", "service", "--hours", "2"])
            #expect(on.status == 0, "\(on)")
            let status = try await copslink(["--server", server.address, "test", "status", "demo-1", "--json"])
            #expect(status.status == 0, "\(status)")
            let statusObject = try status.jsonObject()
            #expect(statusObject["on_test"] as? Bool == true)
            let current = try #require(statusObject["current"] as? [String: Any])
            #expect(current["state"] as? String == "TEST_STATE_ACTIVE")
            // 64-bit integers are decimal strings in proto3 JSON.
            let effective = try #require((current["effective_at_ms"] as? String).flatMap { Int64($0) })
            let expires = try #require((current["expires_at_ms"] as? String).flatMap { Int64($0) })
            #expect(expires - effective == 2 * 3_600_000)

            let again = try await copslink(["--server", server.address, "test", "on", "demo-1", "--category", "service", "--hours", "2"])
            #expect(again.status == 9, "\(again)")
            #expect(again.stderr.contains("FAILED_PRECONDITION"))
            #expect(again.stderr.contains("System is currently on test."))

            let off = try await copslink(["--server", server.address, "--json", "test", "off", "demo-1", "--comment", "Done"])
            #expect(off.status == 0, "\(off)")
            #expect((try off.jsonObject()["session"] as? [String: Any])?["state"] as? String == "TEST_STATE_ENDED")
            let after = try await copslink(["--server", server.address, "test", "status", "demo-1", "--json"])
            #expect(try after.jsonObject()["on_test"] as? Bool == false)
            let offAgain = try await copslink(["--server", server.address, "test", "off", "demo-1"])
            #expect(offAgain.status == 9, "\(offAgain)")
        }
    }

    @Test("a scheduled test is SCHEDULED, neither off nor on test, in test status and account get, text and JSON")
    func scheduledTest() async throws {
        try await DemoServer.with { server in
            // Without a zone: read as UTC, as --effective's help says.
            let effective = String(ISO8601DateFormatter().string(from: Date().addingTimeInterval(3_600)).dropLast())
            #expect(!effective.hasSuffix("Z"))
            // In a zone 7 hours off UTC: read as local time, the test would start in about 8 hours.
            let on = try await copslink(
                ["--server", server.address, "test", "on", "demo-1", "--category", "service", "--hours", "1", "--effective", effective],
                environment: ["TZ": "America/Denver"])
            #expect(on.status == 0, "\(on)")
            #expect(on.stdout.contains("(in 59m") || on.stdout.contains("(in 1h"), "an hour from now in UTC: \(on)")
            let text = try await copslink(["--server", server.address, "test", "status", "demo-1"])
            #expect(text.stdout.hasPrefix("demo-1: test SCHEDULED (service) from "), "\(text)")
            #expect(!text.stdout.contains("off test"))
            let json = try await copslink(["--server", server.address, "test", "status", "demo-1", "--json"]).jsonObject()
            #expect(json["state"] as? String == "TEST_STATUS_STATE_SCHEDULED")
            #expect(json["on_test"] as? Bool == false)
            #expect((json["current"] as? [String: Any])?["state"] as? String == "TEST_STATE_SCHEDULED")
            let account = try await copslink(["--server", server.address, "account", "get", "demo-1"])
            #expect(account.stdout.contains("test SCHEDULED (service)"), "\(account)")
            #expect(!account.stdout.contains("off test"))
            let accountJSON = try await copslink(["--server", server.address, "account", "get", "demo-1", "--json"]).jsonObject()
            let status = (accountJSON["account"] as? [String: Any] ?? accountJSON)["test_status"] as? [String: Any]
            #expect(status?["state"] as? String == "TEST_STATUS_STATE_SCHEDULED")
            let off = try await copslink(["--server", server.address, "test", "status", "demo-2", "--json"]).jsonObject()
            #expect(off["state"] as? String == "TEST_STATUS_STATE_OFF_TEST")
            // Ended before it began: its times are shown without "(in …)", the expiry as planned.
            let ended = try await copslink(["--server", server.address, "test", "off", "demo-1", "--comment", "Plans changed"])
            #expect(ended.status == 0, "\(ended)")
            // A scheduled test placed off is cancelled; the off comment is named as such (the session's Comment is the
            // one it was placed on test with).
            #expect(ended.stdout.hasPrefix("demo-1's scheduled test is cancelled (comment: Plans changed).\n"), "\(ended)")
            #expect(!ended.stdout.contains("(in "), "\(ended)")
            #expect(ended.stdout.contains("(planned)"), "\(ended)")
        }
    }

    @Test("test data --type signals reads signal history, text and JSON")
    func signalHistory() async throws {
        try await DemoServer.with { server in
            let json = try await copslink(["--server", server.address, "test", "data", "demo-3", "--type", "signals", "--json"])
            #expect(json.status == 0, "\(json)")
            // Every page as one TestDataPage: the signals list filled, the others empty.
            let object = try json.jsonObject()
            #expect(Set(object.keys) == ["history", "results", "signals"], "\(object.keys)")
            #expect((object["history"] as? [Any])?.isEmpty == true && (object["results"] as? [Any])?.isEmpty == true)
            let rows = try #require(object["signals"] as? [[String: Any]])
            #expect(rows.count > 50, "a month of demo signal history")
            #expect(rows.allSatisfy { ($0["session_id"] as? String) == "" })
            let text = try await copslink(["--server", server.address, "test", "data", "demo-3", "--type", "signals"])
            #expect(text.stdout.contains("signals (signal history) from"), "\(text)")
        }
    }

    @Test("test on without a duration uses the category's default")
    func testOnDefaultDuration() async throws {
        try await DemoServer.with { server in
            let on = try await copslink([
                "--server", server.address, "--json", "test", "on", "demo-2", "--category", "customer-test", "--zone", "001"
            ])
            #expect(on.status == 0, "\(on)")
            let session = try #require(try on.jsonObject()["session"] as? [String: Any])
            #expect(session["scope"] as? String == "TEST_SCOPE_ONLY_LISTED")
            #expect(session["zone_numbers"] as? [String] == ["001"])
            let effective = try #require((session["effective_at_ms"] as? String).flatMap { Int64($0) })
            let expires = try #require((session["expires_at_ms"] as? String).flatMap { Int64($0) })
            #expect(expires - effective == 60 * 60_000)
        }
    }

    @Test("authorities search --json lists the directory entries serving the zip")
    func authoritiesSearch() async throws {
        try await DemoServer.with { server in
            let result = try await copslink([
                "--server", server.address, "authorities", "search", "--type", "police", "--zip", "84601", "--json"
            ])
            #expect(result.status == 0, "\(result)")
            let authorities = try #require(try result.jsonObject()["authorities"] as? [[String: Any]])
            #expect(authorities.contains { $0["id"] as? String == "ut-provo-pd" })
            #expect(authorities.allSatisfy { $0["type"] as? String == "AUTHORITY_TYPE_POLICE" })
        }
    }

    @Test("authorities add and remove")
    func authoritiesAddRemove() async throws {
        try await DemoServer.with { server in
            let add = try await copslink([
                "--server", server.address, "--json", "authorities", "add", "demo-4", "tx-austin-fd", "tx-austin-ems"
            ])
            #expect(add.status == 0, "\(add)")
            let added = try #require(try add.jsonObject()["added"] as? [[String: Any]])
            #expect(added.count == 2)
            let entry = try #require(added.first?["id"] as? String)
            let twice = try await copslink(["--server", server.address, "authorities", "add", "demo-4", "tx-austin-fd"])
            #expect(twice.status == 6, "\(twice)")
            let remove = try await copslink(["--server", server.address, "authorities", "remove", "demo-4", entry])
            #expect(remove.status == 0, "\(remove)")
        }
    }

    @Test("test data --type results over the last 30 days returns rows")
    func testDataResults() async throws {
        try await DemoServer.with { server in
            let result = try await copslink([
                "--server", server.address, "test", "data", "demo-3", "--type", "results", "--from", utcDate(daysFromToday: -30), "--to",
                utcDate(daysFromToday: 0), "--json"
            ])
            #expect(result.status == 0, "\(result)")
            let object = try result.jsonObject()
            #expect((object["signals"] as? [Any])?.isEmpty == true)
            let rows = try #require(object["results"] as? [[String: Any]])
            #expect(!rows.isEmpty)
            #expect(rows.allSatisfy { $0["account_number"] as? String == "22-8763" && !(($0["session_id"] as? String) ?? "").isEmpty })

            let history = try await copslink([
                "--server", server.address, "test", "data", "demo-3", "--type", "history", "--page-size", "1", "--json"
            ])
            #expect(history.status == 0, "\(history)")
            // Pages of one row each, printed together.
            #expect(((try history.jsonObject()["history"] as? [Any])?.count ?? 0) >= 2)

            let tooLong = try await copslink([
                "--server", server.address, "test", "data", "demo-3", "--type", "results", "--from", utcDate(daysFromToday: -60)
            ])
            #expect(tooLong.status == 3, "\(tooLong)")
            #expect(tooLong.stderr.contains("INVALID_ARGUMENT"))
        }
    }

    @Test("signals send stores a valid Contact ID and lists a bad one as rejected")
    func signalsSend() async throws {
        try await DemoServer.with { server in
            let valid = contactID(account: "8761", event: "130", zone: "001")
            let result = try await copslink(["--server", server.address, "signals", "send", "--account", "22-8761", valid, "--json"])
            #expect(result.status == 0, "\(result)")
            let object = try result.jsonObject()
            #expect(object["received"] as? Int == 1)
            #expect(object["stored_as_history"] as? Int == 1)
            #expect((object["rejected"] as? [Any])?.isEmpty == true)
            #expect((object["rejected_contact_ids"] as? [Any])?.isEmpty == true)

            let file = try await copslink(
                ["--server", server.address, "--json", "signals", "send", "--account", "22-8761", "--file", "-"],
                stdin: "# two signals\n\(valid)\n8761 18 1 130 01 001 1\n")
            #expect(file.status == 0, "\(file)")
            let fileObject = try file.jsonObject()
            #expect(fileObject["received"] as? Int == 2)
            let rejected = try #require(fileObject["rejected"] as? [[String: Any]])
            #expect(rejected.count == 1)
            #expect(rejected.first?["index"] as? Int == 1)
            // The CLI's addition: the message each rejection's index points at (the comment line is not sent).
            #expect(fileObject["rejected_contact_ids"] as? [String] == ["8761 18 1 130 01 001 1"])

            // ReportSignals is not replayed: an idempotency key would promise what the server does not do.
            let withID = try await copslink([
                "--server", server.address, "--request-id", "0b6f3c8e-8d1a-4e57-9a43-1f1c2b3d4e5f", "signals", "send", "--account",
                "22-8761", valid
            ])
            #expect(withID.status == 64, "\(withID)")
            #expect(withID.stderr.contains("--request-id does not apply to signals send"), "\(withID)")
        }
    }

    @Test("zones set maps zones to equipment and lists the others as unmapped")
    func zonesSet() async throws {
        try await DemoServer.with { server in
            let result = try await copslink([
                "--server", server.address, "zones", "set", "demo-2", "--zone", "001:Shop door:burglary", "--zone",
                "002:Office motion:burglary",
                "--zone", "010:Panic button:panic", "--json"
            ])
            #expect(result.status == 0, "\(result)")
            let object = try result.jsonObject()
            #expect((object["mapped_zones"] as? [Any])?.count == 2)
            let unmapped = try #require(object["unmapped_zones"] as? [[String: Any]])
            #expect(unmapped.map { $0["zone_number"] as? String } == ["010"])
            #expect(unmapped.first?["event_type"] as? String == "ZONE_EVENT_TYPE_PANIC")
        }
    }

    @Test("link, an idempotent retry with --request-id, sync and unlink")
    func linkSyncUnlink() async throws {
        try await DemoServer.with { server in
            let link = [
                "--server", server.address, "--request-id", "0b6f3c8e-8d1a-4e57-9a43-1f1c2b3d4e5f", "account", "link", "cli-1",
                "--first-name", "Grace", "--last-name", "Hopper", "--zip", "84601", "--passcode", "navy", "--equipment", "001:Front door",
                "--party", "1:Grace Hopper:801-555-0198:keyholder:key", "--json"
            ]
            let first = try await copslink(link)
            #expect(first.status == 0, "\(first)")
            let firstObject = try first.jsonObject()
            #expect(firstObject["created"] as? Bool == true)
            let number = try #require((firstObject["account"] as? [String: Any])?["account_number"] as? String)
            #expect(!first.stdout.contains("navy"))
            let retry = try await copslink(link)
            #expect(retry.status == 0, "\(retry)")
            #expect((try retry.jsonObject()["account"] as? [String: Any])?["account_number"] as? String == number)

            let sync = try await copslink([
                "--server", server.address, "account", "sync", "cli-1", "--company", "Hopper Navy Supply", "--zip", "84604", "--json"
            ])
            #expect(sync.status == 0, "\(sync)")
            let customer = (try sync.jsonObject()["account"] as? [String: Any])?["customer"] as? [String: Any]
            #expect(customer?["company_name"] as? String == "Hopper Navy Supply")
            // The sync sent no equipment and no party: it says what it removed.
            #expect((try sync.jsonObject()["removed_equipment_ids"] as? [String]) == ["eq-001"], "\(sync.stdout)")
            #expect((try sync.jsonObject()["removed_party_ids"] as? [String])?.count == 1, "\(sync.stdout)")

            // README's sync of demo-1 sends the demo's own equipment (ids eq-<zone>, as the CLI makes them): nothing
            // is removed.
            let demoSync = try await copslink([
                "--server", server.address, "account", "sync", "demo-1", "--first-name", "Ada", "--last-name", "King", "--zip", "84601",
                "--equipment", "001:Front door", "--equipment", "002:Back door", "--equipment", "003:Living room motion",
                "--equipment", "004:Smoke detector", "--party", "1:Ada King:801-555-0102:keyholder:key", "--party",
                "2:Charles Babbage:801-555-0103:contact", "--json"
            ])
            #expect(demoSync.status == 0, "\(demoSync)")
            #expect((try demoSync.jsonObject()["removed_equipment_ids"] as? [String]) == [], "\(demoSync.stdout)")

            // On test: the unlink ends the test and says so, with the test.
            let onTest = try await copslink(["--server", server.address, "test", "on", "cli-1", "--category", "service", "--hours", "1"])
            #expect(onTest.status == 0, "\(onTest)")
            let unlink = try await copslink(["--server", server.address, "account", "unlink", "cli-1", "--json"])
            let unlinked = try unlink.jsonObject()
            #expect(unlinked["was_linked"] as? Bool == true)
            #expect((unlinked["ended_test"] as? [String: Any])?["state"] as? String == "TEST_STATE_ENDED", "\(unlink.stdout)")
            let again = try await copslink(["--server", server.address, "account", "unlink", "cli-1", "--json"])
            #expect(try again.jsonObject()["was_linked"] as? Bool == false)
            #expect(try again.jsonObject()["ended_test"] is NSNull)
            // Not on test, in text.
            let demoUnlink = try await copslink(["--server", server.address, "account", "unlink", "demo-4"])
            #expect(
                demoUnlink.stdout.hasPrefix("Unlinked demo-4 from account ") && demoUnlink.stdout.contains("; it was not on test."),
                "\(demoUnlink)")
        }
    }

    @Test("usage errors exit 64 without contacting a server")
    func usageErrors() async throws {
        for arguments in [
            ["account", "get"],
            ["account", "get", "demo-1", "--no-such-option"],
            ["test", "on", "demo-1", "--category", "service", "--scope", "sideways"],
            ["test", "data", "demo-3", "--type", "results", "--from", "2026-02-31"],
            ["zones", "set", "demo-2"],
            ["account", "link", "x", "--party", "first:Ada"],
            ["--server", "127.0.0.1:99999", "health"],
            ["--request-id", "not-a-uuid", "account", "unlink", "demo-1"],
            ["--metadata", "trace-bin=00ff", "health"],
            ["--token", "", "account", "get", "demo-1"]
        ] {
            let result = try await copslink(arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stdout.isEmpty, "\(arguments)")
            // With --json, also one JSON object on stdout.
            let json = try await copslink(["--json"] + arguments)
            #expect(json.status == 64, "\(arguments): \(json)")
            let object = try json.jsonObject()
            #expect(object["code"] as? Int == 64 && object["name"] as? String == "USAGE", "\(arguments): \(json.stdout)")
            #expect((object["message"] as? String)?.isEmpty == false, "\(arguments): \(json.stdout)")
        }
        let help = try await copslink(["--json", "account", "get", "--help"])
        #expect(help.status == 0 && !help.stdout.contains(#""name":"USAGE""#), "help is not an error: \(help)")
        let server = try await runBuiltBinary("copslink-server", ["help", "bogus"])
        #expect(server.status == 64 && server.stderr.contains("'bogus' is not a command of copslink-server; choose serve,"), "\(server)")
        let named = try await copslink(["help", "account", "get"])
        #expect(named.status == 0 && named.stdout.contains("USAGE: copslink account get"), "help names a command: \(named)")
        // Subcommands named by their type (no commandName of their own) are commands too.
        let keysCreate = try await runBuiltBinary("copslink-server", ["help", "keys", "create"])
        #expect(keysCreate.status == 0 && keysCreate.stdout.contains("USAGE: copslink-server keys create"), "\(keysCreate)")
    }

    @Test("usage errors name what is wrong")
    func usageErrorMessages() async throws {
        for (arguments, message) in [
            // A negative value after a space is a value, not a missing one.
            (["--timeout", "-1", "health"], "--timeout must be a positive number of seconds."),
            (["account", "link", "x", "--party", "0:Ada:801-555-0102"], "--party '0:Ada:801-555-0102': the priority is 1 or more"),
            (["account", "link", "x", "--party", "-1:Ada:801-555-0102"], "--party '-1:Ada:801-555-0102': the priority is 1 or more"),
            // A word where a subcommand belongs is named as such, global options before it or not.
            (["--server", "127.0.0.1:1", "server", "info"], "'server' is not a command of copslink; choose account,"),
            (["account", "--json", "bogus"], "'bogus' is not a command of copslink account; choose get,"),
            // `help` names commands too: ArgumentParser alone would print the nearest help and exit 0.
            (["help", "bogus"], "'bogus' is not a command of copslink; choose account,"),
            (["help", "account", "bogus"], "'bogus' is not a command of copslink account; choose get,"),
            (["help", "health", "bogus"], "'bogus': copslink health has no subcommands.")
        ] {
            let result = try await copslink(arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains(message), "\(arguments): \(result)")
        }
    }

    @Test("copslink-server refuses invalid numeric flags with a usage error naming the flag and the range")
    func serverFlagValidation() async throws {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }
        for (arguments, message) in [
            (["--log-level", "DEBUG"], "--log-level 'DEBUG': give trace, debug, info, notice, warning, error or critical."),
            (["--call-log-level", "loud"], "--call-log-level 'loud': give trace, debug, info, notice, warning, error or critical."),
            (["--max-test-hours", "0"], "--max-test-hours 0.0: give hours from 0.0167 (one minute) to 720."),
            (["--max-test-hours", "721"], "--max-test-hours 721.0: give hours from 0.0167 (one minute) to 720."),
            (["--max-test-hours", "0.001"], "--max-test-hours 0.001: give hours from 0.0167 (one minute) to 720."),
            (["--max-test-hours", "nan"], "--max-test-hours nan: give hours from 0.0167 (one minute) to 720."),
            (["--max-test-hours", "1e300"], "--max-test-hours 1e+300: give hours from 0.0167 (one minute) to 720."),
            (["--port", "70000"], "--port 70000: must be from 0 to 65535."),
            (["--metrics-port=-1"], "--metrics-port -1: must be from 0 to 65535."),
            // A negative value after a space reaches the range check too, not "Missing value".
            (["--grace-period", "-1"], "--grace-period -1.0: give seconds from 0 to 86400."),
            (["--max-stored-bytes-per-dealer", "-1"], "--max-stored-bytes-per-dealer -1: must be at least 1."),
            (["--rotate-demo-key"], "--rotate-demo-key goes with --demo (it replaces the demo key)."),
            (["--protocols", "native,grpcweb"], "--protocols 'native,grpcweb': 'grpcweb' is not one of native, http, grpc."),
            (["--protocols", "http,http"], "--protocols 'http,http' names http twice."),
            (["--http-max-body-size", "0"], "--http-max-body-size 0: must be from 1 to 2147483647."),
            (
                ["--idempotency-retention", "30"],
                "--idempotency-retention 30.0: give seconds from 60 to 31536000 (365 days), or 0 to keep them forever."
            ),
            (
                ["--idempotency-retention", "nan"],
                "--idempotency-retention nan: give seconds from 60 to 31536000 (365 days), or 0 to keep them forever."
            ),
            (
                ["--signal-retention", "3600"],
                "--signal-retention 3600.0: give seconds from 86400 (1 day) to 3153600000 (100 years), or 0 to keep them forever."
            ),
            (
                ["--signal-retention=-1"],
                "--signal-retention -1.0: give seconds from 86400 (1 day) to 3153600000 (100 years), or 0 to keep them forever."
            )
        ] {
            let result = try await runBuiltBinary("copslink-server", ["serve", "--database", database] + arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: database), "refused before opening the database")
    }

    @Test("copslink-server serves every protocol unless told otherwise, gRPC included")
    func serverProtocolsDefault() async throws {
        let result = try await runBuiltBinary("copslink-server", ["serve", "--help"])
        #expect(result.status == 0, "\(result)")
        let help = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("(default: native,http,grpc)"), "\(result.stdout)")
        // Retention windows in seconds: 24 hours of request ids, 400 days of signals.
        #expect(help.contains("--idempotency-retention <idempotency-retention> Seconds"), "\(help)")
        #expect(help.contains("0 keeps them forever. (default: 86400.0)"), "\(help)")
        #expect(help.contains("0 keeps them forever. (default: 34560000.0)"), "\(help)")
    }

    @Test("--server with several addresses fails over from one that is down, and refuses an empty one")
    func severalServers() async throws {
        try await DemoServer.with { server in
            // Port 1 (tcpmux) is closed on any test machine; the call goes on to the demo server.
            let result = try await copslink(["--server", "127.0.0.1:1, \(server.address)", "--json", "account", "get", "demo-1"])
            #expect(result.status == 0, "\(result)")
            #expect(try result.jsonObject()["account_number"] as? String == "22-8761")
        }
        let empty = try await copslink(["--server", "127.0.0.1:7420,,127.0.0.1:7421", "health"])
        #expect(empty.status == 64, "\(empty)")
        #expect(empty.stderr.contains("has an empty address between commas"), "\(empty)")
    }

    @Test("no server listening exits 14 UNAVAILABLE")
    func unavailable() async throws {
        // Port 1 (tcpmux) is closed on any test machine.
        let result = try await copslink(["--server", "127.0.0.1:1", "--timeout", "3", "health"])
        #expect(result.status == 14, "\(result)")
        #expect(result.stderr.contains("UNAVAILABLE"))
    }
}

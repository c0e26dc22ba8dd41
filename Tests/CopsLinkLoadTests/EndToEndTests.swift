import CopsLinkTestSupport
import Foundation
import Testing

/// The built copslink-load against a real copslink-server process, as a script would run it. Serialized: the
/// runs measure throughput, so they must not share the two cores with each other.
@Suite("copslink-load end to end", .serialized)
struct EndToEndTests {
    @Test("closed loop with a mix writes a JSON report with ordered percentiles and an HTML report with SVG")
    func closedLoop() async throws {
        try await LoadTestServer.with { server in
            let json = server.file("closed.json"), html = server.file("closed.html")
            let result = try await copslinkLoad([
                "--server", server.address, "--duration", "2", "--warmup", "0.5", "--concurrency", "4",
                "--mix", "GetAccount=70,GetTestStatus=20,RequestTestData=10", "--json-out", json.path, "--html-out", html.path
            ])
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.contains("closed loop, 4 workers"), "\(result)")
            #expect(!result.stdout.contains("\r"), "no progress line when stdout is not a terminal")
            let report = try jsonReport(at: json)
            let total = try #require(report["total_calls"] as? Int)
            #expect(total > 0)
            #expect(report["mode"] as? String == "closed")
            // None of these methods has an expected error status: every call must have succeeded.
            #expect(report["errors_by_status"] as? [String: Int] == [:], "\(report)")
            #expect(report["unexpected_error_calls"] as? Int == 0)
            #expect((report["throughput_per_s"] as? Double ?? 0) > 0)
            try expectOrderedPercentiles(report["latency_us"], "latency_us")
            let methods = try #require(report["methods"] as? [String: [String: Any]])
            #expect(Set(methods.keys) == ["GetAccount", "GetTestStatus", "RequestTestData"])
            for (name, method) in methods {
                #expect((method["calls"] as? Int ?? 0) > 0, "\(name)")
                try expectOrderedPercentiles(method["latency_us"], "methods.\(name).latency_us")
            }
            let timeline = try #require(report["timeline"] as? [[String: Int]])
            #expect(timeline.count == 2)
            #expect(timeline.reduce(0) { $0 + ($1["calls"] ?? 0) } == total)
            let page = try String(contentsOf: html, encoding: .utf8)
            #expect(page.contains("<svg"))
            #expect(page.contains("Latency by percentile"))
        }
    }

    @Test("open loop at 200 calls/s achieves 200 calls/s ± 25%, with corrected and uncorrected latency")
    func openLoop() async throws {
        try await LoadTestServer.with { server in
            let json = server.file("open.json")
            let result = try await copslinkLoad([
                "--server", server.address, "--rate", "200", "--duration", "2", "--warmup", "0.5", "--json-out", json.path
            ])
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.contains("uncorrected"), "\(result)")
            let report = try jsonReport(at: json)
            #expect(report["mode"] as? String == "open")
            let throughput = try #require(report["throughput_per_s"] as? Double)
            #expect(abs(throughput - 200) <= 50, "throughput \(throughput)")
            #expect(report["unexpected_error_calls"] as? Int == 0, "\(report)")
            try expectOrderedPercentiles(report["latency_us"], "latency_us")
            try expectOrderedPercentiles(report["latency_uncorrected_us"], "latency_uncorrected_us")
        }
    }

    @Test("--json prints only the JSON report; the expected FAILED_PRECONDITION of test placement is counted, not failed")
    func jsonStdoutWithTestPlacement() async throws {
        try await LoadTestServer.with { server in
            let result = try await copslinkLoad([
                "--server", server.address, "--duration", "1", "--warmup", "0", "--concurrency", "4", "--json",
                "--mix", "GetAccount=50,PlaceOnTest=25,PlaceOffTest=25", "--token", "secret-token"
            ])
            #expect(result.status == 0, "\(result)")
            let value = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
            let report = try #require(value as? [String: Any], "\(result)")
            let errors = try #require(report["errors_by_status"] as? [String: Int])
            #expect(Set(errors.keys).isSubset(of: ["FAILED_PRECONDITION"]), "\(errors)")
            #expect(report["unexpected_error_calls"] as? Int == 0)
            #expect((report["expected_error_calls"] as? Int ?? 0) == errors["FAILED_PRECONDITION", default: 0])
        }
    }

    @Test("against an authenticating server, --token makes the calls succeed; without it the run stops at UNAUTHENTICATED")
    func tokenAgainstAuthentication() async throws {
        let server = try await ServerProcess.start(arguments: ["--demo"], authenticated: true)
        defer { server.stopInBackground(removingDatabase: true) }
        let token = try #require(server.demoToken)
        let arguments = [
            "--server", server.address, "--duration", "0.5", "--warmup", "0", "--concurrency", "2", "--mix", "GetAccount=1", "--json"
        ]
        let authorized = try await copslinkLoad(arguments + ["--token", token])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(authorized.stdout.utf8)) as? [String: Any], "\(authorized)")
        #expect((report["total_calls"] as? Int ?? 0) > 0)
        #expect(report["error_calls"] as? Int == 0, "\(report)")
        // Preparing the accounts already needs the key: the run ends there, naming the status.
        let anonymous = try await copslinkLoad(arguments)
        #expect(anonymous.status == 1, "\(anonymous)")
        #expect(anonymous.stderr.contains("UNAUTHENTICATED"), "\(anonymous)")
    }

    @Test("--seed-accounts links load-N accounts (again: ALREADY_EXISTS is fine) and runs on them")
    func seedAccounts() async throws {
        try await LoadTestServer.with { server in
            for _ in 0..<2 {
                let result = try await copslinkLoad([
                    "--server", server.address, "--duration", "0.5", "--warmup", "0", "--concurrency", "2", "--seed-accounts", "3",
                    "--mix", "GetAccount=1,ReportSignals=1,SearchAuthorities=1", "--json"
                ])
                #expect(result.status == 0, "\(result)")
                let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
                #expect(report["accounts"] as? [String] == ["load-0", "load-1", "load-2"])
                #expect(report["error_calls"] as? Int == 0, "\(report)")
            }
        }
    }

    @Test("usage errors exit 64; an unreachable server exits 1")
    func failures() async throws {
        let unknown = try await copslinkLoad(["--mix", "GetAccount=1,Frobnicate=2"])
        #expect(unknown.status == 64, "\(unknown)")
        #expect(unknown.stderr.contains("unknown method 'Frobnicate'"))
        let zero = try await copslinkLoad(["--mix", "GetAccount=0"])
        #expect(zero.status == 64, "\(zero)")
        let arrivals = try await copslinkLoad(["--arrivals", "poisson"])
        #expect(arrivals.status == 64 && arrivals.stderr.contains("--rate"), "\(arrivals)")
        let tooMany = try await copslinkLoad(["--accounts", "9"])
        #expect(tooMany.status == 64 && tooMany.stderr.contains("--seed-accounts"), "\(tooMany)")
        // Port 1 on loopback: nothing listens there.
        let unreachable = try await copslinkLoad(["--server", "127.0.0.1:1", "--duration", "1", "--timeout", "2"])
        #expect(unreachable.status == 1, "\(unreachable)")
        #expect(
            unreachable.stderr.contains(
                "copslink-load: UNAVAILABLE: cannot connect to 127.0.0.1:1: connection refused (is the server running there?"),
            "\(unreachable)")
        #expect(!unreachable.stderr.contains("SingleConnectionFailure"), "one line, not the socket layer's dump: \(unreachable)")
    }
}

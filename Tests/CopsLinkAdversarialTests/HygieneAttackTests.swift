import CopsLinkTestSupport
import Foundation
import Testing

/// Issue 10, class 9: hygiene. The database and its WAL and SHM files were readable by every local user, and the
/// command-line client sent its bearer key in plaintext to any address.
extension AdversarialTests {
    @Test(
        "9: the database, -wal and -shm are mode 0600; copslink refuses --token over plaintext to a non-loopback address before connecting")
    func hygiene() async throws {
        let server = try await AttackServer.start()
        defer { server.stop() }

        try await server.withAttack("9-hygiene", growthBound: 16 * mebibyte) {
            // The honest client has written by now, so the WAL and SHM files exist.
            for suffix in ["", "-wal", "-shm"] {
                let path = server.database + suffix
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
                #expect(mode & 0o777 == 0o600, "\(path) has mode \(String(mode, radix: 8))")
            }

            // A key sent over plaintext to a non-loopback address: refused before any connection is made. The address
            // is this machine's own, where a listener counts the connections that arrive.
            let trap = try await ConnectionTrap.start()
            // Without such an address (a bare container), TEST-NET-1 stands in and only the refusal itself is checked.
            let address = ConnectionTrap.nonLoopbackAddress()
            let target = "\(address ?? "192.0.2.1"):\(trap.port)"
            let token = server.demoToken
            let cases: [([String], [String: String?])] = [
                (["account", "get", "demo-1", "--server", target, "--token", token], ["COPSLINK_SERVER": nil, "COPSLINK_TOKEN": nil]),
                (["account", "get", "demo-1", "--server", target], ["COPSLINK_SERVER": nil, "COPSLINK_TOKEN": token])
            ]
            for (arguments, environment) in cases {
                let run = try await runBuiltBinary("copslink", arguments, environment: environment)
                #expect(run.status != 0, "\(run)")
                #expect(run.stderr.contains("--insecure-plaintext"), "the refusal names the flag that overrides it: \(run.stderr)")
                #expect(!run.stdout.contains(token) && !run.stderr.contains(token), "the key is not printed")
            }
            #expect(trap.connections == 0, "copslink connected before refusing: \(trap.connections) connections")
            guard address != nil else { return await trap.close() }
            // With the override it connects (and fails: the listener is no CopsLink server).
            let overridden = try await runBuiltBinary(
                "copslink", ["account", "get", "demo-1", "--server", target, "--token", token, "--insecure-plaintext", "--timeout", "2"],
                environment: ["COPSLINK_SERVER": nil, "COPSLINK_TOKEN": nil])
            #expect(overridden.status != 0 && !overridden.stderr.contains("Unknown option"), "\(overridden)")
            #expect(trap.connections > 0, "with --insecure-plaintext copslink connects")
            await trap.close()
            // Loopback needs no override.
            let local = try await runBuiltBinary(
                "copslink", ["account", "get", "demo-1", "--server", "127.0.0.1:\(server.port)", "--token", token],
                environment: ["COPSLINK_SERVER": nil, "COPSLINK_TOKEN": nil])
            #expect(local.status == 0, "\(local)")
        }
    }
}

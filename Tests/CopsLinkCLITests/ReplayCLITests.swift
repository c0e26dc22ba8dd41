import CopsLinkTestSupport
import Foundation
import Testing

/// What a user sees of idempotent replays and of the calling key, through `copslink` against an authenticated server.
@Suite("Replays and the calling key on the command line")
struct ReplayCLITests {
    @Test("a command repeated with the same --request-id is marked as a replay; added_by and placed_by name the key")
    func replayIsMarked() async throws {
        let server = try await ServerProcess.start(arguments: ["--demo"], authenticated: true)
        defer { server.stopInBackground(removingDatabase: true) }
        let created = try await runBuiltBinary(
            "copslink-server",
            [
                "keys", "create", "--database", server.database, "--dealer", "demo", "--roles", "read,write,test-control", "--name",
                "crm-sync", "--quiet"
            ])
        #expect(created.status == 0, "\(created)")
        let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let id = "6a0f3c8e-8d1a-4e57-9a43-1f1c2b3d4e5f"
        let add = ["--server", server.address, "--token", token, "--request-id", id, "authorities", "add", "demo-4", "tx-austin-fd"]
        let note = "(replay of request \(id): nothing was changed; this is the first answer to it, as it was then)"

        let first = try await copslink(add)
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout.contains("Added 1 authority to demo-4."))
        #expect(first.stdout.contains("crm-sync"), "ADDED BY defaults to the key's name: \(first.stdout)")
        #expect(!first.stdout.contains("replay"))

        let again = try await copslink(add)
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.hasSuffix(note + "\n"), "\(again.stdout)")
        #expect(again.stdout.hasPrefix(first.stdout.trimmingCharacters(in: .newlines)), "the first answer, then the note")

        let json = try await copslink(add + ["--json"])
        #expect(json.status == 0, "\(json)")
        let object = try json.jsonObject()
        #expect(object["replayed"] as? Bool == true)
        #expect((object["added"] as? [[String: Any]])?.first?["added_by"] as? String == "crm-sync")

        // A new request is not a replay, also in JSON; placed_by names the key too.
        let placed = try await copslink(
            ["--server", server.address, "--token", token, "--json", "test", "on", "demo-4", "--category", "service", "--hours", "1"])
        #expect(placed.status == 0, "\(placed)")
        let placedObject = try placed.jsonObject()
        #expect(placedObject["replayed"] as? Bool == false)
        let placedBy = (placedObject["session"] as? [String: Any])?["placed_by"] as? [String: Any]
        #expect(placedBy?["name"] as? String == "crm-sync")
    }
}

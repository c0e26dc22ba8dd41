import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkCore
import Foundation

/// The demo API key of a `--demo` server, kept in a file next to the database (`<database>.demo-key`, mode 0600) so that
/// a restart on the same database prints the same key again and an exported `COPSLINK_TOKEN` keeps working. Only a
/// hash is in the database, so without this file an old key could not be shown again.
enum DemoKeyFile {
    static func path(database: String) -> String { database + ".demo-key" }

    /// The demo key: the one in `file` when it is still an active demo key of this database, else a new one
    /// (earlier demo keys revoked, the file rewritten). `rotate` always makes a new one; without a file (PostgreSQL),
    /// every call does.
    static func demoKey(
        _ store: any APIKeyStore, file: String?, rotate: Bool, nowMs: Int64
    ) async throws
        -> (token: APIKeyToken, reused: Bool)
    {
        if !rotate, let file, let saved = try? String(contentsOfFile: file, encoding: .utf8),
            let token = APIKeyToken(parsing: saved.trimmingCharacters(in: .whitespacesAndNewlines)),
            let record = try await store.apiKey(id: token.id),
            record.dealerID == DealerID.demo, record.name == "demo", !record.isRevoked,
            record.secretSHA256 == token.secretHash
        {
            return (token, true)
        }
        for key in try await store.apiKeys(dealerID: DealerID.demo) where key.name == "demo" && !key.isRevoked {
            _ = try await store.revokeAPIKey(id: key.id, atMs: nowMs)
        }
        let token = try await store.createAPIKey(
            dealerID: DealerID.demo, name: "demo", roles: [.read, .write, .testControl], nowMs: nowMs)
        // The secret is written with owner-only permissions, like the database itself.
        if let file {
            FileManager.default.createFile(
                atPath: file, contents: Data((token.token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        return (token, false)
    }
}

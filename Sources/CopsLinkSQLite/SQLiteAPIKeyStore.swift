public import CopsLinkAuth
import CopsLinkCore
import Foundation
import GRDB

/// API keys live in the account database, table `api_key`.
extension SQLiteAccountStore: APIKeyStore {
    /// Inline on the caller's thread through the page reader's connections (`SQLiteAccountPageReader`), not GRDB's
    /// readers: a key's check must not wait behind other reads (2,500 RequestTestData streams of one key made every
    /// key lookup wait 4–6 s).
    public func apiKey(id: String) async throws -> APIKeyRecord? {
        try pages.apiKey(id: id)
    }

    public func insertAPIKey(_ record: APIKeyRecord) async throws {
        try await pool.write { db in
            try db.executeCached(
                sql: "INSERT INTO api_key (id, dealer_id, name, secret_sha256, roles, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    record.id, record.dealerID, record.name, Data(record.secretSHA256),
                    Role.list(record.roles), record.createdAtMs, record.revokedAtMs
                ])
        }
    }

    public func apiKeys(dealerID: String?) async throws -> [APIKeyRecord] {
        try await pool.read { db in
            if let dealerID {
                return try db.cachedRows(sql: "SELECT * FROM api_key WHERE dealer_id = ? ORDER BY created_at, id", arguments: [dealerID])
                    .map(Self.apiKey)
            }
            return try db.cachedRows(sql: "SELECT * FROM api_key ORDER BY created_at, id").map(Self.apiKey)
        }
    }

    public func revokeAPIKey(id: String, atMs: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.executeCached(sql: "UPDATE api_key SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [atMs, id])
            return db.changesCount > 0
        }
    }

    private static func apiKey(_ row: Row) -> APIKeyRecord {
        let roles: String = row["roles"]
        return APIKeyRecord(
            id: row["id"], dealerID: row["dealer_id"], name: row["name"], secretSHA256: [UInt8](row["secret_sha256"] as Data),
            roles: Set(roles.split(separator: ",").map { Role(rawValue: String($0)) }), createdAtMs: row["created_at"],
            revokedAtMs: row["revoked_at"])
    }
}

public import CopsLinkAuth
import CopsLinkCore
import NIOCore
import PostgresNIO

/// API keys live in the account database, table `api_key`, as in the SQLite store. Each call is one statement from
/// the calling task (no store thread): PostgreSQL runs a lone statement in a transaction of its own.
extension PostgresAccountStore: APIKeyStore {
    public func apiKey(id: String) async throws -> APIKeyRecord? {
        try await keys("SELECT * FROM api_key WHERE id = \(id)").first
    }

    public func insertAPIKey(_ record: APIKeyRecord) async throws {
        do {
            try await client.query(
                """
                INSERT INTO api_key (id, dealer_id, name, secret_sha256, roles, created_at, revoked_at)
                VALUES (\(record.id), \(record.dealerID), \(record.name), \(ByteBuffer(bytes: record.secretSHA256)), \(Role.list(record.roles)),
                    \(record.createdAtMs), \(record.revokedAtMs))
                """, logger: logger)
        } catch {
            throw Self.mapped(error, logger: logger)
        }
    }

    public func apiKeys(dealerID: String?) async throws -> [APIKeyRecord] {
        guard let dealerID else { return try await keys("SELECT * FROM api_key ORDER BY created_at, id") }
        return try await keys("SELECT * FROM api_key WHERE dealer_id = \(dealerID) ORDER BY created_at, id")
    }

    public func revokeAPIKey(id: String, atMs: Int64) async throws -> Bool {
        do {
            let rows = try await client.query(
                "UPDATE api_key SET revoked_at = \(atMs) WHERE id = \(id) AND revoked_at IS NULL RETURNING id", logger: logger)
            var revoked = false
            for try await _ in rows { revoked = true }
            return revoked
        } catch {
            throw Self.mapped(error, logger: logger)
        }
    }

    private func keys(_ query: PostgresQuery) async throws -> [APIKeyRecord] {
        do {
            var records: [APIKeyRecord] = []
            for try await row in try await client.query(query, logger: logger) {
                let row = row.makeRandomAccess()
                let roles: String = try row.value("roles")
                records.append(
                    APIKeyRecord(
                        id: try row.value("id"), dealerID: try row.value("dealer_id"), name: try row.value("name"),
                        secretSHA256: try row.bytes("secret_sha256"),
                        roles: Set(roles.split(separator: ",").map { Role(rawValue: String($0)) }),
                        createdAtMs: try row.value("created_at"),
                        revokedAtMs: try row.value("revoked_at")))
            }
            return records
        } catch {
            throw Self.mapped(error, logger: logger)
        }
    }
}

public import CopsLinkCore

/// An API key as stored: never its secret, only the secret's SHA-256.
public struct APIKeyRecord: Sendable, Hashable {
    public var id: String
    /// The dealer (tenant) the key acts for.
    public var dealerID: String
    /// What the key is for, e.g. "crm production"; shown in listings.
    public var name: String
    public var secretSHA256: [UInt8]
    public var roles: Set<Role>
    public var createdAtMs: Int64
    public var revokedAtMs: Int64?

    public init(
        id: String, dealerID: String, name: String, secretSHA256: [UInt8], roles: Set<Role>, createdAtMs: Int64,
        revokedAtMs: Int64? = nil
    ) {
        self.id = id
        self.dealerID = dealerID
        self.name = name
        self.secretSHA256 = secretSHA256
        self.roles = roles
        self.createdAtMs = createdAtMs
        self.revokedAtMs = revokedAtMs
    }

    public var isRevoked: Bool { revokedAtMs != nil }
}

/// Durable storage of API keys.
public protocol APIKeyStore: Sendable {
    func apiKey(id: String) async throws -> APIKeyRecord?
    func insertAPIKey(_ record: APIKeyRecord) async throws
    /// Every key, or a dealer's, oldest first.
    func apiKeys(dealerID: String?) async throws -> [APIKeyRecord]
    /// Marks the key revoked; false if there is no such key or it was already revoked.
    func revokeAPIKey(id: String, atMs: Int64) async throws -> Bool
}

extension APIKeyStore {
    /// Creates a key for `dealerID` with `roles`; returns its token, which exists only in this answer.
    public func createAPIKey(dealerID: String, name: String, roles: Set<Role>, nowMs: Int64) async throws -> APIKeyToken {
        guard Caller.isValidTenant(dealerID) else { throw InvalidDealerID(id: dealerID) }
        let token = APIKeyToken.generate()
        try await insertAPIKey(
            APIKeyRecord(
                id: token.id, dealerID: dealerID, name: name, secretSHA256: token.secretHash, roles: roles, createdAtMs: nowMs))
        return token
    }
}

/// A dealer id that `Caller.isValidTenant` rejects.
public struct InvalidDealerID: Error, CustomStringConvertible {
    public var id: String
    public var description: String { "'\(id)' is not a dealer id: 1-64 characters of a-z 0-9 . _ -, starting with a letter or digit" }
}

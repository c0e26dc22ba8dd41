import CopsLinkAuth
import CopsLinkCore
import Synchronization
import Testing

/// Keys in memory, counting reads (to see the cache work).
final class MemoryKeyStore: APIKeyStore {
    let keys = Mutex<[String: APIKeyRecord]>([:])
    let reads = Atomic<Int>(0)

    func apiKey(id: String) async throws -> APIKeyRecord? {
        reads.add(1, ordering: .relaxed)
        return keys.withLock { $0[id] }
    }

    func insertAPIKey(_ record: APIKeyRecord) async throws { keys.withLock { $0[record.id] = record } }

    func apiKeys(dealerID: String?) async throws -> [APIKeyRecord] {
        keys.withLock { Array($0.values) }.filter { dealerID == nil || $0.dealerID == dealerID }.sorted { $0.createdAtMs < $1.createdAtMs }
    }

    func revokeAPIKey(id: String, atMs: Int64) async throws -> Bool {
        keys.withLock { keys in
            guard keys[id] != nil, keys[id]?.revokedAtMs == nil else { return false }
            keys[id]?.revokedAtMs = atMs
            return true
        }
    }
}

@Suite("API keys")
struct APIKeyTests {
    @Test func sha256MatchesTheFIPSVectors() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined() }
        #expect(hex(SecretHash.sha256("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SecretHash.sha256([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func constantTimeEqualsComparesWholeValues() {
        #expect(SecretHash.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!SecretHash.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!SecretHash.constantTimeEquals([1, 2, 3], [1, 2]))
    }

    @Test func generatedTokensParseBackAndDiffer() throws {
        let token = APIKeyToken.generate()
        #expect(token.token.count == 4 + 16 + 1 + 64)
        #expect(APIKeyToken(parsing: token.token) == token)
        #expect(APIKeyToken.generate() != token)
        #expect(!"\(token)".contains(token.secret), "the description must not show the secret")
    }

    @Test(arguments: [
        "", "clk_", "clk_0123456789abcdef", "clk_0123456789abcdef_", "abc_0123456789abcdef_" + String(repeating: "a", count: 64),
        "clk_0123456789ABCDEF_" + String(repeating: "a", count: 64), "clk_0123456789abcdef_" + String(repeating: "a", count: 63),
        "clk_0123456789abcdef_" + String(repeating: "g", count: 64), "clk_0123456789abcdef_" + String(repeating: "a", count: 64) + "_x"
    ])
    func malformedTokensDoNotParse(_ text: String) {
        #expect(APIKeyToken(parsing: text) == nil)
    }

    @Test func theAuthenticatorAcceptsOnlyTheRightSecretOfALiveKey() async throws {
        let store = MemoryKeyStore()
        let token = try await store.createAPIKey(dealerID: "acme", name: "crm", roles: [.read, .write], nowMs: 1)
        let stored = try #require(try await store.apiKey(id: token.id))
        #expect(stored.secretSHA256 == SecretHash.sha256(token.secret.utf8))
        #expect(!stored.secretSHA256.isEmpty && stored.name == "crm")

        let authenticator = APIKeyAuthenticator(store: store, cacheTTL: .zero)
        let caller = try await authenticator.authenticate(bearerToken: token.token)
        #expect(caller == Caller(tenant: "acme", roles: [.read, .write], keyID: token.id, keyName: "crm"))

        let wrongSecret = APIKeyToken(id: token.id, secret: String(repeating: "0", count: 64))
        let forged = try await authenticator.authenticate(bearerToken: wrongSecret.token)
        #expect(forged == nil)
        let garbage = try await authenticator.authenticate(bearerToken: "not-a-key")
        #expect(garbage == nil)

        #expect(try await store.revokeAPIKey(id: token.id, atMs: 2))
        let revoked = try await authenticator.authenticate(bearerToken: token.token)
        #expect(revoked == nil)
        let again = try await store.revokeAPIKey(id: token.id, atMs: 3)
        #expect(!again)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

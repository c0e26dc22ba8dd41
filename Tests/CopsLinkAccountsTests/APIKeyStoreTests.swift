import CopsLinkAuth
import CopsLinkCore
import Testing

/// Both stores read a key by id as they list it: the SQLite store reads one through its own inline connections
/// (`SQLiteAccountPageReader`), not GRDB's, so that read is checked against GRDB's listing.
@Suite("API key store")
struct APIKeyStoreTests {
    @Test(arguments: StoreKind.all) func aKeyReadByIDIsTheKeyListed(_ kind: StoreKind) async throws {
        try await withTestStore(kind) { testStore in
            let store = testStore.store
            let live = try await store.createAPIKey(dealerID: "acme", name: "crm — prod", roles: [.read, .write, .testControl], nowMs: 7)
            let revoked = try await store.createAPIKey(dealerID: "acme", name: "", roles: [.admin], nowMs: 8)
            #expect(try await store.revokeAPIKey(id: revoked.id, atMs: 9))
            let listed = try await store.apiKeys(dealerID: "acme")
            #expect(listed.count == 2)
            for key in listed { #expect(try await store.apiKey(id: key.id) == key) }
            let read = try #require(try await store.apiKey(id: live.id))
            #expect(read.roles == [.read, .write, .testControl] && read.name == "crm — prod" && read.createdAtMs == 7)
            #expect(read.revokedAtMs == nil && read.secretSHA256 == SecretHash.sha256(live.secret.utf8))
            #expect(try await store.apiKey(id: revoked.id)?.revokedAtMs == 9)
            #expect(try await store.apiKey(id: "0123456789abcdef") == nil)
            // A later commit is seen by the connection that read before it.
            #expect(try await store.revokeAPIKey(id: live.id, atMs: 10))
            #expect(try await store.apiKey(id: live.id)?.revokedAtMs == 10)
        }
    }
}

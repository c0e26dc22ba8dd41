import CopsLinkSQLite
import CopsLinkTestSupport
import Foundation
import Testing

@Suite("Database file permissions")
struct DatabaseFileModeTests {
    static func permissions(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int)
    }

    @Test func aNewDatabaseItsWALAndSHMAreTheOwnersOnly() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let store = try SQLiteAccountStore(path: path)
        defer { try? store.close() }
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(FileManager.default.fileExists(atPath: file), "\(file) should exist while the store is open")
            #expect(try Self.permissions(file) == 0o600, "\(file)")
        }
    }

    @Test func anExistingDatabaseReadableByOthersIsRestricted() throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        do {
            let store = try SQLiteAccountStore(path: path)
            try store.close()
        }
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: file)
        }
        let store = try SQLiteAccountStore(path: path)
        defer { try? store.close() }
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(try Self.permissions(file) == 0o600, "\(file)")
        }
    }
}

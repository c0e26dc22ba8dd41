import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkTestSupport
import Foundation
import Testing

/// `copslink-server backup`: a consistent copy of a store a server is writing to, which opens as a store with the
/// same data; never over an existing file; PostgreSQL is pointed to pg_dump.
@Suite("copslink-server backup")
struct BackupCommandTests {
    private func backup(_ database: String, to file: String) async throws -> BinaryRun {
        try await runBuiltBinary("copslink-server", ["backup", "--database", database, "--to", file])
    }

    @Test func aBackupTakenWhileAWriterWritesOpensAsASoundStoreWithTheSameData() async throws {
        try await withAccountService(on: .sqlite) { fixture in
            _ = try await StoreMigrationTests.seed(fixture)
            let store = fixture.store
            // A writer adding customers until told to stop, all through the backups.
            let stop = LockedBox(false)
            let writer = Task {
                var written = 0
                while !stop.value {
                    let (customer, _) = provoCustomer("w-\(written)")
                    try await store.write(.dealer(DealerID.demo)) { try $0.saveCustomer(customer) }
                    written += 1
                }
                return written
            }
            let during = temporaryDatabasePath()
            defer { removeDatabase(at: during) }
            let first = try await backup(fixture.databasePath, to: during)
            // Let the writer run at least once before and after the copy.
            _ = try await eventually { try await store.read(.dealer(DealerID.demo)) { try $0.customerCount() } > 5 + 3 }
            stop.withLock { $0 = true }
            let written = try await writer.value
            #expect(first.status == 0, "\(first)")
            #expect(first.stdout.contains("integrity check ok"))

            let copy = try SQLiteAccountStore(path: during)
            #expect(try await copy.integrityCheck() == "ok")
            let copied = try await copy.read(.dealer(DealerID.demo)) { try $0.customerCount() }
            #expect((5...(5 + written)).contains(copied), "a snapshot: the seeded customers and a prefix of the writer's")
            try copy.close()

            // Once the writer has stopped, a backup answers every read exactly as the store does.
            let after = temporaryDatabasePath()
            defer { removeDatabase(at: after) }
            #expect(try await backup(fixture.databasePath, to: after).status == 0)
            let restored = try SQLiteAccountStore(path: after)
            #expect(try await restored.integrityCheck() == "ok")
            try await withService(store: restored, clock: fixture.clock) { client in
                let expected = try await StoreMigrationTests.answers(store: store, client: fixture.client, nowMs: fixture.now)
                let answered = try await StoreMigrationTests.answers(store: restored, client: client, nowMs: fixture.now)
                #expect(answered == expected)
                #expect(try await restored.read(.dealer(DealerID.demo)) { try $0.customerCount() } == 5 + written)
            }
            try restored.close()
        }
    }

    @Test func anExistingFileIsNeverOverwritten() async throws {
        try await withAccountService(on: .sqlite) { fixture in
            try await linkProvoCustomer(fixture)
            let existing = temporaryDatabasePath()
            defer { removeDatabase(at: existing) }
            try Data("keep me".utf8).write(to: URL(fileURLWithPath: existing))
            let result = try await backup(fixture.databasePath, to: existing)
            #expect(result.status == 1, "\(result)")
            #expect(
                result.stderr == "copslink-server backup: cannot create \(existing): it already exists (a backup never overwrites a file)\n"
            )
            #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep me")

            // An empty file is no exception (SQLite's VACUUM INTO would fill it).
            let empty = temporaryDatabasePath()
            defer { removeDatabase(at: empty) }
            FileManager.default.createFile(atPath: empty, contents: nil)
            #expect(try await backup(fixture.databasePath, to: empty).status == 1)
            #expect(try Data(contentsOf: URL(fileURLWithPath: empty)).isEmpty)
        }
    }

    @Test func aMissingDatabaseIsAnErrorAndNoFileIsLeft() async throws {
        let target = temporaryDatabasePath()
        defer { removeDatabase(at: target) }
        let result = try await backup(temporaryDatabasePath(), to: target)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("no such file"))
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    @Test func aPostgreSQLDatabaseIsPointedToPgDump() async throws {
        let result = try await backup("postgres://copslink:hunter2@db.example:5433/copslink?sslmode=require", to: "copslink.dump")
        #expect(result.status == 1, "\(result)")
        #expect(
            result.stderr.contains(
                "pg_dump --format=custom --file='copslink.dump' 'postgres://copslink@db.example:5433/copslink?sslmode=require'"),
            "\(result)")
        #expect(!result.stderr.contains("hunter2"), "the password is never printed")
    }
}

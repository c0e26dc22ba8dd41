import ArgumentParser
import CopsLinkAccounts
import CopsLinkPostgres
import CopsLinkSQLite
import Foundation

/// `copslink-server backup`: an online copy of an SQLite store. A PostgreSQL database is backed up with pg_dump,
/// which this command names instead.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copies an SQLite store, while the server runs, into a new file.",
        discussion: """
            The copy is a consistent snapshot (SQLite's VACUUM INTO on a read-only connection): the server may keep \
            running and writing; writes committed after the copy starts are not in it. An existing file is never \
            overwritten. The copy is checked with PRAGMA integrity_check, and is a store: restore it by stopping the \
            server and putting the copy in place of the database file (removing any -wal and -shm files beside it).

            For a PostgreSQL --database, use pg_dump (this command prints the command line).

            Example:
              copslink-server backup --database data/copslink.sqlite \\
                  --to backups/copslink-$(date +%F).sqlite
            """)

    @Option(help: ArgumentHelp("The server's --database: the SQLite file to copy.", valueName: "path"))
    var database = "copslink.sqlite"
    @Option(help: ArgumentHelp("The new file to write (refused if it exists).", valueName: "file"))
    var to: String

    func run() async throws {
        if PostgresStoreConfiguration.isURL(database) {
            throw fail(
                """
                --database is a PostgreSQL database; back it up with pg_dump (the password from PGPASSWORD or ~/.pgpass):
                  \(Self.pgDumpCommand(url: database, file: to))
                and restore into an empty database with:
                  pg_restore --no-owner --dbname=\(Self.shellQuoted(Self.withoutPassword(database))) \(Self.shellQuoted(to))
                """)
        }
        guard FileManager.default.fileExists(atPath: database) else { throw fail("--database \(database): no such file.") }
        let result: SQLiteStoreBackup.Result
        do {
            result = try SQLiteStoreBackup.backup(database: database, to: to)
        } catch let error as StoreCopyError {
            throw fail(error.description)
        }
        print("backed up \(database) to \(to) (\(result.bytes) bytes, integrity check ok)")
    }

    private func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("copslink-server backup: \(message)\n".utf8))
        return ExitCode(1)
    }

    /// The pg_dump command line for `url` into `file`: custom format (compressed, restored with pg_restore).
    static func pgDumpCommand(url: String, file: String) -> String {
        "pg_dump --format=custom --file=\(shellQuoted(file)) \(shellQuoted(withoutPassword(url)))"
    }

    /// A password is never printed: pg_dump reads it from PGPASSWORD or ~/.pgpass.
    static func withoutPassword(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = nil
        return components.string ?? url
    }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

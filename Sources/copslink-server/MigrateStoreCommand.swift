import ArgumentParser
import CopsLinkAccounts
import CopsLinkPostgres
import CopsLinkSQLite
import Foundation
import Logging

/// `copslink-server migrate-store`: an SQLite store copied into an empty PostgreSQL database, for moving to several
/// instances on one database.
struct MigrateStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copies an SQLite store into an empty PostgreSQL database.",
        discussion: """
            Applies the PostgreSQL migrations, copies every table (accounts, customers, parties, zones, equipment, \
            authorities, test sessions and data, signals, idempotency records, API keys, account pages) and checks \
            each table's row count, all in one PostgreSQL transaction: on any error nothing is committed. A target \
            with rows in any table is refused. The SQLite file is only read, from one snapshot, so a server may keep \
            running on it; writes it accepts after the copy starts are not copied (stop it for the final copy).

            Example:
              export PGPASSWORD=…
              copslink-server migrate-store --from data/copslink.sqlite \\
                  --to postgres://copslink@db.example:5432/copslink
            """)

    @Option(help: ArgumentHelp("The SQLite store to copy (opened read-only).", valueName: "path"))
    var from: String
    @Option(
        help: ArgumentHelp(
            "The PostgreSQL database to fill: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]. The password comes from the URL, --database-password-file or PGPASSWORD.",
            valueName: "url"))
    var to: String
    @Option(help: ArgumentHelp("A file whose first line is the PostgreSQL password.", valueName: "file"))
    var databasePasswordFile: String?
    @Option(help: "Rows per INSERT statement (1-10000).")
    var batchRows = PostgresStoreImport.defaultBatchRows

    func validate() throws {
        guard PostgresStoreConfiguration.isURL(to) else {
            throw ValidationError("--to \(to.prefix(80)): give a postgres:// or postgresql:// URL.")
        }
        guard (1...10_000).contains(batchRows) else { throw ValidationError("--batch-rows \(batchRows): give 1 to 10000.") }
        guard FileManager.default.fileExists(atPath: from) else { throw ValidationError("--from \(from): no such file.") }
        _ = try target()
    }

    private func target() throws -> PostgresStoreConfiguration {
        try DatabaseOptions.postgresConfiguration(url: to, passwordFile: databasePasswordFile, poolSize: 1, option: "--to")
    }

    func run() async throws {
        var logger = Logger(label: "copslink.migrate-store")
        logger.logLevel = .warning
        let configuration = try target()
        let summary: [PostgresStoreImport.TableSummary]
        do {
            summary = try await PostgresStoreImport.run(configuration: configuration, logger: logger, batchRows: batchRows) { [from] in
                try SQLiteStoreSnapshot(path: from)
            }
        } catch let error as StoreCopyError {
            FileHandle.standardError.write(Data("copslink-server migrate-store: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        print("copied \(from) to \(PostgresStoreConfiguration.redacted(to))")
        let width = max(5, summary.map(\.table.count).max() ?? 0)
        print("TABLE".padding(toLength: width, withPad: " ", startingAt: 0) + "  ROWS")
        for table in summary {
            print(table.table.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(table.rows)")
        }
        print("row counts verified: every table holds as many rows as the source.")
    }
}

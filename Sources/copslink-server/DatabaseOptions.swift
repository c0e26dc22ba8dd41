import ArgumentParser
import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkPostgres
import CopsLinkSQLite
import Foundation
import Logging

/// `--database` and what goes with it, shared by `serve`, `keys` and `import-authorities`: an SQLite file path, or a
/// `postgres://` / `postgresql://` URL for a PostgreSQL database that several server instances share.
struct DatabaseOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The account store: the path of an SQLite file (serve creates it if missing; keys and import-authorities refuse a missing one unless told to create it), or a PostgreSQL URL postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require] (migrated on start). The password comes from the URL, --database-password-file or PGPASSWORD.",
            valueName: "path-or-url"))
    var database = "copslink.sqlite"
    @Option(help: ArgumentHelp("With a PostgreSQL --database: a file whose first line is the password.", valueName: "file"))
    var databasePasswordFile: String?
    @Option(help: "With a PostgreSQL --database: connections held at most, and as many threads running store transactions (1-1000).")
    var databasePoolSize = PostgresStoreConfiguration.defaultPoolSize

    var isPostgres: Bool { PostgresStoreConfiguration.isURL(database) }

    /// Refuses an SQLite path that does not exist: opening it would create an empty database that the running server
    /// (on another file) never reads. `create` allows it, for a store set up before the server's first start;
    /// `offersCreate` says whether the command has `--create`, for the message. (A PostgreSQL database is named by its
    /// URL; a wrong one fails to connect.)
    func validateExists(create: Bool = false, offersCreate: Bool) throws {
        guard !create, !isPostgres, !FileManager.default.fileExists(atPath: database) else { return }
        let remedy = offersCreate ? "; add --create to start a new database there" : ""
        throw ValidationError("--database \(database): no such file (is it the server's --database path?)\(remedy).")
    }

    func validate() throws {
        guard (1...1000).contains(databasePoolSize) else {
            throw ValidationError("--database-pool-size \(databasePoolSize): give 1 to 1000 connections.")
        }
        if isPostgres {
            _ = try postgresConfiguration()
        } else if databasePasswordFile != nil {
            throw ValidationError("--database-password-file is for a PostgreSQL --database (postgres://…), not an SQLite file.")
        }
    }

    /// The PostgreSQL configuration: the URL's password, else the file's first line, else `PGPASSWORD`.
    func postgresConfiguration() throws -> PostgresStoreConfiguration {
        try Self.postgresConfiguration(
            url: database, passwordFile: databasePasswordFile, poolSize: databasePoolSize, option: "--database")
    }

    /// A PostgreSQL configuration from `url` (named `option` in messages): its password is the URL's, else
    /// `passwordFile`'s first line, else `PGPASSWORD`, so that it need never be on a command line.
    static func postgresConfiguration(
        url: String, passwordFile: String?, poolSize: Int, option: String
    ) throws
        -> PostgresStoreConfiguration
    {
        var password = ProcessInfo.processInfo.environment["PGPASSWORD"]
        if let passwordFile {
            do {
                let text = try String(contentsOfFile: passwordFile, encoding: .utf8)
                password = String(text.prefix { $0 != "\n" && $0 != "\r" })
            } catch {
                throw ValidationError("--database-password-file \(passwordFile): cannot read it (\(error.localizedDescription))")
            }
        }
        do {
            return try PostgresStoreConfiguration(url: url, password: password, poolSize: poolSize)
        } catch let error as PostgresStoreConfigurationError {
            throw ValidationError("\(option): \(error.description)")
        }
    }

    /// `--database` for messages and logs: a URL without its password.
    var described: String { isPostgres ? PostgresStoreConfiguration.redacted(database) : database }

    /// Opens (creating or migrating as needed) the store.
    func open(logger: Logger) async throws -> OpenedStore {
        if isPostgres {
            let store = try await PostgresAccountStore(configuration: try postgresConfiguration(), logger: logger)
            return OpenedStore(store: store, demoKeyFile: nil, close: { await store.close() })
        }
        let store = try SQLiteAccountStore(path: database, logger: logger)
        return OpenedStore(store: store, demoKeyFile: DemoKeyFile.path(database: database), close: { try store.close() })
    }
}

/// An open account store, whichever engine.
struct OpenedStore: Sendable {
    let store: any AccountStore & APIKeyStore
    /// Where `--demo` keeps its key between starts: beside an SQLite file; nowhere for PostgreSQL (a new demo key at
    /// every start, the earlier ones revoked).
    let demoKeyFile: String?
    let close: @Sendable () async throws -> Void
}

public import CopsLinkAccounts
import GRDBSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `copslink-server backup`: an online copy of an SQLite store, made with `VACUUM INTO` on a read-only connection of
/// its own. The copy is one read transaction's snapshot (the last commit before it started), so a server may keep
/// writing meanwhile; its writers are never blocked (WAL), and the copy is compact and needs no WAL of its own.
public enum SQLiteStoreBackup {
    /// What a backup made.
    public struct Result: Sendable {
        /// The copy's size in bytes.
        public var bytes: Int64
    }

    /// Copies the store at `database` to `destination`, which must not exist: it is created here, exclusively and
    /// readable by its owner only (it holds what the store holds), then filled. The copy is checked with
    /// `PRAGMA integrity_check` before this returns; on any failure the file made here is removed.
    public static func backup(database: String, to destination: String) throws -> Result {
        let descriptor = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, DatabaseFileMode.ownerOnly)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST ? "it already exists (a backup never overwrites a file)" : String(cString: strerror(errno))
            throw StoreCopyError("cannot create \(destination): \(reason)")
        }
        close(descriptor)
        do {
            let source = try Connection(path: database)
            // VACUUM INTO takes an expression: the path is bound, not spliced. An empty file is accepted as the target.
            try source.run("VACUUM INTO ?1", binding: destination, doing: "copying \(database) to \(destination)")
            let copy = try Connection(path: destination)
            let verdict = try copy.text("PRAGMA integrity_check", doing: "checking \(destination)")
            guard verdict == "ok" else {
                throw StoreCopyError("the copy \(destination) failed PRAGMA integrity_check: \(verdict.prefix(200))")
            }
            var status = stat()
            return Result(bytes: stat(destination, &status) == 0 ? Int64(status.st_size) : 0)
        } catch {
            unlink(destination)
            throw error
        }
    }

    /// A read-only connection, closed when released.
    private final class Connection {
        private var db: OpaquePointer?

        init(path: String) throws {
            let code = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
            guard code == SQLITE_OK else {
                defer { sqlite3_close_v2(db) }
                throw Self.error(db, code, "cannot open \(path) read-only")
            }
            sqlite3_busy_timeout(db, 10_000)
        }

        deinit { sqlite3_close_v2(db) }

        func run(_ sql: String, binding: String, doing: String) throws {
            _ = try step(sql, binding: binding, doing: doing)
        }

        func text(_ sql: String, doing: String) throws -> String {
            try step(sql, binding: nil, doing: doing) ?? ""
        }

        /// Runs `sql` to completion; returns the first column of its first row, as text.
        private func step(_ sql: String, binding: String?, doing: String) throws -> String? {
            var statement: OpaquePointer?
            var code = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
            defer { sqlite3_finalize(statement) }
            guard code == SQLITE_OK else { throw Self.error(db, code, doing) }
            var first: String?
            // SQLITE_STATIC (nil): the text stays in place while the statement steps, inside this closure.
            code = (binding ?? "").withCString { text in
                if binding != nil {
                    let bound = sqlite3_bind_text(statement, 1, text, -1, nil)
                    guard bound == SQLITE_OK else { return bound }
                }
                var stepped: Int32
                repeat {
                    stepped = sqlite3_step(statement)
                    if stepped == SQLITE_ROW, first == nil, let value = sqlite3_column_text(statement, 0) {
                        first = String(cString: value)
                    }
                } while stepped == SQLITE_ROW
                return stepped
            }
            guard code == SQLITE_DONE else { throw Self.error(db, code, doing) }
            return first
        }

        private static func error(_ db: OpaquePointer?, _ code: Int32, _ doing: String) -> StoreCopyError {
            let message = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "SQLite error \(code)"
            return StoreCopyError("\(doing): \(message)")
        }
    }
}

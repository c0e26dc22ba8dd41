public import CopsLinkAccounts
import GRDB
import GRDBSQLite

/// An SQLite store read for `copslink-server migrate-store`: a read-only connection of its own (the server may be
/// running on the file) holding one read transaction from the first read to `close`, so every table comes from the
/// same snapshot: in WAL mode, the last commit before that first read, whatever commits after it.
///
/// Rows are stepped one at a time from SQLite's statement, never a whole table in memory. Only a store at this
/// version's schema is read: an older one is migrated by opening it once with this version's server.
public final class SQLiteStoreSnapshot: StoreCopySource {
    private var db: OpaquePointer?

    public init(path: String) throws {
        // No SQLITE_OPEN_CREATE: a path that does not exist is an error, not an empty store.
        let code = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK else {
            let error = Self.error(db, code, "cannot open \(path) read-only")
            sqlite3_close_v2(db)
            db = nil
            throw error
        }
        sqlite3_busy_timeout(db, 10_000)
        do {
            try execute("BEGIN")
            // The transaction's first read takes the snapshot.
            let applied = try strings("SELECT identifier FROM grdb_migrations", "reading the store's migrations")
            let known = SQLiteSchema.migrator.migrations
            guard Set(applied) == Set(known) else {
                let newer = Set(applied).subtracting(known)
                throw StoreCopyError(
                    newer.isEmpty
                        ? "\(path) is an SQLite store of an older version: open it once with this version (e.g. copslink-server keys list --database \(path)) to migrate it, then copy it."
                        : "\(path) was written by a newer version of copslink-server (migrations \(newer.sorted().joined(separator: ", "))); copy it with that version."
                )
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Ends the read transaction and closes the connection.
    public func close() {
        guard let db else { return }
        sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
        sqlite3_close_v2(db)
        self.db = nil
    }

    public func tables() throws -> [String] {
        try strings(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'grdb_migrations' ORDER BY name",
            "listing the tables")
    }

    public func columns(of table: String) throws -> [String] {
        try strings("SELECT name FROM pragma_table_info(?1) ORDER BY cid", "listing the columns of \(table)", binding: table)
    }

    public func rowCount(of table: String) throws -> Int64 {
        var count: Int64 = 0
        try query("SELECT COUNT(*) FROM \(try Self.quoted(table))", "counting \(table)") { statement in
            count = sqlite3_column_int64(statement, 0)
        }
        return count
    }

    public func forEachRow(of table: String, columns: [String], _ body: ([StoreCopyValue]) throws -> Void) throws {
        let list = try columns.map(Self.quoted).joined(separator: ", ")
        try query("SELECT \(list) FROM \(try Self.quoted(table))", "reading \(table)") { statement in
            try body((0..<Int32(columns.count)).map { Self.value(statement, $0) })
        }
    }

    /// An identifier for the SQL text: table and column names come from the file, so anything but `[a-z0-9_]` is
    /// refused rather than quoted.
    static func quoted(_ name: String) throws -> String {
        guard !name.isEmpty, name.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }) else {
            throw StoreCopyError("unexpected table or column name '\(name.prefix(40))' in the SQLite store")
        }
        return "\"\(name)\""
    }

    private static func value(_ statement: OpaquePointer?, _ index: Int32) -> StoreCopyValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard let text = sqlite3_column_text(statement, index) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard let bytes = sqlite3_column_blob(statement, index), count > 0 else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }

    private func execute(_ sql: String) throws {
        let code = sqlite3_exec(db, sql, nil, nil, nil)
        guard code == SQLITE_OK else { throw Self.error(db, code, sql) }
    }

    private func strings(_ sql: String, _ doing: String, binding: String? = nil) throws -> [String] {
        var result: [String] = []
        try query(sql, doing, binding: binding) { statement in
            if case .text(let text) = Self.value(statement, 0) { result.append(text) }
        }
        return result
    }

    /// Prepares `sql`, binds `binding` to ?1, and calls `row` for each row.
    private func query(_ sql: String, _ doing: String, binding: String? = nil, row: (OpaquePointer?) throws -> Void) throws {
        guard db != nil else { throw StoreCopyError("\(doing): the SQLite store is closed") }
        var statement: OpaquePointer?
        var code = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        defer { sqlite3_finalize(statement) }
        guard code == SQLITE_OK else { throw Self.error(db, code, doing) }
        // SQLITE_STATIC (nil): the text stays in place while the statement steps, inside this closure.
        code = try (binding ?? "").withCString { text in
            if binding != nil {
                let bound = sqlite3_bind_text(statement, 1, text, -1, nil)
                guard bound == SQLITE_OK else { return bound }
            }
            var stepped: Int32
            repeat {
                stepped = sqlite3_step(statement)
                if stepped == SQLITE_ROW { try row(statement) }
            } while stepped == SQLITE_ROW
            sqlite3_reset(statement)
            return stepped
        }
        guard code == SQLITE_DONE else { throw Self.error(db, code, doing) }
    }

    private static func error(_ db: OpaquePointer?, _ code: Int32, _ doing: String) -> StoreCopyError {
        let message = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "SQLite error \(code)"
        return StoreCopyError("\(doing): \(message)")
    }
}

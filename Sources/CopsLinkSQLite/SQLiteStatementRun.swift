import CopsLinkMessages
import GRDB
import GRDBSQLite

/// One run of a cached statement through SQLite's C API: arguments bound by position, columns read by position.
///
/// For the statements every write runs on the writer (the link, the open session, the session and history rows,
/// the savepoints): through GRDB each argument becomes a `DatabaseValue` in a `StatementArguments` array and each row
/// a `Row` that copies every column and looks columns up by lower-cased name, which cost more than SQLite's own work
/// on these one-row statements and made the writer, not the disk, the limit of group commit (issue 13).
///
/// The statement comes from the connection's statement cache (compiled once per connection) and is reset when the
/// run ends, so its next user starts clean and no binding outlives the run (text and blobs are bound as copies,
/// `SQLITE_TRANSIENT`). Use it only where `db` may be used: inside the transaction's own access to the connection;
/// and one run of a statement at a time (a second run of the same SQL while one is open would share its statement).
///
/// GRDB does not see these statements: no transaction observer or `ValueObservation` may be set on the writer (none
/// is), and a body must not go on after an error it caught, since after a rollback SQLite made on its own (disk full,
/// I/O error) these statements would run outside the transaction (`SQLiteGroupCommit` checks after every body).
struct SQLiteStatementRun: ~Copyable {
    /// Holds the handle's owner, so that the handle stays valid for the run.
    private let statement: Statement
    private let handle: OpaquePointer
    private let connection: OpaquePointer?
    /// The next parameter's position (SQLite counts from 1).
    private var parameter: Int32 = 1

    init(_ db: Database, _ sql: String) throws {
        statement = try db.cachedStatement(sql: sql)
        handle = statement.sqliteStatement
        connection = db.sqliteConnection
        // A run that threw mid-step left the statement as it was: start from the beginning whatever happened before.
        sqlite3_reset(handle)
    }

    deinit {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Tells SQLite to copy text and blobs at binding: the Swift values they come from do not outlive the call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    // MARK: Binding, in parameter order

    mutating func bind(_ value: String) {
        // With its length, so that a NUL inside the text is kept; never a null pointer, which would bind NULL.
        let count = Int32(value.utf8.count)
        _ = value.withCString { sqlite3_bind_text(handle, parameter, $0, count, Self.transient) }
        parameter += 1
    }

    mutating func bind(_ value: Int64) {
        sqlite3_bind_int64(handle, parameter, value)
        parameter += 1
    }

    mutating func bind(_ value: Int) { bind(Int64(value)) }

    mutating func bind(_ value: Int32) { bind(Int64(value)) }

    mutating func bind(_ value: UInt32) { bind(Int64(value)) }

    /// An enum by its wire value, as the schema stores it.
    mutating func bind(_ value: some ProtoEnum) { bind(Int64(value.rawValue)) }

    mutating func bind(_ value: Bool) { bind(Int64(value ? 1 : 0)) }

    /// NULL when `value` is nil.
    mutating func bind(_ value: Int64?) {
        if let value { bind(value) } else { bindNull() }
    }

    /// A blob; NULL when `bytes` is nil. An empty blob binds as a zero-length blob, not NULL.
    mutating func bind(blob bytes: [UInt8]?) {
        if let bytes {
            // An empty array has no base address, and a null pointer would bind NULL.
            _ =
                bytes.isEmpty
                ? sqlite3_bind_zeroblob(handle, parameter, 0)
                : bytes.withUnsafeBytes { sqlite3_bind_blob(handle, parameter, $0.baseAddress, Int32($0.count), Self.transient) }
            parameter += 1
        } else {
            bindNull()
        }
    }

    mutating func bindNull() {
        sqlite3_bind_null(handle, parameter)
        parameter += 1
    }

    // MARK: Stepping

    /// Steps once: true with a row to read, false when the statement is done.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw failure(code)
        }
    }

    /// Runs the statement to its end (INSERT, UPDATE, DELETE, savepoints).
    func execute() throws {
        while try step() {}
    }

    /// Rows the last INSERT, UPDATE or DELETE of the connection changed.
    var changes: Int { Int(sqlite3_changes(connection)) }

    private func failure(_ code: Int32) -> DatabaseError {
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
    }

    // MARK: The current row's columns, valid until the next step

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }

    func int32(_ column: Int32) -> Int32 { Int32(truncatingIfNeeded: sqlite3_column_int64(handle, column)) }

    func uint32(_ column: Int32) -> UInt32 { UInt32(truncatingIfNeeded: sqlite3_column_int64(handle, column)) }

    /// An enum stored by its wire value.
    func protoEnum<Value: ProtoEnum>(_ column: Int32, as _: Value.Type = Value.self) -> Value {
        Value(rawValue: UInt32(truncatingIfNeeded: sqlite3_column_int64(handle, column)))
    }

    func bool(_ column: Int32) -> Bool { sqlite3_column_int64(handle, column) != 0 }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    /// The column as text (empty for NULL).
    func string(_ column: Int32) -> String {
        // The text first, then its size, as SQLite asks.
        guard let text = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// The column as a blob (empty for NULL or an empty blob).
    func bytes(_ column: Int32) -> [UInt8] {
        let source = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let source, count > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: source, count: count))
    }
}

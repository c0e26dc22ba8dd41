import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkCore
import GRDBSQLite
import Synchronization

/// GetAccount's read, the storage quota's (`StorageQuota`) and an API key's, inline on the caller's thread: one row by
/// primary key through connections of its own (so none of them queues behind GRDB's readers, which one key's
/// RequestTestData streams can keep busy for seconds).
///
/// Through GRDB the same read costs a hop to a reader thread (or, synchronously, two dispatch queues and a
/// BEGIN/COMMIT around the statement) for a query that takes a few microseconds. Here a read takes a connection from
/// a free list, steps one prepared statement (a single statement is its own read transaction, so it sees the last
/// commit whole) and gives the connection back. The longest a read can block its thread is SQLite's busy timeout,
/// which in WAL mode only a reader racing the recovery of a crashed writer's WAL ever meets.
final class SQLiteAccountPageReader: Sendable {
    private let path: String
    /// Idle connections. A caller holds at most one, for the length of one statement, so the count in use is at most
    /// the number of threads reading at once; no more than `maximumIdle` are kept between reads.
    private let idle: Mutex<[Connection]>
    private let maximumIdle: Int
    private let mapSize: Int

    init(path: String, maximumIdle: Int, mapSize: Int) {
        self.path = path
        self.maximumIdle = maximumIdle
        self.mapSize = mapSize
        idle = Mutex([])
    }

    /// The page stored under `customerKey` (a storage key: the caller has applied the dealer scope).
    func page(customerKey: String) throws -> AccountPage? {
        try withConnection { try $0.page(customerKey: customerKey) }
    }

    /// The dealer's stored bytes (`dealer_stored_bytes`), 0 for a dealer that has stored nothing counted.
    func storedBytes(dealer: String) throws -> Int64 {
        try withConnection { try $0.storedBytes(dealer: dealer) }
    }

    /// The API key with this id, if any.
    func apiKey(id: String) throws -> APIKeyRecord? {
        try withConnection { try $0.apiKey(id: id) }
    }

    private func withConnection<Result>(_ body: (Connection) throws -> Result) throws -> Result {
        let connection = try idle.withLock { $0.popLast() } ?? Connection(path: path, mapSize: mapSize)
        defer {
            idle.withLock { connections in
                if connections.count < maximumIdle { connections.append(connection) }
            }
        }
        return try body(connection)
    }

    /// Drops the idle connections; later reads open new ones (after `close`, they fail to find the file or read it).
    func close() {
        idle.withLock { $0.removeAll() }
    }

    /// One read-only SQLite connection and its prepared statements.
    ///
    /// `@unchecked Sendable`: it moves between threads only through the reader's locked free list, and a thread
    /// that takes it is its only user until it gives it back, which is the rule a connection opened with
    /// `SQLITE_OPEN_NOMUTEX` needs.
    private final class Connection: @unchecked Sendable {
        private var db: OpaquePointer?
        private var statement: OpaquePointer?
        private var storedBytesStatement: OpaquePointer?
        private var apiKeyStatement: OpaquePointer?

        init(path: String, mapSize: Int) throws {
            let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
            var code = sqlite3_open_v2(path, &db, flags, nil)
            if code == SQLITE_OK {
                sqlite3_busy_timeout(db, 10_000)
                code = sqlite3_exec(db, "PRAGMA query_only = 1; PRAGMA mmap_size = \(mapSize)", nil, nil, nil)
            }
            if code == SQLITE_OK {
                code = sqlite3_prepare_v3(
                    db, "SELECT page, open_session FROM account_page WHERE customer_key = ?1", -1, UInt32(SQLITE_PREPARE_PERSISTENT),
                    &statement, nil)
            }
            if code == SQLITE_OK {
                code = sqlite3_prepare_v3(
                    db, "SELECT bytes FROM dealer_stored_bytes WHERE dealer_id = ?1", -1, UInt32(SQLITE_PREPARE_PERSISTENT),
                    &storedBytesStatement, nil)
            }
            if code == SQLITE_OK {
                code = sqlite3_prepare_v3(
                    db, "SELECT id, dealer_id, name, secret_sha256, roles, created_at, revoked_at FROM api_key WHERE id = ?1", -1,
                    UInt32(SQLITE_PREPARE_PERSISTENT), &apiKeyStatement, nil)
            }
            guard code == SQLITE_OK else { throw Self.error(db, code, "opening the account page reader") }
        }

        deinit {
            sqlite3_finalize(statement)
            sqlite3_finalize(storedBytesStatement)
            sqlite3_finalize(apiKeyStatement)
            sqlite3_close_v2(db)
        }

        func page(customerKey: String) throws -> AccountPage? {
            try step(statement, key: customerKey, "reading an account page") { statement in
                // Room for the test status the service appends, so that appending does not reallocate.
                let account = Self.blob(statement, 0, spare: 512)
                let session = sqlite3_column_type(statement, 1) == SQLITE_NULL ? nil : Self.blob(statement, 1)
                return AccountPage(encodedAccount: account, encodedOpenSession: session)
            }
        }

        func storedBytes(dealer: String) throws -> Int64 {
            try step(storedBytesStatement, key: dealer, "reading the dealer's stored bytes") { sqlite3_column_int64($0, 0) } ?? 0
        }

        func apiKey(id: String) throws -> APIKeyRecord? {
            try step(apiKeyStatement, key: id, "reading an API key") { statement in
                APIKeyRecord(
                    id: Self.text(statement, 0), dealerID: Self.text(statement, 1), name: Self.text(statement, 2),
                    secretSHA256: Self.blob(statement, 3),
                    roles: Set(Self.text(statement, 4).split(separator: ",").map { Role(rawValue: String($0)) }),
                    createdAtMs: sqlite3_column_int64(statement, 5),
                    revokedAtMs: sqlite3_column_type(statement, 6) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, 6))
            }
        }

        /// The text in column `index` of `statement`'s current row.
        private static func text(_ statement: OpaquePointer?, _ index: Int32) -> String {
            guard let bytes = sqlite3_column_text(statement, index) else { return "" }
            return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, index))), as: UTF8.self)
        }

        /// Binds `key` to `statement`'s one parameter, steps it once and reads the row with `row`; nil when there is
        /// no row. The statement is reset before this returns.
        private func step<Result>(
            _ statement: OpaquePointer?, key: String, _ doing: String, row: (OpaquePointer?) -> Result
        ) throws -> Result? {
            var key = key
            return try key.withUTF8 { key in
                defer {
                    sqlite3_reset(statement)
                    sqlite3_clear_bindings(statement)  // the binding points into `key`, which ends with this closure
                }
                // SQLITE_STATIC (nil): SQLite uses the bytes in place until the statement is reset, below.
                var code = sqlite3_bind_text(
                    statement, 1, key.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, Int32(key.count), nil)
                guard code == SQLITE_OK else { throw Self.error(db, code, "\(doing): binding the key") }
                code = sqlite3_step(statement)
                switch code {
                case SQLITE_DONE: return nil
                case SQLITE_ROW: return row(statement)
                default: throw Self.error(db, code, doing)
                }
            }
        }

        /// The blob in column `index` of `statement`'s current row, with `spare` bytes of capacity beyond it.
        private static func blob(_ statement: OpaquePointer?, _ index: Int32, spare: Int = 0) -> [UInt8] {
            let count = Int(sqlite3_column_bytes(statement, index))
            let source = sqlite3_column_blob(statement, index)
            return [UInt8](unsafeUninitializedCapacity: count + spare) { buffer, initialized in
                if let source, count > 0 { buffer.baseAddress!.initialize(from: source.assumingMemoryBound(to: UInt8.self), count: count) }
                initialized = count
            }
        }

        private static func error(_ db: OpaquePointer?, _ code: Int32, _ doing: String) -> AccountError {
            let message = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "SQLite error \(code)"
            return AccountError(.unavailable, "\(doing) failed: \(message)")
        }
    }
}

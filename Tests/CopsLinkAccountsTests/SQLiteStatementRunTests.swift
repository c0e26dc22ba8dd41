import CopsLinkMessages
import GRDB
import GRDBSQLite
import Testing

@testable import CopsLinkSQLite

/// The write path's statements bind and read through SQLite's C API (`SQLiteStatementRun`): what GRDB did for them
/// must hold, value for value, where a slip would store a different row (NULL for an empty string, a truncated text).
@Suite("SQLite statements through the C API")
struct SQLiteStatementRunTests {
    static func withTable<Result>(_ body: (Database) throws -> Result) throws -> Result {
        let queue = try DatabaseQueue()
        return try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (text TEXT, number INTEGER, flag INTEGER, blob BLOB, state INTEGER)")
            return try body(db)
        }
    }

    @Test func everyKindOfValueRoundTrips() throws {
        try Self.withTable { db in
            let texts = ["", "plain", "ünïcödé ✓", "with\u{0}nul", String(repeating: "x", count: 100_000)]
            for (index, text) in texts.enumerated() {
                var insert = try SQLiteStatementRun(db, "INSERT INTO t (text, number, flag, blob, state) VALUES (?, ?, ?, ?, ?)")
                insert.bind(text)
                insert.bind(Int64(index) - 2)
                insert.bind(index % 2 == 0)
                insert.bind(blob: index == 0 ? [] : Array(text.utf8))
                insert.bind(TestScope(rawValue: UInt32(index)))
                try insert.execute()
                #expect(insert.changes == 1)
            }
            var select = try SQLiteStatementRun(
                db, "SELECT text, number, flag, blob, state, typeof(text), typeof(blob) FROM t ORDER BY rowid")
            for (index, text) in texts.enumerated() {
                #expect(try select.step())
                #expect(select.string(0) == text)
                #expect(select.int64(1) == Int64(index) - 2)
                #expect(select.bool(2) == (index % 2 == 0))
                #expect(select.bytes(3) == (index == 0 ? [] : Array(text.utf8)))
                #expect(select.protoEnum(4, as: TestScope.self) == TestScope(rawValue: UInt32(index)))
                #expect(select.string(5) == "text", "an empty string is text, not NULL")
                #expect(select.string(6) == "blob", "an empty blob is a blob, not NULL")
            }
            #expect(try !select.step())
        }
    }

    @Test func nilBindsNullAndAFailedStatementThrowsWithItsSQL() throws {
        try Self.withTable { db in
            var insert = try SQLiteStatementRun(db, "INSERT INTO t (text, number, blob) VALUES (?, ?, ?)")
            insert.bind("a")
            insert.bind(Int64?.none)
            insert.bind(blob: nil)
            try insert.execute()
            var select = try SQLiteStatementRun(db, "SELECT number, blob FROM t")
            #expect(try select.step())
            #expect(select.isNull(0) && select.isNull(1))
            #expect(select.bytes(1) == [])

            try db.execute(sql: "CREATE UNIQUE INDEX t_text ON t(text)")
            var duplicate = try SQLiteStatementRun(db, "INSERT INTO t (text) VALUES (?)")
            duplicate.bind("a")
            let error = try #require(throws: DatabaseError.self) { try duplicate.execute() }
            #expect(error.resultCode == .SQLITE_CONSTRAINT)
            #expect(error.sql == "INSERT INTO t (text) VALUES (?)")
        }
    }

    /// A run resets its statement when it ends, whatever happened: the next run of the cached statement starts with
    /// no row pending and no binding left over.
    @Test func theNextRunOfACachedStatementStartsClean() throws {
        try Self.withTable { db in
            for text in ["a", "b", "c"] {
                var insert = try SQLiteStatementRun(db, "INSERT INTO t (text, number) VALUES (?, ?)")
                insert.bind(text)
                insert.bind(Int64(1))
                try insert.execute()
            }
            do {
                let select = try SQLiteStatementRun(db, "SELECT text FROM t WHERE number = ? ORDER BY text")
                _ = select  // bound nothing, stepped nothing
            }
            do {
                var select = try SQLiteStatementRun(db, "SELECT text FROM t WHERE number = ? ORDER BY text")
                select.bind(Int64(1))
                #expect(try select.step())
                #expect(select.string(0) == "a")
                // Ends with rows left: the run's end resets it, so that the statement holds no read open (a busy
                // statement would keep its read transaction until the next run).
            }
            #expect(
                sqlite3_stmt_busy(try db.cachedStatement(sql: "SELECT text FROM t WHERE number = ? ORDER BY text").sqliteStatement) == 0)
            var again = try SQLiteStatementRun(db, "SELECT text FROM t WHERE number = ? ORDER BY text")
            #expect(try !again.step(), "the binding of the earlier run was left over")
            again = try SQLiteStatementRun(db, "SELECT text FROM t WHERE number = ? ORDER BY text")
            again.bind(Int64(1))
            var texts: [String] = []
            while try again.step() { texts.append(again.string(0)) }
            #expect(texts == ["a", "b", "c"], "the earlier run's pending row was left over")
        }
    }
}

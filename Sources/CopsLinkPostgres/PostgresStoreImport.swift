public import CopsLinkAccounts
public import Logging
import NIOCore
import PostgresNIO

/// `copslink-server migrate-store`: copies a store (an SQLite snapshot, `StoreCopySource`) into an empty PostgreSQL
/// database, all or nothing.
///
/// Everything happens in one PostgreSQL transaction, the one that applies the migrations under the migration lock
/// (`PostgresSchema.migrate`): a server instance starting on the database meanwhile waits for it, and any failure
/// (a non-empty target, a value that does not fit, a count that differs) rolls back the migrations with the rows,
/// leaving the database as it was. The copied tables are also locked against writers for the transaction's length.
///
/// Rows stream: the source steps one row at a time and the copy holds at most one batch (`batchRows` rows, one
/// multi-row INSERT whose values are all bound parameters). Identity columns get the source's values (row ids stay
/// what they were, so cursors and positions mean the same) and their sequences are moved past them afterwards.
public enum PostgresStoreImport {
    /// Every table of the store, parents before children (foreign keys are checked row by row).
    static let tables = [
        "customer", "equipment", "station_account", "account_link", "responding_party", "party_phone", "authority",
        "authority_zip", "account_authority", "zone", "test_category", "test_session", "test_history", "signal", "idempotency",
        "api_key", "dealer_account_count", "account_page"
    ]

    /// Target columns the source has under another name: PostgreSQL orders test categories by `position`, SQLite by rowid.
    static let sourceColumns = ["test_category.position": "rowid"]

    /// Source columns the target may lack because it derives them (SQLite keeps RequestTestData's rows encoded; a
    /// PostgreSQL store without that column encodes them from the other columns). Any other source column without a
    /// target column fails the copy: its data would be lost.
    static let derivedSourceColumns: Set<String> = ["test_history.message", "signal.message"]

    /// Rows filled by the target's own start-up work, replaced by the source's: the reference test categories a
    /// server loads at its first start (nothing refers to them in an otherwise empty database), and the per-dealer
    /// account counts the triggers made while the customers were copied.
    static let replacedTables: Set<String> = ["test_category", "dealer_account_count"]

    /// Tables the target's triggers fill as the rows they count are copied (`StorageQuota`), and that are therefore
    /// not copied: PostgreSQL keeps them in another shape.
    static let countedTables: Set<String> = ["dealer_stored_bytes"]

    public static let defaultBatchRows = 500
    /// A batch is sent early once its values reach this many bytes, so that a batch of large rows (account pages of
    /// big accounts) stays small in memory whatever `batchRows` says.
    static let batchBytes = 4 << 20

    /// One table's outcome: rows in the source snapshot, and in the target after the copy (the same, or the copy
    /// failed).
    public struct TableSummary: Sendable, Equatable {
        public var table: String
        public var rows: Int64
    }

    /// Connects to `configuration`'s database, applies the migrations and copies every table of `openSource()`'s
    /// store into it, verifying the row counts, in one transaction. `openSource` runs on the copy's own thread, which
    /// is the only one to use the source. Throws `StoreCopyError` for what the operator must fix (a non-empty target,
    /// a source this version cannot copy, a count that differs); nothing is committed then.
    public static func run(
        configuration: PostgresStoreConfiguration, logger: Logger, batchRows: Int = defaultBatchRows,
        source openSource: @escaping @Sendable () throws -> any StoreCopySource
    ) async throws -> [TableSummary] {
        let batchRows = max(1, batchRows)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try PostgresAccountStore.connectionConfiguration(configuration), id: 0, logger: logger)
        } catch let error as PSQLError where error.code != .server {
            throw StoreCopyError("cannot connect to \(configuration.description): \(error.connectionFailureText)")
        }
        let threads = StoreThreads(count: 1)
        do {
            let summary = try await threads.run {
                let source = try openSource()
                let target = BlockingConnection(connection: connection, logger: logger)
                var summary: [TableSummary] = []
                try PostgresSchema.migrate(target) {
                    summary = try copy(from: source, to: target, batchRows: batchRows)
                }
                return summary
            }
            try? await threads.shutdown()
            try await connection.close()
            return summary
        } catch let error as PSQLError {
            try? await threads.shutdown()
            try? await connection.close()
            let info = error.serverInfo
            throw StoreCopyError(
                "PostgreSQL refused the copy (\(info?[.sqlState] ?? "\(error.code)")): \(info?[.message] ?? "")"
                    + (info?[.detail].map { " (\($0.prefix(200)))" } ?? ""))
        } catch {
            try? await threads.shutdown()
            try? await connection.close()
            throw error
        }
    }

    /// The copy, inside the migration transaction.
    private static func copy(from source: any StoreCopySource, to target: BlockingConnection, batchRows: Int) throws -> [TableSummary] {
        try checkTables(source: source, target: target)
        let list = try tables.map(quoted).joined(separator: ", ")
        try target.execute(PostgresQuery(unsafeSQL: "LOCK TABLE \(list) IN ACCESS EXCLUSIVE MODE"))
        var occupied: [String] = []
        for table in tables where !replacedTables.contains(table) {
            let present = try target.row(PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(try quoted(table))) AS present"))
            if try present?.value("present", as: Bool.self) == true { occupied.append(table) }
        }
        guard occupied.isEmpty else {
            throw StoreCopyError(
                "the target database is not empty (rows in \(occupied.joined(separator: ", "))): migrate-store copies into an empty database only; create a new one (createdb) or name another, nothing was changed"
            )
        }
        var summary: [TableSummary] = []
        for table in tables {
            if replacedTables.contains(table) { try target.execute(PostgresQuery(unsafeSQL: "DELETE FROM \(try quoted(table))")) }
            let plan = try plan(table, source: source, target: target)
            let copied = try copyRows(table, plan: plan, source: source, target: target, batchRows: batchRows)
            let expected = try source.rowCount(of: table)
            let row = try target.row(PostgresQuery(unsafeSQL: "SELECT COUNT(*) AS n FROM \(try quoted(table))"))
            let present = try row?.value("n", as: Int64.self) ?? -1
            guard copied == expected, present == expected else {
                throw StoreCopyError(
                    "\(table): the source has \(expected) rows, \(copied) were copied and the target holds \(present); nothing was committed"
                )
            }
            for column in plan where column.isIdentity {
                // Later inserts continue after the copied values.
                try target.execute(
                    PostgresQuery(
                        unsafeSQL:
                            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX(\(try quoted(column.name))), 0) + 1, false) FROM \(try quoted(table))",
                        binds: try bindings([.text(table), .text(column.name)], types: [.text, .text])))
            }
            summary.append(TableSummary(table: table, rows: expected))
        }
        // Statistics for the copied rows, so that the first queries on them get index plans: without them the planner
        // guesses, and a guessed scan of a whole index takes SERIALIZABLE's predicate lock on all of it, which makes
        // unrelated writes (tests placed on different accounts) abort one another.
        for table in tables { try target.execute(PostgresQuery(unsafeSQL: "ANALYZE \(try quoted(table))")) }
        return summary
    }

    /// The source must hold exactly the tables this version copies, and the target no table this version cannot fill.
    private static func checkTables(source: any StoreCopySource, target: BlockingConnection) throws {
        let known = Set(tables).union(countedTables)
        let unknown = Set(try source.tables()).subtracting(known)
        guard unknown.isEmpty else {
            throw StoreCopyError("the SQLite store has tables this version does not copy: \(unknown.sorted().joined(separator: ", "))")
        }
        let present = Set(
            try target.rows(
                "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            ).map { try $0.value("name", as: String.self) })
        let unfilled = present.subtracting(known).subtracting(["schema_migrations"])
        guard unfilled.isEmpty else {
            throw StoreCopyError("the target database has tables this version does not fill: \(unfilled.sorted().joined(separator: ", "))")
        }
    }

    enum ColumnType: String {
        case bigint, boolean, text, bytea
    }

    struct Column {
        var name: String
        var type: ColumnType
        /// The source column (or `rowid`) it is filled from.
        var source: String
        var isIdentity: Bool
    }

    /// The target's columns and the source column of each; fails if a source column would be lost or a required
    /// target column has no source.
    private static func plan(_ table: String, source: any StoreCopySource, target: BlockingConnection) throws -> [Column] {
        let sourceNames = try source.columns(of: table)
        let rows = try target.rows(
            """
            SELECT column_name::text AS name, data_type::text AS type, is_nullable::text AS nullable, column_default IS NOT NULL AS has_default,
                is_identity::text AS identity
            FROM information_schema.columns WHERE table_schema = current_schema() AND table_name::text = \(table) ORDER BY ordinal_position
            """)
        var plan: [Column] = []
        for row in rows {
            let name: String = try row.value("name")
            let typeName: String = try row.value("type")
            guard let type = ColumnType(rawValue: typeName) else {
                throw StoreCopyError("\(table).\(name): this version cannot fill a column of type \(typeName)")
            }
            let isIdentity = try row.value("identity", as: String.self) == "YES"
            let from = sourceColumns["\(table).\(name)"] ?? name
            if from == "rowid" || sourceNames.contains(from) {
                plan.append(Column(name: name, type: type, source: from, isIdentity: isIdentity))
            } else if try row.value("nullable", as: String.self) == "NO", try !row.value("has_default", as: Bool.self), !isIdentity {
                throw StoreCopyError("\(table).\(name) has no column in the SQLite store to be filled from")
            }
        }
        guard !plan.isEmpty else { throw StoreCopyError("the target database has no table \(table) after migrating") }
        let filled = Set(plan.map(\.source))
        let lost = sourceNames.filter { !filled.contains($0) && !derivedSourceColumns.contains("\(table).\($0)") }
        guard lost.isEmpty else {
            throw StoreCopyError("\(table): the target has no column for \(lost.joined(separator: ", ")) of the SQLite store")
        }
        return plan
    }

    /// Streams `table`'s rows into multi-row INSERTs of at most `batchRows` rows; returns how many were inserted.
    private static func copyRows(
        _ table: String, plan: [Column], source: any StoreCopySource, target: BlockingConnection, batchRows: Int
    ) throws -> Int64 {
        // PostgreSQL takes at most 65,535 parameters per statement.
        let perStatement = max(1, min(batchRows, 60_000 / plan.count))
        let columns = try plan.map { try quoted($0.name) }.joined(separator: ", ")
        let overriding = plan.contains(where: \.isIdentity) ? " OVERRIDING SYSTEM VALUE" : ""
        let prefix = "INSERT INTO \(try quoted(table)) (\(columns))\(overriding) VALUES "
        let types = plan.map(\.type)
        var batch: [[StoreCopyValue]] = []
        batch.reserveCapacity(perStatement)
        var copied: Int64 = 0
        var bytes = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            var tuples: [String] = []
            tuples.reserveCapacity(batch.count)
            var parameter = 0
            for _ in batch {
                // Typed: a column of NULLs in a multi-row VALUES would otherwise be resolved as text.
                let placeholders = types.map { type in
                    parameter += 1
                    return "$\(parameter)::\(type.rawValue)"
                }
                tuples.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            var binds = PostgresBindings(capacity: batch.count * plan.count)
            for values in batch { try bind(values, types: types, into: &binds, table: table, plan: plan) }
            copied += Int64(try target.execute(PostgresQuery(unsafeSQL: prefix + tuples.joined(separator: ", "), binds: binds)))
            batch.removeAll(keepingCapacity: true)
            bytes = 0
        }
        try source.forEachRow(of: table, columns: plan.map(\.source)) { values in
            batch.append(values)
            bytes += values.reduce(0) { $0 + $1.size }
            if batch.count == perStatement || bytes >= batchBytes { try flush() }
        }
        try flush()
        return copied
    }

    private static func bindings(_ values: [StoreCopyValue], types: [ColumnType]) throws -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        try bind(values, types: types, into: &binds, table: "", plan: [])
        return binds
    }

    /// Appends one row's values, converted from SQLite's storage classes to the target columns' types.
    private static func bind(
        _ values: [StoreCopyValue], types: [ColumnType], into binds: inout PostgresBindings, table: String, plan: [Column]
    ) throws {
        for (index, (value, type)) in zip(values, types).enumerated() {
            switch (value, type) {
            case (.null, _): binds.appendNull()
            case (.integer(let number), .bigint): binds.append(number)
            case (.integer(let number), .boolean): binds.append(number != 0)
            case (.text(let text), .text): binds.append(text)
            case (.blob(let bytes), .bytea): binds.append(ByteBuffer(bytes: bytes))
            case (.text(let text), .bytea): binds.append(ByteBuffer(string: text))
            default:
                let column = index < plan.count ? "\(table).\(plan[index].name)" : "a value"
                throw StoreCopyError("\(column): a \(value.kind) value cannot be stored in a \(type.rawValue) column")
            }
        }
    }

    /// A constant identifier of this file or of the target's catalog, quoted.
    static func quoted(_ name: String) throws -> String {
        guard !name.isEmpty, name.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }) else {
            throw StoreCopyError("unexpected identifier '\(name.prefix(40))'")
        }
        return "\"\(name)\""
    }
}

extension StoreCopyValue {
    /// About the bytes it takes to hold and send.
    var size: Int {
        switch self {
        case .null: 1
        case .integer, .real: 8
        case .text(let text): text.utf8.count
        case .blob(let bytes): bytes.count
        }
    }

    var kind: String {
        switch self {
        case .null: "null"
        case .integer: "integer"
        case .real: "real"
        case .text: "text"
        case .blob: "blob"
        }
    }
}

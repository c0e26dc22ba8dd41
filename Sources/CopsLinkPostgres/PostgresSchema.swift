import PostgresNIO

/// The schema, as versioned migrations recorded in `schema_migrations`. The tables are SQLite's (SQLiteSchema) as of
/// its latest migration, with PostgreSQL's types: BIGINT for every integer (times in ms, enum raw values), BOOLEAN,
/// BYTEA; identity columns where SQLite has AUTOINCREMENT or orders by rowid. Every query the store makes is served by
/// an index named here.
///
/// Storage keys carry the dealer (`dealer/customer`, `dealer/accountNumber`, `dealer/requestID`), as in SQLite, so
/// that every dealer-scoped query reaches only that dealer's rows.
enum PostgresSchema {
    struct Migration {
        var version: Int64
        var name: String
        /// One statement each: postgres-nio's extended query protocol takes one statement per query.
        var statements: [String]
    }

    /// Advisory lock class for migrations (`pg_advisory_xact_lock(class, hashtext(current_schema()))`): instances
    /// starting together on one schema migrate one after the other; stores in different schemas do not wait for each
    /// other.
    static let migrationLockClass: Int32 = 0x436C_6B31  // "Clk1"
    /// Advisory lock class for writes run again after a serialization failure
    /// (`pg_advisory_lock(class, PostgresAccountStore.retryLockKey(scope))`, held from before BEGIN to after COMMIT).
    /// A first run is optimistic; a run again takes its scope's lock, so that writers that keep colliding (several
    /// LinkAccounts of one dealer all updating its account count) take turns instead of failing each other until the
    /// retries run out. The lock is taken before the transaction's snapshot, so the turn sees every earlier turn.
    /// First runs do not take it. Making them hold it shared (tried) would leave a run again nothing of its dealer to
    /// collide with, but with SERIALIZABLE's page-level conflicts every collision then stalls all the dealer's
    /// writes: a third fewer PlaceOnTest + PlaceOffTest pairs per second at 16 outstanding in the bench.
    static let writeRetryLockClass: Int32 = 0x436C_6B32  // "Clk2"

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "accounts",
            statements: [
                """
                CREATE TABLE customer (
                    id TEXT PRIMARY KEY, dealer_id TEXT NOT NULL,
                    first_name TEXT NOT NULL, last_name TEXT NOT NULL, company_name TEXT NOT NULL,
                    has_address BOOLEAN NOT NULL, street1 TEXT NOT NULL, street2 TEXT NOT NULL, city TEXT NOT NULL,
                    state TEXT NOT NULL, zip TEXT NOT NULL, premise_phone TEXT NOT NULL, passcode TEXT NOT NULL
                )
                """,
                "CREATE INDEX customer_by_dealer ON customer (dealer_id)",
                """
                CREATE TABLE equipment (
                    customer_id TEXT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
                    position BIGINT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, zone_number TEXT NOT NULL,
                    zone_description TEXT NOT NULL, installed BOOLEAN NOT NULL,
                    PRIMARY KEY (customer_id, id)
                )
                """,
                // Each central-station account number once across dealers: numbers are unique at the central station.
                """
                CREATE TABLE station_account (
                    account_key TEXT PRIMARY KEY, account_number TEXT NOT NULL UNIQUE, dealer_id TEXT NOT NULL,
                    receiver_number TEXT NOT NULL, line TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE account_link (
                    customer_id TEXT PRIMARY KEY REFERENCES customer (id),
                    account_number TEXT NOT NULL REFERENCES station_account (account_number),
                    state BIGINT NOT NULL, linked_at BIGINT NOT NULL, unlinked_at BIGINT NOT NULL
                )
                """,
                // A number is linked to at most one customer at a time (state 1: linked).
                "CREATE UNIQUE INDEX account_link_linked_number ON account_link (account_number) WHERE state = 1",
                "CREATE INDEX account_link_by_number ON account_link (account_number)",
                """
                CREATE TABLE responding_party (
                    customer_id TEXT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
                    id TEXT NOT NULL, position BIGINT NOT NULL, priority BIGINT NOT NULL,
                    first_name TEXT NOT NULL, last_name TEXT NOT NULL, email TEXT NOT NULL, language TEXT NOT NULL,
                    passcode TEXT NOT NULL, has_key BOOLEAN NOT NULL, relation TEXT NOT NULL,
                    enhanced_verification BOOLEAN NOT NULL, role BIGINT NOT NULL,
                    PRIMARY KEY (customer_id, id)
                )
                """,
                """
                CREATE TABLE party_phone (
                    customer_id TEXT NOT NULL, party_id TEXT NOT NULL, position BIGINT NOT NULL,
                    number TEXT NOT NULL, type BIGINT NOT NULL, extension TEXT NOT NULL,
                    PRIMARY KEY (customer_id, party_id, position),
                    FOREIGN KEY (customer_id, party_id) REFERENCES responding_party (customer_id, id) ON DELETE CASCADE
                )
                """,
                """
                CREATE TABLE authority (
                    id TEXT PRIMARY KEY, type BIGINT NOT NULL, name TEXT NOT NULL, phone TEXT NOT NULL,
                    has_address BOOLEAN NOT NULL, street1 TEXT NOT NULL, street2 TEXT NOT NULL, city TEXT NOT NULL,
                    state TEXT NOT NULL, zip TEXT NOT NULL, jurisdiction BIGINT NOT NULL, permit_required BOOLEAN NOT NULL
                )
                """,
                """
                CREATE TABLE authority_zip (
                    zip TEXT NOT NULL, authority_id TEXT NOT NULL REFERENCES authority (id) ON DELETE CASCADE,
                    PRIMARY KEY (zip, authority_id)
                )
                """,
                "CREATE INDEX authority_zip_by_authority ON authority_zip (authority_id)",
                """
                CREATE TABLE account_authority (
                    id TEXT PRIMARY KEY,
                    account_key TEXT NOT NULL REFERENCES station_account (account_key),
                    authority_id TEXT NOT NULL REFERENCES authority (id),
                    type BIGINT NOT NULL, permit_number TEXT NOT NULL, added_at BIGINT NOT NULL, added_by TEXT NOT NULL,
                    UNIQUE (account_key, authority_id), UNIQUE (account_key, type)
                )
                """,
                "CREATE INDEX account_authority_by_authority ON account_authority (authority_id)",
                """
                CREATE TABLE zone (
                    account_key TEXT NOT NULL REFERENCES station_account (account_key), zone_number TEXT NOT NULL,
                    description TEXT NOT NULL, event_type BIGINT NOT NULL, equipment_type TEXT NOT NULL,
                    location TEXT NOT NULL, partition BIGINT NOT NULL, restore_required BOOLEAN NOT NULL,
                    PRIMARY KEY (account_key, zone_number)
                )
                """,
                // `position`: categories list in the order they were first saved (SQLite's rowid order).
                """
                CREATE TABLE test_category (
                    id TEXT PRIMARY KEY, description TEXT NOT NULL, default_minutes BIGINT NOT NULL,
                    position BIGINT GENERATED ALWAYS AS IDENTITY
                )
                """,
                """
                CREATE TABLE test_session (
                    id TEXT PRIMARY KEY,
                    account_key TEXT NOT NULL REFERENCES station_account (account_key),
                    category_id TEXT NOT NULL REFERENCES test_category (id),
                    effective_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, scope BIGINT NOT NULL,
                    zone_numbers TEXT NOT NULL, comment TEXT NOT NULL,
                    has_placed_by BOOLEAN NOT NULL, placed_by_id TEXT NOT NULL, placed_by_name TEXT NOT NULL,
                    has_authorization BOOLEAN NOT NULL, authorized_party_id TEXT NOT NULL, verified_by TEXT NOT NULL,
                    ended_at BIGINT, end_reason BIGINT NOT NULL
                )
                """,
                // At most one open session per account, whatever the code does.
                "CREATE UNIQUE INDEX test_session_open ON test_session (account_key) WHERE ended_at IS NULL",
                "CREATE INDEX test_session_expiry ON test_session (expires_at) WHERE ended_at IS NULL",
                "CREATE INDEX test_session_by_account ON test_session (account_key, effective_at)",
                """
                CREATE TABLE test_history (
                    row_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    account_key TEXT NOT NULL REFERENCES station_account (account_key),
                    at BIGINT NOT NULL, action BIGINT NOT NULL, session_id TEXT NOT NULL,
                    has_category BOOLEAN NOT NULL, category_id TEXT NOT NULL, category_description TEXT NOT NULL,
                    category_minutes BIGINT NOT NULL, effective_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
                    has_user BOOLEAN NOT NULL, user_id TEXT NOT NULL, user_name TEXT NOT NULL, comment TEXT NOT NULL
                )
                """,
                "CREATE INDEX test_history_by_account ON test_history (account_key, at, row_id)",
                """
                CREATE TABLE signal (
                    row_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    account_key TEXT NOT NULL REFERENCES station_account (account_key),
                    is_test_result BOOLEAN NOT NULL, received_at BIGINT NOT NULL, account_number TEXT NOT NULL,
                    zone_number TEXT NOT NULL, zone_description TEXT NOT NULL, event_code TEXT NOT NULL,
                    qualifier BIGINT NOT NULL, event_description TEXT NOT NULL, user_number TEXT NOT NULL,
                    partition BIGINT NOT NULL, raw TEXT NOT NULL, session_id TEXT NOT NULL
                )
                """,
                "CREATE INDEX signal_by_account ON signal (account_key, is_test_result, received_at, row_id)",
                """
                CREATE TABLE idempotency (
                    request_id TEXT PRIMARY KEY, method TEXT NOT NULL, fingerprint BIGINT NOT NULL, response BYTEA NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                // API keys: only a SHA-256 of each secret.
                """
                CREATE TABLE api_key (
                    id TEXT PRIMARY KEY, dealer_id TEXT NOT NULL, name TEXT NOT NULL, secret_sha256 BYTEA NOT NULL,
                    roles TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT
                )
                """,
                "CREATE INDEX api_key_by_dealer ON api_key (dealer_id, created_at)",
                // Accounts per dealer, kept by triggers: LinkAccount checks the dealer's quota on every new customer,
                // and counting the dealer's customers there would make every link slower as the dealer grows.
                "CREATE TABLE dealer_account_count (dealer_id TEXT PRIMARY KEY, accounts BIGINT NOT NULL)",
                """
                CREATE FUNCTION customer_counted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
                BEGIN
                    INSERT INTO dealer_account_count (dealer_id, accounts) VALUES (NEW.dealer_id, 1)
                    ON CONFLICT (dealer_id) DO UPDATE SET accounts = dealer_account_count.accounts + 1;
                    RETURN NULL;
                END
                $$
                """,
                "CREATE TRIGGER customer_counted AFTER INSERT ON customer FOR EACH ROW EXECUTE FUNCTION customer_counted()",
                """
                CREATE FUNCTION customer_uncounted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
                BEGIN
                    UPDATE dealer_account_count SET accounts = accounts - 1 WHERE dealer_id = OLD.dealer_id;
                    RETURN NULL;
                END
                $$
                """,
                "CREATE TRIGGER customer_uncounted AFTER DELETE ON customer FOR EACH ROW EXECUTE FUNCTION customer_uncounted()",
                // GetAccount's read model (`AccountPage`): one row per linked customer, rewritten by every write that
                // changes what the page shows. The store builds missing pages after migrating, so a later migration
                // that changes the page's content can delete the rows to have them rebuilt.
                """
                CREATE TABLE account_page (
                    customer_key TEXT PRIMARY KEY REFERENCES customer (id), page BYTEA NOT NULL, open_session BYTEA
                )
                """
            ]),
        // RequestTestData's rows kept encoded, as SQLite's migration 6 does (`SQLiteTransaction+TestData`): a page is
        // their bytes put together. Rows from before it have none and are encoded from their columns when read.
        Migration(
            version: 2, name: "encoded test data rows",
            statements: [
                "ALTER TABLE test_history ADD COLUMN message BYTEA",
                "ALTER TABLE signal ADD COLUMN message BYTEA"
            ]),
        // Retention, as SQLite's migration 7 (`RetentionPruner`): rows past their window are deleted oldest first,
        // across dealers, by their time; without these indexes each batch would scan the whole table. Built inside
        // the migration's transaction (CONCURRENTLY cannot be), so writes to the two tables wait while it runs.
        Migration(
            version: 3, name: "retention indexes",
            statements: [
                "CREATE INDEX IF NOT EXISTS idempotency_by_created_at ON idempotency (created_at)",
                "CREATE INDEX IF NOT EXISTS signal_by_received_at ON signal (received_at)"
            ]),
        // Stored bytes per dealer, kept by triggers, as SQLite's migration 8 (`StorageQuota`, the same sizes). One row
        // per dealer and server connection (`shard` = `pg_backend_pid()`; 0 holds what connections that ended left):
        // a write transaction updates only its own connection's row, so that concurrent SERIALIZABLE writes of one
        // dealer do not collide on a shared counter; the quota check sums the dealer's rows, and the pruner folds the
        // rows of ended connections into 0 (`PostgresAccountStore.prune`).
        Migration(version: 4, name: "stored bytes per dealer", statements: storedBytesStatements),
        // As SQLite's migration 9: an unlinked customer's page shows none of its number's station data; the store
        // builds the dropped pages again after migrating.
        Migration(version: 5, name: "pages of unlinked customers", statements: [unlinkedPagesSQL]),
        // As SQLite's migration 10: nor its number's receiver and line.
        Migration(version: 6, name: "pages of unlinked customers without station data", statements: [unlinkedPagesSQL]),
        // As SQLite's migration 11: a number's own rows count for its dealer whether a customer is linked to it or not.
        Migration(version: 7, name: "stored bytes of account numbers", statements: stationStoredBytesStatements),
        // As SQLite's migration 12: a signal's zone description is looked up by zone number.
        Migration(
            version: 8, name: "equipment by zone", statements: ["CREATE INDEX equipment_by_zone ON equipment (customer_id, zone_number)"])
    ]

    /// Migrations 5 and 6: the pages of unlinked customers, to be built again.
    static let unlinkedPagesSQL = "DELETE FROM account_page WHERE customer_key IN (SELECT customer_id FROM account_link WHERE state <> 1)"

    /// The rows `StorageQuota` counts, with SQLite's sizes (`SQLiteSchema`): each table's key column (`dealer/…`), the
    /// columns its size depends on, and its size given a row prefix (`OLD.`, `NEW.` or none).
    private static let countedRows: [CountedRows] = [
        ("account_page", "customer_key", "page", { "2 * octet_length(\($0)page) + 100" }),
        ("idempotency", "request_id", "response", { "octet_length(\($0)response) + 100" }),
        ("signal", "account_key", "message", { "2 * coalesce(octet_length(\($0)message), 200) + 100" }),
        ("test_history", "account_key", "message", { "2 * coalesce(octet_length(\($0)message), 200) + 100" }),
        ("test_session", "account_key", "comment, zone_numbers", { "200 + octet_length(\($0)comment) + octet_length(\($0)zone_numbers)" })
    ]

    /// A number's own rows (migration 7), with SQLite's sizes (`SQLiteSchema.stationCountedRows`).
    private static let stationCountedRows: [CountedRows] = [
        (
            "station_account", "account_key", "receiver_number, line",
            { "100 + octet_length(\($0)account_number) + octet_length(\($0)receiver_number) + octet_length(\($0)line)" }
        ),
        (
            "zone", "account_key", "zone_number, description, equipment_type, location",
            {
                "100 + octet_length(\($0)zone_number) + octet_length(\($0)description) + octet_length(\($0)equipment_type)"
                    + " + octet_length(\($0)location)"
            }
        ),
        (
            "account_authority", "account_key", "permit_number, added_by",
            { "100 + octet_length(\($0)id) + octet_length(\($0)permit_number) + octet_length(\($0)added_by)" }
        )
    ]

    private typealias CountedRows = (table: String, key: String, columns: String, bytes: @Sendable (String) -> String)

    /// Each dealer's bytes in `rows`, counted from the rows (`dealer_id`, `bytes`).
    private static func recountSQL(_ rows: [CountedRows]) -> String {
        "SELECT dealer_id, SUM(bytes)::BIGINT AS bytes FROM ("
            + rows.map { "SELECT split_part(\($0.key), '/', 1) AS dealer_id, \($0.bytes("")) AS bytes FROM \($0.table)" }
            .joined(separator: " UNION ALL ") + ") AS counted GROUP BY dealer_id"
    }

    /// Each dealer's stored bytes counted from the rows (`dealer_id`, `bytes`): what tests compare the counter with.
    static let storedBytesRecountSQL = recountSQL(countedRows + stationCountedRows)

    /// Migration 7's statements: the station tables' triggers, and their rows already stored added to the counter.
    static let stationStoredBytesStatements: [String] =
        triggerStatements(stationCountedRows) + [
            """
            INSERT INTO dealer_stored_bytes (dealer_id, shard, bytes) SELECT dealer_id, 0, bytes FROM (\(recountSQL(stationCountedRows))) AS recount
            ON CONFLICT (dealer_id, shard) DO UPDATE SET bytes = dealer_stored_bytes.bytes + EXCLUDED.bytes
            """
        ]

    /// Migration 4's statements: the table, the function the triggers share, each table's trigger, and the count of
    /// the rows already stored.
    static let storedBytesStatements: [String] = {
        var statements = [
            "CREATE TABLE dealer_stored_bytes (dealer_id TEXT NOT NULL, shard INTEGER NOT NULL, bytes BIGINT NOT NULL, PRIMARY KEY (dealer_id, shard))",
            """
            CREATE FUNCTION count_stored_bytes(key TEXT, delta BIGINT) RETURNS void LANGUAGE sql SET search_path FROM CURRENT AS $$
                INSERT INTO dealer_stored_bytes (dealer_id, shard, bytes) VALUES (split_part(key, '/', 1), pg_backend_pid(), delta)
                ON CONFLICT (dealer_id, shard) DO UPDATE SET bytes = dealer_stored_bytes.bytes + EXCLUDED.bytes
            $$
            """
        ]
        statements += triggerStatements(countedRows)
        statements.append(
            "INSERT INTO dealer_stored_bytes (dealer_id, shard, bytes) SELECT dealer_id, 0, bytes FROM (\(recountSQL(countedRows))) AS recount"
        )
        return statements
    }()

    /// Each table's trigger function and trigger, keeping `dealer_stored_bytes` for `rows`.
    private static func triggerStatements(_ rows: [CountedRows]) -> [String] {
        var statements: [String] = []
        for (table, key, columns, bytes) in rows {
            statements += [
                """
                CREATE FUNCTION \(table)_stored_bytes() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
                BEGIN
                    IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM count_stored_bytes(OLD.\(key), -(\(bytes("OLD.")))); END IF;
                    IF TG_OP IN ('UPDATE', 'INSERT') THEN PERFORM count_stored_bytes(NEW.\(key), \(bytes("NEW."))); END IF;
                    RETURN NULL;
                END
                $$
                """,
                "CREATE TRIGGER \(table)_stored_bytes AFTER INSERT OR DELETE OR UPDATE OF \(columns) ON \(table) FOR EACH ROW EXECUTE FUNCTION \(table)_stored_bytes()"
            ]
        }
        return statements
    }

    /// Applies the migrations not yet recorded, in one transaction that holds the migration lock, then runs
    /// `afterwards` in it (the store's start-up work: reference data, missing pages). Instances starting together
    /// wait for each other's lock and find the work done.
    ///
    /// READ COMMITTED on purpose: each statement sees what committed before it, so the statements after the lock see
    /// the migrations of an instance that held it first (a REPEATABLE READ snapshot would predate them).
    static func migrate(_ connection: BlockingConnection, afterwards: () throws -> Void) throws {
        try connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        do {
            try connection.execute("SELECT pg_advisory_xact_lock(\(migrationLockClass), hashtext(current_schema()))")
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """)
            let applied = Set(try connection.rows("SELECT version FROM schema_migrations").map { try $0.value("version", as: Int64.self) })
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements { try connection.execute(PostgresQuery(unsafeSQL: statement)) }
                try connection.execute("INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
            }
            try afterwards()
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }
}

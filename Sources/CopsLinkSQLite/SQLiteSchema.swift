import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import Foundation
import GRDB

/// The schema, as ordered migrations. Every query the store makes is served by an index named here.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE customer (
                        id TEXT PRIMARY KEY NOT NULL,
                        first_name TEXT NOT NULL, last_name TEXT NOT NULL, company_name TEXT NOT NULL,
                        has_address INTEGER NOT NULL, street1 TEXT NOT NULL, street2 TEXT NOT NULL, city TEXT NOT NULL,
                        state TEXT NOT NULL, zip TEXT NOT NULL,
                        premise_phone TEXT NOT NULL, passcode TEXT NOT NULL
                    );
                    CREATE TABLE equipment (
                        customer_id TEXT NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
                        position INTEGER NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, zone_number TEXT NOT NULL,
                        zone_description TEXT NOT NULL, installed INTEGER NOT NULL,
                        PRIMARY KEY (customer_id, id)
                    );
                    CREATE TABLE account_link (
                        customer_id TEXT PRIMARY KEY NOT NULL REFERENCES customer(id),
                        account_number TEXT NOT NULL UNIQUE,
                        receiver_number TEXT NOT NULL, line TEXT NOT NULL, state INTEGER NOT NULL,
                        linked_at INTEGER NOT NULL, unlinked_at INTEGER NOT NULL
                    );
                    CREATE TABLE responding_party (
                        customer_id TEXT NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
                        id TEXT NOT NULL, position INTEGER NOT NULL, priority INTEGER NOT NULL,
                        first_name TEXT NOT NULL, last_name TEXT NOT NULL, email TEXT NOT NULL, language TEXT NOT NULL,
                        passcode TEXT NOT NULL, has_key INTEGER NOT NULL, relation TEXT NOT NULL,
                        enhanced_verification INTEGER NOT NULL, role INTEGER NOT NULL,
                        PRIMARY KEY (customer_id, id)
                    );
                    CREATE TABLE party_phone (
                        customer_id TEXT NOT NULL, party_id TEXT NOT NULL, position INTEGER NOT NULL,
                        number TEXT NOT NULL, type INTEGER NOT NULL, extension TEXT NOT NULL,
                        PRIMARY KEY (customer_id, party_id, position),
                        FOREIGN KEY (customer_id, party_id) REFERENCES responding_party(customer_id, id) ON DELETE CASCADE
                    );
                    CREATE TABLE authority (
                        id TEXT PRIMARY KEY NOT NULL, type INTEGER NOT NULL, name TEXT NOT NULL, phone TEXT NOT NULL,
                        has_address INTEGER NOT NULL, street1 TEXT NOT NULL, street2 TEXT NOT NULL, city TEXT NOT NULL,
                        state TEXT NOT NULL, zip TEXT NOT NULL, jurisdiction INTEGER NOT NULL, permit_required INTEGER NOT NULL
                    );
                    CREATE TABLE authority_zip (
                        zip TEXT NOT NULL, authority_id TEXT NOT NULL REFERENCES authority(id) ON DELETE CASCADE,
                        PRIMARY KEY (zip, authority_id)
                    );
                    CREATE INDEX authority_zip_by_authority ON authority_zip(authority_id);
                    CREATE TABLE account_authority (
                        id TEXT PRIMARY KEY NOT NULL,
                        customer_id TEXT NOT NULL REFERENCES customer(id),
                        authority_id TEXT NOT NULL REFERENCES authority(id),
                        type INTEGER NOT NULL, permit_number TEXT NOT NULL, added_at INTEGER NOT NULL, added_by TEXT NOT NULL,
                        UNIQUE (customer_id, authority_id), UNIQUE (customer_id, type)
                    );
                    CREATE TABLE zone (
                        customer_id TEXT NOT NULL REFERENCES customer(id), zone_number TEXT NOT NULL,
                        description TEXT NOT NULL, event_type INTEGER NOT NULL, equipment_type TEXT NOT NULL,
                        location TEXT NOT NULL, partition INTEGER NOT NULL, restore_required INTEGER NOT NULL,
                        PRIMARY KEY (customer_id, zone_number)
                    );
                    CREATE TABLE test_category (
                        id TEXT PRIMARY KEY NOT NULL, description TEXT NOT NULL, default_minutes INTEGER NOT NULL
                    );
                    CREATE TABLE test_session (
                        id TEXT PRIMARY KEY NOT NULL,
                        customer_id TEXT NOT NULL REFERENCES customer(id),
                        category_id TEXT NOT NULL REFERENCES test_category(id),
                        effective_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, scope INTEGER NOT NULL,
                        zone_numbers TEXT NOT NULL, comment TEXT NOT NULL,
                        has_placed_by INTEGER NOT NULL, placed_by_id TEXT NOT NULL, placed_by_name TEXT NOT NULL,
                        has_authorization INTEGER NOT NULL, authorized_party_id TEXT NOT NULL, verified_by TEXT NOT NULL,
                        ended_at INTEGER, end_reason INTEGER NOT NULL
                    );
                    -- At most one open session per account, whatever the code does.
                    CREATE UNIQUE INDEX test_session_open ON test_session(customer_id) WHERE ended_at IS NULL;
                    CREATE INDEX test_session_expiry ON test_session(expires_at) WHERE ended_at IS NULL;
                    CREATE INDEX test_session_by_customer ON test_session(customer_id, effective_at);
                    CREATE TABLE test_history (
                        row_id INTEGER PRIMARY KEY AUTOINCREMENT,
                        customer_id TEXT NOT NULL REFERENCES customer(id),
                        at INTEGER NOT NULL, action INTEGER NOT NULL, session_id TEXT NOT NULL,
                        has_category INTEGER NOT NULL, category_id TEXT NOT NULL, category_description TEXT NOT NULL,
                        category_minutes INTEGER NOT NULL, effective_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                        has_user INTEGER NOT NULL, user_id TEXT NOT NULL, user_name TEXT NOT NULL, comment TEXT NOT NULL
                    );
                    CREATE INDEX test_history_by_customer ON test_history(customer_id, at, row_id);
                    CREATE TABLE signal (
                        row_id INTEGER PRIMARY KEY AUTOINCREMENT,
                        customer_id TEXT NOT NULL REFERENCES customer(id),
                        is_test_result INTEGER NOT NULL, received_at INTEGER NOT NULL, account_number TEXT NOT NULL,
                        zone_number TEXT NOT NULL, zone_description TEXT NOT NULL, event_code TEXT NOT NULL,
                        qualifier INTEGER NOT NULL, event_description TEXT NOT NULL, user_number TEXT NOT NULL,
                        partition INTEGER NOT NULL, raw TEXT NOT NULL, session_id TEXT NOT NULL
                    );
                    CREATE INDEX signal_by_customer ON signal(customer_id, is_test_result, received_at, row_id);
                    CREATE TABLE idempotency (
                        request_id TEXT PRIMARY KEY NOT NULL, method TEXT NOT NULL, fingerprint INTEGER NOT NULL,
                        response BLOB NOT NULL, created_at INTEGER NOT NULL
                    );
                    """)
        }
        // Dealers (tenants): every customer belongs to one, under a storage key that starts with the dealer's id
        // (see SQLiteTransaction); data from before v2 belongs to the demo dealer. API keys: only a SHA-256 of each
        // secret is kept.
        migrator.registerMigration("v2-dealers") { db in
            try db.execute(sql: "ALTER TABLE customer ADD COLUMN dealer_id TEXT NOT NULL DEFAULT ''")
            let dealer = DealerID.demo + "/"
            for table in [
                "equipment", "account_link", "responding_party", "party_phone", "account_authority", "zone", "test_session",
                "test_history", "signal"
            ] {
                try db.execute(sql: "UPDATE \(table) SET customer_id = ? || customer_id", arguments: [dealer])
            }
            try db.execute(sql: "UPDATE customer SET id = ? || id, dealer_id = ?", arguments: [dealer, DealerID.demo])
            try db.execute(sql: "UPDATE idempotency SET request_id = ? || request_id", arguments: [dealer])
            try db.execute(
                sql: """
                    CREATE INDEX customer_by_dealer ON customer(dealer_id);
                    CREATE TABLE api_key (
                        id TEXT PRIMARY KEY NOT NULL, dealer_id TEXT NOT NULL, name TEXT NOT NULL,
                        secret_sha256 BLOB NOT NULL, roles TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER
                    );
                    CREATE INDEX api_key_by_dealer ON api_key(dealer_id, created_at);
                    """)
        }
        // Accounts per dealer, kept by triggers: LinkAccount checks the dealer's quota on every new customer, and
        // counting a million index entries there (about 0.1 s) would stall every write behind it.
        migrator.registerMigration("v3-dealer-account-count") { db in
            try db.execute(
                sql: """
                    CREATE TABLE dealer_account_count (dealer_id TEXT PRIMARY KEY NOT NULL, accounts INTEGER NOT NULL) WITHOUT ROWID;
                    INSERT INTO dealer_account_count (dealer_id, accounts) SELECT dealer_id, COUNT(*) FROM customer GROUP BY dealer_id;
                    CREATE TRIGGER customer_counted AFTER INSERT ON customer BEGIN
                        INSERT INTO dealer_account_count (dealer_id, accounts) VALUES (NEW.dealer_id, 1)
                        ON CONFLICT(dealer_id) DO UPDATE SET accounts = accounts + 1;
                    END;
                    CREATE TRIGGER customer_uncounted AFTER DELETE ON customer BEGIN
                        UPDATE dealer_account_count SET accounts = accounts - 1 WHERE dealer_id = OLD.dealer_id;
                    END;
                    """)
        }
        // Central-station data (receiver and line, zones, authorities, test sessions and history, signals) belongs to
        // the account number, not to the CRM customer linked to it: a new number starts empty, and linking an
        // existing number, to the same or another customer, brings that account's data. Those tables are keyed by
        // `dealer/accountNumber` (the dealer prefix keeps the dealer boundary in every query, as for customers);
        // `station_account` holds each number once across dealers, so numbers stay unique at the central station.
        // `account_link` keeps one row per customer, and a number may be linked to at most one customer at a time.
        migrator.registerMigration("v4-central-station-by-account-number") { db in
            try db.execute(
                sql: """
                    CREATE TABLE station_account (
                        account_key TEXT PRIMARY KEY NOT NULL, account_number TEXT NOT NULL UNIQUE, dealer_id TEXT NOT NULL,
                        receiver_number TEXT NOT NULL, line TEXT NOT NULL
                    );
                    INSERT INTO station_account (account_key, account_number, dealer_id, receiver_number, line)
                        SELECT customer.dealer_id || '/' || account_link.account_number, account_link.account_number, customer.dealer_id,
                            account_link.receiver_number, account_link.line
                        FROM account_link JOIN customer ON customer.id = account_link.customer_id;
                    CREATE TEMP TABLE account_key_of (customer_id TEXT PRIMARY KEY NOT NULL, account_key TEXT NOT NULL);
                    INSERT INTO account_key_of SELECT account_link.customer_id, customer.dealer_id || '/' || account_link.account_number
                        FROM account_link JOIN customer ON customer.id = account_link.customer_id;

                    CREATE TABLE account_link_v4 (
                        customer_id TEXT PRIMARY KEY NOT NULL REFERENCES customer(id),
                        account_number TEXT NOT NULL REFERENCES station_account(account_number),
                        state INTEGER NOT NULL, linked_at INTEGER NOT NULL, unlinked_at INTEGER NOT NULL
                    );
                    INSERT INTO account_link_v4 SELECT customer_id, account_number, state, linked_at, unlinked_at FROM account_link;
                    DROP TABLE account_link;
                    ALTER TABLE account_link_v4 RENAME TO account_link;
                    CREATE UNIQUE INDEX account_link_linked_number ON account_link(account_number) WHERE state = 1;
                    CREATE INDEX account_link_by_number ON account_link(account_number);

                    CREATE TABLE account_authority_v4 (
                        id TEXT PRIMARY KEY NOT NULL,
                        account_key TEXT NOT NULL REFERENCES station_account(account_key),
                        authority_id TEXT NOT NULL REFERENCES authority(id),
                        type INTEGER NOT NULL, permit_number TEXT NOT NULL, added_at INTEGER NOT NULL, added_by TEXT NOT NULL,
                        UNIQUE (account_key, authority_id), UNIQUE (account_key, type)
                    );
                    INSERT INTO account_authority_v4 SELECT a.id, k.account_key, a.authority_id, a.type, a.permit_number, a.added_at, a.added_by
                        FROM account_authority a JOIN account_key_of k ON k.customer_id = a.customer_id;
                    DROP TABLE account_authority;
                    ALTER TABLE account_authority_v4 RENAME TO account_authority;

                    CREATE TABLE zone_v4 (
                        account_key TEXT NOT NULL REFERENCES station_account(account_key), zone_number TEXT NOT NULL,
                        description TEXT NOT NULL, event_type INTEGER NOT NULL, equipment_type TEXT NOT NULL,
                        location TEXT NOT NULL, partition INTEGER NOT NULL, restore_required INTEGER NOT NULL,
                        PRIMARY KEY (account_key, zone_number)
                    );
                    INSERT INTO zone_v4 SELECT k.account_key, z.zone_number, z.description, z.event_type, z.equipment_type, z.location,
                            z.partition, z.restore_required
                        FROM zone z JOIN account_key_of k ON k.customer_id = z.customer_id;
                    DROP TABLE zone;
                    ALTER TABLE zone_v4 RENAME TO zone;

                    CREATE TABLE test_session_v4 (
                        id TEXT PRIMARY KEY NOT NULL,
                        account_key TEXT NOT NULL REFERENCES station_account(account_key),
                        category_id TEXT NOT NULL REFERENCES test_category(id),
                        effective_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, scope INTEGER NOT NULL,
                        zone_numbers TEXT NOT NULL, comment TEXT NOT NULL,
                        has_placed_by INTEGER NOT NULL, placed_by_id TEXT NOT NULL, placed_by_name TEXT NOT NULL,
                        has_authorization INTEGER NOT NULL, authorized_party_id TEXT NOT NULL, verified_by TEXT NOT NULL,
                        ended_at INTEGER, end_reason INTEGER NOT NULL
                    );
                    INSERT INTO test_session_v4 SELECT s.id, k.account_key, s.category_id, s.effective_at, s.expires_at, s.scope,
                            s.zone_numbers, s.comment, s.has_placed_by, s.placed_by_id, s.placed_by_name, s.has_authorization,
                            s.authorized_party_id, s.verified_by, s.ended_at, s.end_reason
                        FROM test_session s JOIN account_key_of k ON k.customer_id = s.customer_id;
                    DROP TABLE test_session;
                    ALTER TABLE test_session_v4 RENAME TO test_session;
                    CREATE UNIQUE INDEX test_session_open ON test_session(account_key) WHERE ended_at IS NULL;
                    CREATE INDEX test_session_expiry ON test_session(expires_at) WHERE ended_at IS NULL;
                    CREATE INDEX test_session_by_account ON test_session(account_key, effective_at);

                    CREATE TABLE test_history_v4 (
                        row_id INTEGER PRIMARY KEY AUTOINCREMENT,
                        account_key TEXT NOT NULL REFERENCES station_account(account_key),
                        at INTEGER NOT NULL, action INTEGER NOT NULL, session_id TEXT NOT NULL,
                        has_category INTEGER NOT NULL, category_id TEXT NOT NULL, category_description TEXT NOT NULL,
                        category_minutes INTEGER NOT NULL, effective_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                        has_user INTEGER NOT NULL, user_id TEXT NOT NULL, user_name TEXT NOT NULL, comment TEXT NOT NULL
                    );
                    INSERT INTO test_history_v4 SELECT h.row_id, k.account_key, h.at, h.action, h.session_id, h.has_category, h.category_id,
                            h.category_description, h.category_minutes, h.effective_at, h.expires_at, h.has_user, h.user_id, h.user_name,
                            h.comment
                        FROM test_history h JOIN account_key_of k ON k.customer_id = h.customer_id;
                    DROP TABLE test_history;
                    ALTER TABLE test_history_v4 RENAME TO test_history;
                    CREATE INDEX test_history_by_account ON test_history(account_key, at, row_id);

                    CREATE TABLE signal_v4 (
                        row_id INTEGER PRIMARY KEY AUTOINCREMENT,
                        account_key TEXT NOT NULL REFERENCES station_account(account_key),
                        is_test_result INTEGER NOT NULL, received_at INTEGER NOT NULL, account_number TEXT NOT NULL,
                        zone_number TEXT NOT NULL, zone_description TEXT NOT NULL, event_code TEXT NOT NULL,
                        qualifier INTEGER NOT NULL, event_description TEXT NOT NULL, user_number TEXT NOT NULL,
                        partition INTEGER NOT NULL, raw TEXT NOT NULL, session_id TEXT NOT NULL
                    );
                    INSERT INTO signal_v4 SELECT s.row_id, k.account_key, s.is_test_result, s.received_at, s.account_number, s.zone_number,
                            s.zone_description, s.event_code, s.qualifier, s.event_description, s.user_number, s.partition, s.raw,
                            s.session_id
                        FROM signal s JOIN account_key_of k ON k.customer_id = s.customer_id;
                    DROP TABLE signal;
                    ALTER TABLE signal_v4 RENAME TO signal;
                    CREATE INDEX signal_by_account ON signal(account_key, is_test_result, received_at, row_id);
                    DROP TABLE account_key_of;
                    """)
        }
        // GetAccount's read model (`AccountPage`): one row per linked customer, rewritten by every write that changes
        // what the page shows. The store builds the pages of existing customers after migrating
        // (`buildMissingAccountPages`), with the code of its own version, so a later migration that changes the
        // page's rows can drop the pages to have them rebuilt. Directory changes find the accounts to refresh by
        // authority id.
        migrator.registerMigration("v5-account-pages") { db in
            try db.execute(
                sql: """
                    CREATE TABLE account_page (
                        customer_key TEXT PRIMARY KEY NOT NULL REFERENCES customer(id), page BLOB NOT NULL, open_session BLOB
                    );
                    CREATE INDEX account_authority_by_authority ON account_authority(authority_id);
                    """)
        }
        // RequestTestData's rows kept encoded: each `test_history` and `signal` row holds its message (`message`,
        // written with the row), so that a page is those bytes put together. Rows written before are encoded here
        // from their columns, in batches by row id. A later change to what the messages hold adds a migration that
        // encodes them again.
        migrator.registerMigration("v6-encoded-test-data") { db in
            try db.execute(
                sql: """
                    ALTER TABLE test_history ADD COLUMN message BLOB;
                    ALTER TABLE signal ADD COLUMN message BLOB;
                    """)
            try encodeMessages(db, table: "test_history") { SQLiteTransaction.historyEntry($0).serializedBytes() }
            try encodeMessages(db, table: "signal") { SQLiteTransaction.testResult($0).serializedBytes() }
        }
        // Retention (`RetentionPruner`): idempotency records and signals past their window are deleted oldest first,
        // across dealers, by their time; without these indexes each batch would scan the whole table.
        // Indexes only: no foreign-key check of the whole database afterwards (GRDB's default for a migration).
        migrator.registerMigration("v7-retention", foreignKeyChecks: .immediate) { db in
            try db.execute(
                sql: """
                    CREATE INDEX idempotency_by_created_at ON idempotency(created_at);
                    CREATE INDEX signal_by_received_at ON signal(received_at);
                    """)
        }
        // Stored bytes per dealer, kept by triggers (`StorageQuota`): accounts (through their pages), answers kept for
        // request ids, signals, test sessions and history. A call that would store more checks its dealer's count,
        // which summing the rows there would make slower as the dealer grows.
        migrator.registerMigration("v8-dealer-stored-bytes") { db in
            try db.execute(sql: storedBytesSQL)
        }
        // An unlinked customer's page no longer shows its number's zones, authorities and test
        // (`AccountServiceImplementation.assemble`): its page is dropped and built again after migrating.
        migrator.registerMigration("v9-unlinked-pages", foreignKeyChecks: .immediate) { db in
            try db.execute(sql: unlinkedPagesSQL)
        }
        // Nor its number's receiver and line: a write to a number then touches only its linked customer's page.
        migrator.registerMigration("v10-unlinked-pages-without-station", foreignKeyChecks: .immediate) { db in
            try db.execute(sql: unlinkedPagesSQL)
        }
        // A number's own rows (the number, its zones and authorities) count for its dealer whether a customer is
        // linked to it or not: counted only through the linked customer's page, they stopped counting at an unlink,
        // and a dealer that linked, filled and unlinked one number after another stored without bound.
        migrator.registerMigration("v11-station-stored-bytes") { db in
            try db.execute(sql: stationStoredBytesSQL)
        }
        // A signal's zone description is looked up by zone number (`zoneDescription`), not by reading every piece of
        // the customer's equipment.
        migrator.registerMigration("v12-equipment-by-zone") { db in
            try db.execute(sql: "CREATE INDEX equipment_by_zone ON equipment(customer_id, zone_number)")
        }
        return migrator
    }

    /// Migrations 9 and 10: the pages of unlinked customers, to be built again.
    static let unlinkedPagesSQL =
        "DELETE FROM account_page WHERE customer_key IN (SELECT customer_id FROM account_link WHERE state <> \(LinkState.linked.rawValue))"

    /// The rows `StorageQuota` counts: each table's key column (`dealer/…`), the columns its size depends on, and its
    /// size given a row prefix (`OLD.`, `NEW.` or none). An account counts twice its page (its rows hold the same
    /// again) plus 100; an answer its bytes plus 100; a signal or test-history row twice its encoded message plus 100;
    /// a test session 200 plus its comment and zone list. `stationCountedRows` come on top since migration 11.
    private static let countedRows: [CountedRows] = [
        ("account_page", "customer_key", "page", { "2 * length(\($0)page) + 100" }),
        ("idempotency", "request_id", "response", { "length(\($0)response) + 100" }),
        ("signal", "account_key", "message", { "2 * coalesce(length(\($0)message), 200) + 100" }),
        ("test_history", "account_key", "message", { "2 * coalesce(length(\($0)message), 200) + 100" }),
        (
            "test_session", "account_key", "comment, zone_numbers",
            { "200 + length(CAST(\($0)comment AS BLOB)) + length(CAST(\($0)zone_numbers AS BLOB))" }
        )
    ]

    /// A number's own rows (migration 11), each 100 plus its text: the number with its receiver and line, each zone
    /// entered at the central station, each authority entry.
    private static let stationCountedRows: [CountedRows] = [
        (
            "station_account", "account_key", "receiver_number, line",
            {
                "100 + length(CAST(\($0)account_number AS BLOB)) + length(CAST(\($0)receiver_number AS BLOB)) + length(CAST(\($0)line AS BLOB))"
            }
        ),
        (
            "zone", "account_key", "zone_number, description, equipment_type, location",
            {
                "100 + length(CAST(\($0)zone_number AS BLOB)) + length(CAST(\($0)description AS BLOB))"
                    + " + length(CAST(\($0)equipment_type AS BLOB)) + length(CAST(\($0)location AS BLOB))"
            }
        ),
        (
            "account_authority", "account_key", "permit_number, added_by",
            { "100 + length(CAST(\($0)id AS BLOB)) + length(CAST(\($0)permit_number AS BLOB)) + length(CAST(\($0)added_by AS BLOB))" }
        )
    ]

    /// A table whose rows count: its key column (`dealer/…`), the columns a row's size depends on, and its size given
    /// a row prefix (`OLD.`, `NEW.` or none).
    private typealias CountedRows = (table: String, key: String, columns: String, bytes: @Sendable (String) -> String)

    private static func dealer(ofKey key: String) -> String { "substr(\(key), 1, instr(\(key), '/') - 1)" }

    /// Each dealer's bytes in `rows`, counted from the rows (`dealer_id`, `bytes`).
    private static func recountSQL(_ rows: [CountedRows]) -> String {
        "SELECT dealer_id, SUM(bytes) AS bytes FROM ("
            + rows.map { "SELECT \(dealer(ofKey: $0.key)) AS dealer_id, \($0.bytes("")) AS bytes FROM \($0.table)" }
            .joined(separator: " UNION ALL ") + ") GROUP BY dealer_id"
    }

    /// Each dealer's stored bytes counted from the rows (`dealer_id`, `bytes`): what tests compare the counter with.
    static let storedBytesRecountSQL = recountSQL(countedRows + stationCountedRows)

    /// Migration 8: the counter, its triggers, and the count of the rows already stored.
    static let storedBytesSQL = """
        CREATE TABLE dealer_stored_bytes (dealer_id TEXT PRIMARY KEY NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO dealer_stored_bytes (dealer_id, bytes) \(recountSQL(countedRows));

        """ + triggersSQL(countedRows)

    /// Migration 11: the triggers of the station tables, and their rows already stored added to the counter.
    static let stationStoredBytesSQL =
        triggersSQL(stationCountedRows)
            + """
            INSERT INTO dealer_stored_bytes (dealer_id, bytes) SELECT * FROM (\(recountSQL(stationCountedRows))) WHERE true
                ON CONFLICT(dealer_id) DO UPDATE SET bytes = bytes + excluded.bytes;
            """

    /// The triggers that keep `dealer_stored_bytes` for `rows`.
    private static func triggersSQL(_ rows: [CountedRows]) -> String {
        var sql = ""
        for (table, key, columns, bytes) in rows {
            let add = { (row: String, sign: String) in
                """
                INSERT INTO dealer_stored_bytes (dealer_id, bytes) VALUES (\(dealer(ofKey: "\(row).\(key)")), \(sign)(\(bytes(row + "."))))
                    ON CONFLICT(dealer_id) DO UPDATE SET bytes = bytes + excluded.bytes;
                """
            }
            sql += """
                CREATE TRIGGER \(table)_stored AFTER INSERT ON \(table) BEGIN \(add("NEW", "")) END;
                CREATE TRIGGER \(table)_freed AFTER DELETE ON \(table) BEGIN \(add("OLD", "-")) END;
                CREATE TRIGGER \(table)_resized AFTER UPDATE OF \(columns) ON \(table) BEGIN \(add("OLD", "-")) \(add("NEW", "")) END;

                """
        }
        return sql
    }

    /// Fills `message` of every row of `table` with `encode(row)`, 1,000 rows at a time.
    private static func encodeMessages(_ db: Database, table: String, _ encode: (Row) -> [UInt8]) throws {
        var after = Int64.min
        while true {
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM \(table) WHERE row_id > ? ORDER BY row_id LIMIT 1000", arguments: [after])
            guard let last = rows.last else { return }
            let update = try db.makeStatement(sql: "UPDATE \(table) SET message = ? WHERE row_id = ?")
            for row in rows {
                try update.execute(arguments: [Data(encode(row)), row["row_id"] as Int64])
            }
            after = last["row_id"]
        }
    }

    /// Creates the database at `path` migrated only up to `migration`, then runs `sql` on it: the state a store of
    /// an older version left, for tests of the later migrations.
    static func createForTesting(path: String, upTo migration: String, sql: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try migrator.migrate(queue, upTo: migration)
        try queue.write { try $0.execute(sql: sql) }
    }
}

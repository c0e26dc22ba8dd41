import CopsLinkAccounts
import GRDB

/// The schema, as ordered migrations. Every query the store makes is served by an index named here.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
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
                "test_history", "signal",
            ] {
                try db.execute(sql: "UPDATE \(table) SET customer_id = ? || customer_id", arguments: [dealer])
            }
            try db.execute(sql: "UPDATE customer SET id = ? || id, dealer_id = ?", arguments: [dealer, DealerID.demo])
            try db.execute(sql: "UPDATE idempotency SET request_id = ? || request_id", arguments: [dealer])
            try db.execute(sql: """
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
            try db.execute(sql: """
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
        return migrator
    }
}

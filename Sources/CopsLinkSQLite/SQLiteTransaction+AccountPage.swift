import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import Foundation
import GRDB

extension SQLiteTransaction {
    func accountPage(customerID: String) throws -> AccountPage? {
        try db.cachedRow(sql: "SELECT page, open_session FROM account_page WHERE customer_key = ?", arguments: [key(customerID)]).map {
            row in
            let session: Data? = row[1]
            return AccountPage(encodedAccount: [UInt8](row[0] as Data), encodedOpenSession: session.map { [UInt8]($0) })
        }
    }

    /// Rewrites the page of every customer whose page the recorded changes touch, then forgets them.
    func refreshAccountPages() throws {
        guard let changes = pageChanges, !changes.isEmpty else { return }
        var accountKeys = changes.accountKeys
        var authorityAccountKeys = changes.authorityAccountKeys
        for id in changes.authorityIDs {
            authorityAccountKeys.formUnion(
                try db.cachedStrings(sql: "SELECT DISTINCT account_key FROM account_authority WHERE authority_id = ?", arguments: [id]))
        }
        for id in changes.categoryIDs {
            accountKeys.formUnion(
                try db.cachedStrings(
                    sql: "SELECT account_key FROM test_session WHERE ended_at IS NULL AND category_id = ?", arguments: [id]))
        }
        var customerKeys = changes.customerKeys
        // Only the customer linked now shows the number's data (`AccountServiceImplementation.assemble`); a customer
        // being unlinked or linked is in `customerKeys` by `saveLink`.
        for accountKey in accountKeys { customerKeys.formUnion(try Self.linkedCustomerKeys(db, accountKey: accountKey)) }
        for customerKey in customerKeys {
            try Self.savePage(db, customerKey: customerKey, stored: changes.readSinceLastChange[customerKey])
        }
        // Accounts whose authorities alone changed (an entry added or removed, a directory entry edited): only that
        // part of the linked customer's page, not the whole account read and encoded again.
        for accountKey in authorityAccountKeys.subtracting(accountKeys) {
            for customerKey in try Self.linkedCustomerKeys(db, accountKey: accountKey) where !customerKeys.contains(customerKey) {
                try Self.replaceAuthorities(db, customerKey: customerKey, accountKey: accountKey)
            }
        }
        // Accounts whose open session alone changed (PlaceOnTest, PlaceOffTest, expiry): only that part of their
        // pages, not the whole account assembled again.
        // One UPDATE by primary key per customer: `WHERE customer_key IN (SELECT …)` builds a temporary table for
        // the list on every run, which was most of a PlaceOnTest's page refresh.
        for accountKey in changes.sessionAccountKeys.subtracting(accountKeys) {
            let session = try Self.openSession(db, accountKey: accountKey)?.serializedBytes()
            for customerKey in try Self.linkedCustomerKeys(db, accountKey: accountKey) {
                var run = try SQLiteStatementRun(db, "UPDATE account_page SET open_session = ? WHERE customer_key = ?")
                run.bind(blob: session)
                run.bind(customerKey)
                try run.execute()
            }
        }
        changes.removeAll()
    }

    /// Puts the current authorities of the account under `accountKey` into the page of its linked customer under
    /// `customerKey` (`AccountPage.replaceAuthorities`); builds the page whole if it has none.
    private static func replaceAuthorities(_ db: Database, customerKey: String, accountKey: String) throws {
        // Read, and the statement reset, before anything else runs on the connection.
        let current: (page: [UInt8], zip: String)? = try {
            var read = try SQLiteStatementRun(
                db,
                """
                SELECT account_page.page, CASE WHEN customer.has_address THEN customer.zip ELSE '' END
                FROM account_page JOIN customer ON customer.id = account_page.customer_key
                WHERE account_page.customer_key = ?
                """)
            read.bind(customerKey)
            return try read.step() ? (read.bytes(0), read.string(1)) : nil
        }()
        guard let current else { return try savePage(db, customerKey: customerKey) }
        var page = AccountPage(encodedAccount: current.page, encodedOpenSession: nil)
        let entries = try SQLiteTransaction(db: db, scope: .dealer(dealer(ofKey: customerKey))).accountAuthorities(accountKey: accountKey)
        try page.replaceAuthorities(entries, customerZip: current.zip)
        var write = try SQLiteStatementRun(db, "UPDATE account_page SET page = ? WHERE customer_key = ?")
        write.bind(blob: page.encodedAccount)
        write.bind(customerKey)
        try write.execute()
    }

    /// The customer linked now to the account under `accountKey` (storage key; at most one): the one page that shows
    /// the number's data (`AccountServiceImplementation.assemble`).
    private static func linkedCustomerKeys(_ db: Database, accountKey: String) throws -> [String] {
        var run = try SQLiteStatementRun(
            db,
            """
            SELECT account_link.customer_id FROM account_link
            JOIN station_account ON station_account.account_number = account_link.account_number
            WHERE station_account.account_key = ? AND account_link.state = \(LinkState.linked.rawValue)
            """)
        run.bind(accountKey)
        var keys: [String] = []
        while try run.step() { keys.append(run.string(0)) }
        return keys
    }

    /// Builds the page of the customer under `customerKey` from its rows, in its dealer's scope (the page shows the
    /// ids its dealer knows), and stores it; a customer without a link has none. `stored`, when given, is the
    /// account as this transaction read it since its last change (`AccountPageChanges.readSinceLastChange`).
    static func savePage(_ db: Database, customerKey: String, stored known: StoredAccount? = nil) throws {
        let dealer = Self.dealer(ofKey: customerKey)
        let customerID = String(customerKey.dropFirst(dealer.count + 1))
        guard let stored = try known ?? SQLiteTransaction(db: db, scope: .dealer(dealer)).storedAccount(customerID: customerID) else {
            try db.executeCached(sql: "DELETE FROM account_page WHERE customer_key = ?", arguments: [customerKey])
            return
        }
        let page = AccountPage(stored)
        // An upsert, not INSERT OR REPLACE: a replacement deletes the old row without running its delete trigger, which
        // would leave its bytes in the dealer's count (`StorageQuota`).
        var run = try SQLiteStatementRun(
            db,
            """
            INSERT INTO account_page (customer_key, page, open_session) VALUES (?, ?, ?)
            ON CONFLICT(customer_key) DO UPDATE SET page = excluded.page, open_session = excluded.open_session
            """)
        run.bind(customerKey)
        run.bind(blob: page.encodedAccount)
        run.bind(blob: page.encodedOpenSession)
        try run.execute()
    }

    /// Builds the pages of linked customers that have none: all of them after the migration that adds pages, and
    /// any a future migration drops to have them rebuilt. Returns how many it built.
    @discardableResult
    static func buildMissingAccountPages(_ db: Database) throws -> Int {
        let missing = try String.fetchAll(
            db,
            sql: """
                SELECT customer_id FROM account_link
                WHERE NOT EXISTS (SELECT 1 FROM account_page WHERE account_page.customer_key = account_link.customer_id)
                """)
        for customerKey in missing { try savePage(db, customerKey: customerKey) }
        return missing.count
    }
}

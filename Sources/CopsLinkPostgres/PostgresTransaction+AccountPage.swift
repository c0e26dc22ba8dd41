import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import PostgresNIO

/// GetAccount's read model (`AccountPage`), kept as `SQLiteTransaction+AccountPage` keeps it: the write methods
/// record what they changed (`AccountPageChanges`), and `refreshAccountPages` rewrites the touched pages in the same
/// transaction before it commits.
extension PostgresTransaction {
    func accountPage(customerID: String) throws -> AccountPage? {
        try connection.row("SELECT page, open_session FROM account_page WHERE customer_key = \(key(customerID))").map { row in
            AccountPage(encodedAccount: try row.bytes("page"), encodedOpenSession: try row.optionalBytes("open_session"))
        }
    }

    /// Rewrites the page of every customer whose page the recorded changes touch, then forgets them.
    func refreshAccountPages() throws {
        guard let changes = pageChanges, !changes.isEmpty else { return }
        var accountKeys = changes.accountKeys
        var authorityAccountKeys = changes.authorityAccountKeys
        for id in changes.authorityIDs {
            for row in try connection.rows("SELECT DISTINCT account_key FROM account_authority WHERE authority_id = \(id)") {
                authorityAccountKeys.insert(try row.value("account_key"))
            }
        }
        for id in changes.categoryIDs {
            for row in try connection.rows("SELECT account_key FROM test_session WHERE ended_at IS NULL AND category_id = \(id)") {
                accountKeys.insert(try row.value("account_key"))
            }
        }
        var customerKeys = changes.customerKeys
        // Only the customer linked now shows the number's data (`AccountServiceImplementation.assemble`); a customer
        // being unlinked or linked is in `customerKeys` by `saveLink`.
        for accountKey in accountKeys {
            for row in try connection.rows(
                """
                SELECT account_link.customer_id FROM account_link
                JOIN station_account ON station_account.account_number = account_link.account_number
                WHERE station_account.account_key = \(accountKey) AND account_link.state = \(Int64(LinkState.linked.rawValue))
                """)
            {
                customerKeys.insert(try row.value("customer_id"))
            }
        }
        for customerKey in customerKeys { try Self.savePage(connection, customerKey: customerKey) }
        // Accounts whose authorities alone changed (an entry added or removed, a directory entry edited): only that
        // part of the linked customer's page, not the whole account read and encoded again.
        for accountKey in authorityAccountKeys.subtracting(accountKeys) {
            for row in try connection.rows(
                """
                SELECT account_link.customer_id FROM account_link
                JOIN station_account ON station_account.account_number = account_link.account_number
                WHERE station_account.account_key = \(accountKey) AND account_link.state = \(Int64(LinkState.linked.rawValue))
                """)
            {
                let customerKey: String = try row.value("customer_id")
                if !customerKeys.contains(customerKey) {
                    try Self.replaceAuthorities(connection, customerKey: customerKey, accountKey: accountKey)
                }
            }
        }
        // Accounts whose open session alone changed (PlaceOnTest, PlaceOffTest, expiry): only that part of their
        // pages, not the whole account assembled again (two statements instead of about twenty); only the page of the
        // customer linked now shows the number's test (`AccountServiceImplementation.assemble`).
        for accountKey in changes.sessionAccountKeys.subtracting(accountKeys) {
            let session = try openSession(accountKey: accountKey)
            try connection.execute(
                """
                UPDATE account_page SET open_session = \(session.map { $0.serializedBytes().byteBuffer }) WHERE customer_key IN (
                    SELECT account_link.customer_id FROM account_link
                    JOIN station_account ON station_account.account_number = account_link.account_number
                    WHERE station_account.account_key = \(accountKey) AND account_link.state = \(Int64(LinkState.linked.rawValue)))
                """)
        }
        changes.removeAll()
    }

    /// Puts the current authorities of the account under `accountKey` into the page of its linked customer under
    /// `customerKey` (`AccountPage.replaceAuthorities`); builds the page whole if it has none.
    static func replaceAuthorities(_ connection: BlockingConnection, customerKey: String, accountKey: String) throws {
        guard
            let current = try connection.row(
                """
                SELECT account_page.page, CASE WHEN customer.has_address THEN customer.zip ELSE '' END AS zip
                FROM account_page JOIN customer ON customer.id = account_page.customer_key
                WHERE account_page.customer_key = \(customerKey)
                """)
        else { return try savePage(connection, customerKey: customerKey) }
        let dealer = dealer(ofKey: customerKey)
        var page = AccountPage(encodedAccount: try current.bytes("page"), encodedOpenSession: nil)
        let entries = try PostgresTransaction(connection: connection, scope: .dealer(dealer))
            .accountAuthorities(accountNumber: String(accountKey.dropFirst(dealer.count + 1)))
        try page.replaceAuthorities(entries, customerZip: try current.value("zip"))
        try connection.execute("UPDATE account_page SET page = \(page.encodedAccount.byteBuffer) WHERE customer_key = \(customerKey)")
    }

    /// Builds the page of the customer under `customerKey` from its rows, in its dealer's scope (the page shows the
    /// ids its dealer knows), and stores it; a customer without a link has none.
    static func savePage(_ connection: BlockingConnection, customerKey: String) throws {
        let dealer = dealer(ofKey: customerKey)
        let customerID = String(customerKey.dropFirst(dealer.count + 1))
        guard let stored = try PostgresTransaction(connection: connection, scope: .dealer(dealer)).storedAccount(customerID: customerID)
        else {
            try connection.execute("DELETE FROM account_page WHERE customer_key = \(customerKey)")
            return
        }
        let page = AccountPage(stored)
        try connection.execute(
            """
            INSERT INTO account_page (customer_key, page, open_session)
            VALUES (\(customerKey), \(page.encodedAccount.byteBuffer), \(page.encodedOpenSession?.byteBuffer))
            ON CONFLICT (customer_key) DO UPDATE SET page = excluded.page, open_session = excluded.open_session
            """)
    }

    /// Builds the pages of linked customers that have none (any a future migration drops to have them rebuilt).
    /// Returns how many it built.
    @discardableResult
    static func buildMissingAccountPages(_ connection: BlockingConnection) throws -> Int {
        let missing = try connection.rows(
            """
            SELECT customer_id FROM account_link
            WHERE NOT EXISTS (SELECT 1 FROM account_page WHERE account_page.customer_key = account_link.customer_id)
            """
        ).map { try $0.value("customer_id", as: String.self) }
        for customerKey in missing { try savePage(connection, customerKey: customerKey) }
        return missing.count
    }
}

import CopsLinkAccounts
import CopsLinkMessages
import CopsLinkTestSupport
import Testing

@testable import CopsLinkSQLite

@Suite("Schema migrations")
struct MigrationTests {
    /// A store written before v4 kept central-station data per customer; after v4 it is found by account number.
    @Test func v4MovesCentralStationDataToTheAccountNumber() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        try SQLiteSchema.createForTesting(
            path: path, upTo: "v3-dealer-account-count",
            sql: """
                INSERT INTO customer (id, dealer_id, first_name, last_name, company_name, has_address, street1, street2, city, state, zip,
                    premise_phone, passcode)
                    VALUES ('demo/cust-1', 'demo', 'Ada', 'Lovelace', '', 1, '1 Main St', '', 'Provo', 'UT', '84601', '', '');
                INSERT INTO account_link (customer_id, account_number, receiver_number, line, state, linked_at, unlinked_at)
                    VALUES ('demo/cust-1', '22-8762', '2', '3', 1, 1000, 0);
                INSERT INTO zone (customer_id, zone_number, description, event_type, equipment_type, location, partition, restore_required)
                    VALUES ('demo/cust-1', '010', 'Panic', 0, '', '', 1, 0);
                INSERT INTO test_category (id, description, default_minutes) VALUES ('service', 'Service', 60);
                INSERT INTO test_session (id, customer_id, category_id, effective_at, expires_at, scope, zone_numbers, comment,
                    has_placed_by, placed_by_id, placed_by_name, has_authorization, authorized_party_id, verified_by, ended_at, end_reason)
                    VALUES ('s-1', 'demo/cust-1', 'service', 2000, 9000000000000, 1, '', '', 0, '', '', 0, '', '', NULL, 0);
                INSERT INTO test_history (customer_id, at, action, session_id, has_category, category_id, category_description,
                    category_minutes, effective_at, expires_at, has_user, user_id, user_name, comment)
                    VALUES ('demo/cust-1', 2000, 1, 's-1', 0, '', '', 0, 2000, 9000000000000, 0, '', '', '');
                """)
        let store = try SQLiteAccountStore(path: path)
        defer { try? store.close() }
        let (link, zones, session, history, taken) = try await store.read(.dealer(DealerID.demo)) { transaction in
            (
                try transaction.link(customerID: "cust-1"), try transaction.zones(accountNumber: "22-8762").map(\.zoneNumber),
                try transaction.openSession(accountNumber: "22-8762")?.id,
                try transaction.testHistory(accountNumber: "22-8762", fromMs: 0, toMs: .max, after: nil, limit: 10).count,
                try transaction.isAccountNumberTaken("22-8762")
            )
        }
        #expect(link?.accountNumber == "22-8762" && link?.receiverNumber == "2" && link?.line == "3" && link?.state == .linked)
        #expect(zones == ["010"])
        #expect(session == "s-1")
        #expect(history == 1)
        #expect(taken)
        let fromOtherDealer = try await store.read(.dealer("beta")) { try $0.zones(accountNumber: "22-8762").count }
        #expect(fromOtherDealer == 0)
    }
}

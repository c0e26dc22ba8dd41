import CopsLinkCore
public import CopsLinkMessages
import Foundation

/// Demo customers `demo-1` … `demo-4`, so that a newcomer can try every call at once:
/// demo-1 fully mapped with authorities, demo-2 with unmapped zones, demo-3 with a year of signal history and past
/// tests, demo-4 in Austin. Seeded only into an empty store, with the sample authority directory.
public enum DemoData {
    /// The sample authority directory shipped with the server.
    public static func sampleAuthorities() throws -> [Authority] {
        guard let url = Bundle.module.url(forResource: "authorities-sample", withExtension: "csv") else {
            throw AccountError(.internalError, "the sample authority directory is missing from the bundle")
        }
        return try AuthorityCSV.parse(String(contentsOf: url, encoding: .utf8))
    }

    /// Seeds the demo customers for the demo dealer if it has no customer yet; returns whether it did.
    @discardableResult
    public static func seedIfEmpty(_ store: any AccountStore, nowMs: Int64) async throws -> Bool {
        let authorities = try sampleAuthorities()
        return try await store.write(.dealer(DealerID.demo)) { transaction in
            guard try transaction.customerCount() == 0 else { return false }
            try transaction.saveAuthorities(authorities)
            for (customer, parties, zones, authorityIDs) in customers {
                try transaction.saveCustomer(customer)
                try transaction.replaceRespondingParties(customerID: customer.id, parties)
                try transaction.saveLink(
                    AccountLink(
                        customerID: customer.id, accountNumber: accountNumbers[customer.id]!, receiverNumber: "2", line: "1",
                        state: .linked,
                        linkedAtMs: nowMs - 400 * 86_400_000))
                try transaction.replaceZones(accountNumber: accountNumbers[customer.id]!, zones)
                for (index, id) in authorityIDs.enumerated() {
                    try transaction.insertAccountAuthority(
                        accountNumber: accountNumbers[customer.id]!,
                        AccountAuthority(
                            id: "\(customer.id)-authority-\(index + 1)", authority: try transaction.authority(id: id),
                            permitNumber: try transaction.authority(id: id)?.permitRequired == true ? "P-\(1000 + index)" : "",
                            addedAtMs: nowMs - 300 * 86_400_000, addedBy: "demo"))
                }
            }
            try seedYearOfSignals(transaction, customerID: "demo-3", nowMs: nowMs)
            return true
        }
    }

    static let accountNumbers = ["demo-1": "22-8761", "demo-2": "22-8762", "demo-3": "22-8763", "demo-4": "31-0042"]

    /// Ids `eq-<zone>`, as `copslink account link/sync --equipment ZONE:NAME` makes them, so that README's sync
    /// example keeps the demo equipment rather than replacing it.
    private static func equipment(_ zones: [(String, String)]) -> [Equipment] {
        zones.map { zone in
            Equipment(id: "eq-\(zone.0)", name: zone.1, zoneNumber: zone.0, zoneDescription: zone.1, installed: true)
        }
    }

    private static func zone(_ number: String, _ description: String, _ type: ZoneEventType) -> Zone {
        Zone(
            zoneNumber: number, description: description, eventType: type, equipmentType: "sensor", location: description, partition: 1,
            restoreRequired: type == .burglary)
    }

    private static func party(
        _ id: String, _ priority: UInt32, _ first: String, _ last: String, _ phone: String, role: PartyRole, key: Bool
    ) -> RespondingParty {
        RespondingParty(
            id: id, priority: priority, firstName: first, lastName: last, phones: [Phone(number: phone, type: .mobile)],
            email: "\(first.lowercased())@example.com", language: "en", passcode: "pass-\(id)", hasKey: key, relation: "family",
            enhancedVerification: priority == 1, role: role)
    }

    static let customers: [(Customer, [RespondingParty], [Zone], [String])] = [
        (
            Customer(
                id: "demo-1", firstName: "Ada", lastName: "Lovelace",
                address: Address(street1: "123 N University Ave", city: "Provo", state: "UT", zip: "84601"), premisePhone: "801-555-0101",
                passcode: "owl",
                equipment: equipment([("001", "Front door"), ("002", "Back door"), ("003", "Living room motion"), ("004", "Smoke detector")]
                )),
            [
                party("p-1", 1, "Ada", "Lovelace", "801-555-0102", role: .keyholder, key: true),
                party("p-2", 2, "Charles", "Babbage", "801-555-0103", role: .contact, key: false)
            ],
            [
                zone("001", "Front door", .burglary), zone("002", "Back door", .burglary), zone("003", "Living room motion", .burglary),
                zone("004", "Smoke detector", .fire)
            ],
            ["ut-provo-pd", "ut-provo-fd", "ut-provo-ems"]
        ),
        (
            Customer(
                id: "demo-2", companyName: "Orem Hardware Co.",
                address: Address(street1: "400 S State St", city: "Orem", state: "UT", zip: "84058"), premisePhone: "801-555-0201",
                passcode: "hammer", equipment: equipment([("001", "Shop door"), ("002", "Office motion")])),
            [
                party("p-1", 1, "Grace", "Hopper", "801-555-0202", role: .agent, key: true),
                party("p-2", 2, "Alan", "Turing", "801-555-0203", role: .technician, key: false)
            ],
            [
                zone("001", "Shop door", .burglary), zone("002", "Office motion", .burglary), zone("010", "Panic button", .panic),
                zone("011", "Freezer temperature", .nonBurglary24h)
            ],
            ["ut-orem-pd"]
        ),
        (
            Customer(
                id: "demo-3", firstName: "Edsger", lastName: "Dijkstra",
                address: Address(street1: "900 E 800 N", city: "Provo", state: "UT", zip: "84604"), premisePhone: "801-555-0301",
                passcode: "semaphore",
                equipment: equipment([
                    ("001", "Front door"), ("002", "Garage door"), ("003", "Hall motion"), ("005", "Kitchen smoke"),
                    ("006", "Basement water")
                ])),
            [party("p-1", 1, "Edsger", "Dijkstra", "801-555-0302", role: .keyholder, key: true)],
            [
                zone("001", "Front door", .burglary), zone("002", "Garage door", .burglary), zone("003", "Hall motion", .burglary),
                zone("005", "Kitchen smoke", .fire), zone("006", "Basement water", .nonBurglary24h)
            ],
            ["ut-utah-county-so", "ut-provo-fd"]
        ),
        (
            Customer(
                id: "demo-4", firstName: "Barbara", lastName: "Liskov",
                address: Address(street1: "1100 Congress Ave", city: "Austin", state: "TX", zip: "78701"), premisePhone: "512-555-0401",
                passcode: "substitution", equipment: equipment([("001", "Entry"), ("002", "Patio door")])),
            [party("p-1", 1, "Barbara", "Liskov", "512-555-0402", role: .keyholder, key: true)],
            [zone("001", "Entry", .burglary), zone("002", "Patio door", .burglary)],
            ["tx-austin-pd"]
        )
    ]

    /// A year of signals for `customerID`: a few events a day, and a monthly two-hour service test whose signals
    /// are test results, each with its history (placed on test, placed off or expired).
    private static func seedYearOfSignals(_ transaction: any AccountWriteTransaction, customerID: String, nowMs: Int64) throws {
        let day: Int64 = 86_400_000
        let accountNumber = accountNumbers[customerID]!
        let category = ReferenceData.testCategories.first { $0.id == "service" }!
        let zones = try transaction.zones(accountNumber: accountNumber)
        var random = SplitMix64(seed: 42)  // the same demo data on every machine
        let start = nowMs - 365 * day
        for dayIndex in 0..<Int64(365) {
            let dayStart = start + dayIndex * day
            let testToday = dayIndex % 30 == 15
            var session: TestSession?
            if testToday {
                let effective = dayStart + 10 * 3_600_000
                let placedOff = dayIndex % 60 == 15
                session = TestSession(
                    id: "demo-test-\(dayIndex)", category: category, effectiveAtMs: effective, expiresAtMs: effective + 2 * 3_600_000,
                    scope: .allZones, comment: "Monthly service test", placedBy: UserRef(id: "tech-7", name: "Demo Technician"))
                try transaction.insertSession(accountNumber: accountNumber, session!)
                try transaction.appendHistory(
                    accountNumber: accountNumber,
                    TestHistoryEntry(
                        atMs: effective, action: .placedOnTest, sessionID: session!.id, category: category, effectiveAtMs: effective,
                        expiresAtMs: session!.expiresAtMs, user: session!.placedBy, comment: session!.comment))
                let endAt = placedOff ? effective + 90 * 60_000 : session!.expiresAtMs
                try transaction.endSession(id: session!.id, atMs: endAt, reason: placedOff ? .placedOff : .expired)
                try transaction.appendHistory(
                    accountNumber: accountNumber,
                    TestHistoryEntry(
                        atMs: endAt, action: placedOff ? .placedOffTest : .expired, sessionID: session!.id, category: category,
                        effectiveAtMs: effective, expiresAtMs: session!.expiresAtMs, user: placedOff ? session!.placedBy : nil,
                        comment: placedOff ? "Service done" : "Test expired"))
            }
            for event in 0..<4 {
                let zone = zones[Int(random.next() % UInt64(zones.count))]
                let onTest = testToday && event < 3
                let at = onTest ? session!.effectiveAtMs + Int64(event + 1) * 15 * 60_000 : dayStart + Int64(random.next() % UInt64(day))
                // An alarm as the zone's type reports it (a smoke detector does not send Burglary), or an event of the panel.
                let alarms: [String] =
                    switch zone.eventType {
                    case .fire: ["111", "110"]
                    case .nonBurglary24h: ["154", "150"]
                    case .panic: ["120", "123"]
                    default: ["130", "131"]
                    }
                let code = onTest ? "601" : (alarms + ["401", "602", "380"])[Int(random.next() % 5)]
                let namesUser = ReferenceData.eventNamesUser(code)
                let raw = ContactIDMessage.make(
                    account: "8763", qualifier: 1, eventCode: code, partition: 1, zoneOrUser: namesUser ? "003" : zone.zoneNumber)
                try transaction.insertSignal(
                    SignalRecord(
                        accountNumber: accountNumber,
                        result: TestResult(
                            receivedAtMs: at, accountNumber: accountNumber, zoneNumber: namesUser ? "" : zone.zoneNumber,
                            zoneDescription: namesUser ? "" : zone.description, eventCode: code, qualifier: 1,
                            eventDescription: ReferenceData.contactIDEvents[code] ?? "", userNumber: namesUser ? "003" : "", partition: 1,
                            rawMessage: raw, sessionID: onTest ? session!.id : ""),
                        isTestResult: onTest))
            }
        }
    }
}

import CopsLinkAccounts
import CopsLinkMessages
import CopsLinkSQLite
import Foundation

/// Seeds the store of the service benchmarks straight through `SQLiteAccountStore`, in big transactions:
/// `accounts` linked customers shaped like the demo customers (address, 4 pieces of equipment, 2 responding parties
/// with 2 phones, 3 authorities, 3 mapped zones and 1 unmapped), and one account with a year of signals as test
/// results (96 a day).
enum Seed {
    static let testDataCustomerID = "bench-testdata"
    static let signalsPerDay = 96
    static let days = 365

    static func customerID(_ index: Int) -> String { "bench-\(index)" }

    static func customer(_ index: Int) -> (Customer, [RespondingParty], [Zone]) {
        let id = customerID(index)
        let names = ["Ada", "Grace", "Edsger", "Barbara", "Alan", "Donald", "Frances", "Niklaus"]
        let last = ["Lovelace", "Hopper", "Dijkstra", "Liskov", "Turing", "Knuth", "Allen", "Wirth"]
        let equipment = [
            Equipment(id: "eq-1", name: "Front door contact", zoneNumber: "001", zoneDescription: "Front door", installed: true),
            Equipment(id: "eq-2", name: "Back door contact", zoneNumber: "002", zoneDescription: "Back door", installed: true),
            Equipment(id: "eq-3", name: "Living room motion", zoneNumber: "003", zoneDescription: "Living room motion", installed: true),
            Equipment(id: "eq-4", name: "Hallway smoke detector", zoneNumber: "004", zoneDescription: "Smoke detector", installed: true)
        ]
        let street1: String = "\(100 + abs(index) % 900) N University Ave"
        let street2: String = "Unit \(abs(index) % 40)"
        let address = Address(street1: street1, street2: street2, city: "Provo", state: "UT", zip: "84601")
        let firstName: String = names[abs(index) % names.count]
        let lastName: String = last[(abs(index) / names.count) % last.count]
        let customer = Customer(
            id: id, firstName: firstName, lastName: lastName, address: address, premisePhone: phone("801-555", index),
            passcode: "pass-\(index)", equipment: equipment)
        let parties = (1...2).map { (number: Int) -> RespondingParty in
            let phones: [Phone] = [
                Phone(number: phone("801-555", index + number), type: .mobile),
                Phone(number: phone("801-556", index + number), type: .work, extension: "12")
            ]
            return RespondingParty(
                id: "p-\(number)", priority: UInt32(number), firstName: names[abs(index + number) % names.count],
                lastName: last[abs(index + number) % last.count],
                phones: phones,
                email: "contact\(number)-\(index)@example.com", language: "en", passcode: "word-\(number)", hasKey: number == 1,
                relation: number == 1 ? "owner" : "neighbor", enhancedVerification: number == 1, role: number == 1 ? .keyholder : .contact)
        }
        let zones = [
            Zone(
                zoneNumber: "001", description: "Front door", eventType: .burglary, equipmentType: "contact", location: "Front door",
                partition: 1, restoreRequired: true),
            Zone(
                zoneNumber: "002", description: "Back door", eventType: .burglary, equipmentType: "contact", location: "Back door",
                partition: 1, restoreRequired: true),
            Zone(
                zoneNumber: "003", description: "Living room motion", eventType: .burglary, equipmentType: "motion",
                location: "Living room", partition: 1),
            Zone(
                zoneNumber: "010", description: "Panic button", eventType: .panic, equipmentType: "button", location: "Bedroom",
                partition: 1)
        ]
        return (customer, parties, zones)
    }

    static func phone(_ prefix: String, _ number: Int) -> String {
        let digits = String(abs(number) % 10_000)
        return prefix + "-" + String(repeating: "0", count: 4 - digits.count) + digits
    }

    static func run(database: String, accounts: Int, batch: Int) async throws {
        let started = nowNanos()
        let store = try SQLiteAccountStore(path: database)
        let nowMs = nowWallMillis()
        let directory = try DemoData.sampleAuthorities()
        try await store.write(.dealer(DealerID.demo)) { transaction in try transaction.saveAuthorities(directory) }
        let attached = ["ut-provo-pd", "ut-provo-fd", "ut-provo-ems"].compactMap { id in directory.first { $0.id == id } }
        var next = 0
        while next < accounts {
            let range = next..<min(accounts, next + batch)
            try await store.write(.dealer(DealerID.demo)) { transaction in
                for index in range {
                    let (customer, parties, zones) = customer(index)
                    try transaction.saveCustomer(customer)
                    try transaction.replaceRespondingParties(customerID: customer.id, parties)
                    try transaction.saveLink(
                        AccountLink(
                            customerID: customer.id, accountNumber: "B-\(index)", receiverNumber: "2", line: "1", state: .linked,
                            linkedAtMs: nowMs - 200 * 86_400_000))
                    try transaction.replaceZones(accountNumber: "B-\(index)", zones)
                    for (number, authority) in attached.enumerated() {
                        try transaction.insertAccountAuthority(
                            accountNumber: "B-\(index)",
                            AccountAuthority(
                                id: "\(customer.id)-authority-\(number + 1)", authority: authority,
                                permitNumber: authority.permitRequired ? "P-\(index)" : "", addedAtMs: nowMs - 100 * 86_400_000,
                                addedBy: "bench"))
                    }
                }
            }
            next = range.upperBound
        }
        let accountsDone = nowNanos()
        try await seedTestData(store, nowMs: nowMs)
        try store.close()
        var line = ResultLine()
        line.set("benchmark", "seed")
        line.set("accounts", accounts)
        line.set("signals", days * signalsPerDay)
        line.set("accounts_seconds", Double(accountsDone - started) / 1e9)
        line.set("signals_seconds", Double(nowNanos() - accountsDone) / 1e9)
        line.emit()
    }

    /// A year of test results for one account, ending now: 96 signals a day (every 15 minutes).
    static func seedTestData(_ store: SQLiteAccountStore, nowMs: Int64) async throws {
        let (customer, parties, zones) = customer(-1)
        var renamed = customer
        renamed.id = testDataCustomerID
        let testCustomer = renamed
        try await store.write(.dealer(DealerID.demo)) { transaction in
            try transaction.saveCustomer(testCustomer)
            try transaction.replaceRespondingParties(customerID: testCustomer.id, parties)
            try transaction.saveLink(
                AccountLink(
                    customerID: testCustomer.id, accountNumber: "B-TESTDATA", receiverNumber: "2", line: "1", state: .linked,
                    linkedAtMs: nowMs - 400 * 86_400_000))
            try transaction.replaceZones(accountNumber: "B-TESTDATA", zones)
        }
        let step = 86_400_000 / Int64(signalsPerDay)
        let start = nowMs - Int64(days) * 86_400_000 + step / 2
        let codes = ["130", "131", "401", "602", "380", "110"]
        let descriptions = ["Burglary", "Perimeter", "Open/Close by user", "Periodic test report", "Sensor trouble", "Fire"]
        // One transaction per 30 days.
        for firstDay in stride(from: 0, to: days, by: 30) {
            try await store.write(.dealer(DealerID.demo)) { transaction in
                for day in firstDay..<min(days, firstDay + 30) {
                    for slot in 0..<signalsPerDay {
                        let at = start + Int64(day * signalsPerDay + slot) * step
                        let zone = zones[(day + slot) % zones.count]
                        let code = codes[(day * 7 + slot) % codes.count]
                        try transaction.insertSignal(
                            SignalRecord(
                                accountNumber: "B-TESTDATA",
                                result: TestResult(
                                    receivedAtMs: at, accountNumber: "B-TESTDATA", zoneNumber: zone.zoneNumber,
                                    zoneDescription: zone.description,
                                    eventCode: code, qualifier: 1, eventDescription: descriptions[(day * 7 + slot) % codes.count],
                                    userNumber: "", partition: 1, rawMessage: "8763 18 1\(code) 01 \(zone.zoneNumber) C",
                                    sessionID: "bench-session-\(day)"),
                                isTestResult: true))
                    }
                }
            }
        }
    }
}

import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices

/// What one unit of `drive-writes` is.
enum WriteMix: String, CaseIterable {
    /// PlaceOnTest then PlaceOffTest on one of the worker's own seeded accounts: two writes, one after the other.
    case placeTest = "place-test"
    /// LinkAccount of a customer new to the store (shaped like the seeded ones), with a new account number.
    case link

    /// Writes (committed transactions' worth of work) in one unit.
    var writesPerUnit: Int {
        switch self {
        case .placeTest: 2
        case .link: 1
        }
    }
}

extension CopsLinkTarget {
    /// Closed-loop writes on a store of its own (scripts/bench copies a freshly seeded one for each point, so that
    /// the GetAccount store stays as seeded). Each unit is one call of `drive`, so its throughput is units/s (pairs/s
    /// for place-test) and its latencies are a unit's.
    ///
    /// place-test: worker `w` of `outstanding` only touches its own block of the seeded accounts, one after another,
    /// so that no two workers' tests meet on an account (a test placed on an account on test fails), and accounts
    /// written at the same moment are far apart in every index, as a real load's are (PostgreSQL's SERIALIZABLE
    /// checks conflicts per index page: neighbouring accounts written at once would abort one another).
    /// link: customer ids `bench-write-<sequence>` are new to the store on every call.
    static func driveWrites(
        servers: Servers, mix: WriteMix, accounts: Int, outstanding: Int, connections: Int, duration: Double, warmup: Double
    ) async throws {
        let perWorker = accounts / outstanding
        try await drive(
            benchmark: "writes", servers: servers, outstanding: outstanding, connections: connections, duration: duration,
            warmup: warmup, extra: [("mix", mix.rawValue), ("accounts", accounts), ("writes_per_unit", mix.writesPerUnit)]
        ) { (client, sequence) throws(RPCError) in
            let service = AccountService.Client(wrapping: client)
            switch mix {
            case .placeTest:
                // `drive` numbers worker w's calls w, w + outstanding, w + 2 × outstanding, …
                let worker = sequence % outstanding
                let round = (sequence / outstanding) % perWorker
                let customerID = Seed.customerID(worker * perWorker + round)
                let placed = try await service.placeOnTest(
                    PlaceOnTestRequest(customerID: customerID, categoryID: "service", durationHours: 1, comment: "bench"))
                if placed.session == nil { throw RPCError(code: .internalError, message: "no session placed") }
                _ = try await service.placeOffTest(PlaceOffTestRequest(customerID: customerID, comment: "bench done"))
            case .link:
                let (seeded, parties, _) = Seed.customer(sequence)
                var customer = seeded
                customer.id = "bench-write-\(sequence)"
                let linked = try await service.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
                if linked.account?.accountNumber.isEmpty != false { throw RPCError(code: .internalError, message: "no account linked") }
            }
        }
    }
}

public import CopsLinkCore
public import CopsLinkMessages
public import CopsLinkServices

public struct SetupError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Before a run: links the `load-N` accounts (`--seed-accounts`) and looks up the account numbers of the accounts
/// the run uses. None of this is measured.
public enum AccountSetup {
    /// The demo customers a `copslink-server --demo` store holds.
    public static let demoCustomerIDs = ["demo-1", "demo-2", "demo-3", "demo-4"]

    public static func seededCustomerID(_ index: Int) -> String { "load-\(index)" }

    /// The customer record of seeded account `index`: Provo, three zones, one keyholder.
    public static func seedRequest(_ index: Int) -> LinkAccountRequest {
        let customer = Customer(
            id: seededCustomerID(index), firstName: "Load", lastName: "Account \(index)",
            address: Address(street1: "\(100 + index % 900) N University Ave", city: "Provo", state: "UT", zip: "84601"),
            premisePhone: "801-555-0100", passcode: "load-\(index)",
            equipment: [
                Equipment(id: "eq-1", name: "Front door", zoneNumber: "001", zoneDescription: "Front door", installed: true),
                Equipment(id: "eq-2", name: "Back door", zoneNumber: "002", zoneDescription: "Back door", installed: true),
                Equipment(id: "eq-3", name: "Hall motion", zoneNumber: "003", zoneDescription: "Hall motion", installed: true)
            ])
        let keyholder = RespondingParty(
            id: "p-1", priority: 1, firstName: "Load", lastName: "Keyholder", phones: [Phone(number: "801-555-0199", type: .mobile)],
            email: "keyholder@example.com", language: "en", passcode: "key", hasKey: true, relation: "owner", role: .keyholder)
        return LinkAccountRequest(customer: customer, respondingParties: [keyholder])
    }

    /// Links `load-0` … `load-{count-1}`; an account that is already linked (ALREADY_EXISTS) is fine. A link answered
    /// UNAVAILABLE (a busy store, an instance going away) is tried again, up to 5 times with a growing pause: it is
    /// safe, since a repeat of a link that did happen answers ALREADY_EXISTS.
    public static func seed(count: Int, client: AccountService.Client, options: CallOptions) async throws -> [String] {
        let indices: [Int] = Array(0..<count)
        try await forEach(indices) { (index: Int) async throws -> Void in
            var attempt = 0
            while true {
                do throws(RPCError) {
                    _ = try await client.linkAccount(seedRequest(index), options: options)
                    return
                } catch {
                    // ALREADY_EXISTS: linked by an earlier run (or by an earlier try of this one).
                    if error.code == .alreadyExists { return }
                    attempt += 1
                    guard error.code == .unavailable, attempt < 5 else {
                        throw SetupError("linking \(seededCustomerID(index)) failed: \(error)")
                    }
                    try await Task.sleep(for: .milliseconds(100 * attempt))
                }
            }
        }
        return (0..<count).map(seededCustomerID)
    }

    /// Looks up every account (its account number is needed for signals); fails when one does not exist.
    public static func resolve(_ customerIDs: [String], client: AccountService.Client, options: CallOptions) async throws -> [LoadAccount] {
        let numbers = try await map(customerIDs) { (id: String) async throws -> String in
            do throws(RPCError) {
                return try await client.getAccount(GetAccountRequest(customerID: id), options: options).accountNumber
            } catch {
                if error.code == .notFound {
                    throw SetupError(
                        "account \(id) does not exist on the server: start it with --demo for demo-1 … demo-4, or use --seed-accounts N")
                }
                throw SetupError("looking up account \(id) failed: \(error)")
            }
        }
        return zip(customerIDs, numbers).map { LoadAccount(customerID: $0, accountNumber: $1) }
    }

    /// Runs `body` for every element, at most 16 at once.
    static func forEach<Element: Sendable>(_ elements: [Element], _ body: @escaping @Sendable (Element) async throws -> Void) async throws {
        _ = try await map(elements) { try await body($0) }
    }

    /// `body` of every element, in order, at most 16 at once.
    static func map<Element: Sendable, Result: Sendable>(
        _ elements: [Element], _ body: @escaping @Sendable (Element) async throws -> Result
    ) async throws -> [Result] {
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: elements.count)
            var next = 0
            while next < min(16, elements.count) {
                let index = next, element = elements[index]
                group.addTask { (index, try await body(element)) }
                next += 1
            }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < elements.count {
                    let index = next, element = elements[index]
                    group.addTask { (index, try await body(element)) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

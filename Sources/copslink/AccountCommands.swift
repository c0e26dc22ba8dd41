import ArgumentParser
import CopsLinkCommandLine
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import Foundation

struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Get, link, sync or unlink a customer's central-station account.",
        subcommands: [AccountGet.self, AccountLink.self, AccountSync.self, AccountUnlink.self])
}

struct AccountGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Shows the account: customer, link state, responding parties, authorities, zones, test status.",
        discussion: """
            The passcode is never shown (the server does not return it; with --json its field is always "").

            Examples:
              copslink account get demo-1
              copslink account get demo-2 --json | jq -r .account_number
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id, e.g. demo-1.") var customer: String

    func run() async throws {
        try await Session.run(global) { session in
            let account = try await session.accounts.getAccount(GetAccountRequest(customerID: customer), options: session.options)
            try session.emit(account, text: AccountText.render(account))
        }
    }
}

/// The customer fields `link` and `sync` share.
struct CustomerOptions: ParsableArguments {
    @Option(help: "First name.") var firstName = ""
    @Option(help: "Last name.") var lastName = ""
    @Option(help: "Company name (a customer needs a name or a company).") var company = ""
    @Option(help: "Street address, first line.") var street = ""
    @Option(help: "Street address, second line.") var street2 = ""
    @Option(help: "City.") var city = ""
    @Option(help: "State, e.g. UT.") var state = ""
    @Option(help: "Zip code, 84601 or 84601-1234.") var zip = ""
    @Option(help: "Premise phone.") var phone = ""
    @Option(
        help: ArgumentHelp(
            "Verbal passcode of the premises (stored, never shown). Default: --passcode-file, else $\(SecretInput.passcodeEnvironmentVariable).",
            valueName: "passcode"))
    var passcode: String?
    @Option(
        name: .customLong("passcode-file"),
        help: ArgumentHelp(
            "Read the passcode from this file (trailing newline ignored), so it does not show in ps or the shell history.",
            valueName: "file"))
    var passcodeFile: String?
    @Option(
        help: ArgumentHelp("Installed equipment ZONE:NAME (zone 001-999); repeatable.", valueName: "zone:name"))
    var equipment: [String] = []
    // Unconditional: "--party -1:Ada:…" reached the priority check, not "Missing value" (the value looked like a flag).
    @Option(
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Responding party PRIORITY:NAME:PHONE[:ROLE[:key]][:KEY=VALUE...], e.g. \"1:Ada Lovelace:801-555-0102/mobile:keyholder:key:email=ada@example.com:phone=801-555-0199/work/12\"; repeatable. PHONE: NUMBER[/TYPE[/EXTENSION]], TYPE mobile, home, work or other. ROLE: contact, keyholder, technician, agent, janitor, person; 'key': has a key. KEY=VALUE: id (the party's id; default p-PRIORITY, so give one to keep a party's id when priorities change: tests name their authorizer by it), email, relation, language, phone (another phone), enhanced-verification=yes|no.",
            valueName: "party"))
    var party: [String] = []

    func validate() throws {
        _ = try parsedEquipment()
        _ = try parsedParties()
        _ = try resolvedPasscode()
    }

    /// `--passcode`, `--passcode-file` or `$COPSLINK_PASSCODE`; "" when none is given.
    func resolvedPasscode() throws(ValidationError) -> String {
        try SecretInput.resolve(
            value: passcode, file: passcodeFile, environmentVariable: SecretInput.passcodeEnvironmentVariable,
            option: "--passcode", fileOption: "--passcode-file") ?? ""
    }

    func customer(id: String) throws -> Customer {
        let hasAddress = !(street + street2 + city + state + zip).isEmpty
        return Customer(
            id: id, firstName: firstName, lastName: lastName, companyName: company,
            address: hasAddress ? Address(street1: street, street2: street2, city: city, state: state, zip: zip) : nil,
            premisePhone: phone, passcode: try resolvedPasscode(), equipment: try parsedEquipment())
    }

    func parsedEquipment() throws(ValidationError) -> [Equipment] {
        var seen = Set<String>()
        return try equipment.map { (text: String) throws(ValidationError) -> Equipment in
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ValidationError("--equipment '\(text)' must look like ZONE:NAME, e.g. \"001:Front door\".")
            }
            let zone = parts[0]
            guard zone.count == 3, zone.allSatisfy(\.isASCII), zone.allSatisfy(\.isNumber), zone != "000" else {
                throw ValidationError("--equipment '\(text)': the zone must be three digits from 001 to 999.")
            }
            guard seen.insert(zone).inserted else { throw ValidationError("--equipment: zone \(zone) is given twice.") }
            return Equipment(id: "eq-\(zone)", name: parts[1], zoneNumber: zone, zoneDescription: parts[1], installed: true)
        }
    }

    func parsedParties() throws(ValidationError) -> [RespondingParty] {
        var seen = Set<UInt32>()
        return try party.map { (text: String) throws(ValidationError) -> RespondingParty in
            let fields = text.split(separator: ":", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            // Positional fields first, then any KEY=VALUE fields (the rest of the proto's responding party).
            let parts = Array(fields.prefix { !$0.contains("=") })
            let attributes = fields.dropFirst(parts.count)
            let usage =
                "--party '\(text)' must look like PRIORITY:NAME:PHONE[:ROLE[:key]][:KEY=VALUE...], e.g. \"1:Ada Lovelace:801-555-0102/mobile:keyholder:key:email=ada@example.com\"."
            guard (3...5).contains(parts.count), let number = Int(parts[0]), !parts[1].isEmpty else { throw ValidationError(usage) }
            guard number > 0 else { throw ValidationError("--party '\(text)': the priority is 1 or more (1 is called first).") }
            guard let priority = UInt32(exactly: number) else { throw ValidationError("--party '\(text)': the priority is too large.") }
            guard seen.insert(priority).inserted else { throw ValidationError("--party: priority \(priority) is given twice.") }
            var role = PartyRole.unspecified
            if parts.count >= 4, !parts[3].isEmpty {
                guard let named = PartyRole(name: parts[3]), named != .unspecified else {
                    let roles = PartyRole.names.filter { $0.key != 0 }.sorted { $0.key < $1.key }.map { $0.value.lowercased() }
                    throw ValidationError("--party '\(text)': unknown role '\(parts[3])'; choose \(roles.joined(separator: ", ")).")
                }
                role = named
            }
            var hasKey = false
            if parts.count == 5 {
                guard parts[4].lowercased() == "key" || parts[4].isEmpty else { throw ValidationError(usage) }
                hasKey = parts[4].lowercased() == "key"
            }
            let name = parts[1]
            let (first, last): (String, String) =
                if let space = name.lastIndex(of: " ") {
                    (String(name[..<space]).trimmingCharacters(in: .whitespaces), String(name[name.index(after: space)...]))
                } else {
                    (name, "")
                }
            var party = RespondingParty(
                id: "p-\(priority)", priority: priority, firstName: first, lastName: last,
                phones: parts[2].isEmpty ? [] : [try Self.phone(parts[2], in: text)], hasKey: hasKey, role: role)
            for attribute in attributes {
                guard let equals = attribute.firstIndex(of: "=") else { throw ValidationError(usage) }
                let key = attribute[..<equals].lowercased(), value = String(attribute[attribute.index(after: equals)...])
                switch key {
                case "id":
                    guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
                        throw ValidationError("--party '\(text)': id= needs a value.")
                    }
                    party.id = value
                case "email": party.email = value
                case "relation": party.relation = value
                case "language": party.language = value
                case "phone": party.phones.append(try Self.phone(value, in: text))
                case "enhanced-verification":
                    guard ["yes", "no"].contains(value.lowercased()) else {
                        throw ValidationError("--party '\(text)': enhanced-verification must be yes or no.")
                    }
                    party.enhancedVerification = value.lowercased() == "yes"
                default:
                    throw ValidationError(
                        "--party '\(text)': unknown field '\(key)'; use id, email, relation, language, phone (another phone) or enhanced-verification."
                    )
                }
            }
            return party
        }
    }

    /// `NUMBER[/TYPE[/EXTENSION]]`, TYPE one of mobile, home, work, other.
    static func phone(_ text: String, in party: String) throws(ValidationError) -> Phone {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), !parts[0].isEmpty else {
            throw ValidationError("--party '\(party)': a phone is NUMBER[/TYPE[/EXTENSION]], e.g. 801-555-0102/work/12.")
        }
        var phone = Phone(number: parts[0])
        if parts.count >= 2, !parts[1].isEmpty {
            guard let type = PhoneType(name: parts[1]), type != .unspecified else {
                throw ValidationError("--party '\(party)': unknown phone type '\(parts[1])'; choose mobile, home, work or other.")
            }
            phone.type = type
        }
        if parts.count == 3 { phone.extension = parts[2] }
        return phone
    }
}

struct AccountLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Creates the central-station account of a customer, or links an existing account number.",
        discussion: """
            Without --account-number a customer linked before gets its last account number back (unless another \
            customer holds it linked now), and a new customer a new account number. A number named with \
            --account-number that the server has never seen starts a new, empty account ("Created account"). \
            The customer needs a name or a company. \
            Responding parties get the ids p-PRIORITY unless --party gives id=, equipment the ids eq-ZONE.

            Examples:
              copslink account link cust-42 --first-name Grace --last-name Hopper \\
                --street "1 Main St" --city Provo --state UT --zip 84601 \\
                --phone 801-555-0199 --passcode navy \\
                --equipment "001:Front door" --equipment "002:Back door" \\
                --party "1:Grace Hopper:801-555-0198:keyholder:key" \\
                --party "2:Howard Aiken:801-555-0197:contact"
              copslink account link cust-43 --company "Acme Corp" --zip 84604 \\
                --account-number 22-9001 --receiver 2 --line 1
              copslink --request-id 0b6f3c8e-8d1a-4e57-9a43-1f1c2b3d4e5f \\
                account link cust-44 --company "Acme Annex" --zip 84604
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id (the CRM's).") var customer: String
    @OptionGroup(title: "Customer") var fields: CustomerOptions
    @Option(help: "Link this central-station account number (one the server has never seen starts empty).") var accountNumber = ""
    @Option(help: "Receiver number.") var receiver = ""
    @Option(help: "Receiver line.") var line = ""

    func run() async throws {
        let customer = try fields.customer(id: self.customer)
        let parties = try fields.parsedParties()
        try await Session.run(global) { session in
            let answer = try await session.mutate(
                AccountService.Method.linkAccount,
                LinkAccountRequest(
                    requestID: session.requestID, customer: customer, respondingParties: parties, accountNumber: accountNumber,
                    receiverNumber: receiver, line: line),
                as: LinkAccountResponse.self)
            let response = answer.message
            let number = response.account?.accountNumber ?? ""
            try session.emit(
                answer,
                text: (response.created
                    ? "Created account \(number) for \(self.customer): a number new to the server, with no zones, authorities or history."
                    : "Linked account \(number) to \(self.customer).")
                    + Self.removals(response)
                    + (response.account.map { "\n\n" + AccountText.render($0) } ?? ""))
        }
    }

    /// What a relink removed, said rather than done silently.
    static func removals(_ response: LinkAccountResponse) -> String {
        removals(parties: response.removedPartyIDs, equipment: response.removedEquipmentIDs)
    }

    /// What a relink or a sync removed.
    static func removals(parties: [String], equipment: [String]) -> String {
        var lines: [String] = []
        if !parties.isEmpty {
            lines.append("Removed responding parties no longer sent: \(parties.joined(separator: ", ")).")
        }
        if !equipment.isEmpty {
            lines.append("Removed equipment no longer sent: \(equipment.joined(separator: ", ")).")
        }
        return lines.isEmpty ? "" : "\n" + lines.joined(separator: "\n")
    }
}

struct AccountSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Pushes the customer's current name, address, contacts and equipment (as a CRM does).",
        discussion: """
            The customer is replaced as given: name, address, phone, equipment and responding parties that are not \
            given are cleared (only the passcode is kept when --passcode is omitted). Give the whole customer. \
            The account must be linked.

            Examples:
              copslink account sync demo-1 --first-name Ada --last-name King \\
                --street "123 N University Ave" --city Provo --state UT \\
                --zip 84601 --phone 801-555-0101 \\
                --equipment "001:Front door" --equipment "002:Back door" \\
                --equipment "003:Living room motion" \\
                --equipment "004:Smoke detector" \\
                --party "1:Ada King:801-555-0102/mobile:keyholder:key" \\
                --party "2:Charles Babbage:801-555-0103/mobile:contact"
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String
    @OptionGroup(title: "Customer") var fields: CustomerOptions

    func run() async throws {
        let customer = try fields.customer(id: self.customer)
        let parties = try fields.parsedParties()
        try await Session.run(global) { session in
            let answer = try await session.mutate(
                AccountService.Method.syncCustomer,
                SyncCustomerRequest(requestID: session.requestID, customer: customer, respondingParties: parties),
                as: SyncCustomerResponse.self)
            let response = answer.message
            try session.emit(
                answer,
                text: "Synced \(self.customer)."
                    + AccountLink.removals(parties: response.removedPartyIDs, equipment: response.removedEquipmentIDs)
                    + (response.account.map { "\n\n" + AccountText.render($0) } ?? ""))
        }
    }
}

struct AccountUnlink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlink",
        abstract: "Breaks the link between the customer and the central-station account (deletes nothing).",
        discussion: """
            Unlinking ends the account's open or scheduled test, if any (its history says "Placed off test: the \
            account was unlinked"). Unlinking twice is harmless: the second time reports that the account was \
            already unlinked.

            Examples:
              copslink account unlink demo-4
              copslink account unlink demo-4 --json | jq .was_linked
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String

    func run() async throws {
        try await Session.run(global) { session in
            let answer = try await session.mutate(
                AccountService.Method.unlinkAccount, UnlinkAccountRequest(requestID: session.requestID, customerID: customer),
                as: UnlinkAccountResponse.self)
            let response = answer.message
            let number = response.account?.accountNumber ?? ""
            let text =
                if !response.wasLinked {
                    "\(customer) was already unlinked (account \(Format.dash(number)))."
                } else if let ended = response.endedTest {
                    "Unlinked \(customer) from account \(number); "
                        + (TestText.endedBeforeItBegan(ended) ? "its scheduled test was cancelled:" : "its test was placed off:")
                        + "\n\n" + TestText.session(ended)
                } else {
                    "Unlinked \(customer) from account \(number); it was not on test."
                }
            try session.emit(answer, text: text)
        }
    }
}

/// The readable form of an account, shared by get, link, sync.
enum AccountText {
    static func render(_ account: Account) -> String {
        var details = Details()
        let customer = account.customer
        details.add("Customer", customer?.id ?? "-")
        if let customer {
            let person = [customer.firstName, customer.lastName].filter { !$0.isEmpty }.joined(separator: " ")
            details.addIfPresent("Name", person)
            details.addIfPresent("Company", customer.companyName)
            if let address = customer.address { details.addIfPresent("Address", addressLine(address)) }
            details.addIfPresent("Premise phone", customer.premisePhone)
        }
        details.add("Account", Format.dash(account.accountNumber))
        details.add("Receiver / line", "\(Format.dash(account.receiverNumber)) / \(Format.dash(account.line))")
        var link = account.linkState.description
        if account.linkState == .linked, account.linkedAtMs != 0 { link += " since \(Format.timestamp(account.linkedAtMs))" }
        if account.linkState == .unlinked, account.unlinkedAtMs != 0 { link += " since \(Format.timestamp(account.unlinkedAtMs))" }
        details.add("Link state", link)
        details.add("Test status", TestText.summary(account.testStatus))

        var sections = [details.render()]

        var parties = Table("PRIORITY", "ID", "NAME", "ROLE", "KEY", "PHONES")
        for party in account.respondingParties.sorted(by: { $0.priority < $1.priority }) {
            parties.add(
                "\(party.priority)", party.id, [party.firstName, party.lastName].filter { !$0.isEmpty }.joined(separator: " "),
                party.role.description, Format.yesNo(party.hasKey), party.phones.map(phoneText).joined(separator: ", "))
        }
        sections.append(section("Responding parties", count: account.respondingParties.count, parties))

        sections.append(section("Authorities", count: account.authorities.count, AuthorityText.accountTable(account.authorities)))

        let zoneCount = account.mappedZones.count + account.unmappedZones.count
        sections.append(
            section(
                "Zones (\(account.mappedZones.count) mapped, \(account.unmappedZones.count) unmapped)", count: zoneCount,
                ZoneText.table(mapped: account.mappedZones, unmapped: account.unmappedZones), showCount: false))

        let mappedNumbers = Set(account.mappedZones.compactMap { $0.zone?.zoneNumber })
        let unzoned = (customer?.equipment ?? []).filter { !mappedNumbers.contains($0.zoneNumber) }
        if !unzoned.isEmpty {
            var table = Table("ZONE", "ID", "NAME", "INSTALLED")
            for item in unzoned { table.add(Format.dash(item.zoneNumber), item.id, item.name, Format.yesNo(item.installed)) }
            sections.append(section("Equipment without a central-station zone", count: unzoned.count, table))
        }
        return sections.joined(separator: "\n\n")
    }

    static func section(_ title: String, count: Int, _ table: Table, showCount: Bool = true) -> String {
        let heading = showCount ? "\(title) (\(count))" : title
        return count == 0 ? "\(heading)\n  none" : "\(heading)\n\(table.render())"
    }

    static func addressLine(_ address: Address) -> String {
        let cityLine = [address.city, [address.state, address.zip].filter { !$0.isEmpty }.joined(separator: " ")]
            .filter { !$0.isEmpty }.joined(separator: ", ")
        return [address.street1, address.street2, cityLine].filter { !$0.isEmpty }.joined(separator: ", ")
    }

    static func phoneText(_ phone: Phone) -> String {
        var text = phone.number
        if !phone.extension.isEmpty { text += " x\(phone.extension)" }
        if phone.type != .unspecified { text += " (\(phone.type.description.lowercased()))" }
        return text
    }
}

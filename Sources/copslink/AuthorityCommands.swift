import ArgumentParser
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import Foundation

struct AuthoritiesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authorities",
        abstract: "Search the authority directory; add authorities to an account or remove them.",
        subcommands: [AuthoritiesSearch.self, AuthoritiesAdd.self, AuthoritiesRemove.self])
}

struct AuthoritiesSearch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Lists directory entries of a type that serve a zip code.",
        discussion: """
            Give --zip, or --customer to use the customer's zip code.

            Examples:
              copslink authorities search --type police --zip 84601
              copslink authorities search --type fire --customer demo-3
              copslink authorities search --type medical --zip 84604 --json
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Option(help: "police, fire, medical, guard or electrical.") var type: String
    @Option(help: "Zip code served, 84601 or 84601-1234.") var zip = ""
    @Option(help: "Use this customer's zip code when --zip is not given.") var customer = ""

    func validate() throws {
        _ = try AuthorityText.type(type)
        guard !zip.isEmpty || !customer.isEmpty else { throw ValidationError("Give --zip, or --customer to use that customer's zip code.") }
    }

    func run() async throws {
        let type = try AuthorityText.type(type)
        try await Session.run(global) { session in
            let response = try await session.accounts.searchAuthorities(
                SearchAuthoritiesRequest(customerID: customer, type: type, zip: zip), options: session.options)
            var table = Table("ID", "TYPE", "NAME", "PHONE", "JURISDICTION", "PERMIT", "ADDRESS")
            for authority in response.authorities {
                table.add(
                    authority.id, authority.type.description, authority.name, Format.dash(authority.phone),
                    authority.jurisdiction.description, authority.permitRequired ? "required" : "-",
                    authority.address.map(AccountText.addressLine) ?? "-")
            }
            let text =
                response.authorities.isEmpty
                ? "No \(type.description.lowercased()) authority serves \(zip.isEmpty ? "customer \(customer)'s zip code" : "zip \(zip)")."
                : table.render()
            try session.emit(response, text: text)
        }
    }
}

struct AuthoritiesAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Attaches directory authorities to the account (several at once).",
        discussion: """
            Each authority is AUTHORITY_ID or AUTHORITY_ID:PERMIT (a permit number is needed when the authority \
            requires one). An account has at most one authority of each type.

            Examples:
              copslink authorities add demo-4 tx-austin-fd tx-austin-ems
              copslink authorities add demo-2 ut-orem-fd ut-valley-guard:G-2231 \\
                --added-by "Dana at dispatch"
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String
    @Argument(help: ArgumentHelp("Authorities to add.", valueName: "authority-id[:permit]")) var authorities: [String]
    @Option(help: "Who adds them (shown on the account). Default: the API key's name.") var addedBy = ""

    func validate() throws {
        guard !authorities.isEmpty else { throw ValidationError("Name at least one authority id.") }
    }

    func run() async throws {
        let toAdd = authorities.map { text in
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return AuthorityToAdd(authorityID: parts[0], permitNumber: parts.count > 1 ? parts[1] : "")
        }
        try await Session.run(global) { session in
            let answer = try await session.mutate(
                AccountService.Method.addAccountAuthorities,
                AddAccountAuthoritiesRequest(requestID: session.requestID, customerID: customer, authorities: toAdd, addedBy: addedBy),
                as: AddAccountAuthoritiesResponse.self)
            let response = answer.message
            try session.emit(
                answer,
                text: "Added \(Format.count(response.added.count, "authority", "authorities")) to \(customer).\n\n"
                    + AuthorityText.accountTable(response.added).render())
        }
    }
}

struct AuthoritiesRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Removes one authority from the account, by its entry id (the ENTRY column of `account get`).",
        discussion: """
            Examples:
              copslink authorities remove demo-1 demo-1-authority-3
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String
    @Argument(help: "The account authority entry id.") var entry: String

    func run() async throws {
        try await Session.run(global) { session in
            let answer = try await session.mutate(
                AccountService.Method.removeAccountAuthority,
                RemoveAccountAuthorityRequest(requestID: session.requestID, customerID: customer, accountAuthorityID: entry),
                as: RemoveAccountAuthorityResponse.self)
            let response = answer.message
            let name = response.removed?.authority?.name ?? entry
            try session.emit(answer, text: "Removed \(name) from \(customer).")
        }
    }
}

enum AuthorityText {
    /// The authority type named on the command line (case-insensitive).
    static func type(_ text: String) throws(ValidationError) -> AuthorityType {
        guard let type = AuthorityType(name: text), type != .unspecified else {
            let names = AuthorityType.names.filter { $0.key != 0 }.sorted { $0.key < $1.key }.map { $0.value.lowercased() }
            throw ValidationError("--type '\(text)' is not an authority type; choose \(names.joined(separator: ", ")).")
        }
        return type
    }

    static func accountTable(_ entries: [AccountAuthority]) -> Table {
        var table = Table("ENTRY", "TYPE", "NAME", "PHONE", "PERMIT", "ADDED", "ADDED BY", "SERVES ZIP")
        for entry in entries {
            table.add(
                entry.id, entry.authority?.type.description ?? "-", entry.authority?.name ?? "-", Format.dash(entry.authority?.phone ?? ""),
                Format.dash(entry.permitNumber), Format.timestamp(entry.addedAtMs), Format.dash(entry.addedBy),
                entry.doesNotServeZip ? "NO: replace it" : "yes")
        }
        return table
    }
}

import ArgumentParser
import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkCore
import Foundation
import Logging

/// `copslink-server keys create|list|revoke`: API keys in the server's database (the server need not be stopped;
/// it notices a revocation within its key cache's 5 seconds).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Creates, lists and revokes API keys.",
        discussion: """
            Each key acts for one dealer and carries roles: read, write, test-control, admin (admin implies all).
            The key is printed once, when created; only its SHA-256 is stored.

            Examples:
              copslink-server keys create --database data/copslink.sqlite \\
                --dealer acme --roles read,write --name "crm prod"
              copslink-server keys list --database data/copslink.sqlite --dealer acme
              copslink-server keys revoke --database data/copslink.sqlite 3f9a0c1d2b4e5f60
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct StoreOptions: ParsableArguments {
        /// The server's `--database`: an SQLite file or a PostgreSQL URL.
        @OptionGroup var options: DatabaseOptions

        func open() async throws -> OpenedStore {
            var logger = Logger(label: "copslink.keys")
            logger.logLevel = .warning
            return try await options.open(logger: logger)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Creates a key and prints it (once).")

        @OptionGroup var store: StoreOptions
        @Option(help: "The dealer the key acts for (1-64 characters of a-z 0-9 . _ -).") var dealer: String
        @Option(help: "Comma-separated roles: read, write, test-control, admin.") var roles: String
        @Option(help: "What the key is for, shown in listings.") var name = ""
        @Flag(help: "Print the key alone, for scripts.") var quiet = false
        @Flag(help: "Create the database when --database does not exist (else refused).") var create = false

        func validate() throws {
            try store.options.validateExists(create: create, offersCreate: true)
            guard DealerID.isValid(dealer) else {
                throw ValidationError("--dealer '\(dealer)': dealer ids are 1-64 characters of a-z 0-9 . _ -")
            }
            _ = try KeysCommand.parseRoles(roles)
            // Listings show it in a column of one line.
            guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw ValidationError("--name must be one line of text, without control characters such as a newline or tab.")
            }
        }

        func run() async throws {
            let opened = try await store.open()
            let parsed = try KeysCommand.parseRoles(roles)
            let token = try await opened.store.createAPIKey(
                dealerID: dealer, name: name, roles: parsed, nowMs: SystemAccountClock().nowMs())
            try await opened.close()
            if quiet {
                print(token.token)
            } else {
                print("created key \(token.id) for dealer \(dealer), roles \(Role.list(parsed))")
                print("API key (shown only now): \(token.token)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists keys (never their secrets).")

        @OptionGroup var store: StoreOptions
        @Option(help: "Only this dealer's keys.") var dealer: String?

        func validate() throws { try store.options.validateExists(offersCreate: false) }

        func run() async throws {
            let opened = try await store.open()
            let keys = try await opened.store.apiKeys(dealerID: dealer)
            try await opened.close()
            let rows = keys.map { key in
                [
                    key.id, key.dealerID, Role.list(key.roles), Self.date(key.createdAtMs),
                    key.revokedAtMs.map(Self.date) ?? "-", key.name
                ]
            }
            let header = ["ID", "DEALER", "ROLES", "CREATED", "REVOKED", "NAME"]
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }

        static func date(_ ms: Int64) -> String {
            Date(timeIntervalSince1970: Double(ms) / 1000).formatted(.iso8601)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revokes a key: calls with it fail UNAUTHENTICATED within 5 seconds.")

        @OptionGroup var store: StoreOptions
        @Argument(help: "The key's id (the 16 hex digits after 'clk_'), or the whole key.") var key: String

        func validate() throws { try store.options.validateExists(offersCreate: false) }

        /// The key id: the argument, or the id inside a whole key (`clk_<id>_<secret>`), whose secret is never echoed.
        var id: String {
            guard key.hasPrefix("clk_") else { return String(key.prefix(64)) }
            let parts = key.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
            return parts.count >= 2 ? String(parts[1].prefix(64)) : "clk_"
        }

        func run() async throws {
            let opened = try await store.open()
            let revoked = try await opened.store.revokeAPIKey(id: id, atMs: SystemAccountClock().nowMs())
            // Revoking twice is no error: the key is revoked either way (a script that retries must not fail).
            let earlier = revoked ? nil : try await opened.store.apiKey(id: id)?.revokedAtMs
            try await opened.close()
            if let earlier {
                print("key \(id) was already revoked at \(List.date(earlier))")
                return
            }
            guard revoked else {
                FileHandle.standardError.write(Data("copslink-server: no key \(id)\n".utf8))
                throw ExitCode(1)
            }
            print("revoked key \(id)")
        }
    }

    static func parseRoles(_ text: String) throws -> Set<Role> {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("--roles: name at least one of read, write, test-control, admin.") }
        var roles = Set<Role>()
        for name in names {
            guard let role = Role.all.first(where: { $0.rawValue == name }) else {
                throw ValidationError("--roles: unknown role '\(name)'; the roles are read, write, test-control, admin.")
            }
            roles.insert(role)
        }
        return roles
    }
}

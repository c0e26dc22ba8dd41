import ArgumentParser
import CopsLinkCommandLine

@main
struct CopsLinkServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copslink-server",
        abstract: "The CopsLink account service: RPC server and store administration.",
        discussion: """
            With no subcommand it serves (`serve` is the default): `copslink-server --demo` is \
            `copslink-server serve --demo`. The server's options (port, database, TLS, limits, timeouts) are listed \
            by `copslink-server serve --help`; each subcommand's by `copslink-server help <subcommand>`.
            """,
        subcommands: [
            ServeCommand.self, KeysCommand.self, ImportAuthoritiesCommand.self, MigrateStoreCommand.self, BackupCommand.self
        ],
        defaultSubcommand: ServeCommand.self)

    /// Refuses `help NAME…` naming no command (`CommandPath`), then parses and runs as ArgumentParser's own `main`.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let unknown = CommandPath.unknownHelpTopic(arguments[...], node: Self.self, path: [], root: Self.self) {
            Self.exit(withError: unknown)
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            Self.exit(withError: error)
        }
    }
}

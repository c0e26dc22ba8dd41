import ArgumentParser

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
}

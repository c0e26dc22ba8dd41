import ArgumentParser

@main
struct CopsLinkServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copslink-server",
        abstract: "The CopsLink account service: RPC server and store administration.",
        subcommands: [
            ServeCommand.self, KeysCommand.self, ImportAuthoritiesCommand.self, MigrateStoreCommand.self, BackupCommand.self
        ],
        defaultSubcommand: ServeCommand.self)
}

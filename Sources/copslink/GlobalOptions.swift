import ArgumentParser
import CopsLinkCommandLine
import CopsLinkCore
import Foundation

/// Options every leaf command takes (through `@OptionGroup`). They may also be written before the subcommand
/// (`copslink --server H:P health`): see `GlobalOptions.hoist(_:root:)`, applied in `CopsLink.main()`.
struct GlobalOptions: ParsableArguments {

    @Option(
        help: ArgumentHelp(
            "Server address HOST:PORT (a HOST alone means port 7420), or several instances of one service separated by commas, or a name with several addresses (called round-robin, failing over). Default: $\(ServerAddress.serverEnvironmentVariable), else \(ServerAddress.defaultServer).",
            valueName: "host:port[,host:port…]"))
    var server: String?

    @Option(
        help: ArgumentHelp(
            "API key, sent as 'authorization: Bearer KEY' metadata. Default: --token-file, else $\(ServerAddress.tokenEnvironmentVariable).",
            valueName: "key"))
    var token: String?

    @Option(
        name: .customLong("token-file"),
        help: ArgumentHelp(
            "Read the API key from this file (trailing newline ignored), so it does not show in ps or the shell history.", valueName: "file"
        ))
    var tokenFile: String?

    // Unconditional: "--timeout -1" reached validation's message, not "Missing value" (the value looked like a flag).
    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds the call may take, connecting included.", valueName: "seconds"))
    var timeout: Double = 10

    @Option(
        help: ArgumentHelp(
            "Request metadata; repeatable. Keys are lower-case (a-z 0-9 - _ .), values printable ASCII text. Binary (-bin) keys are not supported.",
            valueName: "key=value"))
    var metadata: [String] = []

    @Option(
        name: .customLong("request-id"),
        help: ArgumentHelp(
            "Idempotency key (a UUID) for a mutating call (all but signals send): running the same command again with the same id changes nothing more and prints the first answer. On a read it only labels the call (copslink-request-id, in the server's log line). A UUID either way. Default: none.",
            valueName: "uuid"))
    var requestID: String?

    @Flag(help: "Print exactly one JSON object on stdout (for scripts) instead of tables.")
    var json = false

    @OptionGroup(title: "TLS") var tls: ClientTLSOptions

    init() {}

    func validate() throws {
        _ = try endpoints()
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds.") }
        _ = try parsedMetadata()
        if let requestID, !Self.isUUID(requestID) {
            throw ValidationError("--request-id '\(requestID)' must be a UUID (8-4-4-4-12 hexadecimal digits).")
        }
    }

    /// The server addresses (`ServerAddress.resolveAll`).
    func endpoints() throws(ValidationError) -> [(host: String, port: Int)] { try ServerAddress.resolveAll(server) }

    func parsedMetadata() throws(ValidationError) -> Metadata {
        var result = Metadata()
        for item in metadata {
            guard let equals = item.firstIndex(of: "=") else {
                throw ValidationError("--metadata '\(item)' must look like key=value.")
            }
            let key = String(item[..<equals]).lowercased()
            let value = String(item[item.index(after: equals)...])
            guard !key.hasSuffix("-bin") else {
                throw ValidationError("--metadata '\(key)': binary (-bin) metadata is not supported by copslink; use a text key.")
            }
            guard key != Metadata.requestIDKey else {
                throw ValidationError("--metadata '\(key)': use --request-id instead.")
            }
            result.add(key, .text(value))
        }
        if let token = try ServerAddress.token(token, file: tokenFile) {
            guard token.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) }) else {
                throw ValidationError("--token must be printable ASCII text without spaces.")
            }
            result.replace(AuthInterceptor.metadataKey, with: .text("Bearer \(token)"))
        }
        do {
            try result.validate()
        } catch {
            throw ValidationError("--metadata: \(error.message)")
        }
        return result
    }

    var timeoutDuration: Duration { .milliseconds(Int64((timeout * 1000).rounded())) }

    static func isUUID(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }
}

// MARK: - Global options before the subcommand

extension GlobalOptions {
    /// Long names of the global options, and whether each takes a value.
    static let names: [String: Bool] = [
        "--server": true, "--token": true, "--token-file": true, "--timeout": true, "--metadata": true, "--request-id": true,
        "--json": false
    ].merging(ClientTLSOptions.names) { first, _ in first }

    /// Moves global options written before (or between) the subcommand names to just after them, and names a word
    /// where a subcommand belongs that is none.
    ///
    /// ArgumentParser only accepts a command's options after that command's name: `copslink --server H:P health`
    /// fails with "Unknown option '--server'" (tested with swift-argument-parser 1.8.2), because the root command
    /// does not declare `--server` and the parser looks for a subcommand name only in the next argument. Declaring
    /// the options on the root too would parse them but not hand them to the leaf. So before parsing, the leading
    /// arguments are scanned: subcommand names (walked down the command tree) and global options (with their values)
    /// are taken until the first other argument; the result is the subcommand path, then the global options, then
    /// the rest unchanged. `copslink --json account --server H:P get demo-1` becomes
    /// `copslink account get --json --server H:P demo-1`. Anything after the first other argument, or after `--`,
    /// is left alone.
    ///
    /// When that first other argument stands where a subcommand belongs (the path names a command group) and is not
    /// an option or `help` (ArgumentParser's own), `unknownSubcommand` is the usage error naming it: the parser
    /// reports it as "Unknown option '--server'" after a global option, and as "Unexpected argument" alone. After
    /// `help`, each name must be a subcommand of the one before it (`copslink help account bogus` is a usage error).
    static func hoist(
        _ arguments: [String], root: any ParsableCommand.Type
    ) -> (arguments: [String], unknownSubcommand: ValidationError?) {
        var path: [String] = []
        var hoisted: [String] = []
        var node = root
        var index = 0
        scan: while index < arguments.count {
            let argument = arguments[index]
            if let child = node.configuration.subcommands.first(where: { $0.configuration.commandName == argument }) {
                path.append(argument)
                node = child
                index += 1
                continue
            }
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            guard let takesValue = names[name] else { break scan }
            hoisted.append(argument)
            index += 1
            if takesValue, !argument.contains("="), index < arguments.count {
                hoisted.append(arguments[index])
                index += 1
            }
        }
        var unknown: ValidationError?
        if index < arguments.count, arguments[index] == "help" {
            unknown = CommandPath.unknownHelpTopic(arguments[index...], node: node, path: path, root: root)
        } else if index < arguments.count, !node.configuration.subcommands.isEmpty, !arguments[index].hasPrefix("-") {
            unknown = CommandPath.notACommand(arguments[index], of: node, path: path, root: root)
        }
        return (path + hoisted + arguments[index...], unknown)
    }
}

import ArgumentParser
import CopsLinkCommandLine
import CopsLinkCore
import Foundation

@main
struct CopsLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copslink",
        abstract: "Command-line client of the CopsLink account service (central-station accounts).",
        discussion: """
            Every subcommand takes the global options --server HOST:PORT (default $COPSLINK_SERVER, else \
            127.0.0.1:7420), --token KEY (the API key; default --token-file FILE, else $COPSLINK_TOKEN), \
            --timeout SECONDS (default 10), --metadata KEY=VALUE (repeatable, text only), \
            --request-id UUID (idempotency key of mutating calls; default none) and --json. They may be written \
            before the subcommand too: copslink --server 10.0.0.5:7420 account get demo-1

            Output: aligned tables (timestamps ISO 8601 UTC); with --json exactly one JSON object on one line of \
            stdout: the response message in proto3's JSON mapping, the HTTP/JSON gateway's, with the .proto field \
            names and default values written (enums by full value name such as LINK_STATE_LINKED, 64-bit integers \
            such as linked_at_ms as decimal strings, no passcode ever). Added by the CLI: "replayed" on mutating \
            commands, "rejected_contact_ids" on signals send.

            Exit status: 0 on success; on a failed call the gRPC status code number (NOT_FOUND 5, \
            FAILED_PRECONDITION 9, UNAVAILABLE 14, ...) with "copslink: CODE: message" on stderr (with --json also \
            {"code": 5, "name": "NOT_FOUND", "message": "..."} on stdout); 64 for usage \
            errors (with --json also {"code": 64, "name": "USAGE", "message": "..."}); 1 when `health` finds the \
            service not serving.

            Examples:
              copslink health
              copslink account get demo-1
              copslink --json account get demo-1
              copslink test on demo-1 --category service --hours 2
              copslink test data demo-3 --type results --from 2026-11-01 --to 2026-11-28
              copslink signals send --account 22-8761 "8761 18 1 130 01 001 C"
            """,
        subcommands: [
            AccountCommand.self, AuthoritiesCommand.self, ZonesCommand.self, TestCommand.self, SignalsCommand.self,
            HealthCommand.self, DescribeCommand.self
        ])

    /// Parses the arguments (global options before the subcommand moved after it, see `GlobalOptions.hoist`),
    /// runs the command and turns a `Failure` into its stderr line and exit code.
    static func main() async {
        let (arguments, unknownSubcommand) = GlobalOptions.hoist(Array(CommandLine.arguments.dropFirst()), root: CopsLink.self)
        let wantsJSON = arguments.prefix(while: { $0 != "--" }).contains("--json")
        do {
            if let unknownSubcommand { throw unknownSubcommand }
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as Failure {
            fflush(nil)
            // With --json a script reads stdout: a failed call is one JSON object there too (the line on stderr stays).
            if case .status(let error) = failure, wantsJSON {
                Output.write(CLIJSON.error(code: Int(error.code.rawValue), name: error.code.name, message: error.message))
            }
            Output.error(failure.message)
            Self.exit(withError: ExitCode(failure.exitCode))
        } catch {
            // A usage error with --json is one JSON object on stdout too, `{"code":64,"name":"USAGE",…}`.
            if wantsJSON, Self.exitCode(for: error) == .validationFailure {
                Output.write(
                    CLIJSON.error(code: Int(ExitCode.validationFailure.rawValue), name: "USAGE", message: Self.message(for: error)))
            }
            Self.exit(withError: error)
        }
    }
}

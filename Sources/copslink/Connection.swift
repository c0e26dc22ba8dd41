import ArgumentParser
import CopsLinkCommandLine
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import Foundation

/// What a command runs with: typed clients over one connection, the call options built from the global options,
/// and the output mode. Every command that talks to the server goes through `Session.run(_:_:)`.
struct Session {
    let accounts: AccountService.Client
    let health: Health.Client
    let serverInfo: ServerInfo.Client
    /// `--timeout`, `--metadata` and `--request-id` (sent as `copslink-request-id` metadata on every call).
    let options: CallOptions
    /// `--request-id`, or "": mutating commands also put it in the request's `request_id` field; empty, the
    /// server does not deduplicate.
    let requestID: String
    let json: Bool

    /// Writes the command's result: with `--json` the message as `CLIJSON` writes it (the proto3 JSON mapping,
    /// `extras` after its fields), else the text.
    func emit(
        _ message: some RPCMessage, extras: KeyValuePairs<String, CLIJSON.Extra> = [:], text: @autoclosure () -> String
    ) throws(RPCError) {
        Output.write(json ? try Self.json(message, extras: extras) : text())
    }

    /// `message` in `CLIJSON`'s mapping; a message it cannot write (not reached: every message of proto/ is in the
    /// schema, tested) fails the command INTERNAL, as the HTTP/JSON gateway does.
    static func json(_ message: some RPCMessage, extras: KeyValuePairs<String, CLIJSON.Extra>) throws(RPCError) -> String {
        do {
            return try CLIJSON.text(message, extras: extras)
        } catch {
            throw RPCError(code: .internalError, message: "the answer could not be written as JSON: \(error.description)")
        }
    }

    /// Runs a mutating call: its answer, and whether that is a replay (`ClientResponse.isReplay`).
    func mutate<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, _ request: Request, as response: Response.Type
    ) async throws(RPCError) -> ClientResponse<Response> {
        try await accounts.client.unary(method, request: request, as: response, options: options)
    }

    /// Writes a mutating command's result, saying whether it is a replay: the CLI's `"replayed"` after the
    /// response's fields, and `replayNote` below the text.
    func emit<Response: RPCMessage>(_ answer: ClientResponse<Response>, text: @autoclosure () -> String) throws(RPCError) {
        if json {
            Output.write(try Self.json(answer.message, extras: ["replayed": .bool(answer.isReplay)]))
        } else {
            Output.write(answer.isReplay ? text() + "\n\n" + Self.replayNote(requestID: requestID) : text())
        }
    }

    /// Below a replayed answer: the server changed nothing, and the answer may no longer be the account's state.
    static func replayNote(requestID: String) -> String {
        "(replay of request \(requestID): nothing was changed; this is the first answer to it, as it was then)"
    }

    /// Connects to the server of `global`, runs `body`, and maps a failed call to its status: the message goes to
    /// stderr as `copslink: CODE: message` and the process exits with the status code's number (1...16).
    /// - Parameter sendsKey: false for the commands calling only methods open without a key (health, describe): the
    ///   key is left out, so that they work over plaintext to any host even when `$COPSLINK_TOKEN` is set.
    static func run(_ global: GlobalOptions, sendsKey: Bool = true, _ body: (Session) async throws -> Void) async throws {
        let endpoints = try global.endpoints()
        var metadata = try global.parsedMetadata()
        if !sendsKey { metadata.removeAll(AuthInterceptor.metadataKey) }
        var configuration = ClientConfiguration(host: endpoints[0].host, port: endpoints[0].port)
        configuration.connectTimeout = min(configuration.connectTimeout, global.timeoutDuration)
        try global.tls.apply(to: &configuration)
        let instances = ServerInstances.configurations(for: endpoints, base: configuration)
        // Refused here, before connecting, so the message names the flags.
        for instance in instances {
            if let refusal = instance.plaintextCredentialsRefusal(metadata: metadata, advice: ClientTLSOptions.plaintextAdvice) {
                throw Failure.status(refusal)
            }
        }
        let transport: any EventLoopClientTransport =
            instances.count == 1
            ? TCPClientTransport(configuration: instances[0])
            : RoundRobinClientTransport(instances: instances)
        do {
            try await transport.closing { transport in
                let client = RPCClient(transport: transport)
                try await body(
                    Session(
                        accounts: AccountService.Client(wrapping: client), health: Health.Client(wrapping: client),
                        serverInfo: ServerInfo.Client(wrapping: client),
                        options: CallOptions(timeout: global.timeoutDuration, metadata: metadata, requestID: global.requestID),
                        requestID: global.requestID ?? "",
                        json: global.json))
            }
        } catch let error as RPCError {
            let tokenGiven = (try? ServerAddress.token(global.token, file: global.tokenFile)) != nil
            throw Failure.status(forCommandLine(error, tokenGiven: tokenGiven))
        }
    }

    /// The status as a command-line user should read it: the missing-key refusal names `--token`/`$COPSLINK_TOKEN`
    /// (not the metadata), and a failed connect is one short line instead of the socket layer's error dump.
    static func forCommandLine(_ error: RPCError, tokenGiven: Bool) -> RPCError {
        var error = error
        if error.code == .unauthenticated, !tokenGiven, error.message.contains("needs an API key") {
            error.message =
                "this call needs an API key: give --token KEY or --token-file FILE, or set $\(ServerAddress.tokenEnvironmentVariable) (scripts/serve prints a demo key)"
        } else if error.code == .unavailable, error.message.hasPrefix("cannot connect to ") {
            error.message = ServerAddress.connectFailure(error.message)
        }
        for (rpc, command) in commandsForRPCs where error.message.contains(rpc) {
            error.message = error.message.replacingOccurrences(of: rpc, with: command)
        }
        return error
    }

    /// Server messages that point at another RPC, as the CLI user reads them: the command to run instead.
    static let commandsForRPCs: KeyValuePairs<String, String> = [
        "ListTestCategories names them": "`copslink test categories` lists them",
        "ListTestCategories": "`copslink test categories`",
        "SearchAuthorities": "`copslink authorities search`",
        "GetAccount": "`copslink account get`"
    ]

}

/// How a command ends other than successfully; `CopsLink.main()` turns these into stderr lines and exit codes.
enum Failure: Error {
    /// A call ended with a status other than OK: exit code = the status code number.
    case status(RPCError)
    /// The call succeeded but the answer means failure (e.g. NOT_SERVING): message on stderr, exit code given.
    case exit(code: Int32, message: String)

    var exitCode: Int32 {
        switch self {
        case .status(let error): Int32(error.code.rawValue)
        case .exit(let code, _): code
        }
    }

    var message: String {
        switch self {
        case .status(let error): error.message.isEmpty ? error.code.name : "\(error.code.name): \(error.message)"
        case .exit(_, let message): message
        }
    }
}

enum Output {
    static func write(_ text: String) {
        guard !text.isEmpty else { return }
        print(text)
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data("copslink: \(text)\n".utf8))
    }
}

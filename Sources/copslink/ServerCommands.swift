import ArgumentParser
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import Foundation

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Checks whether the server (or one service) is serving.",
        discussion: """
            Exit status 0 when SERVING; 1 when NOT_SERVING or UNKNOWN; 5 (NOT_FOUND) for a service the server \
            does not know; 14 (UNAVAILABLE) when no server answers, which includes a server in a graceful \
            shutdown: it closes its listening socket first, so new connections are refused. \
            With --json: the HealthCheckResponse, {"status": "SERVING"}.

            Examples:
              copslink health
              copslink --server 10.0.0.5:7420 health copslink.v1.AccountService
              until copslink health >/dev/null 2>&1; do sleep 1; done
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "Fully qualified service name, e.g. copslink.v1.AccountService. Default: the whole server.")
    var service = ""

    func run() async throws {
        try await Session.run(global, sendsKey: false) { session in
            let response = try await session.health.check(HealthCheckRequest(service: service), options: session.options)
            let status: String =
                switch response.status {
                case .serving: "SERVING"
                case .notServing: "NOT_SERVING"
                case .unknown: "UNKNOWN"
                case .unrecognized(let value): "\(value)"
                }
            let subject = service.isEmpty ? "server" : service
            try session.emit(response, text: "\(subject): \(status)")
            if response.status != .serving {
                throw Failure.exit(code: 1, message: "\(subject) is \(status)")
            }
        }
    }
}

struct DescribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Lists the services and methods the server serves, its version and limits.",
        discussion: """
            Examples:
              copslink describe
              copslink describe --json | jq -r '.services[].name'
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions

    func run() async throws {
        try await Session.run(global, sendsKey: false) { session in
            let info = try await session.serverInfo.describe(options: session.options)
            var details = Details()
            details.add("Server version", Format.dash(info.serverVersion))
            details.add("Protocol versions", info.protocolVersions.map(String.init).joined(separator: ", "))
            if let limits = info.limits {
                details.add("Max frame size", Format.bytes(limits.maxFrameSize))
                details.add("Max concurrent calls", limits.maxConcurrentCalls == 0 ? "-" : "\(limits.maxConcurrentCalls)")
                details.add("Initial window size", Format.bytes(limits.initialWindowSize))
                details.add("Max header size", Format.bytes(limits.maxHeaderSize))
            }
            var table = Table("SERVICE", "METHOD", "KIND", "REQUEST", "RESPONSE")
            for service in info.services {
                for method in service.methods {
                    table.add(
                        service.name, method.name, MethodKindName.of(method.kind).lowercased(), method.requestType, method.responseType)
                }
            }
            try session.emit(info, text: details.render() + "\n\n" + table.render())
        }
    }
}

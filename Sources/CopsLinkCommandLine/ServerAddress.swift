public import ArgumentParser
import Foundation

/// Where `copslink` and `copslink-load` connect, and the environment variables both read.
public enum ServerAddress {
    public static let defaultServer = "127.0.0.1:7420"
    public static let serverEnvironmentVariable = "COPSLINK_SERVER"
    public static let tokenEnvironmentVariable = "COPSLINK_TOKEN"

    /// `--server` if given, else `$COPSLINK_SERVER`, else 127.0.0.1:7420, parsed: one address, or several instances
    /// of one service separated by commas (`h1:7420,h2:7420`), which the tools call round-robin
    /// (`RoundRobinClientTransport`).
    public static func resolveAll(_ server: String?) throws(ValidationError) -> [(host: String, port: Int)] {
        let text = server ?? environment(serverEnvironmentVariable) ?? defaultServer
        var addresses: [(host: String, port: Int)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let address = part.trimmingCharacters(in: .whitespaces)
            guard !address.isEmpty else { throw ValidationError("--server '\(text)' has an empty address between commas.") }
            addresses.append(try resolve(address))
        }
        return addresses
    }

    /// One address: `--server` if given, else `$COPSLINK_SERVER`, else 127.0.0.1:7420, parsed. A bare host takes port
    /// 7420; IPv6 addresses are written in brackets, `[::1]:7420`.
    public static func resolve(_ server: String?) throws(ValidationError) -> (host: String, port: Int) {
        let text = server ?? environment(serverEnvironmentVariable) ?? defaultServer
        var host = text, portText = "7420"
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ValidationError("--server '\(text)': missing ']'.") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw ValidationError("--server '\(text)' must look like host:port.") }
                portText = String(rest.dropFirst())
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        guard !host.isEmpty else { throw ValidationError("--server '\(text)' names no host.") }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw ValidationError("--server '\(text)': the port must be a number from 1 to 65535.")
        }
        return (host, port)
    }

    /// `--token` if given, else the contents of `--token-file`, else `$COPSLINK_TOKEN`; nil when none is set (an
    /// empty variable counts as unset).
    public static func token(_ token: String?, file: String? = nil) throws(ValidationError) -> String? {
        let resolved = try SecretInput.resolve(
            value: token, file: file, environmentVariable: tokenEnvironmentVariable, option: "--token", fileOption: "--token-file")
        // An empty key would reach the server as `Bearer ` and be refused for its form, not for being missing.
        if resolved?.isEmpty == true {
            throw ValidationError(file == nil ? "--token is empty; give the API key." : "--token-file '\(file!)' holds no API key.")
        }
        return resolved
    }

    private static func environment(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }
}

extension ServerAddress {
    /// `cannot connect to H:P: <cause>` with the cause reduced to the operating system's words
    /// (`connection refused`), or cut to one short line.
    public static func connectFailure(_ message: String) -> String {
        guard message.hasPrefix("cannot connect to ") else { return String(message.prefix { $0 != "\n" }.prefix(200)) }
        let firstLine = message.prefix { $0 != "\n" }
        let afterPrefix = firstLine.index(firstLine.startIndex, offsetBy: "cannot connect to ".count)
        guard let colon = firstLine.range(of: ": ", range: afterPrefix..<firstLine.endIndex) else {
            return String(firstLine.prefix(200))
        }
        let head = firstLine[..<colon.lowerBound]
        let cause = firstLine[colon.upperBound...]
        for known in ["Connection refused", "timed out", "No route to host", "Network is unreachable", "Connection reset"]
        where cause.contains(known) {
            return
                "\(head): \(known.lowercased()) (is the server running there? see --server / $\(ServerAddress.serverEnvironmentVariable))"
        }
        if cause.contains("dnsAError: Optional") || cause.contains("Name or service not known") {
            return "\(head): the host name could not be resolved"
        }
        return String("\(head): \(cause)".prefix(200))
    }
}

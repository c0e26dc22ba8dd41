import CopsLinkTestSupport
import Foundation
import Testing

/// A `copslink-server --demo` process on a free port with its own temporary database.
typealias DemoServer = ServerProcess

extension ServerProcess {
    /// Runs `body` with a fresh demo server, stopping it (and deleting its database) afterwards.
    static func with<T>(_ body: (ServerProcess) async throws -> T) async throws -> T {
        let server = try await ServerProcess.start(arguments: ["--demo"])
        defer { server.stopInBackground(removingDatabase: true) }
        return try await body(server)
    }
}

typealias CLIResult = BinaryRun

extension BinaryRun {
    /// stdout parsed as exactly one JSON object.
    func jsonObject() throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        return try #require(value as? [String: Any], "stdout is not one JSON object: \(stdout)")
    }
}

/// Runs the built `copslink`; COPSLINK_SERVER is removed unless given, so that tests do not depend on the caller's.
func copslink(_ arguments: [String], stdin: String? = nil, environment: [String: String?] = [:]) async throws -> CLIResult {
    var environment = environment
    if environment["COPSLINK_SERVER"] == nil { environment["COPSLINK_SERVER"] = .some(nil) }
    return try await runBuiltBinary("copslink", arguments, stdin: stdin, environment: environment)
}

/// A Contact ID message `ACCT 18 Q EEE GG CCC S` with its checksum (digit values, 0 counting 10, add up to a
/// multiple of 15), written independently of the server's builder.
func contactID(account: String, qualifier: Int = 1, event: String, partition: String = "01", zone: String) -> String {
    let body = account + "18" + String(qualifier) + event + partition + zone
    let sum = body.reduce(0) { total, character in
        total + (character == "0" ? 10 : Int(String(character), radix: 16)!)
    }
    let checksum = (15 - sum % 15) % 15
    let digit = checksum == 0 ? "F" : checksum == 10 ? "0" : String(checksum, radix: 16, uppercase: true)
    return "\(account) 18 \(qualifier) \(event) \(partition) \(zone) \(digit)"
}

/// YYYY-MM-DD in UTC, `days` days from today.
func utcDate(daysFromToday days: Int) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let date = calendar.date(byAdding: .day, value: days, to: Date())!
    let parts = calendar.dateComponents([.year, .month, .day], from: date)
    return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
}

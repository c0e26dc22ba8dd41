import CopsLinkTestSupport
import Foundation
import Testing

/// A `copslink-server --demo` process with a temporary directory for its database and the report files.
struct LoadTestServer {
    let server: ServerProcess
    let directory: URL

    var address: String { server.address }
    var port: Int { server.port }

    func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func with<T>(_ body: (LoadTestServer) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("copslink-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await ServerProcess.start(database: directory.appendingPathComponent("load.sqlite").path, arguments: ["--demo"])
        defer { server.stop() }
        return try await body(LoadTestServer(server: server, directory: directory))
    }
}

typealias LoadRunResult = BinaryRun

/// Runs the built `copslink-load` with COPSLINK_SERVER and COPSLINK_TOKEN removed from the environment.
func copslinkLoad(_ arguments: [String]) async throws -> LoadRunResult {
    try await runBuiltBinary("copslink-load", arguments, environment: ["COPSLINK_SERVER": nil, "COPSLINK_TOKEN": nil])
}

/// A JSON report file as a dictionary.
func jsonReport(at url: URL) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    return try #require(value as? [String: Any], "not a JSON object: \(url.path)")
}

/// Checks that a `latency_us` object has p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ p99.99 ≤ max, all above zero.
func expectOrderedPercentiles(_ latency: Any?, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let object = try #require(latency as? [String: Any], "\(label) is missing", sourceLocation: sourceLocation)
    let values = try ["p50", "p90", "p99", "p99_9", "p99_99", "max"].map {
        try #require(object[$0] as? Int, "\(label).\($0)", sourceLocation: sourceLocation)
    }
    #expect(values == values.sorted(), "\(label): \(values)", sourceLocation: sourceLocation)
    #expect(values[0] > 0, "\(label): \(values)", sourceLocation: sourceLocation)
}

import CopsLinkTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One blocking HTTP/1.1 GET over a plain socket (the server closes after each response): the whole response.
private func httpGet(port: Int, path: String) throws -> String {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(.EIO) }
    defer { close(descriptor) }
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        response += chunk[..<count]
    }
    return String(decoding: response, as: UTF8.self)
}

/// Everything a pipe delivered, collected on a Dispatch thread.
private final class PipeCollector: Sendable {
    private let data = Mutex(Data())
    private let done = Mutex(false)

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        startBlockingThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.withLock { $0.append(chunk) }
            }
            done.withLock { $0 = true }
        }
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    var isDone: Bool { done.withLock { $0 } }
}

@Suite("copslink-server logs and metrics")
struct ServerObservabilityTests {
    @Test func jsonLogLinesAndThePrometheusEndpoint() async throws {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }
        let process = Process()
        process.executableURL = try builtBinary("copslink-server")
        process.arguments = [
            "--host", "127.0.0.1", "--port", "0", "--database", database, "--metrics-port", "0",
            "--log-format", "json", "--log-level", "info", "--call-log-level", "info", "--insecure-disable-auth"
        ]
        let out = makePipe(), err = makePipe()
        process.standardOutput = out
        process.standardError = err
        try spawn(process)
        let stdout = PipeCollector(out), stderr = PipeCollector(err)
        defer {
            if process.isRunning { process.terminate() }
        }

        // "listening on" comes first (scripts and ServerProcess read only that line), then the metrics endpoint.
        var ports: (rpc: Int, metrics: Int)?
        for _ in 0..<600 where ports == nil {
            let text = stdout.text
            if let rpc = text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)\n/),
                let metrics = text.firstMatch(of: /metrics endpoint at http:\/\/127\.0\.0\.1:(\d+)\/metrics\n/)
            {
                #expect(text.firstRange(of: "listening on")!.lowerBound < text.firstRange(of: "metrics endpoint")!.lowerBound)
                ports = (Int(rpc.1)!, Int(metrics.1)!)
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let (rpcPort, metricsPort) = try #require(ports, "stdout: \(stdout.text)")

        let health = try await copslink(["--server", "127.0.0.1:\(rpcPort)", "health"])
        #expect(health.status == 0, "\(health)")
        let missing = try await copslink(["--server", "127.0.0.1:\(rpcPort)", "account", "get", "nobody"])
        #expect(missing.status == 5, "\(missing)")

        let metrics = try await offCooperativePool { try httpGet(port: metricsPort, path: "/metrics") }
        #expect(metrics.hasPrefix("HTTP/1.1 200"))
        #expect(metrics.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(metrics.contains(#"copslink_server_calls_total{method="/copslink.rpc.v1.Health/Check",status="OK"} 1"#))
        #expect(metrics.contains(#"copslink_server_calls_total{method="/copslink.v1.AccountService/GetAccount",status="NOT_FOUND"} 1"#))
        #expect(metrics.contains(#"copslink_server_call_duration_seconds_count{method="/copslink.v1.AccountService/GetAccount"} 1"#))
        let ready = try await offCooperativePool { try httpGet(port: metricsPort, path: "/readyz") }
        #expect(ready.hasPrefix("HTTP/1.1 200"))

        process.terminate()
        try await offCooperativePool { process.waitUntilExit() }
        for _ in 0..<200 where !stderr.isDone { try await Task.sleep(for: .milliseconds(20)) }
        let lines = stderr.text.split(separator: "\n").map(String.init)
        #expect(!lines.isEmpty)
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not one JSON object: \(line)")
            if let object { objects.append(object) }
        }
        let failedCall = try #require(objects.first { $0["message"] as? String == "call" && $0["status"] as? String == "NOT_FOUND" })
        #expect(failedCall["level"] as? String == "notice")
        #expect(failedCall["label"] as? String == "copslink.server")
        #expect(failedCall["method"] as? String == "/copslink.v1.AccountService/GetAccount")
        #expect((failedCall["status_message"] as? String)?.contains("nobody") == true)
        #expect(failedCall["peer"] != nil && failedCall["call_id"] != nil && failedCall["duration_us"] != nil)
        #expect(objects.contains { $0["message"] as? String == "call" && $0["status"] as? String == "OK" })
        #expect(objects.contains { ($0["message"] as? String)?.hasPrefix("shutting down") == true })
        #expect(
            objects.contains {
                $0["level"] as? String == "warning" && ($0["message"] as? String)?.contains("AUTHENTICATION IS DISABLED") == true
            })
    }
}

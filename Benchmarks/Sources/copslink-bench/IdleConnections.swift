#if canImport(Glibc)
import Glibc
#endif

/// Opens many raw TCP connections that complete the protocol's handshake and then stay idle, and reads the server's
/// RSS before and after.
enum IdleConnections {
    /// CopsLink preface (COPSLINK, version 1) and the client's default SETTINGS (PROTOCOL.md §3.1).
    static let copsLinkHello: [UInt8] = [
        0x43, 0x4f, 0x50, 0x53, 0x4c, 0x49, 0x4e, 0x4b, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x1d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f,
        0x08, 0x80, 0x80, 0x80, 0x02, 0x10, 0x64, 0x18, 0x80, 0x80, 0x10, 0x20, 0x80, 0x80, 0x01
    ]
    /// HTTP/2 connection preface and an empty SETTINGS frame.
    static let http2Hello: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 0x04, 0, 0, 0, 0, 0]

    static func raiseFileLimit(to wanted: Int) {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let target = min(rlim_t(wanted), limit.rlim_max)
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Waits up to `timeoutMs` for the server's first bytes on `fd`; true if some arrived.
    static func awaitReply(_ fd: Int32, timeoutMs: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMs) == 1 else { return false }
        var buffer = [UInt8](repeating: 0, count: 256)
        return read(fd, &buffer, buffer.count) > 0
    }

    static func openFileCount(_ pid: Int32) -> Int? {
        guard let directory = opendir("/proc/\(pid)/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        return count - 2
    }

    static func run(target: String, port: Int, count: Int, serverPID: Int32?, hold: Double) async throws {
        raiseFileLimit(to: count + 1024)
        let hello: [UInt8]? =
            switch target {
            case "copslink": copsLinkHello
            case "grpc": http2Hello
            default: nil
            }
        let stats = serverPID.map(ProcessStats.init)
        let rssBefore = stats?.rssKiB
        let fdsBefore = serverPID.flatMap(openFileCount)
        var sockets: [Int32] = []
        sockets.reserveCapacity(count)
        var failedConnects = 0
        var unanswered = 0
        let started = nowNanos()
        // In batches, each answered before the next, so the accept queue never overflows.
        let batch = 250
        while sockets.count + failedConnects < count {
            var opened: [Int32] = []
            for _ in 0..<min(batch, count - sockets.count - failedConnects) {
                guard let fd = connect(port: port) else {
                    failedConnects += 1
                    continue
                }
                if let hello { _ = hello.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
                opened.append(fd)
            }
            if hello != nil {
                for fd in opened where !awaitReply(fd, timeoutMs: 5000) { unanswered += 1 }
            }
            sockets += opened
            if failedConnects > count / 10 { break }
        }
        let openSeconds = Double(nowNanos() - started) / 1e9
        try await Task.sleep(for: .seconds(hold))
        let rssAfter = stats?.rssKiB
        let fdsAfter = serverPID.flatMap(openFileCount)
        // Still open on the server side? A refused or timed-out connection would have been closed by now.
        var closedByServer = 0
        for fd in sockets {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) == 1 {
                var byte: UInt8 = 0
                if recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0 { closedByServer += 1 }
            }
        }
        for fd in sockets { close(fd) }

        var line = ResultLine()
        line.set("benchmark", "idle")
        line.set("target", target)
        line.set("requested", count)
        line.set("connections", sockets.count)
        line.set("failed_connects", failedConnects)
        line.set("unanswered", unanswered)
        line.set("closed_by_server", closedByServer)
        line.set("open_seconds", openSeconds)
        if let rssBefore { line.set("server_rss_before_kib", rssBefore) }
        if let rssAfter { line.set("server_rss_after_kib", rssAfter) }
        if let rssBefore, let rssAfter, !sockets.isEmpty {
            line.set("server_kib_per_connection", Double(rssAfter - rssBefore) / Double(sockets.count))
        }
        if let fdsBefore, let fdsAfter { line.set("server_fds_added", fdsAfter - fdsBefore) }
        if let peak = stats?.peakRSSKiB { line.set("server_peak_rss_kib", peak) }
        line.emit()
    }
}

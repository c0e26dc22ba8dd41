import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How long this machine's disk takes to make an append durable, measured as a commit in WAL mode makes it: append
/// (`pwrite` at the end of a file) then `fdatasync`. What group commit saves a write is this wait, shared; on a disk
/// that syncs in a fraction of a millisecond, the write rows' 16 ÷ 1 ratio is bounded by the work of each write
/// instead (BENCHMARKS.md, "Writes").
struct FsyncProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsync-probe",
        abstract: "Times pwrite-append + fdatasync on a file in --directory: 8 KiB (a lone write's commit) and 128 KiB (a batch's).")
    @Option(help: "Where to write the probe file (the directory the write rows' databases live in).") var directory: String
    @Option(help: "Syncs per size.") var count = 200

    func run() throws {
        let path = directory + "/fsync-probe-\(getpid()).tmp"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer {
            close(fd)
            unlink(path)
        }
        var line = ResultLine()
        line.set("benchmark", "fsync")
        for (name, size) in [("small", 8 << 10), ("batch", 128 << 10)] {
            let block = [UInt8](repeating: 0x5A, count: size)
            var offset: off_t = 0
            var latencies: [UInt64] = []
            latencies.reserveCapacity(count)
            for _ in 0..<count {
                let written = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, size, offset) }
                guard written == size else { throw ValidationError("pwrite: \(String(cString: strerror(errno)))") }
                offset += off_t(size)
                // A bounded file: start again at the beginning after 64 MiB, as a WAL restarts after a checkpoint.
                if offset >= 64 << 20 { offset = 0 }
                let start = DispatchTime.now().uptimeNanoseconds
                guard fdatasync(fd) == 0 else { throw ValidationError("fdatasync: \(String(cString: strerror(errno)))") }
                latencies.append(DispatchTime.now().uptimeNanoseconds - start)
            }
            let summary = LatencySummary(latencies)
            line.set("\(name)_bytes", size)
            line.set("\(name)_p50_us", summary.p50)
            line.set("\(name)_p99_us", summary.p99)
        }
        line.emit()
    }
}

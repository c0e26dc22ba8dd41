import CopsLinkCore
import CopsLinkTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The resident memory of a process during an attack, from `/proc/<pid>/status`.
///
/// Two sources, because either alone can miss the peak: `VmRSS` sampled every 20 ms on a thread of its own (a
/// cooperative-pool task could be starved by the attack for longer than the spike lasts), and the kernel's own peak
/// `VmHWM`, which is exact but only covers the attack if it was reset when the attack began; resetting it
/// (writing 5 to `/proc/<pid>/clear_refs`) needs root or the process's owner on Linux ≥ 4.0, so it is used when the
/// reset succeeds and the samples carry the measurement otherwise.
final class RSSSampler: Sendable {
    private let pid: Int32
    private let state = LockedBox(State())
    private let finished = DispatchSemaphore(value: 0)

    private struct State: Sendable {
        var peak = 0
        var samples = 0
        var stopping = false
    }

    /// One process's memory across one attack.
    struct Measurement: Sendable, CustomStringConvertible {
        var baseline: Int
        var peak: Int
        /// The highest sampled VmRSS (`peak` is the larger of it and the kernel's peak).
        var sampledPeak: Int
        var samples: Int
        /// Whether `peak` includes the kernel's exact high-water mark.
        var kernelPeak: Bool

        var growth: Int { max(0, peak - baseline) }

        var description: String {
            "RSS \(Self.mebibytes(baseline)) before, \(Self.mebibytes(peak)) at peak: growth \(Self.mebibytes(growth)) "
                + "(\(samples) samples up to \(Self.mebibytes(sampledPeak))\(kernelPeak ? ", and VmHWM" : ""))"
        }

        static func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
    }

    /// Bytes of one `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), nil if the process is gone.
    static func statusBytes(_ field: String, pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let number = line.dropFirst(field.count + 1).filter(\.isNumber)
            return Int(number).map { $0 * 1024 }
        }
        return nil
    }

    static func residentBytes(pid: Int32) -> Int? { statusBytes("VmRSS", pid: pid) }

    /// Resets the kernel's peak resident size of `pid` to its current size; false where that is not allowed.
    static func resetPeak(pid: Int32) -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/\(pid)/clear_refs") else { return false }
        defer { try? handle.close() }
        do {
            try handle.write(contentsOf: Data("5".utf8))
        } catch {
            return false
        }
        // The reset worked if the peak now equals the current size (give it a page or two of slack).
        guard let peak = statusBytes("VmHWM", pid: pid), let resident = residentBytes(pid: pid) else { return false }
        return peak <= resident + 64 * 1024
    }

    private let baseline: Int
    private let kernelPeak: Bool

    /// Takes the baseline and starts sampling.
    init(pid: Int32) {
        self.pid = pid
        baseline = Self.residentBytes(pid: pid) ?? 0
        kernelPeak = Self.resetPeak(pid: pid)
        let state = self.state, finished = self.finished
        let thread = Thread(block: {
            while true {
                let resident = Self.residentBytes(pid: pid) ?? 0
                let stopping = state.withLock { state in
                    state.peak = max(state.peak, resident)
                    state.samples += 1
                    return state.stopping
                }
                if stopping { break }
                usleep(20_000)
            }
            finished.signal()
        })
        thread.start()
    }

    /// Stops sampling and returns the measurement.
    func stop() async -> Measurement {
        state.withLock { $0.stopping = true }
        let finished = self.finished
        _ = try? await offCooperativePool { finished.wait() }
        let sampled = state.value
        let kernel = kernelPeak ? (Self.statusBytes("VmHWM", pid: pid) ?? 0) : 0
        return Measurement(
            baseline: baseline, peak: max(sampled.peak, kernel), sampledPeak: sampled.peak, samples: sampled.samples, kernelPeak: kernelPeak
        )
    }
}

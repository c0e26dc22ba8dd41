public import CopsLinkCore
public import Histogram
public import Synchronization

/// The histogram layout every recorder shares (so that they merge): microseconds, 3 significant digits,
/// up to `highestTrackableMicros` (larger values are recorded as that).
public struct LatencyLayout: Sendable, Equatable {
    public var highestTrackableMicros: UInt64

    public init(highestTrackableMicros: UInt64) {
        self.highestTrackableMicros = max(highestTrackableMicros, 1_000_000)
    }

    /// Room for the longest latency a run can see: a call waits at most `timeout`, and in open loop its intended
    /// start can lie up to the whole run before it was sent.
    public init(runSeconds: Double, timeoutSeconds: Double) {
        self.init(highestTrackableMicros: UInt64(((runSeconds + timeoutSeconds + 1) * 1_000_000).rounded(.up)))
    }

    public func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: highestTrackableMicros, numberOfSignificantValueDigits: .three)
    }
}

/// What one worker task records, without locks or allocation per call: a histogram per mix entry, status counts
/// per mix entry, and calls and errors per second of the measured window (by the second the call was due to start).
/// Merged into `LoadResults` when the run ends.
public struct WorkerRecorder: Sendable {
    public static let statusCodeCount = 17

    public let layout: LatencyLayout
    /// Per mix slot: from the intended start (open loop) or the send (closed loop) to the end of the call.
    public var latency: [Histogram<UInt64>]
    /// Per mix slot, open loop only: from the actual send to the end (what a coordinated-omission-prone tool reports).
    public var uncorrected: [Histogram<UInt64>]
    /// `statusCounts[slot * 17 + code]`.
    public var statusCounts: [UInt64]
    public var callsPerSecond: [UInt64]
    public var errorsPerSecond: [UInt64]
    /// Open loop: calls the schedule wanted started in the measured window that this worker never sent.
    public var missed: UInt64 = 0
    /// Monotonic nanoseconds at which the measured window starts (the end of the warmup).
    public let measureStart: UInt64

    public init(slots: Int, layout: LatencyLayout, measureStart: UInt64, seconds: Int, openLoop: Bool) {
        self.layout = layout
        self.measureStart = measureStart
        latency = (0..<slots).map { _ in layout.makeHistogram() }
        uncorrected = openLoop ? (0..<slots).map { _ in layout.makeHistogram() } : []
        statusCounts = Array(repeating: 0, count: slots * Self.statusCodeCount)
        callsPerSecond = Array(repeating: 0, count: max(1, seconds))
        errorsPerSecond = Array(repeating: 0, count: max(1, seconds))
    }

    /// Records one finished call that was due at `startNanos` (at or after `measureStart`).
    @inline(__always)
    public mutating func record(slot: Int, status: StatusCode, startNanos: UInt64, latencyNanos: UInt64) {
        let micros = Swift.min((latencyNanos &+ 500) / 1000, layout.highestTrackableMicros)
        latency[slot].record(micros)
        let code = Int(status.rawValue)
        statusCounts[slot &* Self.statusCodeCount &+ code] &+= 1
        let second = Swift.min(Int((startNanos &- measureStart) / 1_000_000_000), callsPerSecond.count &- 1)
        callsPerSecond[second] &+= 1
        if code != 0 { errorsPerSecond[second] &+= 1 }
    }

    /// Open loop: also records the latency from the actual send.
    @inline(__always)
    public mutating func recordUncorrected(slot: Int, latencyNanos: UInt64) {
        uncorrected[slot].record(Swift.min((latencyNanos &+ 500) / 1000, layout.highestTrackableMicros))
    }
}

/// Counters for the live progress line, shared by all workers (only updated when the line is shown).
public final class LiveCounters: Sendable {
    public let calls = Atomic<UInt64>(0)
    public let errors = Atomic<UInt64>(0)
    public init() {}

    @inline(__always)
    public func add(status: StatusCode) {
        calls.add(1, ordering: .relaxed)
        if status != .ok { errors.add(1, ordering: .relaxed) }
    }
}

/// The merged results of a run.
public struct LoadResults: Sendable {
    public struct MethodResult: Sendable {
        public var method: LoadMethod
        public var latency: Histogram<UInt64>
        public var uncorrected: Histogram<UInt64>?
        /// Indexed by status code number.
        public var statusCounts: [UInt64]

        public var calls: UInt64 { statusCounts.reduce(0, +) }
        public var errors: UInt64 { calls - statusCounts[0] }
        /// Non-OK statuses that are a normal answer for this method (see `LoadMethod.expectedStatuses`).
        public var expectedErrors: UInt64 {
            method.expectedStatuses.reduce(0) { $0 + statusCounts[Int($1.rawValue)] }
        }
    }

    /// In mix order.
    public var methods: [MethodResult]
    public var overall: Histogram<UInt64>
    public var overallUncorrected: Histogram<UInt64>?
    public var callsPerSecond: [UInt64]
    public var errorsPerSecond: [UInt64]
    public var missed: UInt64
    /// Length of the measured window, seconds.
    public var durationSeconds: Double

    public var totalCalls: UInt64 { methods.reduce(0) { $0 + $1.calls } }
    public var isOpenLoop: Bool { overallUncorrected != nil }

    public init(
        methods: [MethodResult], overall: Histogram<UInt64>, overallUncorrected: Histogram<UInt64>?, callsPerSecond: [UInt64],
        errorsPerSecond: [UInt64], missed: UInt64, durationSeconds: Double
    ) {
        self.methods = methods
        self.overall = overall
        self.overallUncorrected = overallUncorrected
        self.callsPerSecond = callsPerSecond
        self.errorsPerSecond = errorsPerSecond
        self.missed = missed
        self.durationSeconds = durationSeconds
    }

    /// Adds up the workers' recorders (all made for `mix` with one layout).
    public static func merge(
        _ recorders: [WorkerRecorder], mix: CallMix, layout: LatencyLayout, openLoop: Bool, durationSeconds: Double
    ) -> LoadResults {
        let seconds = recorders.first?.callsPerSecond.count ?? max(1, Int(durationSeconds.rounded(.up)))
        var methods = mix.entries.map { entry in
            MethodResult(
                method: entry.method, latency: layout.makeHistogram(), uncorrected: openLoop ? layout.makeHistogram() : nil,
                statusCounts: Array(repeating: 0, count: WorkerRecorder.statusCodeCount))
        }
        var callsPerSecond = Array(repeating: UInt64(0), count: seconds)
        var errorsPerSecond = Array(repeating: UInt64(0), count: seconds)
        var missed: UInt64 = 0
        for recorder in recorders {
            for slot in methods.indices {
                methods[slot].latency.add(recorder.latency[slot])
                if openLoop { methods[slot].uncorrected!.add(recorder.uncorrected[slot]) }
                for code in 0..<WorkerRecorder.statusCodeCount {
                    methods[slot].statusCounts[code] += recorder.statusCounts[slot * WorkerRecorder.statusCodeCount + code]
                }
            }
            for second in 0..<min(seconds, recorder.callsPerSecond.count) {
                callsPerSecond[second] += recorder.callsPerSecond[second]
                errorsPerSecond[second] += recorder.errorsPerSecond[second]
            }
            missed += recorder.missed
        }
        var overall = layout.makeHistogram()
        var overallUncorrected: Histogram<UInt64>? = openLoop ? layout.makeHistogram() : nil
        for method in methods {
            overall.add(method.latency)
            if let uncorrected = method.uncorrected { overallUncorrected!.add(uncorrected) }
        }
        return LoadResults(
            methods: methods, overall: overall, overallUncorrected: overallUncorrected, callsPerSecond: callsPerSecond,
            errorsPerSecond: errorsPerSecond, missed: missed, durationSeconds: durationSeconds)
    }
}

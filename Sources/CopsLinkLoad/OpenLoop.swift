import CopsLinkCore
public import CopsLinkTransport
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The intended start times of an open-loop run, in nanoseconds from its start.
public struct ArrivalSchedule: Sendable {
    public let rate: Double
    public let arrivals: Arrivals
    private var generator: SplitMix64
    private var index: UInt64 = 0
    private var poissonTime: Double = 0

    public init(rate: Double, arrivals: Arrivals, seed: UInt64) {
        precondition(rate > 0 && rate.isFinite, "the rate must be positive")
        self.rate = rate
        self.arrivals = arrivals
        generator = SplitMix64(seed: seed)
    }

    /// The next intended start, nanoseconds after the schedule's start; never decreasing.
    public mutating func next() -> UInt64 {
        switch arrivals {
        case .constant:
            // From the index, not by adding up gaps, so that rounding never accumulates.
            let time = Double(index) * 1e9 / rate
            index += 1
            return UInt64(time.rounded())
        case .poisson:
            let time = poissonTime
            let uniform = Double(generator.next() >> 11) * 0x1p-53  // [0, 1)
            poissonTime += -log1p(-uniform) / rate * 1e9
            return UInt64(time.rounded())
        }
    }
}

/// The schedule shared by an open loop's workers: each free worker takes the next intended start.
final class SharedSchedule: Sendable {
    private let schedule: Mutex<ArrivalSchedule>
    let start: UInt64

    init(_ schedule: ArrivalSchedule, start: UInt64) {
        self.schedule = Mutex(schedule)
        self.start = start
    }

    /// The next intended start, in monotonic nanoseconds.
    func claim() -> UInt64 { start &+ schedule.withLock { $0.next() } }

    /// How many of the starts not yet claimed fall in `from..<to`.
    func remaining(from: UInt64, to: UInt64) -> UInt64 {
        schedule.withLock { schedule in
            var count: UInt64 = 0
            while true {
                let time = start &+ schedule.next()
                if time >= to { return count }
                if time >= from { count += 1 }
            }
        }
    }
}

/// Open loop: calls start on a schedule (`rate`, constant or Poisson arrivals) whatever the server's speed, with
/// at most `concurrency` in flight. Latency runs from each call's intended start, so a call the tool could only send
/// late (every worker busy) counts its wait: no coordinated omission. The latency from the actual send is recorded
/// beside it. Calls due during the warmup are not recorded; calls due in the measured window but never sent by its
/// end are counted as missed.
public enum OpenLoop {
    public static func run(_ plan: LoadPlan, transports: [any EventLoopClientTransport], live: LiveCounters? = nil) async -> LoadResults {
        guard let rate = plan.rate else { preconditionFailure("an open-loop plan needs a rate") }
        precondition(!transports.isEmpty && plan.concurrency > 0)
        let layout = plan.layout
        let start = monotonicNanos()
        let (measureStart, end) = plan.clock(startingAt: start)
        let schedule = SharedSchedule(
            ArrivalSchedule(rate: rate, arrivals: plan.arrivals, seed: plan.seed ^ 0x5EED_A441_7A15), start: start)
        let recorders = await withTaskGroup(of: WorkerRecorder.self) { group in
            for index in 0..<plan.concurrency {
                let transport = transports[index % transports.count]
                group.addTask(executorPreference: transport.executor) {
                    await worker(
                        plan, index: index, transport: transport, schedule: schedule, layout: layout, measureStart: measureStart,
                        end: end, live: live)
                }
            }
            var recorders: [WorkerRecorder] = []
            for await recorder in group { recorders.append(recorder) }
            return recorders
        }
        var results = LoadResults.merge(recorders, mix: plan.mix, layout: layout, openLoop: true, durationSeconds: plan.durationSeconds)
        results.missed += schedule.remaining(from: measureStart, to: end)
        return results
    }

    private static func worker(
        _ plan: LoadPlan, index: Int, transport: any EventLoopClientTransport, schedule: SharedSchedule, layout: LatencyLayout,
        measureStart: UInt64, end: UInt64, live: LiveCounters?
    ) async -> WorkerRecorder {
        var recorder = WorkerRecorder(
            slots: plan.mix.entries.count, layout: layout, measureStart: measureStart, seconds: plan.seconds, openLoop: true)
        var generator = SplitMix64(seed: plan.workerSeed(index))
        let mix = plan.mix
        let calls = plan.workload.calls
        let options = plan.options
        let acknowledged = plan.acknowledged
        let eventLoop = transport.executor.eventLoop
        while true {
            let intended = schedule.claim()
            if intended >= end { break }
            var now = monotonicNanos()
            if now >= end {
                // Due before the end but the run is over: this call (and those after it) were never sent.
                if intended >= measureStart { recorder.missed += 1 }
                break
            }
            if intended > now &+ 2_000 {
                await sleep(on: eventLoop, nanoseconds: intended &- now)
                now = monotonicNanos()
            }
            let slot = mix.chooseSlot(using: &generator)
            let choices = calls[slot]
            let call = choices.count == 1 ? choices[0] : choices[Int(generator.next() % UInt64(choices.count))]
            let sent = monotonicNanos()
            let status = await CallRunner.perform(call, on: transport, options: options, acknowledged: acknowledged)
            let finished = monotonicNanos()
            if intended >= measureStart {
                recorder.record(
                    slot: slot, status: status, startNanos: intended, latencyNanos: finished > intended ? finished &- intended : 0)
                recorder.recordUncorrected(slot: slot, latencyNanos: finished &- sent)
            }
            live?.add(status: status)
        }
        return recorder
    }

    /// Suspends for `nanoseconds` with a timer of the connection's own event loop (no thread switch on wake-up).
    private static func sleep(on eventLoop: any EventLoop, nanoseconds: UInt64) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            eventLoop.scheduleTask(in: .nanoseconds(Int64(nanoseconds))) { continuation.resume() }
        }
    }
}

import CopsLinkCore
public import CopsLinkTransport

/// Closed loop: `concurrency` workers, each sending its next call as soon as the previous one ended.
/// Latency runs from the send to the end of the call. Calls sent during the warmup are not recorded.
public enum ClosedLoop {
    /// Runs the plan over `transports` (worker `i` uses `transports[i % count]`, on that connection's event loop).
    public static func run(_ plan: LoadPlan, transports: [any EventLoopClientTransport], live: LiveCounters? = nil) async -> LoadResults {
        precondition(!transports.isEmpty && plan.concurrency > 0)
        let layout = plan.layout
        let (measureStart, end) = plan.clock(startingAt: monotonicNanos())
        let recorders = await withTaskGroup(of: WorkerRecorder.self) { group in
            for index in 0..<plan.concurrency {
                let transport = transports[index % transports.count]
                group.addTask(executorPreference: transport.executor) {
                    await worker(plan, index: index, transport: transport, layout: layout, measureStart: measureStart, end: end, live: live)
                }
            }
            var recorders: [WorkerRecorder] = []
            for await recorder in group { recorders.append(recorder) }
            return recorders
        }
        return LoadResults.merge(recorders, mix: plan.mix, layout: layout, openLoop: false, durationSeconds: plan.durationSeconds)
    }

    private static func worker(
        _ plan: LoadPlan, index: Int, transport: any EventLoopClientTransport, layout: LatencyLayout, measureStart: UInt64, end: UInt64,
        live: LiveCounters?
    ) async -> WorkerRecorder {
        var recorder = WorkerRecorder(
            slots: plan.mix.entries.count, layout: layout, measureStart: measureStart, seconds: plan.seconds, openLoop: false)
        var generator = SplitMix64(seed: plan.workerSeed(index))
        let mix = plan.mix
        let calls = plan.workload.calls
        let options = plan.options
        let acknowledged = plan.acknowledged
        while true {
            let slot = mix.chooseSlot(using: &generator)
            let choices = calls[slot]
            let call = choices.count == 1 ? choices[0] : choices[Int(generator.next() % UInt64(choices.count))]
            let started = monotonicNanos()
            if started >= end { break }
            let status = await CallRunner.perform(call, on: transport, options: options, acknowledged: acknowledged)
            let finished = monotonicNanos()
            if started >= measureStart {
                recorder.record(slot: slot, status: status, startNanos: started, latencyNanos: finished &- started)
            }
            live?.add(status: status)
        }
        return recorder
    }
}

import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

@testable import CopsLinkTransport

/// The server flushes once per event-loop pass, not once per frame (`FlushCoalescer`): each flush is a write
/// system call on a real socket.
@Suite("Flush coalescing")
struct FlushCoalescingTests {
    private static func harness() async throws -> ServerConnectionHarness {
        var configuration = ServerConfiguration()
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        configuration.pingPolicy.minimumInterval = .zero
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        return harness
    }

    @Test func theAnswersToOneReadAreFlushedOnce() async throws {
        let harness = try await Self.harness()
        var bytes = ByteBuffer()
        var ids: [UInt64] = []
        for _ in 0..<5 {
            let id = harness.callID()
            ids.append(id)
            var request = harness.request(id, TestService.Method.emptyCall.path, EmptyMessage())
            bytes.writeBuffer(&request)
        }
        for opaque: UInt64 in [1, 2] {
            var ping = ServerConnectionHarness.ping(opaque)
            bytes.writeBuffer(&ping)
        }
        let before = harness.flushes.count
        try await harness.send(bytes)
        let frames = try await harness.frames()
        #expect(try ServerConnectionHarness.ends(frames).keys.sorted() == ids)
        #expect(frames.filter { $0.type == .ping }.count == 2)
        #expect(harness.flushes.count - before == 1, "seven answers to one read took \(harness.flushes.count - before) flushes")
        await harness.close()
    }

    @Test func answersHandedOverByTasksInOnePassAreFlushedOnce() async throws {
        let harness = try await Self.harness()
        var ids: [UInt64] = []
        for _ in 0..<3 {
            let id = harness.callID()
            ids.append(id)
            try await harness.send(harness.request(id, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        }
        #expect(try await harness.frames().isEmpty)
        #expect(ids.allSatisfy(harness.gate.isHolding))
        let before = harness.flushes.count
        // The three handlers resume in one event-loop pass, each handing its END over to the connection. (Released
        // from the loop itself: released from the test's thread, each would run at once, in a pass of its own.)
        let gate = harness.gate
        let released = ids
        try await harness.loop.executeInContext { for id in released { gate.release(id) } }
        await harness.settle()
        #expect(try ServerConnectionHarness.ends(try await harness.frames()).keys.sorted() == ids)
        #expect(harness.flushes.count - before == 1, "three ENDs of one pass took \(harness.flushes.count - before) flushes")
        await harness.close()
    }

    @Test func aReadWhoseAnswersPassTheThresholdFlushesOnTheWay() async throws {
        let harness = try await Self.harness()
        var bytes = ByteBuffer()
        var ids: [UInt64] = []
        // Eight answers of about 1 KiB: two first thresholds' worth.
        for _ in 0..<8 {
            let id = harness.callID()
            ids.append(id)
            var request = harness.request(id, TestService.Method.unaryCall.path, SimpleRequest(responseSize: 1_000))
            bytes.writeBuffer(&request)
        }
        let before = harness.flushes.count
        try await harness.send(bytes)
        #expect(try ServerConnectionHarness.ends(try await harness.frames()).keys.sorted() == ids)
        #expect(harness.flushes.count - before >= 2, "8 KiB of answers waited for the end of the read")
        await harness.close()
    }
}

/// The threshold's rule on `FlushCoalescer` alone: a third of what the previous read loop wrote, from 4 to 64 KiB.
@Suite("Flush threshold")
struct FlushThresholdTests {
    /// Flushes a read loop of `frames` writes of `size` bytes makes before its end.
    static func flushes(_ coalescer: inout FlushCoalescer, frames: Int, size: Int) -> Int {
        coalescer.readStarted()
        var flushes = 0
        for _ in 0..<frames where coalescer.wrote(size) == .flushNow { flushes += 1 }
        _ = coalescer.readCompleted()
        return flushes
    }

    @Test func theFirstReadLoopFlushesEvery4KiB() {
        var coalescer = FlushCoalescer()
        #expect(Self.flushes(&coalescer, frames: 64, size: 1_024) == 16)
    }

    @Test func aReadLoopAsBigAsThePreviousFlushesAboutThreeTimes() {
        var coalescer = FlushCoalescer()
        _ = Self.flushes(&coalescer, frames: 64, size: 1_024)  // 64 KiB: the next threshold is 21,845 bytes
        #expect(Self.flushes(&coalescer, frames: 64, size: 1_024) == 2, "two on the way, and the one at the end")
        _ = Self.flushes(&coalescer, frames: 6, size: 1_024)  // small: back to 4 KiB
        #expect(Self.flushes(&coalescer, frames: 8, size: 1_024) == 2)
    }

    @Test func theThresholdStopsAt64KiB() {
        var coalescer = FlushCoalescer()
        _ = Self.flushes(&coalescer, frames: 1_024, size: 1_024)  // 1 MiB
        #expect(Self.flushes(&coalescer, frames: 1_024, size: 1_024) == 16)
    }
}

import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore

/// Decides when a connection flushes: once after a read loop for the writes it caused, otherwise once per
/// event-loop pass, in one task queued behind the writes that other tasks hand over; and in between whenever the
/// pending bytes pass a threshold: a third of what the previous read loop wrote, from 4 to 64 KiB. Event-loop bound.
///
/// Flushing early keeps both peers busy: flushing only at the end of a pass makes the sides take turns on whole
/// batches (one works while the other waits). Flushing often costs, because each flush is a `writev` that on
/// loopback also runs the receiver's TCP input: at a flat 4 KiB (a flush every 6 unary answers) that was a quarter
/// of the server's CPU per call at 64 outstanding. About three flushes per read loop keeps the first and drops most of
/// the second. Measured on this 2-core machine, idle, unary calls of 609-byte answers, 4-s runs (2026-12-05):
///
/// | Threshold | 16 outstanding | 64 outstanding | 64 over 8 connections |
/// |---|---:|---:|---:|
/// | 4 KiB, flat | 150-165k calls/s | 211-219k | 172-177k |
/// | 64 KiB, flat | 82k | 120-121k | 188-194k |
/// | 4 KiB doubling per flush, to 64 KiB | 111-120k | 217k | 164-170k |
/// | a third of the previous read loop's bytes, 4-64 KiB | 156-173k | 218-237k | 173-177k |
struct FlushCoalescer {
    enum Decision { case none, flushNow, scheduleFlush }

    /// The smallest threshold, and the first: 4 KiB, about 6 unary answers or 16 requests.
    static let initialFlushThreshold = 4 << 10
    /// The largest threshold: 64 KiB.
    static let maximumFlushThreshold = 64 << 10

    private var readLoopActive = false
    private var flushAfterRead = false
    private var flushScheduled = false
    private var pendingBytes = 0
    private var threshold = FlushCoalescer.initialFlushThreshold
    /// Bytes written during the current read loop.
    private var loopBytes = 0

    mutating func readStarted() { readLoopActive = true }

    /// The read loop ended; true if its writes need a flush now.
    mutating func readCompleted() -> Bool {
        readLoopActive = false
        // A third of what this read loop wrote: the next loop (most likely as big) flushes about three times.
        threshold = min(Self.maximumFlushThreshold, max(Self.initialFlushThreshold, loopBytes / 3))
        loopBytes = 0
        defer { flushAfterRead = false }
        guard flushAfterRead else { return false }
        pendingBytes = 0
        return true
    }

    /// A frame of `size` bytes was written: flush now, queue a flush task (`scheduledFlushRan` then flushes), or
    /// neither (a flush is already due).
    mutating func wrote(_ size: Int) -> Decision {
        pendingBytes += size
        if readLoopActive { loopBytes += size }
        if pendingBytes >= threshold {
            pendingBytes = 0
            return .flushNow
        }
        if readLoopActive {
            flushAfterRead = true
            return .none
        }
        guard !flushScheduled else { return .none }
        flushScheduled = true
        return .scheduleFlush
    }

    mutating func scheduledFlushRan() {
        flushScheduled = false
        pendingBytes = 0
    }

    /// Writes `buffer` on `context` and flushes as `wrote` decides; `scheduleFlush` queues the handler's flush task,
    /// which calls `scheduledFlushRan` and flushes. Both connection handlers write through here.
    ///
    /// Static, with the coalescer reached through `decide` for just the decision: a flush can re-enter the handler
    /// (a write error closes the channel, whose events write and flush again), so the handler's coalescer must not
    /// be under a mutating access while `context` writes or flushes (a mutating method here was an exclusivity
    /// violation, a crash, seen under load).
    static func write(
        _ buffer: ByteBuffer, on context: ChannelHandlerContext, decide: (Int) -> Decision, scheduleFlush: () -> Void
    ) {
        let size = buffer.readableBytes
        context.write(NIOAny(buffer), promise: nil)
        switch decide(size) {
        case .none: break
        case .flushNow: context.flush()
        case .scheduleFlush: scheduleFlush()
        }
    }
}

extension Frame {
    /// The header decoded as `Header`, or nil after reporting the malformed header through `violation`.
    func decodeHeader<Header: ProtobufCCodable>(_ type: Header.Type, violation: (String) -> Void) -> Header? {
        do {
            return try Header(from: header)
        } catch {
            violation("malformed \(self.type) header on call \(callID)")
            return nil
        }
    }
}

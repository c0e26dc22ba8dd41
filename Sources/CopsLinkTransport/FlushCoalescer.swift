import CopsLinkCodecs
import CopsLinkCore
import CopsLinkWire
import NIOCore

/// Decides when a connection flushes: once after a read loop for the writes it caused, otherwise once per
/// event-loop pass, in one task queued behind the writes that other tasks hand over. Event-loop bound.
struct FlushCoalescer {
    private var readLoopActive = false
    private var flushAfterRead = false
    private var flushScheduled = false

    mutating func readStarted() { readLoopActive = true }

    /// The read loop ended; true if its writes need a flush now.
    mutating func readCompleted() -> Bool {
        readLoopActive = false
        defer { flushAfterRead = false }
        return flushAfterRead
    }

    /// A frame was written; true if the caller must queue a flush task (`scheduledFlushRan` then flushes).
    mutating func wrote() -> Bool {
        if readLoopActive {
            flushAfterRead = true
            return false
        }
        guard !flushScheduled else { return false }
        flushScheduled = true
        return true
    }

    mutating func scheduledFlushRan() { flushScheduled = false }
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

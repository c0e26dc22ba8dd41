import CopsLinkTransport
import NIOCore

/// In front of a gRPC connection's HTTP/2 handler, the socket is not read (the bytes wait in the kernel) while the
/// server's inbound memory budget is exhausted, or while the connection is unwritable (its client has left the
/// outbound high-water mark of answers unread), as a native connection pauses (PROTOCOL.md §12, §19.3): a client that
/// reads nothing cannot have its further calls refused or answered into the unread bytes. The budget has no wake-up,
/// so a read withheld for it is retried every `retryInterval`; one withheld for writability waits for the socket to
/// take bytes again. Until a caller authenticates on the connection it reads small (`UntrustedReads`, set at accept
/// by a server that authenticates callers); the end of the first read pass after its trust is granted lifts that.
final class GRPCReadGate: ChannelDuplexHandler {
    typealias InboundIn = Any
    typealias OutboundIn = Any

    private let budget: InboundMemoryBudget
    private let trust: ConnectionTrust
    private var reads: UntrustedReads
    private let retryInterval: TimeAmount
    private var retry: Scheduled<Void>?
    /// A read was withheld while the connection was unwritable.
    private var waitingForWritable = false

    init(
        budget: InboundMemoryBudget, trust: ConnectionTrust = ConnectionTrust(trusted: true), retryInterval: TimeAmount = .milliseconds(10)
    ) {
        self.budget = budget
        self.trust = trust
        reads = UntrustedReads(trust)
        self.retryInterval = retryInterval
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reads.liftOnceTrusted(trust, on: context.channel)
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        guard context.channel.isWritable else {
            waitingForWritable = true
            return
        }
        guard budget.isExhausted else { return context.read() }
        guard retry == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        retry = context.eventLoop.scheduleTask(in: retryInterval) {
            let (gate, context) = loopBound.value
            gate.retry = nil
            gate.read(context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        guard context.channel.isWritable, waitingForWritable else { return }
        waitingForWritable = false
        read(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        retry?.cancel()
        retry = nil
    }
}

import CopsLinkTransport
import NIOCore

/// In front of a gRPC connection's HTTP/2 handler: while the server's inbound memory budget is exhausted, the
/// connection's socket is not read (the bytes wait in the kernel), as a native connection pauses (PROTOCOL.md §12).
/// The budget has no wake-up, so a withheld read is retried every `retryInterval`.
final class GRPCReadGate: ChannelOutboundHandler {
    typealias OutboundIn = Any

    private let budget: InboundMemoryBudget
    private let retryInterval: TimeAmount
    private var retry: Scheduled<Void>?

    init(budget: InboundMemoryBudget, retryInterval: TimeAmount = .milliseconds(10)) {
        self.budget = budget
        self.retryInterval = retryInterval
    }

    func read(context: ChannelHandlerContext) {
        guard budget.isExhausted else { return context.read() }
        guard retry == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        retry = context.eventLoop.scheduleTask(in: retryInterval) {
            let (gate, context) = loopBound.value
            gate.retry = nil
            gate.read(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        retry?.cancel()
        retry = nil
    }
}

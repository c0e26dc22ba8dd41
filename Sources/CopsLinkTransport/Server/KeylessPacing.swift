public import NIOCore
import Synchronization

/// Bounds the event-loop time that connections without an authenticated caller (keyless connections) take together:
/// at most `share` of each loop's time, with up to `burst` saved up (`KeylessShare`). Installed in front of every
/// connection of a server that authenticates callers (`KeylessPacer`), and gone from a connection once a caller
/// authenticates on it.
///
/// Without it, what a keyless client could spend was bounded per read (16 KiB, `UntrustedReads`) but not in total:
/// frames the server reads and ignores (PING ACKs, WINDOW_UPDATEs on call 0 or HTTP/2 stream 0, unknown HTTP/2
/// frames) kept a core busy per connection, and bursts of keyless gRPC calls over 60 connections kept new connections
/// waiting for seconds (PROTOCOL.md §12.2).
///
/// What is timed: processing a read (from the bytes' arrival in the pipeline to the end of `channelReadComplete`:
/// TLS, the protocol handlers, and call handlers until they first suspend), and the batches of the connection's call
/// tasks (`EventLoopTaskExecutor`), charged as they run, and closing the connection. Work NIO defers to tasks of
/// its own (closing an HTTP/2 stream channel, for one) is not counted.
public final class KeylessPacing: Sendable {
    /// The fraction of each event loop's time that keyless connections may take together, in (0, 1].
    public let share: Double
    /// Time saved up while keyless connections take less than their share: a burst that long runs unpaced.
    public let burst: TimeAmount
    let metrics: ServerMetrics?
    /// Where bytes waiting for the share are counted, as untrusted.
    let budget: InboundMemoryBudget?
    /// Reads the clock processing is timed by: `NIODeadline.now()`, or a test's.
    let clock: @Sendable () -> NIODeadline
    private let schedulers: Mutex<[ObjectIdentifier: NIOLoopBound<KeylessReadScheduler>]>

    public init(
        share: Double, burst: TimeAmount, metrics: ServerMetrics? = nil, budget: InboundMemoryBudget? = nil,
        clock: @escaping @Sendable () -> NIODeadline = { .now() }
    ) {
        precondition(share > 0 && share <= 1, "the keyless share is a fraction of the loop's time in (0, 1]")
        self.share = share
        self.burst = burst
        self.metrics = metrics
        self.budget = budget
        self.clock = clock
        schedulers = Mutex([:])
    }

    /// The scheduler of `loop`, made on first use. Call it on `loop`.
    func scheduler(on loop: any EventLoop) -> KeylessReadScheduler {
        loop.preconditionInEventLoop()
        return schedulers.withLock { schedulers in
            if let existing = schedulers[ObjectIdentifier(loop)] { return existing.value }
            let scheduler = KeylessReadScheduler(share: share, burst: burst, loop: loop)
            schedulers[ObjectIdentifier(loop)] = NIOLoopBound(scheduler, eventLoop: loop)
            return scheduler
        }
    }
}

/// One event loop's `KeylessShare`, the keyless connections waiting on it with bytes to process, and the task that
/// processes them when the balance allows. Lives on its loop (reached through `NIOLoopBound`).
final class KeylessReadScheduler {
    private var share: KeylessShare
    private var waiting: [ObjectIdentifier: KeylessPacer] = [:]
    private var wake: Scheduled<Void>?
    private let loop: any EventLoop

    init(share: Double, burst: TimeAmount, loop: any EventLoop) {
        self.share = KeylessShare(share: share, burst: burst, now: loop.now)
        self.loop = loop
    }

    /// Whether a connection may process bytes now; if not, it calls `wait`.
    func mayProcess() -> Bool { share.mayProcess(at: loop.now) }

    /// `pacer` waits with `bytes` bytes: `processWaiting` is called when its turn comes.
    func wait(_ pacer: KeylessPacer, bytes: Int) {
        share.wait(id: ObjectIdentifier(pacer), spent: pacer.spent, bytes: bytes)
        waiting[ObjectIdentifier(pacer)] = pacer
        scheduleWake()
    }

    func charge(cost: Int64, bytes: Int) { share.charge(cost: cost, bytes: bytes) }

    /// `pacer` no longer waits (its connection closed).
    func leave(_ pacer: KeylessPacer) {
        waiting.removeValue(forKey: ObjectIdentifier(pacer))
    }

    /// Processes the next waiting connection if the balance allows: one per wake, so that the tasks its bytes start
    /// (`EventLoopTaskExecutor`, charged as they run) run before the next one is chosen.
    private func processWaiting() {
        while let id = share.next(at: loop.now) {
            // A connection that left while queued is still in the queue: skipped.
            guard let pacer = waiting.removeValue(forKey: id) else { continue }
            pacer.processWaiting()
            break
        }
        scheduleWake()
    }

    private func scheduleWake() {
        guard wake == nil, share.hasWaiters else { return }
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        // Not sooner than 100 µs: processing a read costs about that, and a task per microsecond of debt would cost more.
        wake = loop.scheduleTask(in: max(share.timeUntilReady, .microseconds(100))) {
            loopBound.value.wake = nil
            loopBound.value.processWaiting()
        }
    }
}

/// The first handler of a keyless connection on a server that authenticates callers: it times the processing of
/// each read against its loop's keyless share (`KeylessPacing`) and, while the share is spent or other connections
/// wait, keeps the read's bytes (and the events after them) until the connection's turn, reading nothing more
/// meanwhile. Once a caller has authenticated on the connection it takes itself out of the pipeline.
final class KeylessPacer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = Any

    /// What arrived while the connection waited, in order.
    private enum Held {
        case bytes(ByteBuffer)
        case readComplete
        case event(Any)
        case error(any Error)
    }

    private let pacing: KeylessPacing
    private let trust: ConnectionTrust
    private var scheduler: KeylessReadScheduler?
    private var context: ChannelHandlerContext?
    /// Nanoseconds the connection's processing has taken: waiting connections go least-served first.
    private(set) var spent: Int64 = 0
    /// The current read's processing time and bytes so far, when it is processed as it comes.
    private var passCost: Int64 = 0
    private var passBytes = 0
    private var held: [Held] = []
    private var heldBytes = 0
    /// The connection is in its scheduler's queue.
    private var queued = false
    /// A `read()` waits until the held bytes are processed.
    private var readHeld = false

    init(pacing: KeylessPacing, trust: ConnectionTrust) {
        self.pacing = pacing
        self.trust = trust
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let scheduler = pacing.scheduler(on: context.eventLoop)
        self.scheduler = scheduler
        trust.chargeWork(to: NIOLoopBound(scheduler, eventLoop: context.eventLoop))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        dropHeld()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Bytes that waited for a connection that is gone are not processed: nothing could answer them. Tearing down
        // what the connection opened (an HTTP/2 connection's streams) is charged too.
        let scheduler = self.scheduler
        dropHeld()
        let start = pacing.clock()
        context.fireChannelInactive()
        scheduler?.charge(cost: (pacing.clock() - start).nanoseconds, bytes: 0)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard held.isEmpty, !queued, let scheduler, trust.isTrusted || scheduler.mayProcess() else {
            return hold(.bytes(bytes), bytes: bytes.readableBytes)
        }
        let start = pacing.clock()
        context.fireChannelRead(data)
        passCost += (pacing.clock() - start).nanoseconds
        passBytes += bytes.readableBytes
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard held.isEmpty else { return hold(.readComplete) }
        let start = pacing.clock()
        context.fireChannelReadComplete()
        passCost += (pacing.clock() - start).nanoseconds
        endPass(cost: passCost, bytes: passBytes)
        passCost = 0
        passBytes = 0
        if trust.isTrusted { stopPacing(context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The end of the client's input comes after the bytes before it.
        guard held.isEmpty else { return hold(.event(event)) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard held.isEmpty else { return hold(.error(error)) }
        context.fireErrorCaught(error)
    }

    func read(context: ChannelHandlerContext) {
        // Nothing more is read while bytes wait: a waiting connection holds at most one read.
        guard held.isEmpty else {
            readHeld = true
            return
        }
        if trust.isTrusted { return stopPacing(context, read: true) }
        context.read()
    }

    /// The scheduler's turn for this connection: its held bytes and events, in order, timed as one pass.
    func processWaiting() {
        queued = false
        guard let context, let scheduler, !held.isEmpty else { return }
        let items = held
        let bytes = heldBytes
        held = []
        heldBytes = 0
        pacing.budget?.adjust(by: -bytes, untrusted: true)
        let start = pacing.clock()
        for item in items {
            switch item {
            case .bytes(let buffer): context.fireChannelRead(wrapInboundOut(buffer))
            case .readComplete: context.fireChannelReadComplete()
            case .event(let event): context.fireUserInboundEventTriggered(event)
            case .error(let error): context.fireErrorCaught(error)
            }
        }
        let cost = max(0, (pacing.clock() - start).nanoseconds)
        spent &+= cost
        // Through the scheduler the turn came from: what was processed may have closed the connection, which leaves it.
        scheduler.charge(cost: cost, bytes: bytes)
        guard self.scheduler != nil else { return }
        if trust.isTrusted {
            stopPacing(context, read: readHeld)
        } else if readHeld {
            readHeld = false
            context.read()
        }
    }

    private func hold(_ item: Held, bytes: Int = 0) {
        if held.isEmpty { pacing.metrics?.keylessReadHeld() }
        held.append(item)
        heldBytes += bytes
        pacing.budget?.adjust(by: bytes, untrusted: true)
        guard !queued, case .readComplete = item, let scheduler else { return }
        // Queued once the read is whole, with what it brought.
        queued = true
        scheduler.wait(self, bytes: heldBytes)
    }

    private func endPass(cost: Int64, bytes: Int) {
        let cost = max(0, cost)
        spent &+= cost
        scheduler?.charge(cost: cost, bytes: bytes)
    }

    /// A caller has authenticated and nothing waits: the connection reads as others do from now on.
    private func stopPacing(_ context: ChannelHandlerContext, read: Bool = false) {
        trust.chargeWork(to: nil)
        scheduler?.leave(self)
        scheduler = nil
        readHeld = false
        if read { context.read() }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func dropHeld() {
        pacing.budget?.adjust(by: -heldBytes, untrusted: true)
        held = []
        heldBytes = 0
        trust.chargeWork(to: nil)
        scheduler?.leave(self)
        scheduler = nil
        queued = false
        readHeld = false
    }
}

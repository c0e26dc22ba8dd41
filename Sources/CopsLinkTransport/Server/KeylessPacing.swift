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
    /// The connections waiting, by identity; the share's queue may still hold entries of connections that left.
    private var waiting: [ObjectIdentifier: KeylessPacer] = [:]
    /// What the keyless connections of each remote address on this loop have recently taken together, and how many
    /// there are; an address without one has no entry. A connection's place among waiters counts a sixteenth of what
    /// its address's other connections took: each new connection of a flood has taken nothing yet, so without it a
    /// flood's new connections queued ahead of another address's newcomer (a keyed client reconnecting behind a TLS
    /// ClientHello flood waited 1.2–1.8 s at the median, attacker round 4). Not their average: a flood's closed
    /// connections whose reads wait (thousands, in CLOSE-WAIT) count among them having taken nothing, and the average
    /// fell to nothing (attacker round 5). A sixteenth keeps a connection's own cost first within its address.
    private var addresses: [String: (cost: RecentCost, connections: Int)] = [:]
    private var wake: Scheduled<Void>?
    /// A wake queued with `execute` (the balance allowed the next connection at once).
    private var wakeQueued = false
    private let loop: any EventLoop

    init(share: Double, burst: TimeAmount, loop: any EventLoop) {
        self.share = KeylessShare(share: share, burst: burst, now: loop.now)
        self.loop = loop
    }

    /// Whether a connection may process bytes now: no connection waits and the balance allows; if not, it calls
    /// `wait`.
    func mayProcess() -> Bool { waiting.isEmpty && share.isReady(at: loop.now) }

    /// `pacer` waits with `bytes` bytes: `processWaiting` is called when its turn comes.
    func wait(_ pacer: KeylessPacer, bytes: Int) {
        let now = loop.now
        let own = pacer.spent.value(at: now)
        let others = pacer.address.map { othersCost(of: $0, own: own, at: now) } ?? 0
        share.wait(id: ObjectIdentifier(pacer), spent: own + others, bytes: bytes, at: now)
        waiting[ObjectIdentifier(pacer)] = pacer
        scheduleWake()
    }

    func charge(cost: Int64, bytes: Int, address: String?) {
        share.charge(cost: cost, bytes: bytes)
        if let address { addresses[address]?.cost.add(cost, at: loop.now) }
    }

    /// A keyless connection from `address` starts (`joined`) or stops being paced.
    func address(_ address: String, joined: Bool) {
        var entry = addresses[address] ?? (RecentCost(), 0)
        entry.connections += joined ? 1 : -1
        addresses[address] = entry.connections > 0 ? entry : nil
    }

    /// A sixteenth of what the other keyless connections of `address` have recently taken (`own` is the asking
    /// connection's part of the address's total); 0 for a connection alone.
    private func othersCost(of address: String, own: Int64, at now: NIODeadline) -> Int64 {
        guard let entry = addresses[address], entry.connections > 1 else { return 0 }
        return max(0, entry.cost.value(at: now) - own) / Self.addressWeight
    }

    /// What a waiting connection's place counts of its address's other connections' recent cost: that divided by this.
    static let addressWeight: Int64 = 16

    /// Addresses with keyless connections on this loop (for tests of its bound).
    var addressCount: Int { addresses.count }

    /// `pacer` no longer waits (its connection closed, or a caller authenticated on it).
    func leave(_ pacer: KeylessPacer) {
        waiting.removeValue(forKey: ObjectIdentifier(pacer))
        // The queue may hold entries of connections that left; with nobody waiting, none is needed.
        if waiting.isEmpty { share.clearWaiting() }
    }

    /// Processes the next waiting connection if the balance allows: one per wake, so that the tasks its bytes start
    /// (`EventLoopTaskExecutor`, queued before the next wake and charged as they run) run before the next one is
    /// chosen.
    private func processWaiting() {
        while let id = share.next(at: loop.now) {
            // A connection that left while queued is still in the queue: skipped.
            guard let pacer = waiting.removeValue(forKey: id) else { continue }
            pacer.processWaiting()
            break
        }
        if waiting.isEmpty { share.clearWaiting() }
        scheduleWake()
    }

    private func scheduleWake() {
        guard wake == nil, !wakeQueued, !waiting.isEmpty else { return }
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        let delay = share.timeUntilReady
        guard delay > .zero else {
            // Ready now: behind what is already queued (the tasks the last connection's bytes started), so they run
            // and are charged first.
            wakeQueued = true
            loop.execute {
                loopBound.value.wakeQueued = false
                loopBound.value.processWaiting()
            }
            return
        }
        // Not sooner than 100 µs: a task per microsecond of debt would cost more than it paces.
        wake = loop.scheduleTask(in: max(delay, .microseconds(100))) {
            loopBound.value.wake = nil
            loopBound.value.processWaiting()
        }
    }
}

/// The first handler of a keyless connection on a server that authenticates callers: it times the processing of
/// each read against its loop's keyless share (`KeylessPacing`) and, while the share is spent or other connections
/// wait, keeps the read's bytes (and the events after them) until the connection's turn, reading nothing more
/// meanwhile. Once a caller has authenticated on the connection it delivers what it holds and takes itself out of the
/// pipeline.
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
    /// The loop's scheduler, from `handlerAdded` to `handlerRemoved`: every cost is charged to it.
    private var scheduler: KeylessReadScheduler?
    private var context: ChannelHandlerContext?
    /// The time the connection's processing has taken recently (its call tasks' included): its place among waiters.
    private(set) var spent = RecentCost()
    /// The remote address (IP, without the port) whose keyless connections' cost this one shares in its scheduler.
    private(set) var address: String?
    private var held: [Held] = []
    /// The bytes held, for the cost estimate, and the storage they keep (what the inbound budget counts).
    private var heldBytes = 0
    private var heldStorage = 0
    /// The connection is in its scheduler's queue.
    private var queued = false
    /// A `read()` waits until the held bytes are processed.
    private var readHeld = false
    /// Held events are being delivered: a `read()` meanwhile waits for the end of the delivery.
    private var delivering = false
    /// A caller has authenticated: nothing is paced any more, and the handler leaves once nothing is held.
    private var leaving = false
    /// The channel has gone inactive: nothing more is delivered.
    private var closed = false
    /// `timed` blocks under way: only the outermost charges (a close inside a delivery is part of it).
    private var timing = 0
    /// Since when the connection's bytes wait for the share (nil: none wait), and how long they waited before that.
    private var waitingSince: NIODeadline?
    private var waitedBefore = TimeAmount.zero

    init(pacing: KeylessPacing, trust: ConnectionTrust) {
        self.pacing = pacing
        self.trust = trust
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let scheduler = pacing.scheduler(on: context.eventLoop)
        self.scheduler = scheduler
        if let ip = context.channel.remoteAddress?.ipAddress {
            address = ip
            scheduler.address(ip, joined: true)
        }
        trust.paceWork(with: NIOLoopBound(self, eventLoop: context.eventLoop))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        dropHeld()
        if let address { scheduler?.address(address, joined: false) }
        address = nil
        trust.paceWork(with: nil)
        scheduler = nil
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Bytes that waited for a connection that is gone are not processed: nothing could answer them. Tearing down
        // what the connection opened (an HTTP/2 connection's streams) is charged too; so are its call tasks that still
        // run (the work sink stays until the handler is removed).
        closed = true
        dropHeld()
        timed(bytes: 0) { context.fireChannelInactive() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard !closed else { return }
        guard held.isEmpty, let scheduler, leaving || trust.isTrusted || scheduler.mayProcess() else {
            // A few bytes in a 16-KiB read buffer are copied out, so that waiting holds what arrived, not the buffer.
            var kept = bytes
            if bytes.readableBytes * 4 < bytes.capacity {
                kept = context.channel.allocator.buffer(capacity: bytes.readableBytes)
                kept.writeImmutableBuffer(bytes)
            }
            return hold(.bytes(kept), bytes: kept.readableBytes, storage: kept.capacity)
        }
        // Charged at once, not at the end of the read loop: a read that closes the connection gets no
        // `channelReadComplete`.
        timed(bytes: bytes.readableBytes) { context.fireChannelRead(data) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !closed else { return }
        guard held.isEmpty else { return hold(.readComplete) }
        timed(bytes: 0) { context.fireChannelReadComplete() }
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

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // A connection that becomes writable again may decode what it had read and left: keyless work too.
        timed(bytes: 0) { context.fireChannelWritabilityChanged() }
    }

    func read(context: ChannelHandlerContext) {
        // Nothing more is read while bytes wait, or are being delivered: a waiting connection holds at most one read.
        guard held.isEmpty, !delivering else {
            readHeld = true
            return
        }
        if trust.isTrusted { return stopPacing(context, forwarding: true) }
        context.read()
    }

    /// How long the connection's bytes have waited for the keyless share in all, up to `now`: the server's delay, which
    /// the handshake timers do not count against the client (`HandshakeDeadline`).
    func timeWaited(at now: NIODeadline) -> TimeAmount {
        waitedBefore + (waitingSince.map { now - $0 } ?? .zero)
    }

    /// Nothing waits any more: the time since `waitingSince` is added to what was waited.
    private func stopWaitingClock() {
        guard let since = waitingSince, let context else { return }
        waitedBefore = waitedBefore + (context.eventLoop.now - since)
        waitingSince = nil
    }

    /// Work done for the connection outside its reads (its call tasks), charged as it ran.
    func charge(work cost: Int64) {
        if let context { spent.add(cost, at: context.eventLoop.now) }
        scheduler?.charge(cost: cost, bytes: 0, address: address)
    }

    /// A caller has authenticated on the connection (the trust's grant, on this loop): what is held is delivered now,
    /// without waiting for the keyless share, and the handler leaves.
    func trustGranted() {
        guard !leaving, !closed, let context else { return }
        leaving = true
        // A task of its own: no read or delivery is under way, so nothing is held unless the connection is queued.
        guard queued else { return stopPacing(context, replaying: readHeld) }
        queued = false
        scheduler?.leave(self)
        deliverHeld(context)
    }

    /// The scheduler's turn for this connection: its held bytes and events, in order, timed as one read.
    func processWaiting() {
        queued = false
        guard let context else { return }
        deliverHeld(context)
    }

    private func deliverHeld(_ context: ChannelHandlerContext) {
        delivering = true
        let bytes = heldBytes
        timed(bytes: bytes) {
            // One at a time from `held`: what is delivered may close the connection (`dropHeld` then empties it). One
            // read per turn (and the events after it): a client that half-closes has its socket read to the end
            // whether or not the pacer asks.
            var readEnded = false
            while let item = held.first {
                if case .bytes = item, readEnded, !leaving, !trust.isTrusted { break }
                held.removeFirst()
                switch item {
                case .bytes(let buffer):
                    pacing.budget?.adjust(by: -buffer.capacity, untrusted: true)
                    heldStorage -= buffer.capacity
                    heldBytes -= buffer.readableBytes
                    context.fireChannelRead(wrapInboundOut(buffer))
                case .readComplete:
                    context.fireChannelReadComplete()
                    readEnded = true
                case .event(let event): context.fireUserInboundEventTriggered(event)
                case .error(let error): context.fireErrorCaught(error)
                }
            }
        }
        delivering = false
        guard self.context != nil, !closed else { return }
        if !held.isEmpty {
            // The rest waits for another turn.
            queued = true
            scheduler?.wait(self, bytes: heldBytes)
            return
        }
        stopWaitingClock()
        if trust.isTrusted {
            stopPacing(context, replaying: readHeld)
        } else if readHeld {
            readHeld = false
            // From the tail, so that the handlers that may hold reads back decide again after what was delivered.
            context.channel.read()
        }
    }

    /// Runs `body` and charges what it took to the loop's share and to the connection.
    private func timed(bytes: Int, _ body: () -> Void) {
        guard timing == 0 else { return body() }
        timing += 1
        let scheduler = self.scheduler
        let start = pacing.clock()
        body()
        timing -= 1
        let cost = max(0, (pacing.clock() - start).nanoseconds)
        if let context { spent.add(cost, at: context.eventLoop.now) }
        // Through the scheduler taken before: what ran may have closed the connection.
        scheduler?.charge(cost: cost, bytes: bytes, address: address)
    }

    private func hold(_ item: Held, bytes: Int = 0, storage: Int = 0) {
        if held.isEmpty {
            pacing.metrics?.keylessReadHeld()
            if waitingSince == nil { waitingSince = context?.eventLoop.now }
        }
        held.append(item)
        heldBytes += bytes
        heldStorage += storage
        pacing.budget?.adjust(by: storage, untrusted: true)
        guard !queued, case .readComplete = item, let scheduler else { return }
        // Queued once the read is whole, with what it brought.
        queued = true
        scheduler.wait(self, bytes: heldBytes)
    }

    /// Nothing is held (or what was is delivered): the connection reads as others do from now on. `forwarding` passes
    /// on the `read()` under way; `replaying` issues a held one again from the tail once the pacer is gone, so that the
    /// handlers that may hold reads back decide on it after what was delivered.
    private func stopPacing(_ context: ChannelHandlerContext, forwarding: Bool = false, replaying: Bool = false) {
        trust.paceWork(with: nil)
        scheduler?.leave(self)
        queued = false
        readHeld = false
        if forwarding { context.read() }
        let channel = context.channel
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        if replaying { channel.read() }
    }

    private func dropHeld() {
        stopWaitingClock()
        pacing.budget?.adjust(by: -heldStorage, untrusted: true)
        held = []
        heldBytes = 0
        heldStorage = 0
        if queued { scheduler?.leave(self) }
        queued = false
        readHeld = false
    }
}

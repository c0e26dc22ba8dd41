import CopsLinkWire
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import CopsLinkTransport

/// The keyless share of an event loop (`KeylessShare`, `KeylessPacer`): connections on which no caller has
/// authenticated take at most a fraction of the loop's time together, and those held back are processed least-served
/// first.
@Suite("Keyless share")
struct KeylessShareTests {
    final class Connection {
        var id: ObjectIdentifier { ObjectIdentifier(self) }
    }

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func processingRunsUnpacedWithinTheBurstThenWaits() {
        var share = KeylessShare(share: 0.5, burst: .milliseconds(10), now: Self.start)
        // 10 ms saved up: passes of 4 ms run until the balance is spent.
        var passes = 0
        for _ in 0..<10 {
            guard share.isReady(at: Self.start) else { break }
            share.charge(cost: 4_000_000, bytes: 1_000)
            passes += 1
        }
        #expect(passes == 3)  // 10 → 6 → 2 → −2 ms
        #expect(share.balance == -2_000_000)
        // At half the wall clock, the debt of 2 ms is paid in 4 ms.
        #expect(share.timeUntilReady == .nanoseconds(4_000_002))
        let connection = Connection()
        share.wait(id: connection.id, spent: 12_000_000, bytes: 1_000, at: Self.start)
        let early = share.next(at: Self.start + .milliseconds(3))
        #expect(early == nil)
        let paid = share.next(at: Self.start + .milliseconds(5))
        #expect(paid == connection.id)
        #expect(share.waiterCount == 0)
    }

    @Test func aDebtIsPaidBeforeTheBalanceFillsAgain() {
        var share = KeylessShare(share: 0.25, burst: .milliseconds(100), now: Self.start)
        // One pass that took a whole second: 900 ms of debt, paid at a quarter of the wall clock.
        share.charge(cost: 1_000_000_000, bytes: 16_384)
        let afterThree = share.isReady(at: Self.start + .seconds(3))
        #expect(!afterThree)
        #expect(share.balance == -150_000_000)
        let justBefore = share.isReady(at: Self.start + .milliseconds(3_599))
        #expect(!justBefore)
        let justAfter = share.isReady(at: Self.start + .milliseconds(3_601))
        #expect(justAfter)
        // Idle for an hour: the balance stops at the burst.
        let anHourLater = share.isReady(at: Self.start + .seconds(3_600))
        #expect(anHourLater)
        #expect(share.balance == 100_000_000)
    }

    @Test func waitersGoLeastServedFirstCountingTheBytesTheyWaitWith() {
        var share = KeylessShare(share: 1, burst: .milliseconds(10), now: Self.start)
        // Passes teach the cost of a byte: 1 µs.
        for _ in 0..<60 { share.charge(cost: 16_384_000, bytes: 16_384) }
        #expect(abs(share.nanosecondsPerByte - 1_000) < 1)
        let flood = Connection()
        let handshake = Connection()
        let flooded = Connection()
        let idle = (Connection(), Connection())
        share.wait(id: flood.id, spent: 0, bytes: 16_384, at: Self.start)  // 16.4 ms expected
        share.wait(id: handshake.id, spent: 0, bytes: 200, at: Self.start)  // 0.2 ms
        share.wait(id: flooded.id, spent: 90_000_000, bytes: 100, at: Self.start)  // 90.1 ms
        share.wait(id: idle.0.id, spent: 100_000, bytes: 0, at: Self.start)  // 0.1 ms, then in arrival order
        share.wait(id: idle.1.id, spent: 100_000, bytes: 0, at: Self.start)
        #expect(share.waiterCount == 5)
        var order: [ObjectIdentifier] = []
        while let next = share.next(at: Self.start + .seconds(100)) { order.append(next) }
        #expect(order == [idle.0.id, idle.1.id, handshake.id, flood.id, flooded.id])
    }

    @Test func whatAConnectionTookLongAgoStopsCountingAgainstIt() {
        var probe = RecentCost()
        // A monitoring probe's connection: a second of work over its first minute, then a check now and then.
        for second in 0..<60 { probe.add(16_000_000, at: Self.start + .seconds(Int64(second))) }
        let busy = probe.value(at: Self.start + .seconds(60))
        #expect(busy > 100_000_000)
        // An hour later it waits behind nothing a new connection would not: far below a 16-KiB read's expected 16 ms.
        let later = Self.start + .seconds(3_660)
        #expect(probe.value(at: later) < 1_000)
        var share = KeylessShare(share: 1, burst: .milliseconds(10), now: Self.start)
        for _ in 0..<60 { share.charge(cost: 16_384_000, bytes: 16_384) }  // 1 µs a byte
        let flood = Connection()
        let kept = Connection()
        share.wait(id: flood.id, spent: 0, bytes: 16_384, at: later)
        share.wait(id: kept.id, spent: probe.value(at: later), bytes: 100, at: later)
        let first = share.next(at: later + .seconds(100))
        #expect(first == kept.id)
        // Halved every 5 s.
        var cost = RecentCost()
        cost.add(1_000_000, at: Self.start)
        #expect(abs(cost.value(at: Self.start + .seconds(5)) - 500_000) <= 1)
    }

    @Test func noWaiterWaitsForEverBehindCheaperNewcomers() {
        var share = KeylessShare(share: 1, burst: .milliseconds(10), now: Self.start)
        for _ in 0..<60 { share.charge(cost: 16_384_000, bytes: 16_384) }  // 1 µs a byte, and a second of debt
        let start = Self.start + .seconds(10)
        let heavy = Connection()
        // 100 ms taken recently and 16.4 ms expected: due 4,096 × 116.4 ms = 476.7 s after it was queued.
        share.wait(id: heavy.id, spent: 100_000_000, bytes: 16_384, at: start)
        // Cheap newcomers (0.1 ms expected: due 0.41 s after they come), one a second, each served as it comes, go
        // first until they come later than the heavy one's deadline: the 477th.
        var newcomers: [Connection] = []
        var served = 0
        var now = start
        while served < 10_000 {
            now = now + .seconds(1)
            let newcomer = Connection()
            newcomers.append(newcomer)
            share.wait(id: newcomer.id, spent: 0, bytes: 100, at: now)
            served += 1
            if share.next(at: now) == heavy.id { break }
        }
        #expect(served == 477)
    }

    // MARK: The handler on a loop

    /// Counts the `read()`s that got past the pacer.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// Stands for the protocol handlers: each read costs `cost` of the pacer's clock; it records what it was given,
    /// and with `closes` closes its channel on each read.
    final class Work: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let clock: ProcessingClock
        let cost: TimeAmount
        let log: Log
        let name: String
        let closes: Bool
        init(_ clock: ProcessingClock, cost: TimeAmount, log: Log, name: String, closes: Bool) {
            self.clock = clock
            self.cost = cost
            self.log = log
            self.name = name
            self.closes = closes
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            clock.advance(by: cost)
            log.entries.append("\(name): \(String(buffer: unwrapInboundIn(data)))")
            if closes { context.close(promise: nil) }
        }
        func channelReadComplete(context: ChannelHandlerContext) { log.entries.append("\(name): complete") }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) { log.entries.append("\(name): event") }
    }

    final class Log {
        var entries: [String] = []
    }

    final class ProcessingClock: Sendable {
        private let now = Mutex(KeylessShareTests.start)
        func read() -> NIODeadline { now.withLock { $0 } }
        func advance(by amount: TimeAmount) { now.withLock { $0 = $0 + amount } }
    }

    struct Connected {
        let channel: EmbeddedChannel
        let counter: ReadCounter
        let trust: ConnectionTrust

        /// One read: bytes, then the end of the read loop (`writeInbound` fires both).
        func receive(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }
    }

    /// One event loop with its keyless pacing, the pacer's processing clock, the log of what the protocol handlers
    /// were given, and the inbound budget held bytes count in.
    struct PacedLoop {
        let loop = EmbeddedEventLoop()
        let clock: ProcessingClock
        let log = Log()
        let budget = InboundMemoryBudget(limit: 1 << 20)
        let pacing: KeylessPacing

        init(burst: TimeAmount) {
            let clock = ProcessingClock()
            self.clock = clock
            pacing = KeylessPacing(share: 0.5, burst: burst, budget: budget, clock: { clock.read() })
        }

        /// A keyless connection whose reads cost `cost` each (and, with `closes`, close it), from `address` if given.
        func connect(cost: TimeAmount, name: String, closes: Bool = false, address: String? = nil) throws -> Connected {
            let channel = EmbeddedChannel(loop: loop)
            if let address { channel.remoteAddress = try SocketAddress(ipAddress: address, port: 40_000) }
            let counter = ReadCounter()
            let trust = ConnectionTrust(trusted: false)
            try channel.pipeline.syncOperations.addHandler(counter)
            try channel.pipeline.syncOperations.addHandler(KeylessPacer(pacing: pacing, trust: trust))
            try channel.pipeline.syncOperations.addHandler(Work(clock, cost: cost, log: log, name: name, closes: closes))
            return Connected(channel: channel, counter: counter, trust: trust)
        }
    }

    @Test func pastTheShareAReadWaitsWithItsBytesAndNothingMoreIsRead() throws {
        let paced = PacedLoop(burst: .microseconds(2_500))
        let flood = try paced.connect(cost: .milliseconds(1), name: "flood")
        for index in 1...3 { try flood.receive("\(index)") }  // 2.5 ms saved, three passes of 1 ms
        #expect(paced.log.entries == ["flood: 1", "flood: complete", "flood: 2", "flood: complete", "flood: 3", "flood: complete"])
        paced.log.entries = []
        try flood.receive("4")
        flood.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(paced.log.entries.isEmpty, "the balance is spent: the bytes wait")
        #expect(paced.budget.untrustedBytes == 1)
        flood.channel.read()
        #expect(flood.counter.reads == 0, "and nothing more is read")
        // A debt of 0.5 ms: paid in 1 ms at half the loop's time.
        paced.loop.advanceTime(by: .microseconds(999))
        #expect(paced.log.entries.isEmpty)
        paced.loop.advanceTime(by: .microseconds(2))
        #expect(paced.log.entries == ["flood: 4", "flood: complete", "flood: event"])
        #expect(flood.counter.reads == 1)
        #expect(paced.budget.untrustedBytes == 0)
        _ = try flood.channel.finish()
    }

    @Test func aNewConnectionsHandshakeGoesBeforeAFloodingConnectionsNextRead() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let flood = try paced.connect(cost: .milliseconds(2), name: "flood")
        try flood.receive(String(repeating: "f", count: 100))
        try flood.receive(String(repeating: "g", count: 100))
        // A second flooding connection comes before the newcomer; nothing spent either, but 100 bytes to the newcomer's 2.
        let fresh = try paced.connect(cost: .milliseconds(2), name: "fresh")
        try fresh.receive(String(repeating: "h", count: 100))
        let newcomer = try paced.connect(cost: .microseconds(10), name: "new")
        try newcomer.receive("hi")
        #expect(paced.log.entries.count == 2, "only the first read ran")
        // Once the debt is paid the newcomer (2 bytes, nothing spent) goes first.
        paced.loop.advanceTime(by: .milliseconds(3))
        #expect(paced.log.entries.dropFirst(2).first == "new: hi")
        paced.loop.advanceTime(by: .seconds(1))
        #expect(
            paced.log.entries.suffix(4) == [
                "fresh: \(String(repeating: "h", count: 100))", "fresh: complete", "flood: \(String(repeating: "g", count: 100))",
                "flood: complete"
            ])
        _ = try flood.channel.finish()
        _ = try fresh.channel.finish()
        _ = try newcomer.channel.finish()
    }

    @Test func aConnectionLeavesThePacingOnceACallerAuthenticates() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let connection = try paced.connect(cost: .milliseconds(5), name: "c")
        try connection.receive("a")
        try connection.receive("b")
        #expect(paced.log.entries == ["c: a", "c: complete"])
        connection.channel.read()
        #expect(connection.counter.reads == 0, "the read waits with the bytes")
        // Granted: what it holds is delivered at once (a task on its loop), not at its turn in the keyless queue, and
        // the read that waited is issued again from the tail once the pacer is gone.
        connection.trust.grant()
        paced.loop.run()
        #expect(paced.log.entries.suffix(2) == ["c: b", "c: complete"])
        #expect(throws: (any Error).self) { try connection.channel.pipeline.syncOperations.handler(type: KeylessPacer.self) }
        #expect(connection.counter.reads == 1)
        // Trusted: read as it comes, whatever the loop's keyless balance.
        try connection.receive("c")
        #expect(paced.log.entries.suffix(2) == ["c: c", "c: complete"])
        for _ in 0..<5 { connection.channel.read() }
        #expect(connection.counter.reads == 6)
        _ = try connection.channel.finish()
    }

    @Test func aClosedConnectionsBytesAreDroppedAndOthersGoOn() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let flood = try paced.connect(cost: .milliseconds(2), name: "flood")
        try flood.receive("1")
        let closing = try paced.connect(cost: .zero, name: "closing")
        try closing.receive("x")
        try flood.receive("2")
        #expect(paced.budget.untrustedBytes == 2)
        // Closed, not finished: `finish()` would cancel every task of the shared loop, the scheduler's wake included.
        try closing.channel.close().wait()
        #expect(paced.budget.untrustedBytes == 1)
        paced.loop.advanceTime(by: .milliseconds(5))
        #expect(paced.log.entries == ["flood: 1", "flood: complete", "flood: 2", "flood: complete"])
        #expect(paced.budget.untrustedBytes == 0)
        _ = try flood.channel.finish()
    }

    @Test func aReadThatClosesItsConnectionIsCharged() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        // 5 ms of work, then the connection closes itself: no `channelReadComplete` follows.
        let closer = try paced.connect(cost: .milliseconds(5), name: "closer", closes: true)
        try closer.receive("x")
        #expect(!closer.channel.isActive)
        let next = try paced.connect(cost: .zero, name: "next")
        try next.receive("y")
        #expect(paced.log.entries == ["closer: x"], "the 4 ms of debt make the next keyless read wait")
        paced.loop.advanceTime(by: .milliseconds(9))
        #expect(paced.log.entries.suffix(2) == ["next: y", "next: complete"])
        _ = try next.channel.finish()
    }

    @Test func theConnectionsCallTasksAreCharged() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let tasks = try paced.connect(cost: .zero, name: "tasks")
        // A batch of its call tasks that took 50 ms (`EventLoopTaskExecutor` records it on the loop).
        tasks.trust.recordWork(since: .now() - .milliseconds(50))
        let next = try paced.connect(cost: .zero, name: "next")
        try next.receive("y")
        #expect(paced.log.entries.isEmpty, "the tasks' 50 ms make the next keyless read wait")
        paced.loop.advanceTime(by: .milliseconds(200))
        #expect(paced.log.entries == ["next: y", "next: complete"])
        _ = try tasks.channel.finish()
        _ = try next.channel.finish()
    }

    @Test func nothingHeldIsDeliveredAfterTheConnectionClosesInItsTurn() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let flood = try paced.connect(cost: .milliseconds(2), name: "flood")
        try flood.receive("1")
        let closer = try paced.connect(cost: .zero, name: "closer", closes: true)
        try closer.receive("x")
        closer.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        try closer.receive("z")
        #expect(paced.budget.untrustedBytes > 0)
        paced.loop.advanceTime(by: .milliseconds(10))
        // Its bytes close it: the read's end, the end of input and the bytes after them are not delivered.
        #expect(paced.log.entries == ["flood: 1", "flood: complete", "closer: x"])
        #expect(paced.budget.untrustedBytes == 0)
        _ = try flood.channel.finish()
    }

    /// A client that half-closes has its socket read to the end, whether or not the pacer asks for more: what it held
    /// is still processed one read per turn.
    @Test func heldReadsAreProcessedOnePerTurn() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let connection = try paced.connect(cost: .milliseconds(2), name: "c")
        try connection.receive("a")  // spends the balance
        try connection.receive("b")
        try connection.receive("c")
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(paced.log.entries == ["c: a", "c: complete"])
        paced.loop.advanceTime(by: .milliseconds(3))
        #expect(paced.log.entries.dropFirst(2) == ["c: b", "c: complete"])
        paced.loop.advanceTime(by: .milliseconds(5))
        #expect(paced.log.entries.dropFirst(4) == ["c: c", "c: complete", "c: event"])
        _ = try connection.channel.finish()
    }

    /// A newcomer waits behind its own address's other connections by what they have recently taken: a flood's new
    /// connections have each taken nothing, yet one from another address goes first. Queued later, on the same
    /// clock, it went after the flood's newcomer before (the tie falls to arrival).
    @Test func aNewcomerFromAnotherAddressGoesBeforeAFloodingAddresssNewcomer() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let flood = try paced.connect(cost: .milliseconds(2), name: "flood", address: "10.0.0.1")
        try flood.receive("x")  // taken at once: the balance is spent
        let floodNew = try paced.connect(cost: .microseconds(10), name: "flood-new", address: "10.0.0.1")
        let other = try paced.connect(cost: .microseconds(10), name: "other", address: "10.0.0.2")
        try floodNew.receive("hi")
        try other.receive("hi")
        #expect(paced.log.entries == ["flood: x", "flood: complete"])
        paced.loop.advanceTime(by: .seconds(1))
        let order = paced.log.entries.filter { $0.hasSuffix(": hi") }
        #expect(order == ["other: hi", "flood-new: hi"])
        let scheduler = paced.pacing.scheduler(on: paced.loop)
        #expect(scheduler.addressCount == 2)
        for connection in [flood, floodNew, other] { _ = try connection.channel.finish() }
        #expect(scheduler.addressCount == 0, "an address leaves with its last keyless connection")
    }

    /// A flood's connections that took nothing (closed ones whose reads wait: thousands in CLOSE-WAIT under a TLS
    /// ClientHello flood, attacker round 5) do not dilute what its address counts against its newcomers: a newcomer
    /// from another address whose handshake has begun (1 ms taken) still goes before the flood's next newcomer.
    @Test func aFloodsIdleConnectionsDoNotDiluteItsAddresssCost() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let flood = try paced.connect(cost: .milliseconds(64), name: "flood", address: "10.0.0.1")
        let idle = try (0..<200).map { try paced.connect(cost: .zero, name: "idle \($0)", address: "10.0.0.1") }
        let victim = try paced.connect(cost: .milliseconds(1), name: "victim", address: "10.0.0.2")
        try flood.receive("x")
        try victim.receive("a")
        paced.loop.advanceTime(by: .seconds(1))
        #expect(paced.log.entries.contains("victim: a"), "its first read, 1 ms")
        try flood.receive("y")  // the balance is spent again: what comes next waits
        let floodNew = try paced.connect(cost: .milliseconds(1), name: "flood-new", address: "10.0.0.1")
        try floodNew.receive("hi")
        try victim.receive("hi")
        paced.loop.advanceTime(by: .seconds(1))
        #expect(paced.log.entries.filter { $0.hasSuffix(": hi") } == ["victim: hi", "flood-new: hi"])
        for connection in [flood, victim, floodNew] + idle { _ = try connection.channel.finish() }
    }

    /// The handshake timeout moves by the time the pacer held the connection's bytes, up to one more timeout in all.
    @Test func theHandshakeDeadlineMovesByTheTimeTheServerHeldTheBytes() {
        var deadline = HandshakeDeadline(timeout: .seconds(10))
        #expect(deadline.postponement(waited: .zero) == nil, "nothing waited: timed out")
        #expect(deadline.postponement(waited: .seconds(4)) == .seconds(4))
        #expect(deadline.postponement(waited: .seconds(4)) == nil, "already credited")
        #expect(deadline.postponement(waited: .seconds(7)) == .seconds(3))
        #expect(deadline.postponement(waited: .seconds(30)) == .seconds(3), "at most one more timeout in all")
        #expect(deadline.postponement(waited: .seconds(40)) == nil)
    }

    /// A new connection whose preface arrived in time but waited for the keyless share behind a flood is served once
    /// its turn comes, not told `no preface within 10s` (attacker round 4: a TLS ClientHello flood); one that sent
    /// nothing is still closed at the timeout.
    @Test func aPrefaceHeldBackByThePacerIsNotTimedOut() throws {
        let paced = PacedLoop(burst: .milliseconds(1))
        let flood = try paced.connect(cost: .seconds(8), name: "flood")
        try flood.receive("x")  // 8 s of processing: the next keyless bytes wait about 16 s
        final class Installed { var protocols: [ServerProtocol] = [] }
        let installed = Installed()
        func detecting() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel(loop: paced.loop)
            try channel.pipeline.syncOperations.addHandler(KeylessPacer(pacing: paced.pacing, trust: ConnectionTrust(trusted: false)))
            try channel.pipeline.syncOperations.addHandler(
                ProtocolDetector(enabled: Set(ServerProtocol.allCases), handshakeTimeout: .seconds(10)) { chosen, _, _ in
                    installed.protocols.append(chosen)
                })
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            return channel
        }
        let held = try detecting()
        let silent = try detecting()
        var preface = ByteBuffer()
        Preface.write(to: &preface)
        try held.writeInbound(preface)
        paced.loop.advanceTime(by: .seconds(10))
        #expect(
            String(buffer: try silent.readOutbound(as: ByteBuffer.self) ?? ByteBuffer()) == "copslink: no preface within 10s; closing\n")
        #expect(try held.readOutbound(as: ByteBuffer.self) == nil, "its bytes are in the server's hands")
        #expect(installed.protocols.isEmpty)
        paced.loop.advanceTime(by: .seconds(9))
        #expect(installed.protocols == [.native], "served once its turn came")
        #expect(try held.readOutbound(as: ByteBuffer.self) == nil)
        _ = try? held.finish()
        _ = try? silent.finish()
        _ = try? flood.channel.finish()
    }
}

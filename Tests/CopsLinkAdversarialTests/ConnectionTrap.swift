import CopsLinkCore
import NIOCore
import NIOPosix

/// A listener on every address that counts the connections it accepts and closes them: it tells whether a client
/// connected at all.
final class ConnectionTrap: Sendable {
    private let channel: any Channel
    private let counter: LockedBox<Int>

    private final class Counter: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let counter: LockedBox<Int>
        init(_ counter: LockedBox<Int>) { self.counter = counter }
        func channelActive(context: ChannelHandlerContext) {
            counter.withLock { $0 += 1 }
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel, counter: LockedBox<Int>) {
        self.channel = channel
        self.counter = counter
    }

    static func start() async throws -> ConnectionTrap {
        let counter = LockedBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Counter(counter)) }
            }
            .bind(host: "0.0.0.0", port: 0).get()
        return ConnectionTrap(channel: channel, counter: counter)
    }

    var port: Int { channel.localAddress?.port ?? 0 }
    var connections: Int { counter.value }

    func close() async { try? await channel.close() }

    /// An IPv4 address of this machine outside 127.0.0.0/8, if it has one.
    static func nonLoopbackAddress() -> String? {
        let devices = (try? System.enumerateDevices()) ?? []
        return devices.compactMap { device -> String? in
            guard case .v4? = device.address, let ip = device.address?.ipAddress, !ip.hasPrefix("127.") else { return nil }
            return ip
        }.first
    }
}

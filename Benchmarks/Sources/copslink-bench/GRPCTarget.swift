import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// grpc-swift-2 over HTTP/2 (grpc-swift-nio-transport, plaintext): a hand-registered unary method whose messages are
/// raw bytes (no protobuf code generation), 200-byte requests and 600-byte responses.
enum GRPCTarget {
    static let method = MethodDescriptor(fullyQualifiedService: "copslink.bench.Echo", method: "Unary")
    static let requestSize = 200
    static let responseSize = 600

    struct BytesSerializer: MessageSerializer {
        func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    }

    struct BytesDeserializer: MessageDeserializer {
        func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
            serializedMessageBytes.withUnsafeBytes { Array($0) }
        }
    }

    struct EchoService: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(forMethod: GRPCTarget.method, deserializer: BytesDeserializer(), serializer: BytesSerializer()) {
                request, context in
                let single = try await ServerRequest(stream: request)
                guard single.message.count == GRPCTarget.requestSize else {
                    throw RPCError(code: .invalidArgument, message: "expected \(GRPCTarget.requestSize) bytes")
                }
                let payload = [UInt8](unsafeUninitializedCapacity: GRPCTarget.responseSize) { buffer, count in
                    for index in 0..<GRPCTarget.responseSize { buffer[index] = UInt8(truncatingIfNeeded: index) }
                    count = GRPCTarget.responseSize
                }
                return StreamingServerResponse(single: ServerResponse(message: payload))
            }
        }
    }

    static func serve(port: Int) async throws {
        let server = GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext),
            services: [EchoService()])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            guard let address = try await server.listeningAddress, let ipv4 = address.ipv4 else {
                throw RPCError(code: .internalError, message: "the gRPC server has no IPv4 address")
            }
            announce("grpc", port: ipv4.port)
            try await group.next()
        }
    }

    /// What a drive calls: grpc-swift-2's echo above, or CopsLink's conformance `UnaryCall` over CopsLink's gRPC
    /// endpoint (its 200-byte `SimpleRequest` asking for a 600-byte payload), with the same client.
    struct Call: Sendable {
        let target: String
        let method: MethodDescriptor
        let request: [UInt8]
        let responseSize: Int

        static let grpcSwift = Call(
            target: "grpc", method: GRPCTarget.method, request: [UInt8](repeating: 0x61, count: GRPCTarget.requestSize),
            responseSize: GRPCTarget.responseSize)
        static let copsLink = Call(
            target: "copslink-grpc", method: MethodDescriptor(fullyQualifiedService: "copslink.rpc.v1.TestService", method: "UnaryCall"),
            request: CopsLinkTarget.unaryRequestBytes, responseSize: CopsLinkTarget.unaryResponseBytes)
    }

    static func drive(
        _ what: Call = .grpcSwift, port: Int, outstanding: Int, connections: Int, duration: Double, warmup: Double, serverPID: Int32?
    ) async throws {
        let clients = try (0..<connections).map { _ in
            GRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext))
        }
        let request = ClientRequest(message: what.request)
        let method = what.method
        let responseSize = what.responseSize
        try await withThrowingTaskGroup(of: Void.self) { connectionTasks in
            for client in clients { connectionTasks.addTask { try await client.runConnections() } }
            @Sendable func call(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
                let response = try await client.unary(
                    request: request, descriptor: method, serializer: BytesSerializer(), deserializer: BytesDeserializer(),
                    options: .defaults
                ) { response in try response.message }
                if response.count != responseSize { throw RPCError(code: .internalError, message: "short response") }
            }
            for client in clients { try await call(client) }

            let window = Window(warmup: warmup, duration: duration)
            let sampler = ServerCPUSampler(pid: serverPID)
            var latencies: [UInt64] = []
            var errors = 0
            try await withThrowingTaskGroup(of: ([UInt64], Int).self) { group in
                for worker in 0..<outstanding {
                    let client = clients[worker % connections]
                    group.addTask {
                        var recorded: [UInt64] = []
                        recorded.reserveCapacity(1 << 14)
                        var failed = 0
                        while true {
                            let start = nowNanos()
                            if start >= window.end { break }
                            do {
                                try await call(client)
                            } catch {
                                failed += 1
                                if failed == 1 { print("\(what.target) call failed: \(error)") }
                            }
                            let finish = nowNanos()
                            if window.records(start: start, finish: finish) { recorded.append(finish - start) }
                        }
                        return (recorded, failed)
                    }
                }
                await sampler.sample(window)
                for try await (recorded, failed) in group {
                    latencies.append(contentsOf: recorded)
                    errors += failed
                }
            }
            report(
                benchmark: "unary", target: what.target, outstanding: outstanding, connections: connections, window: window,
                latencies: latencies, errors: errors, sampler: sampler)
            for client in clients { client.beginGracefulShutdown() }
            try await connectionTasks.waitForAll()
        }
    }
}

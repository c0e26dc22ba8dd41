import CopsLinkCore

/// `grpc.health.v1.Health`, the service standard probes call (Kubernetes gRPC probes, grpc-health-probe), served by
/// the built-in `copslink.rpc.v1.Health`: its messages have the same fields and numbers, so the bytes are the same
/// and only the path differs. Watch runs the built-in Check once a second and sends each change of status.
enum GRPCHealth {
    static let checkPath = "/grpc.health.v1.Health/Check"
    static let watchPath = "/grpc.health.v1.Health/Watch"
    static let nativeCheckPath = "/copslink.rpc.v1.Health/Check"

    /// The route for a gRPC `:path`: the health paths map onto the built-in Check (Watch as a server stream around it).
    static func route(for path: String, in router: RPCRouter) -> RPCRouter.Route? {
        switch path {
        case checkPath: return router.route(forPath: nativeCheckPath)
        case watchPath:
            guard var route = router.route(forPath: nativeCheckPath) else { return nil }
            route.kind = .serverStreaming
            route.handler = watch(check: route.handler)
            return route
        default: return router.route(forPath: path)
        }
    }

    /// Sends the current status, then every change, until the client cancels (or the deadline or the connection's
    /// close ends the call).
    static func watch(check: @escaping RPCRouter.Handler) -> RPCRouter.Handler {
        { stream, context in
            guard let request = try await stream.nextRequest() else {
                throw RPCError(code: .invalidArgument, message: "the call expects one request message and got none")
            }
            let bytes = request.withUnsafeBytes { Array($0) }
            guard try await stream.nextRequest() == nil else {
                throw RPCError(code: .invalidArgument, message: "the call expects one request message and got more")
            }
            var last: [UInt8]?
            while true {
                let outcome = try await check(OneRequest(bytes), context)
                guard case .success(let message?, _) = outcome else { return outcome }
                let current = message.serializedBytes()
                if current != last {
                    try await stream.write(message)
                    last = current
                }
                do {
                    try await Task.sleep(for: .seconds(1))
                } catch {
                    throw RPCError(code: .cancelled, message: "the watch was cancelled")
                }
            }
        }
    }

    /// The watched request, given to Check again at each poll.
    private struct OneRequest: ServerCallStream {
        let bytes: [UInt8]
        let taken = LockedBox(false)

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        func nextRequest() async throws(RPCError) -> (any MessageBytes)? {
            taken.withLock { taken in
                defer { taken = true }
                return taken ? nil : bytes
            }
        }

        func write(_ message: some RPCMessage) async throws(RPCError) {}
        func finish(_ outcome: CallOutcome) {}
    }
}

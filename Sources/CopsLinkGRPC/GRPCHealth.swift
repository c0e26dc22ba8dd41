/// `grpc.health.v1.Health`, the service standard probes call (Kubernetes gRPC probes, grpc-health-probe), served by
/// the built-in `copslink.rpc.v1.Health`: its messages have the same fields and numbers, so the bytes are the same
/// and only the path differs.
enum GRPCHealth {
    static let checkPath = "/grpc.health.v1.Health/Check"
    static let nativeCheckPath = "/copslink.rpc.v1.Health/Check"

    /// The router's path for a gRPC `:path`.
    static func nativePath(for path: String) -> String {
        path == checkPath ? nativeCheckPath : path
    }
}

import CopsLinkCore

/// Method kinds as the proto enum names them (`copslink.rpc.v1.MethodInfo.Kind`), for `describe`'s table.
enum MethodKindName {
    static func of(_ kind: MethodKind) -> String {
        switch kind {
        case .unary: "UNARY"
        case .serverStreaming: "SERVER_STREAMING"
        case .clientStreaming: "CLIENT_STREAMING"
        case .bidirectionalStreaming: "BIDI_STREAMING"
        }
    }
}

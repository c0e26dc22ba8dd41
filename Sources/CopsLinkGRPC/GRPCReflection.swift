import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices

/// gRPC server reflection, `grpc.reflection.v1` and `v1alpha` (the same messages), answered from `ReflectionCatalog`:
/// `list_services` names the services the server has registered (those of proto/) and gRPC's standard ones;
/// `file_by_filename` and `file_containing_symbol` send the file with every file it imports; the project defines
/// no extensions, so extension queries find none. Each request gets one response, in order, until the client ends
/// the stream, at most `maxRequestsPerCall`. Open without a key, like health (`AccessPolicy.copsLink`): proto/ is
/// public. A file's answer (it and its imports, 37 KB for the account service) is encoded once per process
/// (`fileResponses`): built per request, 300 requests of 33 bytes in one keyless DATA frame took seconds of CPU.
enum GRPCReflection {
    /// Requests one call may send; past it the call ends RESOURCE_EXHAUSTED. Reflection clients send a few per call.
    static let maxRequestsPerCall = 100

    /// The encoded `FileDescriptorResponse` of each file: its descriptor and those of every file it imports.
    static let fileResponses: [String: [UInt8]] = Dictionary(
        uniqueKeysWithValues: ReflectionCatalog.files.map { file in
            var body = ProtoWire()
            body.repeatedBytes(1, ReflectionCatalog.withDependencies(file).map(\.descriptor))
            return (file.name, body.bytes)
        })

    /// The route for a reflection path, nil for any other.
    static func route(for path: String, in router: RPCRouter) -> RPCRouter.Route? {
        guard ReflectionCatalog.methodPaths.contains(path), let descriptor = MethodDescriptor(path: path) else { return nil }
        let services =
            (router.services.filter { service in ReflectionCatalog.file(containingSymbol: service) != nil }
            + ReflectionCatalog.otherServices).sorted()
        var route = RPCRouter.Route(
            descriptor: descriptor, kind: .bidirectionalStreaming, requestType: "grpc.reflection.v1.ServerReflectionRequest",
            responseType: "grpc.reflection.v1.ServerReflectionResponse"
        ) { stream, _ in
            var answered = 0
            while let request = try await stream.nextRequest() {
                guard answered < maxRequestsPerCall else {
                    throw RPCError(
                        code: .resourceExhausted,
                        message: "at most \(maxRequestsPerCall) reflection requests per call; open another call for more")
                }
                answered += 1
                let bytes = request.withUnsafeBytes { Array($0) }
                let parsed = try ReflectionRequest(parsing: bytes)
                try await stream.write(ReflectionResponse(bytes: answer(parsed, original: bytes, services: services)))
            }
            return .success(finalMessage: nil, trailers: Metadata())
        }
        route.maxRequestMessageSize = router.requestMessageLimit(forPath: path)
        return route
    }

    /// The encoded ServerReflectionResponse to one request.
    static func answer(_ request: ReflectionRequest, original: [UInt8], services: [String]) -> [UInt8] {
        var out = ProtoWire()
        out.string(1, request.host)
        out.bytes(2, original)
        switch request.query {
        case .fileByFilename(let name):
            guard let file = ReflectionCatalog.file(named: name) else { return error(&out, "no file named '\(ClientText.excerpt(name))'") }
            out.bytes(4, fileResponses[file.name] ?? [])
        case .fileContainingSymbol(let symbol):
            guard let file = ReflectionCatalog.file(containingSymbol: symbol) else {
                return error(&out, "no symbol named '\(ClientText.excerpt(symbol))'")
            }
            out.bytes(4, fileResponses[file.name] ?? [])
        case .fileContainingExtension(let type, let number):
            return error(&out, "no extension \(number) of '\(ClientText.excerpt(type))': the services define no extensions")
        case .allExtensionNumbersOfType(let type):
            guard ReflectionCatalog.file(containingSymbol: type) != nil else {
                return error(&out, "no message named '\(ClientText.excerpt(type))'")
            }
            out.message(5) { $0.string(1, type) }
        case .listServices:
            out.message(6) { list in
                for service in services { list.message(1) { $0.string(1, service) } }
            }
        case .none:
            return error(&out, "the request names no query", code: .invalidArgument)
        }
        return out.bytes
    }

    /// `error_response`: NOT_FOUND unless said otherwise.
    private static func error(_ out: inout ProtoWire, _ message: String, code: StatusCode = .notFound) -> [UInt8] {
        out.message(7) {
            $0.varint(1, UInt64(code.rawValue))
            $0.string(2, message)
        }
        return out.bytes
    }
}

/// A ServerReflectionRequest: `host = 1` and one query (`message_request` oneof).
struct ReflectionRequest: Equatable {
    enum Query: Equatable {
        case fileByFilename(String)
        case fileContainingSymbol(String)
        case fileContainingExtension(type: String, number: Int32)
        case allExtensionNumbersOfType(String)
        case listServices
    }

    var host = ""
    var query: Query?

    init(parsing bytes: [UInt8]) throws(RPCError) {
        var reader = ProtoWireReader(bytes[...])
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (1, .bytes(let value)): host = String(decoding: value, as: UTF8.self)
            case (3, .bytes(let value)): query = .fileByFilename(String(decoding: value, as: UTF8.self))
            case (4, .bytes(let value)): query = .fileContainingSymbol(String(decoding: value, as: UTF8.self))
            case (5, .bytes(let value)):
                var type = "", number: Int32 = 0
                var inner = ProtoWireReader(value)
                while let part = try inner.next() {
                    switch (part.number, part.value) {
                    case (1, .bytes(let name)): type = String(decoding: name, as: UTF8.self)
                    case (2, .varint(let value)): number = Int32(truncatingIfNeeded: value)
                    default: break
                    }
                }
                query = .fileContainingExtension(type: type, number: number)
            case (6, .bytes(let value)): query = .allExtensionNumbersOfType(String(decoding: value, as: UTF8.self))
            case (7, .bytes): query = .listServices
            default: break  // unknown fields are skipped, as protobuf parsers do
            }
        }
    }
}

/// An encoded ServerReflectionResponse, sent as it is.
struct ReflectionResponse: RPCMessage {
    static var protoName: String { "grpc.reflection.v1.ServerReflectionResponse" }
    var bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(RPCError) { self.bytes = Array(bytes) }

    func serialize(into sink: inout some MessageSink) {
        bytes.withUnsafeBytes { source in sink.appendBytes(count: source.count) { $0.copyMemory(from: source) } }
    }
}

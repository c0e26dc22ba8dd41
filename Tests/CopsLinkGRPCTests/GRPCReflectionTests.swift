import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkServices
import CopsLinkTransport
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import CopsLinkGRPC

/// gRPC server reflection: the catalog generated from the descriptor set, the answers to each query, and a whole
/// bidirectional call through the stream handler. (A real reflection client, grpcio-reflection, is in
/// scripts/grpc-interop.)
@Suite("gRPC server reflection")
struct GRPCReflectionTests {
    /// Reads a response's fields (`field number → values`, length-delimited values as bytes).
    static func fields(_ bytes: some Collection<UInt8>) throws -> [UInt64: [ProtoWireReader.Value]] {
        var reader = ProtoWireReader(ArraySlice(bytes))
        var fields: [UInt64: [ProtoWireReader.Value]] = [:]
        while let field = try reader.next() { fields[field.number, default: []].append(field.value) }
        return fields
    }

    static func bytesValues(_ values: [ProtoWireReader.Value]?) -> [[UInt8]] {
        (values ?? []).compactMap { if case .bytes(let bytes) = $0 { Array(bytes) } else { nil } }
    }

    /// The file name inside a serialized FileDescriptorProto (`name = 1`).
    static func fileName(_ descriptor: [UInt8]) throws -> String? {
        try bytesValues(fields(descriptor)[1]).first.map { String(decoding: $0, as: UTF8.self) }
    }

    static func request(_ build: (inout ProtoWire) -> Void) -> [UInt8] {
        var wire = ProtoWire()
        build(&wire)
        return wire.bytes
    }

    @Test func everyFileOfTheDescriptorSetIsInTheCatalogAndDecodes() throws {
        #expect(ReflectionCatalog.files.map(\.name).contains("copslink/v1/account_service.proto"))
        for file in ReflectionCatalog.files {
            #expect(try Self.fileName(file.descriptor) == file.name)
        }
    }

    @Test func symbolsFindTheirFiles() {
        let cases = [
            ("copslink.v1.AccountService", "copslink/v1/account_service.proto"),
            (".copslink.v1.AccountService.GetAccount", "copslink/v1/account_service.proto"),
            ("copslink.v1.PhoneType", "copslink/v1/account.proto"),
            ("copslink.rpc.v1.GoAway.Code", "copslink/rpc/v1/frame.proto"),
            ("copslink.rpc.v1.Health", "copslink/rpc/v1/health.proto")
        ]
        for (symbol, file) in cases { #expect(ReflectionCatalog.file(containingSymbol: symbol)?.name == file, "\(symbol)") }
        #expect(ReflectionCatalog.file(containingSymbol: "copslink.v1.Nothing") == nil)
    }

    @Test func aFileComesWithWhatItImports() throws {
        let file = try #require(ReflectionCatalog.file(named: "copslink/v1/account_service.proto"))
        #expect(ReflectionCatalog.withDependencies(file).map(\.name) == ["copslink/v1/account_service.proto", "copslink/v1/account.proto"])
    }

    @Test func fileContainingSymbolAnswersTheFileAndItsImports() throws {
        let raw = Self.request { $0.string(4, "copslink.v1.AccountService") }
        let answer = GRPCReflection.answer(try ReflectionRequest(parsing: raw), original: raw, services: [])
        let fields = try Self.fields(answer)
        #expect(Self.bytesValues(fields[2]) == [raw], "the original request is echoed")
        let files = try Self.bytesValues(Self.fields(try #require(Self.bytesValues(fields[4]).first))[1])
        #expect(try files.map(Self.fileName) == ["copslink/v1/account_service.proto", "copslink/v1/account.proto"])
    }

    @Test func anUnknownSymbolOrFileIsNotFound() throws {
        for raw in [Self.request { $0.string(4, "copslink.v1.Nope") }, Self.request { $0.string(3, "nope.proto") }] {
            let answer = GRPCReflection.answer(try ReflectionRequest(parsing: raw), original: raw, services: [])
            let error = try Self.fields(try #require(Self.bytesValues(Self.fields(answer)[7]).first))
            guard case .varint(let code) = error[1]?.first else { throw CancellationError() }
            #expect(code == 5)
            #expect(Self.bytesValues(error[2]).first.map { String(decoding: $0, as: UTF8.self).hasPrefix("no ") } == true)
        }
    }

    @Test func malformedRequestBytesAreInvalidArgument() {
        for bad: [UInt8] in [[0x22, 0x05, 0x61], [0x08], [0x00, 0x01], [0x23]] {
            #expect(throws: RPCError.self) { try ReflectionRequest(parsing: bad) }
        }
        #expect((try? ReflectionRequest(parsing: [0x3A, 0x00]))?.query == .listServices)
    }

    /// Runs one ServerReflectionInfo call on a stream handler: `requests` in one DATA frame that ends the stream; the
    /// answers' bytes and the trailers.
    static func reflectionCall(_ requests: [[UInt8]]) async throws -> (data: ByteBuffer, trailers: HPACKHeaders?) {
        var router = RPCRouter()
        HealthService(services: []).registerMethods(with: &router)
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        let channel = EmbeddedChannel(
            handler: GRPCStreamHandler(
                dispatcher: CallDispatcher(router: router), configuration: configuration,
                connection: GRPCConnectionState(configuration: configuration), budget: InboundMemoryBudget(limit: 1 << 20)))
        defer { _ = try? channel.finish() }
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": ReflectionCatalog.methodPaths[0], ":authority": "x",
            "content-type": "application/grpc", "te": "trailers"
        ]
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
        var messages = channel.allocator.buffer(capacity: 1024)
        for request in requests {
            var framed = GRPCMessageReader.frame(request, allocator: channel.allocator)
            messages.writeBuffer(&framed)
        }
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(messages), endStream: true)))
        var data = ByteBuffer()
        var trailers: HPACKHeaders?
        for _ in 0..<500 where trailers == nil {
            channel.embeddedEventLoop.run()
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
                switch frame {
                case .data(let payload): if case .byteBuffer(var bytes) = payload.data { data.writeBuffer(&bytes) }
                case .headers(let answer) where answer.endStream: trailers = answer.headers
                default: break
                }
            }
            if trailers == nil { try await Task.sleep(for: .milliseconds(2)) }
        }
        return (data, trailers)
    }

    /// A whole ServerReflectionInfo call on a stream: list_services, then END_STREAM; one answer, then OK.
    @Test func listServicesOverAStream() async throws {
        let (data, trailers) = try await Self.reflectionCall([Self.request { $0.string(7, "*") }])
        #expect(trailers?.first(name: "grpc-status") == "0")
        var reader = GRPCMessageReader(maxMessageSize: 1 << 20)
        reader.append(data)
        let response = try #require(try reader.next())
        let list = try Self.fields(try #require(Self.bytesValues(Self.fields(response)[6]).first))
        let names = try Self.bytesValues(list[1]).map {
            try Self.bytesValues(Self.fields($0)[1]).first.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(names.contains("copslink.rpc.v1.Health"))
        #expect(names.contains("grpc.health.v1.Health"))
        #expect(names.contains("grpc.reflection.v1alpha.ServerReflection"))
        #expect(!names.contains("copslink.v1.AccountService"), "a service the server did not register is not listed")
    }

    /// One call answers `maxRequestsPerCall` requests, then ends RESOURCE_EXHAUSTED: a file's answer is 37 KB, and the
    /// call is open without a key.
    @Test func aCallAnswersAtMostItsLimitOfRequests() async throws {
        let limit = GRPCReflection.maxRequestsPerCall
        let request = Self.request { $0.string(4, "copslink.v1.AccountService") }
        let (data, trailers) = try await Self.reflectionCall(Array(repeating: request, count: limit + 1))
        #expect(trailers?.first(name: "grpc-status") == "\(StatusCode.resourceExhausted.rawValue)")
        #expect(trailers?.first(name: "grpc-message")?.contains("at most \(limit) reflection requests per call") == true)
        var reader = GRPCMessageReader(maxMessageSize: 1 << 20)
        reader.append(data)
        var answers = 0
        while let answer = try reader.next() {
            #expect(try Self.bytesValues(Self.fields(answer)[4]).count == 1, "a file_descriptor_response")
            answers += 1
        }
        #expect(answers == limit)
    }

    /// The answers kept per file are the file and its imports, as built per request before.
    @Test func theKeptAnswersAreEachFileWithItsImports() throws {
        for file in ReflectionCatalog.files {
            var body = ProtoWire()
            body.repeatedBytes(1, ReflectionCatalog.withDependencies(file).map(\.descriptor))
            #expect(GRPCReflection.fileResponses[file.name] == body.bytes, "\(file.name)")
        }
        #expect(GRPCReflection.fileResponses.count == ReflectionCatalog.files.count)
    }
}

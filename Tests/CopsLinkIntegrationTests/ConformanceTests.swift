import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Testing

/// The conformance checklist (after gRPC's interop tests), over TCP and in-process.
@Suite("Conformance")
struct ConformanceTests {
    @Test(arguments: TestTransport.allCases)
    func emptyUnary(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let response = try await TestService.Client(wrapping: client).emptyCall()
            #expect(response == EmptyMessage())
        }
    }

    @Test(arguments: TestTransport.allCases)
    func largeUnary(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let request = SimpleRequest(responseSize: 314_159, payload: [UInt8](repeating: 0, count: 271_828))
            let response = try await TestService.Client(wrapping: client).unaryCall(request)
            #expect(response.receivedSize == 271_828)
            #expect(response.payload?.count == 314_159)
            #expect(response.payload?.prefix(300) == ArraySlice((0..<300).map { UInt8(truncatingIfNeeded: $0) }))
        }
    }

    @Test(arguments: TestTransport.allCases)
    func clientStreaming(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let sizes = [27_182, 8, 1_828, 45_904]
            let requests = Messages(sizes.map { StreamingInputCallRequest(payload: [UInt8](repeating: 1, count: $0)) })
            let response = try await TestService.Client(wrapping: client).streamingInputCall(requests)
            #expect(response.message.aggregatedPayloadSize == 74_922)
            #expect(response.message.messageCount == 4)
        }
    }

    @Test(arguments: TestTransport.allCases)
    func serverStreaming(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let sizes: [UInt32] = [31_415, 9, 2_653, 58_979]
            let request = StreamingOutputCallRequest(responseParameters: sizes.map { ResponseParameters(size: $0) })
            let received = try await TestService.Client(wrapping: client).streamingOutputCall(request) { responses in
                try await responses.collect().map { $0.payload?.count ?? 0 }
            }
            #expect(received == sizes.map(Int.init))
        }
    }

    @Test(arguments: TestTransport.allCases)
    func pingPongFullDuplex(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let sizes: [UInt32] = [31_415, 9, 2_653, 58_979]
            let requests = Messages(sizes.map { StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: $0)]) })
            let received = try await TestService.Client(wrapping: client).fullDuplexCall(requests) { responses in
                try await responses.collect().map { $0.payload?.count ?? 0 }
            }
            #expect(received == sizes.map(Int.init))
        }
    }

    @Test(arguments: TestTransport.allCases)
    func emptyStream(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let service = TestService.Client(wrapping: client)
            let duplex = try await service.fullDuplexCall(Messages<StreamingOutputCallRequest>([])) { try await $0.collect() }
            #expect(duplex.isEmpty)
            let output = try await service.streamingOutputCall(StreamingOutputCallRequest()) { try await $0.collect() }
            #expect(output.isEmpty)
            let input = try await service.streamingInputCall(Messages<StreamingInputCallRequest>([]))
            #expect(input.message.messageCount == 0)
        }
    }

    @Test(arguments: TestTransport.allCases)
    func metadataEchoedAsTrailers(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            var metadata = Metadata()
            metadata.add("x-grpc-test-echo-initial", "test_initial_metadata_value")
            metadata.add("x-grpc-test-echo-trailing-bin", binary: [0xAB, 0xAB, 0xAB, 0x00, 0xFF])
            metadata.add("x-repeated", "one")
            metadata.add("x-repeated", "two")
            // A credential is never sent back.
            var sent = metadata
            sent.add("authorization", "Bearer not-echoed")
            let options = CallOptions(metadata: sent, requestID: "req-42")
            let service = TestService.Client(wrapping: client)
            let unary = try await service.unaryCallResponse(SimpleRequest(responseSize: 1), options: options)
            #expect(unary.trailers == metadata)

            let streamed = try await service.streamingOutputCall(
                StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 3)]), options: options
            ) { responses in
                _ = try await responses.collect()
                return responses.trailers
            }
            #expect(streamed == metadata)
        }
    }

    @Test(arguments: TestTransport.allCases)
    func statusCodeAndMessagePropagate(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let service = TestService.Client(wrapping: client)
            for code in StatusCode.allCases where code != .ok {
                let error = await expectRPCError(code) {
                    _ = try await service.unaryCall(
                        SimpleRequest(responseStatus: EchoStatus(code: code.rawValue, message: "status \(code.name)")))
                }
                #expect(error?.message == "status \(code.name)")
            }
            let streamError = await expectRPCError(.aborted) {
                _ = try await service.streamingOutputCall(
                    StreamingOutputCallRequest(
                        responseParameters: [ResponseParameters(size: 1)], responseStatus: EchoStatus(code: 10, message: "stream aborted"))
                ) { try await $0.collect() }
            }
            #expect(streamError?.message == "stream aborted")
        }
    }

    @Test(arguments: TestTransport.allCases)
    func specialStatusMessageComesBackByteExact(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let message = "\t\ttest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n and NUL \u{0}."
            let error = await expectRPCError(.unknown) {
                _ = try await TestService.Client(wrapping: client).unaryCall(
                    SimpleRequest(responseStatus: EchoStatus(code: 2, message: message)))
            }
            #expect(Array(error?.message.utf8 ?? "".utf8) == Array(message.utf8))
        }
    }

    @Test(arguments: TestTransport.allCases)
    func unknownMethodAndService(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let method = await expectRPCError(.unimplemented) {
                _ = try await client.unary(
                    MethodDescriptor(service: TestService.serviceName, method: "UnimplementedCall"), request: EmptyMessage(),
                    as: EmptyMessage.self)
            }
            #expect(method?.message == "service copslink.rpc.v1.TestService has no method UnimplementedCall")
            let service = await expectRPCError(.unimplemented) {
                _ = try await client.unary(
                    MethodDescriptor(service: "copslink.rpc.v1.UnimplementedService", method: "UnimplementedCall"),
                    request: EmptyMessage(), as: EmptyMessage.self)
            }
            #expect(service?.message == "unknown service copslink.rpc.v1.UnimplementedService")
        }
    }

    @Test(arguments: TestTransport.allCases)
    func cancelAfterBeginReachesTheHandler(_ kind: TestTransport) async throws {
        let probe = ProbeService()
        try await withTestClient(kind, probe: probe) { client in
            let call = Task {
                try await client.serverStreaming(ProbeService.hang, request: SimpleRequest(), as: SimpleResponse.self) {
                    try await $0.collect()
                }
            }
            try await expectEvent(probe, "started")
            call.cancel()
            await expectRPCError(.cancelled) { _ = try await call.value }
            try await expectEvent(probe, "cancelled")
        }
    }

    @Test(arguments: TestTransport.allCases)
    func cancelAfterFirstResponseReachesTheHandler(_ kind: TestTransport) async throws {
        let probe = ProbeService()
        try await withTestClient(kind, probe: probe) { client in
            await expectRPCError(.cancelled) {
                try await client.serverStreaming(ProbeService.hang, request: SimpleRequest(responseSize: 1), as: SimpleResponse.self) {
                    responses in
                    var iterator = responses.makeAsyncIterator()
                    #expect(try await iterator.next() != nil)
                    throw RPCError(code: .cancelled, message: "the test walked away")
                }
            }
            try await expectEvent(probe, "started")
            try await expectEvent(probe, "cancelled")
        }
    }

    @Test(arguments: TestTransport.allCases)
    func deadlineExceededCancelsTheSleepingHandler(_ kind: TestTransport) async throws {
        let probe = ProbeService()
        try await withTestClient(kind, probe: probe) { client in
            await expectRPCError(.deadlineExceeded) {
                _ = try await TestService.Client(wrapping: client).unaryCall(
                    SimpleRequest(sleepMillis: 60_000), options: CallOptions(timeout: .milliseconds(1)))
            }
            // The hang must reach its handler before its deadline, or no "started" ever comes and the test waits
            // for ever: 3 s leaves room for a loaded CI run (50 ms once was not enough for the connect).
            await expectRPCError(.deadlineExceeded) {
                _ = try await client.serverStreaming(
                    ProbeService.hang, request: SimpleRequest(), as: SimpleResponse.self, options: CallOptions(timeout: .seconds(3))
                ) { try await $0.collect() }
            }
            try await expectEvent(probe, "started")
            try await expectEvent(probe, "cancelled")
        }
    }

    @Test(arguments: TestTransport.allCases)
    func healthAndServerInfo(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let health = Health.Client(wrapping: client)
            #expect(try await health.check().status == .serving)
            #expect(try await health.check(HealthCheckRequest(service: TestService.serviceName)).status == .serving)
            await expectRPCError(.notFound) { _ = try await health.check(HealthCheckRequest(service: "no.such.Service")) }

            let info = try await ServerInfo.Client(wrapping: client).describe()
            let names = info.services.map(\.name)
            #expect(names.contains(TestService.serviceName))
            #expect(names.contains(ServerInfo.serviceName))
            let testMethods = info.services.first { $0.name == TestService.serviceName }?.methods ?? []
            // Every method the .proto declares (the generated list), with its kind and message types.
            #expect(testMethods.map(\.name).sorted() == TestService.methods.map(\.descriptor.method).sorted())
            for method in TestService.methods {
                let described = testMethods.first { $0.name == method.descriptor.method }
                #expect(described?.kind == method.kind, "\(method.descriptor)")
                #expect(described?.requestType == method.requestType.protoName, "\(method.descriptor)")
                #expect(described?.responseType == method.responseType.protoName, "\(method.descriptor)")
            }
            #expect(info.protocolVersions == [1])
        }
    }

    @Test(arguments: TestTransport.allCases)
    func errorDetailsAndTrailersPropagate(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let error = await expectRPCError(.failedPrecondition) {
                _ = try await client.unary(ProbeService.fail, request: EmptyMessage(), as: EmptyMessage.self)
            }
            #expect(error == ProbeService.failure)
        }
    }

    @Test(arguments: TestTransport.allCases)
    func handlerErrorsThatAreNotRPCErrorsDoNotLeak(_ kind: TestTransport) async throws {
        struct Secret: Error { let text = "password=hunter2" }
        var router = RPCRouter()
        let descriptor = MethodDescriptor(service: "copslink.test.Leaky", method: "Call")
        router.registerUnary(descriptor) { (_: EmptyMessage, _) -> ServerResponse<EmptyMessage> in throw Secret() }
        try await withTestClient(kind, serving: router, logger: quietLogger()) { client in
            let error = await expectRPCError(.unknown) {
                _ = try await client.unary(descriptor, request: EmptyMessage(), as: EmptyMessage.self)
            }
            #expect(error?.message.contains("hunter2") == false)
        }
    }
}

/// Regression (fuzz-connection harness, out-of-memory): a request could make the conformance service allocate a
/// response of up to 4 GiB. Sizes above `maxResponseSize` now fail RESOURCE_EXHAUSTED before any allocation.
@Suite("Conformance service limits")
struct ConformanceLimitTests {
    @Test(arguments: TestTransport.allCases)
    func oversizedResponsesAreRefused(_ kind: TestTransport) async throws {
        try await withTestClient(kind) { client in
            let service = TestService.Client(wrapping: client)
            do {
                _ = try await service.unaryCall(SimpleRequest(responseSize: 0xFFFF_FFF0))
                Issue.record("a 4 GiB unary response was not refused")
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted)
                #expect(error.message.contains("exceeds the conformance service's limit of 4194304 bytes"))
            }
            do {
                let request = StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 1), ResponseParameters(size: .max)])
                let count = try await service.streamingOutputCall(request) { try await $0.collect().count }
                Issue.record("a 4 GiB streamed response was not refused (\(count) responses)")
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted)
            }
            let small = try await service.unaryCall(SimpleRequest(responseSize: 1000))
            #expect(small.payload?.count == 1000)
        }
    }
}

import CopsLinkCore
import CopsLinkTestSupport
import Testing

/// Tokens "reader", "writer", "admin", "broken" (the store is down), "cancelled" (the lookup was cancelled) and
/// "client-gone" (valid, but the call is cancelled meanwhile); anything else is unknown.
private struct FakeAuthenticator: CallerAuthenticator {
    struct StoreDown: Error {}

    func authenticate(bearerToken: String) async throws -> Caller? {
        if bearerToken == "client-gone" {
            // The call's client goes away while its key is read (its connection closes): the task is cancelled.
            withUnsafeCurrentTask { $0?.cancel() }
            return Caller(tenant: "acme", roles: [.read], keyID: "k-gone")
        }
        return switch bearerToken {
        case "reader": Caller(tenant: "acme", roles: [.read], keyID: "k-reader")
        case "writer": Caller(tenant: "acme", roles: [.read, .write], keyID: "k-writer")
        case "admin": Caller(tenant: "beta", roles: [.admin], keyID: "k-admin")
        case "broken": throw StoreDown()
        case "cancelled": throw CancellationError()
        default: nil
        }
    }
}

@Suite("AuthInterceptor")
struct AuthInterceptorTests {
    static let read = MethodDescriptor(service: "copslink.test.Accounts", method: "Get")
    static let write = MethodDescriptor(service: "copslink.test.Accounts", method: "Link")
    static let open = MethodDescriptor(service: "copslink.test.Health", method: "Check")
    static let unlisted = MethodDescriptor(service: "copslink.test.Secret", method: "Do")

    let interceptor = AuthInterceptor(
        authenticator: FakeAuthenticator(),
        policy: AccessPolicy(publicMethods: [open.path], requiredRoles: [read.path: .read, write.path: .write]))

    /// Runs the interceptor; returns the caller the handler saw.
    func call(_ method: MethodDescriptor, authorization: String?) async throws -> Caller? {
        var metadata = Metadata()
        if let authorization { metadata.add(AuthInterceptor.metadataKey, authorization) }
        let context = ServerContext(descriptor: method, metadata: metadata, deadline: nil, peer: "test", callID: 1)
        let seen = LockedBox<Caller?>(nil)
        _ = try await interceptor.intercept(context: context) { context in
            seen.value = context.caller
            return .success(finalMessage: nil, trailers: [:])
        }
        return seen.value
    }

    @Test func aValidKeyWithTheRoleReachesTheHandlerAsItsCaller() async throws {
        let caller = try await call(Self.read, authorization: "Bearer reader")
        #expect(caller == Caller(tenant: "acme", roles: [.read], keyID: "k-reader"))
        let writer = try await call(Self.write, authorization: "bearer   writer ")
        #expect(writer?.keyID == "k-writer")
    }

    @Test func adminHoldsEveryRoleIncludingUnlistedMethods() async throws {
        let onWrite = try await call(Self.write, authorization: "Bearer admin")
        #expect(onWrite?.tenant == "beta")
        let onUnlisted = try await call(Self.unlisted, authorization: "Bearer admin")
        #expect(onUnlisted?.keyID == "k-admin")
    }

    @Test func publicMethodsNeedNoKey() async throws {
        let caller = try await call(Self.open, authorization: nil)
        #expect(caller == nil)
    }

    @Test func missingMalformedUnknownKeysAreUnauthenticated() async throws {
        let missing = await expectRPCError(.unauthenticated) { _ = try await call(Self.read, authorization: nil) }
        #expect(missing?.message.contains("Bearer") == true)
        await expectRPCError(.unauthenticated) { _ = try await call(Self.read, authorization: "Basic reader") }
        await expectRPCError(.unauthenticated) { _ = try await call(Self.read, authorization: "Bearer") }
        await expectRPCError(.unauthenticated) { _ = try await call(Self.read, authorization: "reader") }
        let unknown = await expectRPCError(.unauthenticated) { _ = try await call(Self.read, authorization: "Bearer nobody") }
        #expect(unknown?.message.contains("nobody") == false, "the error must not echo the token")
    }

    @Test func aKeyWithoutTheRoleIsDenied() async throws {
        let denied = await expectRPCError(.permissionDenied) { _ = try await call(Self.write, authorization: "Bearer reader") }
        #expect(denied?.message.contains("'write'") == true)
        // A method without a policy entry needs admin.
        await expectRPCError(.permissionDenied) { _ = try await call(Self.unlisted, authorization: "Bearer writer") }
    }

    @Test func anUnavailableKeyStoreIsUnavailableNotUnauthenticated() async throws {
        let error = await expectRPCError(.unavailable) { _ = try await call(Self.read, authorization: "Bearer broken") }
        #expect(error?.message == "credentials cannot be checked right now; retry later")
    }

    /// A key lookup cancelled with its call (the client went away) is not the key store's failure: the call ends
    /// CANCELLED, as any cancelled call, not UNAVAILABLE (seen in the log of an attack whose connection closed).
    @Test func aCancelledKeyLookupCancelsTheCall() async throws {
        await expectRPCError(.cancelled) { _ = try await call(Self.read, authorization: "Bearer cancelled") }
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await expectRPCError(.cancelled) { _ = try await call(Self.read, authorization: "Bearer broken") }
        }
        #expect(await task.value?.message == "call was cancelled", "a store error after cancellation is the cancellation")
    }

    /// Starts two calls through `interceptor` whose handlers wait, and returns once both run: with the closure that
    /// lets them end, and the task that ends with them.
    static func holdTwoCalls(
        _ interceptor: AuthInterceptor, _ context: ServerContext
    ) async -> (release: @Sendable () -> Void, held: Task<Void, any Error>) {
        let (entered, enteredContinuation) = AsyncStream.makeStream(of: Void.self)
        // One release stream per held call (an AsyncStream has one consumer).
        let releases = (0..<2).map { _ in AsyncStream.makeStream(of: Void.self) }
        let held = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (release, _) in releases {
                    group.addTask {
                        _ = try await interceptor.intercept(context: context) { _ in
                            enteredContinuation.yield()
                            for await _ in release { break }
                            return .success(finalMessage: nil, trailers: [:])
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        var iterator = entered.makeAsyncIterator()
        _ = await iterator.next()
        _ = await iterator.next()
        let continuations = releases.map(\.1)
        return ({ for continuation in continuations { continuation.finish() } }, held)
    }

    /// The public methods are open to anyone, so their streaming calls that run at once are bounded server-wide: past
    /// the limit one is RESOURCE_EXHAUSTED, a unary one still runs (the transports bound those still waiting for
    /// their request), and a call that ends makes room.
    @Test
    func publicCallsRunningAtOnceAreBounded() async throws {
        let kind = MethodKind.serverStreaming
        var policy = AccessPolicy(publicMethods: [Self.open.path])
        policy.maxConcurrentPublicCalls = 2
        let interceptor = AuthInterceptor(authenticator: FakeAuthenticator(), policy: policy)
        let context = {
            var call = ServerContext(descriptor: Self.open, metadata: Metadata(), deadline: nil, peer: "test", callID: 1)
            call.methodKind = kind
            return call
        }()
        let (release, held) = await Self.holdTwoCalls(interceptor, context)
        do {
            _ = try await interceptor.intercept(context: context) { _ in .success(finalMessage: nil, trailers: [:]) }
            Issue.record("a third call ran")
        } catch let error as RPCError {
            #expect(error.code == .resourceExhausted && error.message.contains("2 streaming calls of its open methods"), "\(error.message)")
        }
        // A unary public call (a probe's health Check) is never refused here.
        var check = context
        check.methodKind = .unary
        _ = try await interceptor.intercept(context: check) { _ in .success(finalMessage: nil, trailers: [:]) }
        release()
        try await held.value
        _ = try await interceptor.intercept(context: context) { _ in .success(finalMessage: nil, trailers: [:]) }
    }

    /// One key's calls running at once are bounded server-wide (`maxConcurrentCallsPerKey`), so that one key cannot
    /// hold every call the server runs: past its share its next call is RESOURCE_EXHAUSTED, another key's still runs,
    /// and a call that ends (even by throwing) makes room.
    @Test func oneKeysCallsRunningAtOnceAreBounded() async throws {
        var policy = AccessPolicy(requiredRoles: [Self.read.path: .read])
        policy.maxConcurrentCallsPerKey = 2
        let interceptor = AuthInterceptor(authenticator: FakeAuthenticator(), policy: policy)
        func context(_ token: String) -> ServerContext {
            ServerContext(
                descriptor: Self.read, metadata: [AuthInterceptor.metadataKey: .text("Bearer \(token)")], deadline: nil, peer: "test",
                callID: 1)
        }
        let (release, held) = await Self.holdTwoCalls(interceptor, context("reader"))
        #expect(interceptor.runningCalls(ofKey: "k-reader") == 2)
        let refused = await #expect(throws: RPCError.self) {
            _ = try await interceptor.intercept(context: context("reader")) { _ in .success(finalMessage: nil, trailers: [:]) }
        }
        #expect(refused?.code == .resourceExhausted)
        #expect(refused?.message == "API key k-reader is running its limit of 2 calls on this server; retry later")
        // Another key has a share of its own.
        _ = try await interceptor.intercept(context: context("admin")) { _ in .success(finalMessage: nil, trailers: [:]) }
        release()
        try await held.value
        #expect(interceptor.runningCalls(ofKey: "k-reader") == 0)
        // A call whose handler throws leaves its place too.
        struct Failed: Error {}
        for _ in 0..<3 {
            await #expect(throws: Failed.self) {
                _ = try await interceptor.intercept(context: context("reader")) { _ in throw Failed() }
            }
        }
        #expect(interceptor.runningCalls(ofKey: "k-reader") == 0)
        _ = try await interceptor.intercept(context: context("reader")) { _ in .success(finalMessage: nil, trailers: [:]) }
    }

    /// A call whose client went away while its key was read goes no further: no handler runs, however valid the key.
    @Test func aCallCancelledWhileItsKeyIsReadDoesNotRun() async throws {
        let ran = LockedBox(false)
        let call = Task {
            try await interceptor.intercept(
                context: ServerContext(
                    descriptor: Self.read, metadata: [AuthInterceptor.metadataKey: .text("Bearer client-gone")], deadline: nil,
                    peer: "test", callID: 1)
            ) { _ in
                ran.value = true
                return .success(finalMessage: nil, trailers: [:])
            }
        }
        let error = await #expect(throws: RPCError.self) { try await call.value }
        #expect(error?.code == .cancelled)
        #expect(!ran.value)
    }
}

public import CopsLinkMessages
public import CopsLinkCore

/// `copslink.v1.AccountService`: generated-style namespace with descriptors, service protocol and client.
public enum AccountService {
    public static let serviceName = "copslink.v1.AccountService"

    public enum Method {
        public static let linkAccount = MethodDescriptor(service: serviceName, method: "LinkAccount")
        public static let getAccount = MethodDescriptor(service: serviceName, method: "GetAccount")
        public static let unlinkAccount = MethodDescriptor(service: serviceName, method: "UnlinkAccount")
        public static let syncCustomer = MethodDescriptor(service: serviceName, method: "SyncCustomer")
        public static let searchAuthorities = MethodDescriptor(service: serviceName, method: "SearchAuthorities")
        public static let addAccountAuthorities = MethodDescriptor(service: serviceName, method: "AddAccountAuthorities")
        public static let removeAccountAuthority = MethodDescriptor(service: serviceName, method: "RemoveAccountAuthority")
        public static let setCentralStationZones = MethodDescriptor(service: serviceName, method: "SetCentralStationZones")
        public static let listTestCategories = MethodDescriptor(service: serviceName, method: "ListTestCategories")
        public static let getTestStatus = MethodDescriptor(service: serviceName, method: "GetTestStatus")
        public static let placeOnTest = MethodDescriptor(service: serviceName, method: "PlaceOnTest")
        public static let placeOffTest = MethodDescriptor(service: serviceName, method: "PlaceOffTest")
        public static let requestTestData = MethodDescriptor(service: serviceName, method: "RequestTestData")
        public static let reportSignals = MethodDescriptor(service: serviceName, method: "ReportSignals")
    }

    public protocol ServiceProtocol: RegistrableRPCService {
        func linkAccount(_ request: LinkAccountRequest, context: ServerContext) async throws -> LinkAccountResponse
        func getAccount(_ request: GetAccountRequest, context: ServerContext) async throws -> Account
        func unlinkAccount(_ request: UnlinkAccountRequest, context: ServerContext) async throws -> UnlinkAccountResponse
        func syncCustomer(_ request: SyncCustomerRequest, context: ServerContext) async throws -> SyncCustomerResponse
        func searchAuthorities(_ request: SearchAuthoritiesRequest, context: ServerContext) async throws -> SearchAuthoritiesResponse
        func addAccountAuthorities(_ request: AddAccountAuthoritiesRequest, context: ServerContext) async throws -> AddAccountAuthoritiesResponse
        func removeAccountAuthority(_ request: RemoveAccountAuthorityRequest, context: ServerContext) async throws -> RemoveAccountAuthorityResponse
        func setCentralStationZones(_ request: SetCentralStationZonesRequest, context: ServerContext) async throws -> SetCentralStationZonesResponse
        func listTestCategories(_ request: ListTestCategoriesRequest, context: ServerContext) async throws -> ListTestCategoriesResponse
        func getTestStatus(_ request: GetTestStatusRequest, context: ServerContext) async throws -> TestStatus
        func placeOnTest(_ request: PlaceOnTestRequest, context: ServerContext) async throws -> PlaceOnTestResponse
        func placeOffTest(_ request: PlaceOffTestRequest, context: ServerContext) async throws -> PlaceOffTestResponse
        /// Writes pages as they are read from the store.
        func requestTestData(_ request: RequestTestDataRequest, pages: ResponseWriter<TestDataPage>, context: ServerContext) async throws
        func reportSignals(_ signals: RequestStream<Signal>, context: ServerContext) async throws -> ReportSignalsResponse
    }

    /// Typed client: one method per RPC.
    public struct Client: Sendable {
        public let client: RPCClient
        public init(wrapping client: RPCClient) { self.client = client }

        public func linkAccount(_ request: LinkAccountRequest, options: CallOptions = .defaults) async throws(RPCError) -> LinkAccountResponse {
            try await client.unary(Method.linkAccount, request: request, options: options).message
        }

        public func getAccount(_ request: GetAccountRequest, options: CallOptions = .defaults) async throws(RPCError) -> Account {
            try await client.unary(Method.getAccount, request: request, options: options).message
        }

        public func unlinkAccount(_ request: UnlinkAccountRequest, options: CallOptions = .defaults) async throws(RPCError) -> UnlinkAccountResponse {
            try await client.unary(Method.unlinkAccount, request: request, options: options).message
        }

        public func syncCustomer(_ request: SyncCustomerRequest, options: CallOptions = .defaults) async throws(RPCError) -> SyncCustomerResponse {
            try await client.unary(Method.syncCustomer, request: request, options: options).message
        }

        public func searchAuthorities(_ request: SearchAuthoritiesRequest, options: CallOptions = .defaults) async throws(RPCError) -> SearchAuthoritiesResponse {
            try await client.unary(Method.searchAuthorities, request: request, options: options).message
        }

        public func addAccountAuthorities(_ request: AddAccountAuthoritiesRequest, options: CallOptions = .defaults) async throws(RPCError) -> AddAccountAuthoritiesResponse {
            try await client.unary(Method.addAccountAuthorities, request: request, options: options).message
        }

        public func removeAccountAuthority(_ request: RemoveAccountAuthorityRequest, options: CallOptions = .defaults) async throws(RPCError) -> RemoveAccountAuthorityResponse {
            try await client.unary(Method.removeAccountAuthority, request: request, options: options).message
        }

        public func setCentralStationZones(_ request: SetCentralStationZonesRequest, options: CallOptions = .defaults) async throws(RPCError) -> SetCentralStationZonesResponse {
            try await client.unary(Method.setCentralStationZones, request: request, options: options).message
        }

        public func listTestCategories(options: CallOptions = .defaults) async throws(RPCError) -> ListTestCategoriesResponse {
            try await client.unary(Method.listTestCategories, request: ListTestCategoriesRequest(), options: options).message
        }

        public func getTestStatus(_ request: GetTestStatusRequest, options: CallOptions = .defaults) async throws(RPCError) -> TestStatus {
            try await client.unary(Method.getTestStatus, request: request, options: options).message
        }

        public func placeOnTest(_ request: PlaceOnTestRequest, options: CallOptions = .defaults) async throws(RPCError) -> PlaceOnTestResponse {
            try await client.unary(Method.placeOnTest, request: request, options: options).message
        }

        public func placeOffTest(_ request: PlaceOffTestRequest, options: CallOptions = .defaults) async throws(RPCError) -> PlaceOffTestResponse {
            try await client.unary(Method.placeOffTest, request: request, options: options).message
        }

        /// Hands the pages to `body` as they arrive.
        public func requestTestData<Result: Sendable>(
            _ request: RequestTestDataRequest, options: CallOptions = .defaults,
            body: (ResponseStream<TestDataPage>) async throws -> Result
        ) async throws -> Result {
            try await client.serverStreaming(Method.requestTestData, request: request, options: options, body: body)
        }

        public func reportSignals<Signals: AsyncSequence & Sendable>(
            _ signals: Signals, options: CallOptions = .defaults
        ) async throws -> ReportSignalsResponse where Signals.Element == Signal {
            try await client.clientStreaming(Method.reportSignals, requests: signals, options: options).message
        }
    }
}

extension AccountService.ServiceProtocol {
    public func registerMethods(with router: inout RPCRouter) {
        typealias M = AccountService.Method
        router.registerUnary(M.linkAccount) { (request: LinkAccountRequest, context) in
            ServerResponse(message: try await self.linkAccount(request, context: context))
        }
        router.registerUnary(M.getAccount) { (request: GetAccountRequest, context) in
            ServerResponse(message: try await self.getAccount(request, context: context))
        }
        router.registerUnary(M.unlinkAccount) { (request: UnlinkAccountRequest, context) in
            ServerResponse(message: try await self.unlinkAccount(request, context: context))
        }
        router.registerUnary(M.syncCustomer) { (request: SyncCustomerRequest, context) in
            ServerResponse(message: try await self.syncCustomer(request, context: context))
        }
        router.registerUnary(M.searchAuthorities) { (request: SearchAuthoritiesRequest, context) in
            ServerResponse(message: try await self.searchAuthorities(request, context: context))
        }
        router.registerUnary(M.addAccountAuthorities) { (request: AddAccountAuthoritiesRequest, context) in
            ServerResponse(message: try await self.addAccountAuthorities(request, context: context))
        }
        router.registerUnary(M.removeAccountAuthority) { (request: RemoveAccountAuthorityRequest, context) in
            ServerResponse(message: try await self.removeAccountAuthority(request, context: context))
        }
        router.registerUnary(M.setCentralStationZones) { (request: SetCentralStationZonesRequest, context) in
            ServerResponse(message: try await self.setCentralStationZones(request, context: context))
        }
        router.registerUnary(M.listTestCategories) { (request: ListTestCategoriesRequest, context) in
            ServerResponse(message: try await self.listTestCategories(request, context: context))
        }
        router.registerUnary(M.getTestStatus) { (request: GetTestStatusRequest, context) in
            ServerResponse(message: try await self.getTestStatus(request, context: context))
        }
        router.registerUnary(M.placeOnTest) { (request: PlaceOnTestRequest, context) in
            ServerResponse(message: try await self.placeOnTest(request, context: context))
        }
        router.registerUnary(M.placeOffTest) { (request: PlaceOffTestRequest, context) in
            ServerResponse(message: try await self.placeOffTest(request, context: context))
        }
        router.registerServerStreaming(M.requestTestData) { (request: RequestTestDataRequest, pages: ResponseWriter<TestDataPage>, context) in
            try await self.requestTestData(request, pages: pages, context: context)
            return [:]
        }
        router.registerClientStreaming(M.reportSignals) { (signals: RequestStream<Signal>, context) in
            ServerResponse(message: try await self.reportSignals(signals, context: context))
        }
    }
}

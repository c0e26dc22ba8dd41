import CopsLinkCore
import CopsLinkMessages

/// Every Swift type with a protobuf-c codec, for the drift tests. Swift cannot list a protocol's conformances, so this
/// list is written by hand; it cannot drift silently: `DescriptorDriftTests` fails when a message of the generated C
/// code is neither listed here nor contained in a listed one, and when an entry names no generated message.
enum MessageCodecCatalog {
    static var all: [any ProtobufCCodable.Type] {
        [
            // copslink/rpc/v1/frame.proto
            Metadata.Entry.self, SettingsHeader.self, RequestHeader.self, EndHeader.self, CancelHeader.self, WindowUpdateHeader.self,
            GoAwayHeader.self,
            // copslink/rpc/v1/health.proto
            HealthCheckRequest.self, HealthCheckResponse.self,
            // copslink/rpc/v1/server_info.proto
            ServerInfoRequest.self, MethodInfo.self, ServiceInfo.self, ServerInfoResponse.self,
            // copslink/rpc/v1/testing.proto (Payload has no type of its own: it is a `[UInt8]?` of the messages holding it)
            EmptyMessage.self, EchoStatus.self, SimpleRequest.self, SimpleResponse.self, StreamingInputCallRequest.self,
            StreamingInputCallResponse.self, ResponseParameters.self, StreamingOutputCallRequest.self, StreamingOutputCallResponse.self,
            // copslink/v1/account.proto
            Address.self, Equipment.self, Customer.self, Phone.self, RespondingParty.self, CentralStationParty.self, Authority.self,
            AccountAuthority.self, Zone.self, MappedZone.self, TestCategory.self, UserRef.self, TestAuthorization.self, TestSession.self,
            TestStatus.self, Account.self, TestHistoryEntry.self, TestResult.self, Signal.self,
            // copslink/v1/account_service.proto
            LinkAccountRequest.self, LinkAccountResponse.self, GetAccountRequest.self, UnlinkAccountRequest.self,
            UnlinkAccountResponse.self, SyncCustomerRequest.self, SyncCustomerResponse.self, SearchAuthoritiesRequest.self,
            SearchAuthoritiesResponse.self, AuthorityToAdd.self, AddAccountAuthoritiesRequest.self, AddAccountAuthoritiesResponse.self,
            RemoveAccountAuthorityRequest.self, RemoveAccountAuthorityResponse.self, SetCentralStationZonesRequest.self,
            SetCentralStationZonesResponse.self, ListTestCategoriesRequest.self, ListTestCategoriesResponse.self,
            GetTestStatusRequest.self, PlaceOnTestRequest.self, PlaceOnTestResponse.self, PlaceOffTestRequest.self,
            PlaceOffTestResponse.self, RequestTestDataRequest.self, TestDataPage.self, SignalRejection.self, ReportSignalsResponse.self,
        ]
    }
}

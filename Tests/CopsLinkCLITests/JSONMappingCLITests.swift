import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTransport
import Foundation
import Testing

/// One JSON mapping in the project: `copslink --json` writes a response exactly as `ProtoJSON` (the HTTP/JSON
/// gateway's mapping) does with the .proto field names and default values, the same message fetched by the Swift
/// client.
@Suite("copslink --json is the proto3 JSON mapping")
struct JSONMappingCLITests {
    @Test func accountGetIsProtoJSONOfTheAccount() async throws {
        try await DemoServer.with { server in
            let printed = try await copslink(["--server", server.address, "--json", "account", "get", "demo-1"])
            #expect(printed.status == 0, "\(printed)")
            let account = try await TCPClientTransport.withTransport(
                configuration: ClientConfiguration(host: "127.0.0.1", port: server.port)
            ) { transport in
                try await AccountService.Client(wrapping: RPCClient(transport: transport)).getAccount(
                    GetAccountRequest(customerID: "demo-1"))
            }
            let expected = try ProtoJSON.json(
                fromBinary: account.serializedBytes(), messageName: Account.protoName,
                options: ProtoJSON.Options(protoFieldNames: true, defaultValues: true))
            let expectedObject = try JSONSerialization.jsonObject(with: Data(expected)) as? NSDictionary
            let printedObject = try printed.jsonObject() as NSDictionary
            #expect(printedObject == expectedObject, "\(printed.stdout)")
            #expect(printedObject["linked_at_ms"] is String, "a 64-bit integer is a string")
        }
    }
}

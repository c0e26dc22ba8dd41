import CopsLinkCommandLine
import CopsLinkMessages
import CopsLinkTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One JSON mapping in the project: what `copslink --json` prints for a response is the HTTP/JSON gateway's answer
/// for the same call, differing only in the options (.proto names, defaults written): rewritten with the other's
/// options, each is byte for byte the other.
@Suite("copslink --json is the HTTP/JSON gateway's mapping")
struct JSONMappingCLITests {
    @Test func accountGetIsTheGatewaysAnswerWithProtoNamesAndDefaults() async throws {
        try await DemoServer.with { server in
            let printed = try await copslink(["--server", server.address, "--json", "account", "get", "demo-1"])
            #expect(printed.status == 0, "\(printed)")
            #expect(printed.stdout.hasSuffix("}\n") && printed.stdout.filter { $0 == "\n" }.count == 1, "one line")
            let cli = Array(printed.stdout.dropLast().utf8)
            let gateway = try await Self.post(
                port: server.port, path: "/copslink.v1.AccountService/GetAccount", body: #"{"customerId":"demo-1"}"#)
            #expect(String(decoding: gateway, as: UTF8.self).contains(#""accountNumber":"22-8761""#), "the gateway's own names")

            let name = "copslink.v1.Account"
            let cliAsGateway = try ProtoJSON.json(fromBinary: ProtoJSON.binary(fromJSON: cli, messageName: name), messageName: name)
            #expect(cliAsGateway == gateway, "\(String(decoding: cliAsGateway, as: UTF8.self))")
            let gatewayAsCLI = try ProtoJSON.json(
                fromBinary: ProtoJSON.binary(fromJSON: gateway, messageName: name), messageName: name, options: CLIJSON.options)
            #expect(gatewayAsCLI == cli, "\(printed.stdout)")
            #expect(CLIJSON.options == ProtoJSON.Options(protoFieldNames: true, defaultValues: true))
        }
    }

    /// The body of a 200 answer to a JSON POST on the server's port (the gateway shares it, PROTOCOL.md §18).
    static func post(port: Int, path: String, body: String) async throws -> [UInt8] {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200, "\(String(decoding: data, as: UTF8.self))")
        return Array(data)
    }
}

import CopsLinkCommandLine
import CopsLinkCore
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

    /// A line of a ReportSignals body that is not a Signal's JSON is one rejected signal, as a signal that does not
    /// decode is natively: the lines around it are stored, and the answer is 200 (it was a 400 for the whole body,
    /// and nothing stored).
    @Test func aReportSignalsLineThatIsNotASignalIsRejectedAndTheOthersStored() async throws {
        try await DemoServer.with { server in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let signal = #"{"accountNumber":"22-8761","receivedAtMs":"\#(now)","eventCode":"130","qualifier":1,"zoneOrUser":"001"}"#
            let answer = try await Self.post(
                port: server.port, path: "/copslink.v1.AccountService/ReportSignals",
                body: signal + "\n" + #"{"colour":1}"# + "\n" + signal + "\n")
            let response = try ReportSignalsResponse(
                from: ProtoJSON.binary(fromJSON: answer, messageName: ReportSignalsResponse.protoName))
            #expect(response.received == 3 && response.rejectedCount == 1, "\(response)")
            #expect(response.testResults + response.storedAsHistory == 2, "\(response)")
            #expect(response.rejected.map(\.index) == [1], "\(response)")
            #expect(
                response.rejected.first?.reason.hasPrefix("line 2 of the request body is not a valid copslink.v1.Signal") == true,
                "\(response)")
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

import CopsLinkCore
import CopsLinkMessages
import CopsLinkTestSupport
import Testing

@testable import CopsLinkLoad

@Suite("workload")
struct WorkloadTests {
    @Test("Contact ID messages carry a valid checksum and a usable account field")
    func contactIDs() {
        #expect(Workload.contactIDAccount("22-8761") == "8761")
        #expect(Workload.contactIDAccount("CL-123456") == "3456")
        #expect(Workload.contactIDAccount("7") == "0007")
        for (code, zone) in [("130", "001"), ("602", "000"), ("131", "002")] {
            let message = Workload.contactID(account: "8761", eventCode: code, zone: zone)
            #expect(message.count == 16)
            let sum = message.reduce(0) { $0 + ($1 == "0" ? 10 : Int(String($1), radix: 16)!) }
            #expect(sum % 15 == 0, "\(message)")
        }
        // The demo data's own example: "8761 18 1 130 01 001 C".
        #expect(Workload.contactID(account: "8761", eventCode: "130", zone: "001") == "876118113001001C")
    }

    @Test("requests are prepared per mix entry and account")
    func prepared() throws {
        let accounts = [
            LoadAccount(customerID: "demo-1", accountNumber: "22-8761"), LoadAccount(customerID: "demo-2", accountNumber: "22-8762")
        ]
        let mix = try CallMix.parse(LoadMethod.allCases.map { "\($0.name)=1" }.joined(separator: ","))
        let workload = Workload(mix: mix, accounts: accounts, nowMs: 1_800_000_000_000)
        #expect(workload.calls.map(\.count) == [2, 2, 2, 2, 4, 2, 4, 1, 1])
        guard case .serverStreaming(let descriptor, let request) = workload.calls[4][0] else {
            Issue.record("RequestTestData is not server streaming")
            return
        }
        #expect(descriptor.path.hasSuffix("RequestTestData"))
        let range = try #require(request as? RequestTestDataRequest)
        #expect(range.toMs < 1_800_000_000_000 && range.toMs - range.fromMs == 30 * 86_400_000)
        guard case .clientStreaming(_, let signals) = workload.calls[5][1] else {
            Issue.record("ReportSignals is not client streaming")
            return
        }
        #expect(signals.count == 3)
    }
}

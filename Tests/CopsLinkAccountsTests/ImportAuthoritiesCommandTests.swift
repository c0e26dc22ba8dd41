import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkTestSupport
import Foundation
import Testing

@Suite("copslink-server import-authorities")
struct ImportAuthoritiesCommandTests {
    private func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await runBuiltBinary("copslink-server", arguments)
        return (result.status, result.stdout + result.stderr)
    }

    @Test func importsTheSampleAndReplacesEntriesWithTheSameID() async throws {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }
        let sample = packageRoot.appendingPathComponent("Sources/CopsLinkAccounts/Resources/authorities-sample.csv").path
        let first = try await run(["import-authorities", "--database", database, "--create", sample])
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("imported 17 authorities"))

        let changed = FileManager.default.temporaryDirectory.appendingPathComponent("authorities-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: changed) }
        try """
        id,type,name,phone,street1,street2,city,state,zip,served_zips,jurisdiction,permit_required
        ut-provo-pd,police,Provo Police (renamed),801-852-6210,48 S 300 W,,Provo,UT,84601,84601,city,no
        """.write(to: changed, atomically: true, encoding: .utf8)
        #expect(try await run(["import-authorities", "--database", database, changed.path]).status == 0)

        let store = try SQLiteAccountStore(path: database)
        let police = try await store.read(.dealer(DealerID.demo)) { try $0.authorities(type: .police, zip: "84601") }
        #expect(police.map(\.name) == ["Provo Police (renamed)", "Utah County Sheriff's Office"])
        #expect(police.first?.servedZips == ["84601"])
        try store.close()
    }

    @Test func aBadFileIsRefusedWithTheLineNumber() async throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("authorities-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: bad) }
        try """
        id,type,name,phone,street1,street2,city,state,zip,served_zips,jurisdiction,permit_required
        x-1,police,X,1,,,,,,84601,city,no
        x-2,navy,Y,1,,,,,,84601,city,no
        """.write(to: bad, atomically: true, encoding: .utf8)
        let result = try await run(["import-authorities", "--database", temporaryDatabasePath(), "--create", bad.path])
        #expect(result.status == 65, "a data error, not a usage error")
        #expect(result.output.contains("line 3: unknown authority type 'navy'; nothing was imported"))
        #expect(!result.output.contains("USAGE"), "\(result.output)")
    }

    /// Each line's own fields are checked as a customer's are, and an id given twice is refused (it used to count
    /// twice in "imported N authorities" while the second replaced the first).
    @Test(arguments: [
        ("x-1,police,X,1,,,,,,84601,city,no\nx-1,fire,Y,1,,,,,,84601,city,no", "line 3: id 'x-1' is on line 2 too; each authority once"),
        ("x-1,police,,1,,,,,,84601,city,no", "line 2: the name is empty"),
        ("x-1,police,X,1,,,,ZZ,,84601,city,no", "line 2: state 'ZZ' is not a US state or territory code (like UT)"),
        ("x-1,police,X,1,,,,UT,8460,84601,city,no", "line 2: zip '8460' must look like 84601 or 84601-1234")
    ])
    func aLineIsCheckedLikeTheDirectoryEntryItBecomes(lines: String, error: String) {
        #expect(throws: AccountError(.invalidArgument, error)) {
            try AuthorityCSV.parse(AuthorityCSV.header.joined(separator: ",") + "\n" + lines)
        }
    }

    /// A mistyped path would fill a new database the running server never reads.
    @Test func aDatabaseThatDoesNotExistIsRefusedUnlessCreateIsGiven() async throws {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }
        let sample = packageRoot.appendingPathComponent("Sources/CopsLinkAccounts/Resources/authorities-sample.csv").path
        let refused = try await run(["import-authorities", "--database", database, sample])
        #expect(refused.status == 64, "\(refused.output)")
        #expect(refused.output.contains("no such file") && refused.output.contains("--create"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: database), "nothing may be created")
    }
}

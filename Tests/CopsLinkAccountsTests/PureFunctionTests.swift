import CopsLinkCore
import CopsLinkMessages
import CopsLinkTestSupport
import Foundation
import Testing

@testable import CopsLinkAccounts

/// The Contact ID checksum computed independently of ContactID.swift: digit values (0 counts as 10, B-F as
/// 11-15) add up to a multiple of 15.
func contactIDDigitSum(_ message: String) -> Int {
    message.filter { $0 != " " }.map { $0 == "0" ? 10 : Int(String($0), radix: 16)! }.reduce(0, +)
}

@Suite("Contact ID")
struct ContactIDTests {
    struct Fields: Sendable, CustomTestStringConvertible {
        var account: String
        var qualifier: UInt32
        var event: String
        var partition: UInt32
        var zone: String
        var testDescription: String { "\(account) q\(qualifier) \(event) p\(partition) z\(zone)" }
    }

    @Test(arguments: [
        Fields(account: "1234", qualifier: 1, event: "130", partition: 1, zone: "001"),
        Fields(account: "1234", qualifier: 3, event: "131", partition: 1, zone: "015"),
        Fields(account: "0000", qualifier: 6, event: "602", partition: 0, zone: "000"),
        Fields(account: "BCDE", qualifier: 1, event: "110", partition: 99, zone: "999"),
        Fields(account: "9876", qualifier: 1, event: "401", partition: 2, zone: "005"),
        Fields(account: "1F2C", qualifier: 3, event: "384", partition: 10, zone: "120")
    ])
    func makeThenParseRoundTrips(_ fields: Fields) throws {
        let message = ContactIDMessage.make(
            account: fields.account, qualifier: fields.qualifier, eventCode: fields.event, partition: fields.partition,
            zoneOrUser: fields.zone)
        #expect(message.count == 16)
        #expect(contactIDDigitSum(message) % 15 == 0, "\(message) has a valid checksum")
        let parsed = try ContactIDMessage(parsing: message)
        #expect(parsed.fields == "\(fields.account) 18 \(fields.qualifier) \(fields.event) \(fields.partition) \(fields.zone)")
    }

    @Test func everyChecksumDigitIsProducedAndAccepted() throws {
        var checksums = Set<Character>()
        for zone in 1...999 {
            let digits = String(zone)
            let message = ContactIDMessage.make(
                account: "1234", qualifier: 1, eventCode: "130", partition: 1,
                zoneOrUser: String(repeating: "0", count: 3 - digits.count) + digits)
            #expect(contactIDDigitSum(message) % 15 == 0, "\(message)")
            #expect(try ContactIDMessage(parsing: message).zoneOrUser.count == 3)
            checksums.insert(message.last!)
        }
        #expect(checksums == Set("123456789BCDEF0"), "15 possible digits; 0 stands for 10 and F for 15 (never A)")
    }

    @Test func aKnownGoodMessage() throws {
        // 1+2+3+4 + 1+8 + 1 + 1+3+1 + 10+1 + 10+1+5 = 52; 52 + 8 = 60, a multiple of 15.
        #expect(
            ContactIDMessage.make(account: "1234", qualifier: 1, eventCode: "131", partition: 1, zoneOrUser: "015") == "1234181131010158")
        let expected = try ContactIDMessage(parsing: "1234181131010158")
        #expect(expected.fields == "1234 18 1 131 1 015")
        #expect(try ContactIDMessage(parsing: "1234 18 1 131 01 015 8") == expected, "spaces are ignored")
        // Message type 98 is accepted too: 98 instead of 18 adds 8, so the checksum goes from 8 to 15 ("F").
        #expect(try ContactIDMessage(parsing: "123498113101015F").messageType == "98")
        // Lowercase hex digits.
        let hex = ContactIDMessage.make(account: "BCDE", qualifier: 1, eventCode: "110", partition: 99, zoneOrUser: "999")
        #expect(try ContactIDMessage(parsing: hex.lowercased()) == ContactIDMessage(parsing: hex))
    }

    @Test func malformedMessages() {
        let cases: [(String, String)] = [
            ("123418113101015", "Contact ID message must have 16 characters (ACCT MT Q EEE GG CCC S), got 15"),
            ("12341811310101581", "Contact ID message must have 16 characters (ACCT MT Q EEE GG CCC S), got 17"),
            ("", "Contact ID message must have 16 characters (ACCT MT Q EEE GG CCC S), got 0"),
            ("1234181131010159", "Contact ID checksum does not match"),
            ("1234181131010157", "Contact ID checksum does not match"),
            ("1234A81131010158", "Contact ID message contains 'A', which is not a digit or B-F"),
            ("1234-81131010158", "Contact ID message contains '-', which is not a digit or B-F"),
            // Valid checksums, wrong fields: 28 instead of 18 (+1, checksum 8 → 7); qualifier 2 (+1, → 7); event 1B1 instead of 131 (+8, → 15 "F").
            ("1234281131010157", "Contact ID message type must be 18 or 98, got 28"),
            ("1234182131010157", "Contact ID qualifier must be 1, 3 or 6, got 2"),
            ("12341811B101015F", "Contact ID event code must be three digits")
        ]
        for (text, reason) in cases {
            #expect(throws: AccountError(.invalidArgument, reason), "\(text)") { try ContactIDMessage(parsing: text) }
        }
    }
}

@Suite("Authority CSV")
struct AuthorityCSVTests {
    static let header = "id,type,name,phone,street1,street2,city,state,zip,served_zips,jurisdiction,permit_required"
    static let validLine = "ut-provo-pd,police,Provo Police Department,801-852-6210,48 S 300 W,,Provo,UT,84601,84601 84602,city,yes"

    @Test func theShippedSample() throws {
        let authorities = try DemoData.sampleAuthorities()
        #expect(authorities.count == 17)
        #expect(Set(authorities.map(\.id)).count == 17)
        #expect(
            authorities.first
                == Authority(
                    id: "ut-provo-pd", type: .police, name: "Provo Police Department", phone: "801-852-6210",
                    address: Address(street1: "48 S 300 W", city: "Provo", state: "UT", zip: "84601"),
                    servedZips: ["84601", "84602", "84603", "84604", "84606"], jurisdiction: .city, permitRequired: true))
        let byID = Dictionary(uniqueKeysWithValues: authorities.map { ($0.id, $0) })
        #expect(byID["tx-travis-so"]?.name == "Travis County Sheriff's Office", "a quoted field")
        #expect(byID["ut-valley-guard"]?.address?.street2 == "Suite 4")
        #expect(byID["ut-valley-guard"]?.type == .guard_)
        #expect(byID["ut-rmp-electrical"]?.jurisdiction == .state)
        #expect(byID["ut-hill-afb-sf"]?.jurisdiction == .military)
        #expect(byID["ut-utah-county-so"]?.permitRequired == false)
        #expect(
            Dictionary(grouping: authorities, by: \.type).mapValues(\.count) == [
                .police: 8, .fire: 4, .medical: 3, .guard_: 1, .electrical: 1
            ])
    }

    @Test func fieldsQuotingSeparatorsAndBlankLines() throws {
        let text =
            Self.header + "\r\n\r\n" + """
                "x-1", fire ,"Smith ""Jr"", Sons",555,,,Town,UT,84601,84601;84602 84603,,true
                x-2,MEDICAL,Medics,555,,,Town,UT,84601,84601,Regional,0

                """
        let authorities = try AuthorityCSV.parse(text)
        #expect(authorities.map(\.id) == ["x-1", "x-2"])
        #expect(authorities[0].name == "Smith \"Jr\", Sons")
        #expect(authorities[0].type == .fire)
        #expect(authorities[0].servedZips == ["84601", "84602", "84603"])
        #expect(authorities[0].jurisdiction == .unspecified)
        #expect(authorities[0].permitRequired)
        #expect(authorities[1].type == .medical)
        #expect(authorities[1].jurisdiction == .regional)
        #expect(!authorities[1].permitRequired)
    }

    @Test func permitValues() throws {
        for (value, expected) in [
            ("yes", true), ("YES", true), ("true", true), ("1", true), ("no", false), ("false", false), ("0", false), ("", false)
        ] {
            let line = "a,police,A,555,,,Town,UT,84601,84601,city,\(value)"
            #expect(try AuthorityCSV.parse(Self.header + "\n" + line).first?.permitRequired == expected, "\(value)")
        }
    }

    @Test func badFilesNameTheLine() {
        let line = { (replacing: String, with: String) in Self.validLine.replacingFirst(replacing, with: with) }
        let cases: [(String, String)] = [
            ("id,kind,name\n" + Self.validLine, "line 1: the header must be \(Self.header)"),
            ("", "line 1: the header must be \(Self.header)"),
            (Self.header + "\n" + Self.validLine + "\n" + line(",city,yes", ",yes"), "line 3: expected 12 columns, found 11"),
            (Self.header + "\n" + Self.validLine + ",extra", "line 2: expected 12 columns, found 13"),
            (Self.header + "\n" + line("police", "sheriff"), "line 2: unknown authority type 'sheriff'"),
            (Self.header + "\n" + line("police", "unspecified"), "line 2: unknown authority type 'unspecified'"),
            (Self.header + "\n" + line("84601 84602", "84601 8460"), "line 2: served zips must be five-digit zip codes, got '84601 8460'"),
            (Self.header + "\n" + line("84601 84602", "84601-1234"), "line 2: served zips must be five-digit zip codes, got '84601-1234'"),
            (Self.header + "\n" + line("84601 84602", ""), "line 2: served zips must be five-digit zip codes, got ''"),
            (Self.header + "\n" + line(",yes", ",maybe"), "line 2: permit_required must be yes or no, got 'maybe'"),
            (Self.header + "\n" + line(",city,", ",galactic,"), "line 2: unknown jurisdiction 'galactic'"),
            (Self.header + "\n" + line("ut-provo-pd", ""), "line 2: the id is empty"),
            (Self.header + "\n\n" + line("Provo Police Department", "\"Provo Police"), "line 3: a quoted field is not closed"),
            (Self.header + "\n" + line("Provo Police Department", "\"Provo\" Police"), "line 2: unexpected ' ' after a closing quote")
        ]
        for (text, message) in cases {
            #expect(throws: AccountError(.invalidArgument, message), "\(message)") { try AuthorityCSV.parse(text) }
        }
    }
}

@Suite("Validation and test-session rules")
struct RulesTests {
    @Test(arguments: [
        ("84601", true), ("84601-1234", true), ("00000", true), ("99999-0000", true),
        ("8460", false), ("846011", false), ("84601-12", false), ("84601-", false), ("84601-12345", false), ("abcde", false),
        ("84601 1234", false), ("846011234", false), ("84601-123a", false), ("", false), (" 84601", false), ("８４６０１", false),
        ("84601_1234", false)
    ])
    func isZip(_ zip: String, _ valid: Bool) {
        #expect(Validation.isZip(zip) == valid)
    }

    static let session = TestSession(id: "s", effectiveAtMs: 1_000, expiresAtMs: 2_000, scope: .allZones)

    static func ended(at: Int64, _ reason: TestEndReason) -> TestSession {
        var session = session
        session.endedAtMs = at
        session.endReason = reason
        return session
    }

    @Test(
        arguments: [
            (session, 0, TestState.scheduled), (session, 999, .scheduled), (session, 1_000, .active), (session, 1_999, .active),
            (session, 2_000, .expired), (session, 9_999, .expired),
            (ended(at: 1_500, .placedOff), 1_600, .ended), (ended(at: 1_500, .placedOff), 1_200, .ended),
            (ended(at: 500, .placedOff), 600, .ended), (ended(at: 2_000, .expired), 3_000, .expired),
            (ended(at: 2_000, .expired), 1_500, .expired)
        ] as [(TestSession, Int64, TestState)])
    func state(_ session: TestSession, _ nowMs: Int64, _ expected: TestState) {
        #expect(TestSessionRules.state(of: session, atMs: nowMs) == expected)
    }

    @Test func status() {
        var scheduled = Self.session
        scheduled.state = .scheduled
        var active = Self.session
        active.state = .active
        #expect(TestSessionRules.status(of: nil, atMs: 1_500) == TestStatus(state: .offTest))
        #expect(TestSessionRules.status(of: Self.session, atMs: 500) == TestStatus(onTest: false, current: scheduled, state: .scheduled))
        #expect(TestSessionRules.status(of: Self.session, atMs: 1_500) == TestStatus(onTest: true, current: active, state: .onTest))
        #expect(TestSessionRules.status(of: Self.session, atMs: 2_000) == TestStatus(state: .offTest))
        #expect(TestSessionRules.status(of: Self.ended(at: 1_500, .placedOff), atMs: 1_600) == TestStatus(state: .offTest))
    }

    @Test(
        arguments: [
            (TestScope.allZones, [String](), "001", true), (.allZones, [], "", true), (.unspecified, [], "001", true),
            (.onlyListed, ["001", "003"], "001", true), (.onlyListed, ["001", "003"], "003", true),
            (.onlyListed, ["001", "003"], "002", false), (.onlyListed, ["001", "003"], "", false),
            (.allExceptListed, ["001"], "001", false), (.allExceptListed, ["001"], "002", true), (.allExceptListed, ["001"], "", true)
        ] as [(TestScope, [String], String, Bool)])
    func covers(_ scope: TestScope, _ zones: [String], _ zone: String, _ expected: Bool) {
        let session = TestSession(id: "s", effectiveAtMs: 1_000, expiresAtMs: 2_000, scope: scope, zoneNumbers: zones)
        #expect(TestSessionRules.covers(session, zone: zone) == expected)
    }
}

extension ContactIDMessage {
    /// account, message type, qualifier, event code, partition, zone or user.
    var fields: String { "\(account) \(messageType) \(qualifier) \(eventCode) \(partition) \(zoneOrUser)" }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

@Suite("Blank text")
struct BlankTextTests {
    /// The ASCII fast path of `Validation.isBlank` decides as Unicode's White_Space property does.
    @Test func blankMeansUnicodeWhiteSpaceOnly() {
        for value in UInt8(0)..<0x80 {
            let scalar = Unicode.Scalar(value)
            #expect(Validation.isBlank(String(scalar)) == scalar.properties.isWhitespace, "U+\(String(value, radix: 16))")
        }
        #expect(Validation.isBlank(""))
        #expect(Validation.isBlank(" \u{A0}\u{2003}\t\r\n\u{B}\u{C}\u{85}"))
        #expect(!Validation.isBlank(" x "))
        #expect(!Validation.isBlank("\u{A0}é"))
    }
}

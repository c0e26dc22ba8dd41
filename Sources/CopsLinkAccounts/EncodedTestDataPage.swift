public import CopsLinkCore
public import CopsLinkMessages

/// Which rows RequestTestData streams; each fills one list of `TestDataPage`.
public enum TestDataKind: Sendable, CaseIterable {
    case history, results, signals

    /// The `TestDataPage` field its rows go in: `history = 1`, `results = 2`, `signals = 3`.
    public var fieldNumber: UInt32 {
        switch self {
        case .history: 1
        case .results: 2
        case .signals: 3
        }
    }
}

/// One page of RequestTestData in wire form, and where it ended: what a store reads for one page.
///
/// A store that keeps each row encoded builds the page by appending those bytes (`append(encodedRow:cursor:)`), with
/// no message per row; the reference reading (`AccountReadTransaction.testDataPageByRows`) encodes the page the rows
/// make. Both give the same bytes (tested).
public struct EncodedTestDataPage: Sendable {
    public let kind: TestDataKind
    /// An encoded `TestDataPage` whose `kind` list holds `count` rows.
    public private(set) var bytes: [UInt8]
    public private(set) var count = 0
    /// The cursor of the last row, nil when the page is empty.
    public private(set) var last: PageCursor?

    /// An empty page with room for `capacity` bytes.
    public init(_ kind: TestDataKind, capacity: Int = 0) {
        self.kind = kind
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// A page of rows read as messages, encoded by the codec.
    public init(_ kind: TestDataKind, encoding page: TestDataPage, count: Int, last: PageCursor?) {
        self.kind = kind
        bytes = page.serializedBytes()
        self.count = count
        self.last = last
    }

    /// Appends one row: `encodedRow` is an encoded `TestHistoryEntry` (history) or `TestResult` (results, signals).
    public mutating func append(encodedRow: UnsafeRawBufferPointer, cursor: PageCursor) {
        LengthDelimitedField.append(fieldNumber: kind.fieldNumber, encodedRow, to: &bytes)
        count += 1
        last = cursor
    }

    /// The page as the handler sends it.
    public var message: EncodedMessage<TestDataPage> { EncodedMessage(bytes: bytes) }
}

extension AccountReadTransaction {
    /// The reference reading of a page: the rows as messages (`testHistory`, `testResults`, `signalHistory`),
    /// encoded by the codec. A store's `testDataPage` must return exactly these bytes.
    public func testDataPageByRows(
        _ kind: TestDataKind, accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws -> EncodedTestDataPage {
        switch kind {
        case .history:
            let rows = try testHistory(accountNumber: accountNumber, fromMs: fromMs, toMs: toMs, after: cursor, limit: limit)
            return EncodedTestDataPage(kind, encoding: TestDataPage(history: rows.map(\.1)), count: rows.count, last: rows.last?.0)
        case .results:
            let rows = try testResults(accountNumber: accountNumber, fromMs: fromMs, toMs: toMs, after: cursor, limit: limit)
            return EncodedTestDataPage(kind, encoding: TestDataPage(results: rows.map(\.1)), count: rows.count, last: rows.last?.0)
        case .signals:
            let rows = try signalHistory(accountNumber: accountNumber, fromMs: fromMs, toMs: toMs, after: cursor, limit: limit)
            return EncodedTestDataPage(kind, encoding: TestDataPage(signals: rows.map(\.1)), count: rows.count, last: rows.last?.0)
        }
    }

    public func testDataPage(
        _ kind: TestDataKind, accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws -> EncodedTestDataPage {
        try testDataPageByRows(kind, accountNumber: accountNumber, fromMs: fromMs, toMs: toMs, after: cursor, limit: limit)
    }
}

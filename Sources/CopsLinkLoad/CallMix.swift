public import CopsLinkCore

/// The RPCs copslink-load can call. `rawValue` indexes per-method tables.
public enum LoadMethod: Int, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case getAccount, getTestStatus, placeOnTest, placeOffTest, requestTestData, reportSignals, searchAuthorities,
        listTestCategories, health

    /// The name used in `--mix` and in reports: the RPC's method name (`Health` is `copslink.rpc.v1.Health/Check`).
    public var name: String {
        switch self {
        case .getAccount: "GetAccount"
        case .getTestStatus: "GetTestStatus"
        case .placeOnTest: "PlaceOnTest"
        case .placeOffTest: "PlaceOffTest"
        case .requestTestData: "RequestTestData"
        case .reportSignals: "ReportSignals"
        case .searchAuthorities: "SearchAuthorities"
        case .listTestCategories: "ListTestCategories"
        case .health: "Health"
        }
    }

    public var description: String { name }

    /// The method for a `--mix` name, ignoring case.
    public init?(name: String) {
        guard let method = Self.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
        self = method
    }

    /// Statuses that are a normal answer for this method under random load, not a failure of the run:
    /// PlaceOnTest on an account already on test and PlaceOffTest on one that is not answer FAILED_PRECONDITION.
    public var expectedStatuses: Set<StatusCode> {
        switch self {
        case .placeOnTest, .placeOffTest: [.failedPrecondition]
        default: []
        }
    }
}

public struct CallMixError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A weighted call mix, e.g. `GetAccount=80,PlaceOnTest=5,PlaceOffTest=5,RequestTestData=10`.
///
/// Entries keep the order they were written in; an entry's index is its "slot" in the per-worker recorders.
public struct CallMix: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var method: LoadMethod
        public var weight: UInt64
    }

    /// The entries with a weight above zero, in the order given.
    public let entries: [Entry]
    /// Running sums of the weights: entry `i` is chosen for a draw `r` with `cumulative[i-1] <= r < cumulative[i]`.
    private let cumulative: [UInt64]
    public let totalWeight: UInt64

    public static let defaultMix = CallMix(uncheckedEntries: [Entry(method: .getAccount, weight: 100)])

    private init(uncheckedEntries entries: [Entry]) {
        self.entries = entries
        var sum: UInt64 = 0
        cumulative = entries.map { entry in
            sum += entry.weight
            return sum
        }
        totalWeight = sum
    }

    public init(_ weights: [(LoadMethod, UInt64)]) throws(CallMixError) {
        var seen = Set<LoadMethod>()
        for (method, _) in weights where !seen.insert(method).inserted {
            throw CallMixError("--mix names \(method.name) twice.")
        }
        let entries = weights.filter { $0.1 > 0 }.map { Entry(method: $0.0, weight: $0.1) }
        guard !entries.isEmpty else { throw CallMixError("--mix weights add up to zero; give at least one method a weight above 0.") }
        self.init(uncheckedEntries: entries)
    }

    /// Parses `Method=weight,Method=weight,…` (method names ignore case; whitespace around items is ignored).
    public static func parse(_ text: String) throws(CallMixError) -> CallMix {
        var weights: [(LoadMethod, UInt64)] = []
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        guard !(items.count == 1 && items[0].isEmpty) else {
            throw CallMixError("--mix is empty; write e.g. GetAccount=80,GetTestStatus=20.")
        }
        for item in items {
            guard let equals = item.firstIndex(of: "=") else {
                throw CallMixError("--mix item '\(item)' must look like Method=weight.")
            }
            let name = item[..<equals].trimmingWhitespace()
            let weightText = item[item.index(after: equals)...].trimmingWhitespace()
            guard let method = LoadMethod(name: name) else {
                throw CallMixError(
                    "--mix: unknown method '\(name)'; known: \(LoadMethod.allCases.map(\.name).joined(separator: ", ")).")
            }
            guard let weight = UInt64(weightText), weight <= 1_000_000_000 else {
                throw CallMixError("--mix: the weight of \(method.name) must be a whole number from 0 to 1000000000, got '\(weightText)'.")
            }
            weights.append((method, weight))
        }
        return try CallMix(weights)
    }

    /// The slot (index into `entries`) of a weighted random choice.
    @inlinable
    public func chooseSlot(using generator: inout some RandomNumberGenerator) -> Int {
        if entries.count == 1 { return 0 }
        let draw = UInt64.random(in: 0..<totalWeight, using: &generator)
        return slot(forDraw: draw)
    }

    /// The slot a draw in `0..<totalWeight` falls into.
    public func slot(forDraw draw: UInt64) -> Int {
        var index = 0
        while cumulative[index] <= draw { index += 1 }
        return index
    }

    public var methods: [LoadMethod] { entries.map(\.method) }

    /// `GetAccount=80,GetTestStatus=20`, as given (normalized names, zero weights dropped).
    public var description: String { entries.map { "\($0.method.name)=\($0.weight)" }.joined(separator: ",") }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

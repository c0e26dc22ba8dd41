public import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds on the monotonic clock (a vDSO read, no allocation).
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// An account the load runs against.
public struct LoadAccount: Sendable, Hashable {
    public var customerID: String
    /// The central-station account number (signals name it).
    public var accountNumber: String

    public init(customerID: String, accountNumber: String) {
        self.customerID = customerID
        self.accountNumber = accountNumber
    }
}

/// One ready-to-send call: the request is built before the run, so a call costs only its sending.
public enum PreparedCall: Sendable {
    case unary(MethodDescriptor, any RPCMessage)
    /// Latency runs until the response stream ends.
    case serverStreaming(MethodDescriptor, any RPCMessage)
    /// Sends every message, then reads the single response.
    case clientStreaming(MethodDescriptor, [any RPCMessage])
}

/// The prepared requests of every method of the mix, one or more per account.
public struct Workload: Sendable {
    /// `calls[slot]`: the requests of the mix entry `slot`; a call picks one at random.
    public let calls: [[PreparedCall]]

    public init(calls: [[PreparedCall]]) { self.calls = calls }

    /// Builds the requests of `mix` over `accounts`. `nowMs` (wall clock, epoch milliseconds) anchors the
    /// RequestTestData date ranges: they end a minute before it, since the server refuses ranges ending in the future.
    public init(mix: CallMix, accounts: [LoadAccount], nowMs: Int64) {
        precondition(!accounts.isEmpty, "a workload needs at least one account")
        calls = mix.entries.map { entry in Self.requests(entry.method, accounts: accounts, nowMs: nowMs) }
    }

    public static func requests(_ method: LoadMethod, accounts: [LoadAccount], nowMs: Int64) -> [PreparedCall] {
        typealias M = AccountService.Method
        let day: Int64 = 86_400_000
        switch method {
        case .getAccount:
            return accounts.map { .unary(M.getAccount, GetAccountRequest(customerID: $0.customerID)) }
        case .getTestStatus:
            return accounts.map { .unary(M.getTestStatus, GetTestStatusRequest(customerID: $0.customerID)) }
        case .placeOnTest:
            return accounts.map {
                .unary(
                    M.placeOnTest,
                    PlaceOnTestRequest(
                        customerID: $0.customerID, categoryID: "service", durationHours: 1, comment: "copslink-load"))
            }
        case .placeOffTest:
            return accounts.map { .unary(M.placeOffTest, PlaceOffTestRequest(customerID: $0.customerID, comment: "copslink-load")) }
        case .requestTestData:
            let to = nowMs - 60_000
            return accounts.flatMap { account in
                [TestDataType.history, .results].map { type in
                    .serverStreaming(
                        M.requestTestData,
                        RequestTestDataRequest(
                            customerID: account.customerID, type: type, fromMs: to - 30 * day, toMs: to))
                }
            }
        case .reportSignals:
            return accounts.map { account in
                let short = contactIDAccount(account.accountNumber)
                let signals: [any RPCMessage] = [("130", "001"), ("602", "000"), ("131", "002")].map { code, zone in
                    Signal(accountNumber: account.accountNumber, contactID: contactID(account: short, eventCode: code, zone: zone))
                }
                return .clientStreaming(M.reportSignals, signals)
            }
        case .searchAuthorities:
            return accounts.flatMap { account in
                [AuthorityType.police, .fire].map {
                    .unary(M.searchAuthorities, SearchAuthoritiesRequest(customerID: account.customerID, type: $0))
                }
            }
        case .listTestCategories:
            return [.unary(M.listTestCategories, ListTestCategoriesRequest())]
        case .health:
            return [.unary(Health.Method.check, HealthCheckRequest())]
        }
    }

    /// The four-character account field of a Contact ID message: the last four characters of the account number
    /// that are valid there (digits, B-F), left-padded with 0.
    static func contactIDAccount(_ accountNumber: String) -> String {
        let usable = accountNumber.uppercased().filter { $0.isNumber || ("B"..."F").contains($0) }
        let last = String(usable.suffix(4))
        return String(repeating: "0", count: 4 - last.count) + last
    }

    /// A Contact ID message `ACCT 18 1 EEE 01 CCC S` with its checksum digit (digit values, 0 counting 10 and
    /// B-F 11-15, add up to a multiple of 15).
    static func contactID(account: String, eventCode: String, zone: String) -> String {
        let body = account + "18" + "1" + eventCode + "01" + zone
        let sum = body.reduce(0) { total, character in total + (character == "0" ? 10 : Int(String(character), radix: 16) ?? 0) }
        let checksum = (15 - sum % 15) % 15
        let digit = checksum == 0 ? "F" : checksum == 10 ? "0" : String(checksum, radix: 16, uppercase: true)
        return body + digit
    }
}

/// Sends prepared calls and reports only their status: responses are not decoded, so that the tool's own cost
/// per call stays small next to the server's.
public enum CallRunner {
    public static func perform(
        _ call: PreparedCall, on transport: some ClientTransport, options: CallOptions, acknowledged: AcknowledgedWrites? = nil
    ) async -> StatusCode {
        switch call {
        case .unary(let descriptor, let request):
            do {
                let response = try await transport.unary(descriptor, request: request, options: options)
                acknowledged?.record(descriptor, request: request, response: response)
                return .ok
            } catch {
                return error.code
            }
        case .serverStreaming(let descriptor, let request):
            do {
                try await transport.withStreamingCall(descriptor, options: options) { call in
                    try await call.send(request)
                    call.finishSending()
                    while case .message = try await call.next() {}
                }
                return .ok
            } catch {
                return Self.code(of: error)
            }
        case .clientStreaming(let descriptor, let requests):
            do {
                try await transport.withStreamingCall(descriptor, options: options) { call in
                    do throws(RPCError) {
                        for request in requests { try await call.send(request) }
                        call.finishSending()
                    } catch {
                        // The server may have ended the call early; its status, read below, says why.
                        guard error.code == .cancelled || error.code == .unavailable else { throw error }
                    }
                    while case .message = try await call.next() {}
                }
                return .ok
            } catch {
                return Self.code(of: error)
            }
        }
    }

    static func code(of error: any Error) -> StatusCode {
        if let error = error as? RPCError { return error.code }
        if error is CancellationError { return .cancelled }
        return .unknown
    }
}

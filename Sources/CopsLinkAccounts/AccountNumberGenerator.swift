/// Proposes central-station account numbers for LinkAccount without one: `CL-` and 12 random digits.
///
/// Account numbers are unique across every dealer, so a proposal can be taken; the service tries at most
/// `maximumAttempts` proposals and then answers RESOURCE_EXHAUSTED instead of looping inside the write transaction
/// (which would stop every write). With 9·10¹¹ numbers, even 10⁸ accounts leave a proposal taken with probability
/// about 10⁻⁴, so all attempts failing (10⁻⁶⁴) means a broken generator, not a full space.
public struct AccountNumberGenerator: Sendable {
    /// Proposals tried for one LinkAccount before it fails.
    public static let maximumAttempts = 16

    private let propose: @Sendable () -> String

    /// A generator proposing `propose()`; tests inject one that collides.
    public init(_ propose: @escaping @Sendable () -> String) {
        self.propose = propose
    }

    /// `CL-` and 12 digits, the first not 0, from the system's random source.
    public static let random = AccountNumberGenerator { "CL-\(Int64.random(in: 100_000_000_000...999_999_999_999))" }

    /// The first of `maximumAttempts` proposals that `isTaken` rejects not; nil when every one was taken.
    func firstFree(_ isTaken: (String) throws -> Bool) rethrows -> String? {
        for _ in 0..<Self.maximumAttempts {
            let candidate = propose()
            if try !isTaken(candidate) { return candidate }
        }
        return nil
    }
}

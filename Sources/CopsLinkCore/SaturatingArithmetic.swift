/// Counters of things a client sends (messages in a stream, payload bytes, signals) stop at the type's bound
/// instead of trapping: Swift's `+=` traps on overflow in release builds too, so a long enough stream would stop
/// the server. A saturated count is reported as the bound.
extension FixedWidthInteger {
    /// `self + other`, or `Self.max` / `Self.min` where the exact sum does not fit.
    @inlinable
    public func addingSaturating(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }

    /// Adds `other`, stopping at the type's bound.
    @inlinable
    public mutating func addSaturating(_ other: Self) {
        self = addingSaturating(other)
    }
}

public import Foundation

/// The one conversion between the wire's epoch milliseconds and ISO 8601 text, used by `copslink` for both `x_at_ms`
/// / `x_at` JSON pairs, the tables and its time options, so that the two forms always name the same instant.
///
/// Formatting is integer arithmetic on the milliseconds (no `Double` seconds, which turned `…250` into `.249` for about
/// half of all values); any `Int64` formats without trapping, years past 9999 with more digits.
public enum EpochMilliseconds {
    static let msPerDay: Int64 = 86_400_000

    /// `2026-11-01T10:00:00.250Z`, or `2026-11-01T10:00:00Z` without `fractional` (the second the instant falls in).
    public static func iso8601(_ ms: Int64, fractional: Bool = true) -> String {
        var (days, msOfDay) = ms.quotientAndRemainder(dividingBy: msPerDay)
        if msOfDay < 0 {
            days -= 1  // cannot overflow: |days| ≤ Int64.max / 86_400_000
            msOfDay += msPerDay
        }
        let (year, month, day) = civil(fromDays: days)
        let seconds = msOfDay / 1000
        var text =
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))"
        if fractional { text += "." + pad(msOfDay % 1000, 3) }
        return text + "Z"
    }

    /// The instant of `text` (ISO 8601 with or without fractional seconds, `Z` or an offset), to the nearest
    /// millisecond; nil if it is not such a time or lies outside ±10,000 years.
    public static func parse(_ text: String) -> Int64? {
        for style in [Date.ISO8601FormatStyle(), Date.ISO8601FormatStyle(includingFractionalSeconds: true)] {
            if let date = try? style.parse(text) { return milliseconds(of: date) }
        }
        return nil
    }

    /// `date` in epoch milliseconds, to the nearest; nil outside ±10,000 years (no trapping conversion).
    public static func milliseconds(of date: Date) -> Int64? {
        let ms = (date.timeIntervalSince1970 * 1000).rounded()
        guard ms.isFinite, abs(ms) < 315_569_520_000_000 else { return nil }
        return Int64(ms)
    }

    /// Year, month, day of `days` since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's
    /// `civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468  // |days| ≤ 1.1e11: no overflow anywhere below
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value.magnitude)
        let padded = digits.count < width ? String(repeating: "0", count: width - digits.count) + digits : digits
        return value < 0 ? "-" + padded : padded
    }
}

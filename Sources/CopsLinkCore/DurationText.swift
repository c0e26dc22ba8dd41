extension Duration {
    /// The duration as status messages and GOAWAY texts carry it: decimal seconds with an `s` suffix, at most nine
    /// fraction digits and no trailing zeros (`10s`, `0.25s`, `0.001s`), the form of protobuf's JSON `Duration` and
    /// Go's `time.ParseDuration`, so a client in any language can read it back. Swift's own `Duration` description
    /// (`0.001 seconds`) is neither specified nor parsed anywhere else.
    public var secondsText: String {
        let (seconds, attoseconds) = components
        // A negative duration has both components ≤ 0; print its magnitude with one sign.
        let negative = seconds < 0 || attoseconds < 0
        let wholeSeconds = seconds.magnitude
        var nanoseconds = (attoseconds.magnitude + 500_000_000) / 1_000_000_000  // rounded to the nanosecond
        var whole = wholeSeconds
        if nanoseconds >= 1_000_000_000 {
            whole += 1
            nanoseconds -= 1_000_000_000
        }
        var text = negative ? "-\(whole)" : "\(whole)"
        if nanoseconds > 0 {
            var digits = String(nanoseconds)
            digits = String(repeating: "0", count: 9 - digits.count) + digits
            while digits.last == "0" { digits.removeLast() }
            text += "." + digits
        }
        return text + "s"
    }
}

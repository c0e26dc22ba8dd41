#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open files, which bounds connections: each is one descriptor.
enum FileDescriptorLimit {
    /// Descriptors kept for the listener, the database, logs, the admin endpoint and libraries.
    static let reserved = 64

    /// Raises the soft limit to the hard one (Linux starts processes at 1,024 soft) and returns the soft limit now
    /// in force, or nil if it cannot be read.
    static func raiseToHardLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)  // RLIM_INFINITY is UInt64.max: clamped to Int.max
    }

    /// The most connections `descriptors` open files allow.
    static func connections(allowedBy descriptors: Int) -> Int {
        max(1, descriptors - reserved)
    }
}

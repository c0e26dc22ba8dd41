#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The database holds API key hashes, customers' passcodes and addresses: only its owner may read it.
///
/// SQLite creates a database with mode 0644 (less the umask) and gives its `-wal` and `-shm` files the mode of the
/// database file. So the database is created here, empty, with mode 0600 before SQLite opens it, and an existing
/// database, WAL or SHM that others may read or write has those permissions removed (it keeps its owner bits). A
/// file owned by another user cannot be changed by this process and is left as it is.
enum DatabaseFileMode {
    static let ownerOnly: mode_t = 0o600

    /// The paths SQLite uses for a database at `path`.
    static func files(of path: String) -> [String] { [path, path + "-wal", path + "-shm"] }

    /// Before opening: creates the database file with `ownerOnly` if it does not exist, and restricts the existing
    /// files of the database to their owner.
    static func prepare(path: String) {
        guard isPlainFilePath(path) else { return }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, ownerOnly)
        if descriptor >= 0 { close(descriptor) }
        restrict(path: path)
    }

    /// After opening: the WAL and SHM exist now; makes sure they are the owner's only.
    static func restrict(path: String) {
        guard isPlainFilePath(path) else { return }
        for file in files(of: path) {
            var status = stat()
            guard stat(file, &status) == 0 else { continue }
            let permissions = status.st_mode & 0o777
            if permissions & 0o077 != 0 { _ = chmod(file, permissions & 0o700) }
        }
    }

    /// Not ":memory:", an empty (temporary) name or a URI.
    private static func isPlainFilePath(_ path: String) -> Bool {
        !path.isEmpty && path != ":memory:" && !path.hasPrefix("file:")
    }
}

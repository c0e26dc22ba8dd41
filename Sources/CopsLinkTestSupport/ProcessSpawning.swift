public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starts `process`, one spawn at a time across the test run.
///
/// Foundation's `Process.run()` on Linux learns of a child's exit from a socket pair: the child holds one end, and
/// when the child exits the parent's manager thread sees the end close, reaps the child and ends `waitUntilExit`.
/// While one `run()` has created its pair and not yet closed its copy of the child's end, a `run()` on another
/// thread can spawn a second child that inherits that end too: the first child's exit then goes unnoticed for as
/// long as the second lives. Tests spawn servers that live for a whole test, so two tests each waiting for a child
/// whose end the other's server held was a deadlock: both children zombies, both waits spinning (seen in a full
/// run). Every spawn in the tests goes through here, and every pipe they give a child comes from `makePipe`.
public func spawn(_ process: Process) throws {
    try spawnLock.withLock { try process.run() }
}

/// A pipe for a child's standard input, output or error that no other child inherits: both ends close on exec
/// (the child gets its end through `dup2`, which a spawn does and which clears the flag), and they are made under
/// the spawn lock, so no spawn runs between the pipe's creation and the flag. Without it, a child spawned meanwhile
/// held another child's output pipe open, and reading that output to its end waited for the wrong process.
public func makePipe() -> Pipe {
    spawnLock.withLock {
        let pipe = Pipe()
        for descriptor in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
            _ = fcntl(descriptor, F_SETFD, fcntl(descriptor, F_GETFD) | FD_CLOEXEC)
        }
        return pipe
    }
}

private let spawnLock = NSLock()

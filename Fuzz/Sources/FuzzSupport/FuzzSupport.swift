// What both libFuzzer targets share: how a broken invariant stops the run, and the corpus mode of
// `LLVMFuzzerInitialize` (each target still exports that symbol itself; it calls `writeCorpusIfAsked`).
#if canImport(Glibc)
import Glibc
#endif

/// Stops the run if `condition` is false: libFuzzer reports the crash and keeps the input that caused it.
public func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}

/// Writes `message`, after the target's name, to standard error with one `write` (no buffering that an abort could
/// lose), then aborts.
public func fail(_ message: String) -> Never {
    let target = CommandLine.arguments.first?.split(separator: "/").last.map(String.init) ?? "fuzz"
    var line = "\(target): \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    abort()
}

/// `COPSLINK_FUZZ_MAKE_CORPUS=<dir>`: writes the seed corpus into <dir> with `writeCorpus` and exits instead of
/// fuzzing (`scripts/fuzz --make-corpus`). Without it, returns.
public func writeCorpusIfAsked(_ writeCorpus: (String) -> Void) {
    guard let directory = getenv("COPSLINK_FUZZ_MAKE_CORPUS") else { return }
    writeCorpus(String(cString: directory))
    exit(0)
}

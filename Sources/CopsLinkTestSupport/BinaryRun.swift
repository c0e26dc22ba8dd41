import Foundation

/// What a finished process printed and how it exited.
public struct BinaryRun: CustomStringConvertible, Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs a built binary to completion. `environment` entries are added to (or, with nil, removed from) this process's
/// environment; `stdin` is written to its standard input.
///
/// The waiting happens on a thread of its own, not on Swift's cooperative pool: a test blocked there for seconds would
/// starve every other test of the run.
public func runBuiltBinary(
    _ name: String, _ arguments: [String], stdin: String? = nil, environment: [String: String?] = [:]
) async throws -> BinaryRun {
    try await offCooperativePool { try runBuiltBinaryBlocking(name, arguments, stdin: stdin, environment: environment) }
}

/// Runs `body` on a thread of its own and waits for it without blocking a cooperative thread: for blocking waits
/// (a process's exit, its output, a socket).
///
/// Not `DispatchQueue.global()` (see `startBlockingThread`): a wait there holds one of the workers the cooperative
/// pool also runs on, for as long as a child process runs (seconds, for a load run).
public func offCooperativePool<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        startBlockingThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs `body` on a thread of its own: for a loop that blocks as long as a child process lives (draining its pipe).
///
/// Not `DispatchQueue.global()`: on Linux, Swift's cooperative pool and Dispatch's global queues share one set of
/// worker threads, which Dispatch does not grow while they block in `read`. One drain loop per running server held a
/// worker each for the server's life, and with a dozen servers the whole test run stalled for tens of seconds.
public func startBlockingThread(_ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.stackSize = 1 << 20
    thread.start()
}

func runBuiltBinaryBlocking(
    _ name: String, _ arguments: [String], stdin: String?, environment: [String: String?]
) throws -> BinaryRun {
    let process = Process()
    process.executableURL = try builtBinary(name)
    process.arguments = arguments
    var merged = ProcessInfo.processInfo.environment
    for (key, value) in environment { merged[key] = value }
    process.environment = merged
    let out = makePipe(), err = makePipe(), input = makePipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try spawn(process)
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read stderr on another thread while stdout is read here, so neither pipe can fill up and block the child.
    let errorData = LockedData()
    let readErrors = DispatchSemaphore(value: 0)
    startBlockingThread {
        errorData.set(err.fileHandleForReading.readDataToEndOfFile())
        readErrors.signal()
    }
    let outputData = out.fileHandleForReading.readDataToEndOfFile()
    readErrors.wait()
    process.waitUntilExit()
    return BinaryRun(
        status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
        stderr: String(decoding: errorData.get(), as: UTF8.self))
}

/// Bytes handed from a reading thread to the waiting one.
final class LockedData: @unchecked Sendable {
    // Sendable because every access to `data` holds `lock`.
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}

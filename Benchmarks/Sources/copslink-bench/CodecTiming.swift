import ArgumentParser
import CopsLinkMessageFixtures
import CopsLinkMessages
import SwiftProtobuf
import SwiftProtobufAccount

/// The codec comparison without package-benchmark's malloc interposer (which preloads into the benchmark process
/// and adds to every allocation): median ns/op over batches of 1,000, with the same Account.
struct CodecTiming: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec-timing", abstract: "Times the Account codecs (CopsLink, swift-protobuf) without malloc counting.")
    @Option(help: "Batches of 1,000 operations per benchmark.") var batches = 300

    @inline(never)
    static func consume<T>(_ value: T) { withExtendedLifetime(value) {} }

    func median(_ body: () -> Void) -> Double {
        var samples: [Double] = []
        for _ in 0..<20 { body() }
        for _ in 0..<batches {
            let start = nowNanos()
            for _ in 0..<1000 { body() }
            samples.append(Double(nowNanos() - start) / 1000)
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    func run() throws {
        let account = MessageFixtures.account
        let bytes = account.serializedBytes()
        let message = try Copslink_V1_Account(serializedBytes: bytes)
        let started = nowNanos()
        let busyBefore = machineBusySeconds()
        let ownBefore = ownCPUSeconds()
        let rows: [(String, Double)] = [
            ("Account encode: CopsLink (protobuf-c)", median { Self.consume(account.serializedBytes()) }),
            ("Account encode: swift-protobuf", median { Self.consume(try! message.serializedBytes() as [UInt8]) }),
            (
                "Account decode: CopsLink (protobuf-c, arena)",
                median { bytes.withUnsafeBytes { Self.consume(try! Account(serializedBytes: $0)) } }
            ),
            ("Account decode: swift-protobuf", median { Self.consume(try! Copslink_V1_Account(serializedBytes: bytes)) })
        ]
        var line = ResultLine()
        line.set("benchmark", "codec-timing")
        line.set("bytes", bytes.count)
        let seconds = Double(nowNanos() - started) / 1e9
        line.set("seconds", seconds)
        if let busyBefore, let busyAfter = machineBusySeconds() {
            line.set("other_cpu_s", max(0, busyAfter - busyBefore - (ownCPUSeconds() - ownBefore)))
        }
        for (name, ns) in rows {
            print("\(name): \(Int(ns)) ns")
            line.set(name, ns)
        }
        line.emit()
    }
}

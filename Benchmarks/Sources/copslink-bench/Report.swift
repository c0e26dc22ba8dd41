import ArgumentParser
import Foundation

/// Turns a run's RESULT lines (and the codec benchmark's figures) into one Markdown table with ratios and the
/// targets, prints it, and optionally replaces the part of BENCHMARKS.md between the markers.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prints the table of a run's RESULT lines; with --markdown, writes it into BENCHMARKS.md between markers.")

    @Option(help: "File of RESULT lines (one JSON object each, optionally prefixed by 'RESULT ').") var results: String
    @Option(help: "Directory of package-benchmark's histogramPercentiles export of CodecBenchmarks.") var codecDir: String?
    @Option(help: "Markdown file to update between '<!-- bench:begin -->' and '<!-- bench:end -->'.") var markdown: String?
    @Option(help: "One line about the run (date, mode), shown above the table.") var note = ""

    /// p50 per operation of each codec benchmark: wall clock in ns, and mallocs, from files named
    /// `BASELINE.CodecBenchmarks.NAME.METRIC.histogram.percentiles.tsv` (spaces in NAME exported as '_').
    static func readCodec(_ directory: String) -> [String: (ns: Double, mallocs: Double)] {
        var ns: [String: Double] = [:]
        var mallocs: [String: Double] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for file in files where file.hasSuffix(".histogram.percentiles.tsv") {
            guard let targetRange = file.range(of: ".CodecBenchmarks."),
                let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            else { continue }
            let rest = file[targetRange.upperBound...].dropLast(".histogram.percentiles.tsv".count)
            guard let dot = rest.lastIndex(of: ".") else { continue }
            let name = rest[..<dot].replacingOccurrences(of: "_", with: " ")
            let metric = rest[rest.index(after: dot)...]
            let lines = text.split(separator: "\n")
            guard let header = lines.first, let median = lines.first(where: { $0.hasPrefix("50\t") }),
                let value = Double(median.split(separator: "\t")[1])
            else { continue }
            switch metric {
            case "wallClock":
                let scale =
                    header.contains("(ms)")
                    ? 1e6 : (header.contains("(μs)") || header.contains("(us)")) ? 1e3 : header.contains("(s)") ? 1e9 : 1
                ns[name] = value * scale
            case "mallocCountTotal":
                mallocs[name] = value
            default:
                continue
            }
        }
        var rows: [String: (ns: Double, mallocs: Double)] = [:]
        for (name, time) in ns { rows[name] = (time, mallocs[name] ?? .nan) }
        return rows
    }

    static let begin = "<!-- bench:begin -->"
    static let end = "<!-- bench:end -->"

    func run() throws {
        let lines = try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n")
        var records: [[String: Any]] = []
        for line in lines {
            var text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("RESULT ") { text.removeFirst(7) }
            guard text.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                continue
            }
            records.append(object)
        }
        let codecRows = codecDir.map(Self.readCodec) ?? [:]
        let table = Table(records: records, codec: codecRows).render(note: note)
        print(table)
        if let markdown {
            let existing = (try? String(contentsOfFile: markdown, encoding: .utf8)) ?? "\(Self.begin)\n\(Self.end)\n"
            guard let start = existing.range(of: Self.begin), let stop = existing.range(of: Self.end), start.upperBound <= stop.lowerBound
            else {
                throw ValidationError("\(markdown) has no '\(Self.begin)' … '\(Self.end)' markers")
            }
            let updated = existing[..<start.upperBound] + "\n" + table + "\n" + existing[stop.lowerBound...]
            try String(updated).write(toFile: markdown, atomically: true, encoding: .utf8)
        }
    }
}

private struct Table {
    let records: [[String: Any]]
    let codec: [String: (ns: Double, mallocs: Double)]

    static let loads: [(outstanding: Int, connections: Int)] = [(1, 1), (16, 1), (64, 1), (64, 8)]
    static let targets = ["copslink", "grpc", "echo"]

    func find(_ benchmark: String, target: String? = nil, outstanding: Int? = nil, connections: Int? = nil) -> [String: Any]? {
        records.last { record in
            record["benchmark"] as? String == benchmark && (target == nil || record["target"] as? String == target)
                && (outstanding == nil || record["outstanding"] as? Int == outstanding)
                && (connections == nil || record["connections"] as? Int == connections)
        }
    }

    func unary(_ target: String, _ load: (outstanding: Int, connections: Int)) -> [String: Any]? {
        find("unary", target: target, outstanding: load.outstanding, connections: load.connections)
    }

    /// The last `drive-writes` record of `mix` at `outstanding`, on `store` with `instances` servers.
    func writes(_ mix: String, outstanding: Int, store: String = "sqlite", instances: Int = 1) -> [String: Any]? {
        records.last { record in
            record["benchmark"] as? String == "writes" && record["mix"] as? String == mix && record["outstanding"] as? Int == outstanding
                && Self.store(record) == store && Self.instances(record) == instances
        }
    }

    /// The store of an account-service record (records from before PostgreSQL rows have none: SQLite).
    static func store(_ record: [String: Any]) -> String { record["store"] as? String ?? "sqlite" }

    /// The server instances of a record (one unless recorded).
    static func instances(_ record: [String: Any]) -> Int { record["instances"] as? Int ?? 1 }

    /// Account-service records of `benchmark` on `store`.
    func service(_ benchmark: String, store: String) -> [[String: Any]] {
        records.filter { $0["benchmark"] as? String == benchmark && Self.store($0) == store }
    }

    static func number(_ value: Any?) -> Double? {
        (value as? Double) ?? (value as? Int).map(Double.init) ?? (value as? NSNumber)?.doubleValue
    }

    static func format(_ value: Double?, digits: Int = 0) -> String {
        guard let value, value.isFinite else { return "–" }
        let text = String(format: "%.\(digits)f", abs(value))
        let parts = text.split(separator: ".", maxSplits: 1)
        var whole = String(parts[0])
        var grouped = ""
        while whole.count > 3 {
            grouped = "," + whole.suffix(3) + grouped
            whole.removeLast(3)
        }
        grouped = whole + grouped
        if parts.count > 1 { grouped += "." + parts[1] }
        return (value < 0 && text.contains(where: { $0 != "0" && $0 != "." }) ? "-" : "") + grouped
    }

    /// Latency in µs, with precision that suits its size.
    static func micros(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        if value >= 10_000 { return format(value / 1000, digits: 1) + " ms" }
        return format(value, digits: value < 100 ? 1 : 0)
    }

    /// A latency in µs with its unit: "812 µs", "4.8 ms".
    static func duration(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        if value >= 1000 { return format(value / 1000, digits: value >= 100_000 ? 0 : 1) + " ms" }
        return format(value, digits: value < 100 ? 1 : 0) + " µs"
    }

    static func ratio(_ a: Double?, _ b: Double?, digits: Int = 1) -> String {
        guard let a, let b, b > 0 else { return "–" }
        return format(a / b, digits: digits) + "×"
    }

    static func percent(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b, b > 0 else { return "–" }
        return format(100 * a / b, digits: 0) + " %"
    }

    static func mib(_ kib: Double?) -> String {
        guard let kib else { return "–" }
        return format(kib / 1024, digits: 1) + " MiB"
    }

    func render(note: String) -> String {
        var out: [String] = []
        if !note.isEmpty {
            out.append(note)
            out.append("")
        }
        // CPU that neither the server nor the driver used during the windows: other processes on the machine.
        let others = records.compactMap { record -> (Double, String)? in
            guard let other = Self.number(record["other_cpu_s"]), let seconds = Self.number(record["seconds"]), seconds > 0 else {
                return nil
            }
            let label = [record["benchmark"], record["target"], record["outstanding"]].compactMap { $0.map { "\($0)" } }.joined(
                separator: " ")
            return (other / seconds, label)
        }
        if let worst = others.max(by: { $0.0 < $1.0 }), worst.0 >= 0.15 {
            let mean = others.map(\.0).reduce(0, +) / Double(others.count)
            out.append(
                "⚠ Other processes kept \(Self.format(mean, digits: 2)) cores busy on average during the measured windows "
                    + "(up to \(Self.format(worst.0, digits: 2)) during \(worst.1)); figures are lower than on an idle machine.")
            out.append("")
        }
        out.append(contentsOf: unaryTable())
        out.append("")
        if Self.loads.contains(where: { unary("copslink-grpc", $0) != nil }) {
            out.append(contentsOf: grpcTable())
            out.append("")
        }
        out.append(contentsOf: serviceTable())
        if !service("getaccount", store: "postgres").isEmpty || !service("writes", store: "postgres").isEmpty {
            out.append("")
            out.append(contentsOf: postgresTable())
        }
        if !codec.isEmpty {
            out.append("")
            out.append(contentsOf: codecTable())
        }
        out.append("")
        out.append(contentsOf: targetList())
        return out.joined(separator: "\n")
    }

    func unaryTable() -> [String] {
        var out = [
            "**Unary call, 200-byte request / 600-byte response** (closed loop; CopsLink · grpc-swift-2 · NIO echo)",
            "",
            "| Load | CopsLink calls/s | gRPC calls/s | NIO echo calls/s | CopsLink ÷ gRPC | CopsLink ÷ echo | p50 µs | p99 µs | server CPU µs/call |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        ]
        for load in Self.loads {
            let rows = Self.targets.map { unary($0, load) }
            guard rows.contains(where: { $0 != nil }) else { continue }
            let throughput = rows.map { Self.number($0?["throughput"]) }
            let (label, p50, p99, cpu) = Self.loadCells(rows, load)
            out.append(
                "| \(label) | \(Self.format(throughput[0])) | \(Self.format(throughput[1])) | \(Self.format(throughput[2])) | "
                    + "\(Self.ratio(throughput[0], throughput[1])) | \(Self.percent(throughput[0], throughput[2])) | \(p50) | \(p99) | \(cpu) |"
            )
        }
        return out
    }

    /// The cells a load's row of side-by-side targets shares: the load (with the errors, if any), then p50, p99 and
    /// server CPU per call, each as the targets' values joined by " · ".
    static func loadCells(_ rows: [[String: Any]?], _ load: (outstanding: Int, connections: Int)) -> (String, String, String, String) {
        let p50 = rows.map { micros(number($0?["p50_us"])) }.joined(separator: " · ")
        let p99 = rows.map { micros(number($0?["p99_us"])) }.joined(separator: " · ")
        let cpu = rows.map { row -> String in
            guard let value = number(row?["server_cpu_us_per_call"]) else { return "–" }
            return format(value, digits: value < 10 ? 2 : 1)
        }.joined(separator: " · ")
        let errors = rows.compactMap { number($0?["errors"]) }.reduce(0, +)
        let label =
            "\(load.outstanding) outstanding, \(load.connections) connection\(load.connections == 1 ? "" : "s")"
            + (errors > 0 ? " (\(Int(errors)) errors)" : "")
        return (label, p50, p99, cpu)
    }

    /// CopsLink's gRPC endpoint and grpc-swift-2's server, both driven by the same grpc-swift-2 client.
    func grpcTable() -> [String] {
        var out = [
            "**gRPC endpoints, the same grpc-swift-2 client** (CopsLink's `TestService/UnaryCall` over its gRPC endpoint, "
                + "the same 200-byte request and 600-byte payload · grpc-swift-2's own server)",
            "",
            "| Load | CopsLink gRPC calls/s | grpc-swift-2 calls/s | CopsLink ÷ grpc-swift-2 | p50 µs | p99 µs | server CPU µs/call |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        ]
        for load in Self.loads {
            let rows = ["copslink-grpc", "grpc"].map { unary($0, load) }
            guard rows.contains(where: { $0 != nil }) else { continue }
            let throughput = rows.map { Self.number($0?["throughput"]) }
            let (label, p50, p99, cpu) = Self.loadCells(rows, load)
            out.append(
                "| \(label) | \(Self.format(throughput[0])) | \(Self.format(throughput[1])) | \(Self.ratio(throughput[0], throughput[1])) | "
                    + "\(p50) | \(p99) | \(cpu) |")
        }
        return out
    }

    func serviceTable() -> [String] {
        var out = [
            "**Account service** (CopsLink with the SQLite store)",
            "",
            "| Benchmark | Result | Compared |",
            "| --- | --- | --- |"
        ]
        for record in service("getaccount", store: "sqlite") {
            let outstanding = record["outstanding"] as? Int ?? 0
            let connections = record["connections"] as? Int ?? 1
            let throughput = Self.number(record["throughput"])
            let unary = find("unary", target: "copslink", outstanding: outstanding, connections: connections)
            let unaryThroughput = Self.number(unary?["throughput"])
            let accounts = Self.number(record["accounts"]).map { Self.format($0) } ?? "100,000"
            let size = Self.number(record["account_bytes"]).map { " (\(Self.format($0))-byte `Account`)" } ?? ""
            let errors = Self.number(record["errors"]) ?? 0
            out.append(
                "| GetAccount, \(accounts) accounts\(size), \(outstanding) outstanding\(errors > 0 ? " (\(Int(errors)) errors)" : "") | "
                    + "\(Self.format(throughput)) calls/s, p50 \(Self.duration(Self.number(record["p50_us"]))), "
                    + "p99 \(Self.duration(Self.number(record["p99_us"]))), server CPU "
                    + "\(Self.format(Self.number(record["server_cpu_us_per_call"]), digits: 1)) µs/call | "
                    + "\(Self.percent(throughput, unaryThroughput)) of the unary echo's throughput at the same load; p99 "
                    + "\(Self.ratio(Self.number(record["p99_us"]), Self.number(unary?["p99_us"]))) its p99 |")
        }
        for record in records where record["benchmark"] as? String == "getaccount-http" {
            let connections = record["connections"] as? Int ?? 0
            let throughput = Self.number(record["throughput"])
            let native = service("getaccount", store: "sqlite").first { $0["outstanding"] as? Int == connections }
            let errors = Self.number(record["errors"]) ?? 0
            out.append(
                "| GetAccount over HTTP/JSON (wrk, \(connections) connections, one request each)\(errors > 0 ? " (\(Int(errors)) errors)" : "") | "
                    + "\(Self.format(throughput)) calls/s, p50 \(Self.duration(Self.number(record["p50_us"]))), "
                    + "p99 \(Self.duration(Self.number(record["p99_us"]))), server CPU "
                    + "\(Self.format(Self.number(record["server_cpu_us_per_call"]), digits: 1)) µs/call | "
                    + "\(Self.percent(throughput, Self.number(native?["throughput"]))) of native GetAccount at \(connections) outstanding; "
                    + "server CPU \(Self.ratio(Self.number(record["server_cpu_us_per_call"]), Self.number(native?["server_cpu_us_per_call"]))) its |"
            )
        }
        for record in service("writes", store: "sqlite") {
            let mix = record["mix"] as? String ?? ""
            let outstanding = record["outstanding"] as? Int ?? 0
            let perUnit = Self.number(record["writes_per_unit"]) ?? 1
            let throughput = Self.number(record["throughput"])
            let single = Self.number(writes(mix, outstanding: 1)?["throughput"])
            let errors = Self.number(record["errors"]) ?? 0
            let (what, unit) =
                mix == "place-test" ? ("PlaceOnTest + PlaceOffTest pairs", "pairs/s") : ("LinkAccount of a new customer", "calls/s")
            let label = "Writes: \(what), \(outstanding) outstanding" + (errors > 0 ? " (\(Int(errors)) errors)" : "")
            let cpu = Self.number(record["server_cpu_us_per_call"]).map { $0 / perUnit }
            let writesPerSecond = throughput.map { $0 * perUnit }
            let result =
                "\(Self.format(throughput)) \(unit) (\(Self.format(writesPerSecond)) writes/s), "
                + "p50 \(Self.duration(Self.number(record["p50_us"]))), p99 \(Self.duration(Self.number(record["p99_us"]))), "
                + "server CPU \(Self.format(cpu, digits: 1)) µs/write"
            let compared =
                outstanding == 1
                ? "one commit (fsync, `synchronous = FULL`) per write" : "\(Self.ratio(throughput, single)) the 1-outstanding rate"
            out.append("| \(label) | \(result) | \(compared) |")
        }
        if let record = find("fsync") {
            out.append(
                "| The disk: append then `fdatasync`, as a commit syncs its WAL (`copslink-bench fsync-probe`) | "
                    + "8 KiB (a lone write's commit): p50 \(Self.duration(Self.number(record["small_p50_us"]))), "
                    + "p99 \(Self.duration(Self.number(record["small_p99_us"]))); 128 KiB (a batch's): p50 "
                    + "\(Self.duration(Self.number(record["batch_p50_us"]))), p99 \(Self.duration(Self.number(record["batch_p99_us"]))) | "
                    + "what group commit shares: the less it is against a write's own work, the less sharing it gains |")
        }
        if let record = find("testdata") {
            let rowsPerRun = Self.number(record["rows_per_run"])
            let pageSize = (record["page_size"] as? Int).map { $0 == 0 ? 500 : $0 } ?? 500
            out.append(
                "| RequestTestData, a year of results (\(Self.format(rowsPerRun)) rows, pages of \(pageSize)), "
                    + "\(record["streams"] as? Int ?? 1) stream(s), repeated | "
                    + "\(Self.format(Self.number(record["rows_per_second"]))) rows/s, "
                    + "\(Self.format(Self.number(record["run_p50_ms"]), digits: 0)) ms per year (p50), server CPU "
                    + "\(Self.format(Self.number(record["server_cpu_us_per_row"]), digits: 2)) µs/row | "
                    + "server peak RSS \(Self.mib(Self.number(record["server_peak_rss_kib"]))) "
                    + "(\(Self.mib(Self.number(record["server_peak_before_kib"]))) before streaming) |")
        }
        for target in Self.targets {
            guard let record = find("idle", target: target) else { continue }
            let name = ["copslink": "CopsLink", "grpc": "grpc-swift-2", "echo": "NIO echo"][target]!
            let connections = Self.number(record["connections"])
            let before = Self.number(record["server_rss_before_kib"])
            let after = Self.number(record["server_rss_after_kib"])
            var problems: [String] = []
            for key in ["failed_connects", "unanswered", "closed_by_server"] {
                if let value = Self.number(record[key]), value > 0 {
                    problems.append("\(Int(value)) \(key.replacingOccurrences(of: "_", with: " "))")
                }
            }
            out.append(
                "| \(Self.format(connections)) idle connections, \(name)\(problems.isEmpty ? "" : " (" + problems.joined(separator: ", ") + ")") | "
                    + "server RSS \(Self.mib(before)) → \(Self.mib(after)) | "
                    + "\(Self.format(Self.number(record["server_kib_per_connection"]), digits: 1)) KiB per connection |")
        }
        return out
    }

    static let codecNames = (
        copsEncode: "Account encode: CopsLink (protobuf-c)", protoEncode: "Account encode: swift-protobuf",
        copsDecode: "Account decode: CopsLink (protobuf-c, arena)", protoDecode: "Account decode: swift-protobuf",
        naiveUnpack: "protobuf-c unpack: default allocator (naive)", arenaUnpack: "protobuf-c unpack: arena allocator"
    )

    func codecTable() -> [String] {
        let names = Self.codecNames
        func cell(_ name: String) -> (String, String) {
            guard let row = codec[name] else { return ("–", "–") }
            return (
                Self.format(row.ns, digits: 0),
                Self.format(row.mallocs, digits: row.mallocs < 10 && row.mallocs != row.mallocs.rounded() ? 1 : 0)
            )
        }
        func sum(_ a: String, _ b: String) -> Double? {
            guard let x = codec[a], let y = codec[b] else { return nil }
            return x.ns + y.ns
        }
        let copsTotal = sum(names.copsEncode, names.copsDecode)
        let protoTotal = sum(names.protoEncode, names.protoDecode)
        // The same operations timed by `copslink-bench codec-timing`, without the malloc interposer.
        let plain = records.last { $0["benchmark"] as? String == "codec-timing" }
        func plainNs(_ name: String) -> Double? { plain.flatMap { Self.number($0[name]) } }
        var out = [
            "**Codec: the 869-byte `Account`** (package-benchmark: p50 per operation and mallocs per operation; "
                + "in brackets, median ns/op of `copslink-bench codec-timing`, the same loop without the malloc interposer)",
            "",
            "| | CopsLink (protobuf-c) ns | swift-protobuf ns | swift-protobuf ÷ CopsLink | mallocs CopsLink · swift-protobuf |",
            "| --- | ---: | ---: | ---: | ---: |"
        ]
        func withPlain(_ text: String, _ value: Double?) -> String { value.map { "\(text) (\(Self.format($0)))" } ?? text }
        for (label, cops, proto) in [("encode", names.copsEncode, names.protoEncode), ("decode", names.copsDecode, names.protoDecode)] {
            let (copsNs, copsMallocs) = cell(cops)
            let (protoNs, protoMallocs) = cell(proto)
            out.append(
                "| \(label) | \(withPlain(copsNs, plainNs(cops))) | \(withPlain(protoNs, plainNs(proto))) | "
                    + "\(Self.ratio(codec[proto]?.ns, codec[cops]?.ns))"
                    + "\(plainNs(cops) != nil && plainNs(proto) != nil ? " (" + Self.ratio(plainNs(proto), plainNs(cops)) + ")" : "") | "
                    + "\(copsMallocs) · \(protoMallocs) |")
        }
        let plainCops = plainNs(names.copsEncode).flatMap { e in plainNs(names.copsDecode).map { e + $0 } }
        let plainProto = plainNs(names.protoEncode).flatMap { e in plainNs(names.protoDecode).map { e + $0 } }
        out.append(
            "| encode + decode | \(withPlain(Self.format(copsTotal), plainCops)) | \(withPlain(Self.format(protoTotal), plainProto)) | "
                + "\(Self.ratio(protoTotal, copsTotal))\(plainCops != nil && plainProto != nil ? " (" + Self.ratio(plainProto, plainCops) + ")" : "") | |"
        )
        if let other = plain.flatMap({ Self.number($0["other_cpu_s"]) }), let seconds = plain.flatMap({ Self.number($0["seconds"]) }),
            seconds > 0, other / seconds >= 0.15
        {
            out.append("")
            out.append("⚠ Other processes kept \(Self.format(other / seconds, digits: 2)) cores busy during `codec-timing`.")
        }
        let (naiveNs, naiveMallocs) = cell(names.naiveUnpack)
        let (arenaNs, arenaMallocs) = cell(names.arenaUnpack)
        out.append("")
        out.append(
            "protobuf-c's unpack alone: \(naiveNs) ns and \(naiveMallocs) mallocs with its default allocator (plus free_unpacked), "
                + "\(arenaNs) ns and \(arenaMallocs) mallocs with CopsLink's arena (`ProtobufArena` as a `ProtobufCAllocator`).")
        return out
    }

    /// The account service on PostgreSQL, one instance and two on one database, beside the SQLite rows.
    func postgresTable() -> [String] {
        var out = [
            "**Account service on PostgreSQL** (the same machine: PostgreSQL 15 with its durable defaults, `fsync` and "
                + "`synchronous_commit` on; two instances share one database and the driver's connections alternate over "
                + "them; server CPU is the instances' together, PostgreSQL's own not included)",
            "",
            "| Benchmark | Result | Compared |",
            "| --- | --- | --- |"
        ]
        func instancesText(_ count: Int) -> String { count == 1 ? "1 instance" : "\(count) instances" }
        func result(_ record: [String: Any], unit: String, perUnit: Double = 1) -> String {
            let throughput = Self.number(record["throughput"])
            let cpu = Self.number(record["server_cpu_us_per_call"]).map { $0 / perUnit }
            return "\(Self.format(throughput)) \(unit), p50 \(Self.duration(Self.number(record["p50_us"]))), "
                + "p99 \(Self.duration(Self.number(record["p99_us"]))), server CPU \(Self.format(cpu, digits: 1)) µs/"
                + (perUnit == 1 ? "call" : "write")
        }
        for record in service("getaccount", store: "postgres") {
            let outstanding = record["outstanding"] as? Int ?? 0
            let instances = Self.instances(record)
            let errors = Self.number(record["errors"]) ?? 0
            let sqlite = service("getaccount", store: "sqlite").last { $0["outstanding"] as? Int == outstanding }
            let single = service("getaccount", store: "postgres").last {
                $0["outstanding"] as? Int == outstanding && Self.instances($0) == 1
            }
            var compared = "\(Self.percent(Self.number(record["throughput"]), Self.number(sqlite?["throughput"]))) of GetAccount on SQLite"
            if instances > 1 {
                compared += "; \(Self.ratio(Self.number(record["throughput"]), Self.number(single?["throughput"]))) one instance's"
            }
            out.append(
                "| GetAccount, \(instancesText(instances)), \(outstanding) outstanding\(errors > 0 ? " (\(Int(errors)) errors)" : "") | "
                    + result(record, unit: "calls/s") + " | \(compared) |")
        }
        for record in service("writes", store: "postgres") {
            let mix = record["mix"] as? String ?? ""
            let outstanding = record["outstanding"] as? Int ?? 0
            let instances = Self.instances(record)
            let perUnit = Self.number(record["writes_per_unit"]) ?? 1
            let errors = Self.number(record["errors"]) ?? 0
            let (what, unit) = mix == "place-test" ? ("PlaceOnTest + PlaceOffTest pairs", "pairs/s") : ("LinkAccount", "calls/s")
            let throughput = Self.number(record["throughput"])
            var compared: [String] = []
            if outstanding > 1 {
                let single = Self.number(writes(mix, outstanding: 1, store: "postgres")?["throughput"])
                compared.append("\(Self.ratio(throughput, single)) one instance at 1 outstanding")
            }
            if instances > 1 {
                let one = Self.number(writes(mix, outstanding: outstanding, store: "postgres")?["throughput"])
                compared.append("\(Self.ratio(throughput, one)) one instance at \(outstanding)")
            }
            let sqlite = Self.number(writes(mix, outstanding: outstanding)?["throughput"])
            compared.append("\(Self.percent(throughput, sqlite)) of SQLite's rate")
            out.append(
                "| Writes: \(what), \(instancesText(instances)), \(outstanding) outstanding"
                    + "\(errors > 0 ? " (\(Int(errors)) errors)" : "") | "
                    + result(record, unit: unit, perUnit: perUnit) + " | \(compared.joined(separator: "; ")) |")
        }
        return out
    }

    func targetList() -> [String] {
        var out = ["**Targets** (same run)", ""]
        func line(_ met: Bool?, _ text: String) {
            let mark = met.map { $0 ? "met" : "**missed**" } ?? "not measured"
            out.append("- \(text): \(mark)")
        }
        for outstanding in [16, 64] {
            let cops = Self.number(unary("copslink", (outstanding, 1))?["throughput"])
            let grpc = Self.number(unary("grpc", (outstanding, 1))?["throughput"])
            let met: Bool? = (cops != nil && grpc != nil) ? cops! >= 10 * grpc! : nil
            line(met, "CopsLink ≥ 10× grpc-swift-2 throughput at \(outstanding) outstanding (1 connection): \(Self.ratio(cops, grpc))")
        }
        do {
            let cops = unary("copslink-grpc", (64, 1))
            let grpc = unary("grpc", (64, 1))
            let throughput = (Self.number(cops?["throughput"]), Self.number(grpc?["throughput"]))
            let cpu = (Self.number(cops?["server_cpu_us_per_call"]), Self.number(grpc?["server_cpu_us_per_call"]))
            var met: Bool?
            if let a = throughput.0, let b = throughput.1, let c = cpu.0, let d = cpu.1 { met = a >= 2 * b && c < d }
            line(
                met,
                "CopsLink's gRPC endpoint ≥ 2× grpc-swift-2's server at 64 outstanding, with lower server CPU per call: "
                    + "\(Self.ratio(throughput.0, throughput.1)), CPU \(Self.format(cpu.0, digits: 2)) vs \(Self.format(cpu.1, digits: 2)) µs"
            )
        }
        for (mix, what) in [("place-test", "PlaceOnTest + PlaceOffTest pairs"), ("link", "LinkAccount")] {
            let single = Self.number(writes(mix, outstanding: 1)?["throughput"])
            let sixteen = Self.number(writes(mix, outstanding: 16)?["throughput"])
            let met: Bool? = (single != nil && sixteen != nil) ? sixteen! >= 8 * single! : nil
            line(met, "Writes (\(what)) at 16 outstanding ≥ 8× the 1-outstanding rate: \(Self.ratio(sixteen, single))")
        }
        do {
            let cops = Self.number(unary("copslink", (64, 1))?["throughput"])
            let echo = Self.number(unary("echo", (64, 1))?["throughput"])
            let met: Bool? = (cops != nil && echo != nil) ? cops! >= 0.25 * echo! : nil
            line(met, "CopsLink ≥ 25 % of the NIO floor at 64 outstanding: \(Self.percent(cops, echo))")
        }
        do {
            let cops = Self.number(unary("copslink", (1, 1))?["p50_us"])
            let echo = Self.number(unary("echo", (1, 1))?["p50_us"])
            let met: Bool? = (cops != nil && echo != nil) ? cops! <= 2 * echo! : nil
            line(
                met,
                "CopsLink p50 at 1 outstanding ≤ 2× the floor's: \(Self.duration(cops)) vs \(Self.duration(echo)) (\(Self.ratio(cops, echo)))"
            )
        }
        do {
            let names = Self.codecNames
            let cops = codec[names.copsEncode].flatMap { e in codec[names.copsDecode].map { e.ns + $0.ns } }
            let proto = codec[names.protoEncode].flatMap { e in codec[names.protoDecode].map { e.ns + $0.ns } }
            let met: Bool? = (cops != nil && proto != nil) ? proto! >= 2 * cops! : nil
            // The same loop without the malloc interposer, whose cost per malloc favours the codec that allocates less.
            let plain = records.last { $0["benchmark"] as? String == "codec-timing" }
            func plainNs(_ name: String) -> Double? { plain.flatMap { Self.number($0[name]) } }
            let plainCops = plainNs(names.copsEncode).flatMap { e in plainNs(names.copsDecode).map { e + $0 } }
            let plainProto = plainNs(names.protoEncode).flatMap { e in plainNs(names.protoDecode).map { e + $0 } }
            var text = "Codec encode + decode ≥ 2× faster than swift-protobuf: \(Self.ratio(proto, cops)) with package-benchmark"
            if let plainCops, let plainProto {
                let plainMet = plainProto >= 2 * plainCops
                text += " (\(Self.ratio(plainProto, plainCops)) without its malloc interposer: \(plainMet ? "met" : "**missed**"))"
            }
            line(met, text)
            let naive = codec[names.naiveUnpack]?.mallocs
            let arena = codec[names.arenaUnpack]?.mallocs
            let cut: Bool? = (naive != nil && arena != nil) ? arena! < naive! : nil
            line(cut, "protobuf-c unpack allocations cut by the arena: \(Self.format(naive)) → \(Self.format(arena)) mallocs per unpack")
        }
        return out
    }
}

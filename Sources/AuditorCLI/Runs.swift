// `auditor history`, `auditor diff RUN_A RUN_B`, `auditor report RUN`: reading the store of audit runs.
import ArgumentParser
import Foundation
import Audit
import Report
import Store
import Yams

struct StoreOptions: ParsableArguments {
    @Option(help: "SQLite store of runs.") var db = "reports/auditor.sqlite"

    /// An existing store: reading commands never create one.
    func open() throws -> Store {
        guard FileManager.default.fileExists(atPath: db) else {
            throw InputError(db, "no such store (run `auditor audit SPEC` first, or pass --db)")
        }
        return try openStoreForReading(db)
    }
}

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List audit runs, newest first, with their verdicts.",
        discussion: "Status: passed (every threshold holds), breached, interrupted (the process stopped midway), failed (bad input).")
    @OptionGroup var store: StoreOptions
    @Option(help: "Show at most this many runs.") var limit = 20
    @Flag(help: "One JSON object per run instead of a table.") var json = false

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be >= 1") }
        try atMost(limit, Limits.count, "--limit")
    }

    func run() throws {
        try reportingErrors {
            let runs = try store.open().runs(limit: limit)
            if json {
                for r in runs {
                    print(jsonLine(["id": r.id, "name": r.name, "status": r.status.rawValue, "started_at": r.startedAt,
                                    "duration_s": r.durationSeconds.map { $0 as Any } ?? NSNull(), "verdict": r.verdict ?? NSNull(),
                                    "spec": r.specPath]))
                }
                return
            }
            if runs.isEmpty { print("no runs in \(store.db)"); return }
            let rows = runs.map { r in
                [r.id, r.startedAt, r.status.rawValue, r.durationSeconds.map { String(format: "%.1f s", $0) } ?? "-",
                 r.name + (r.verdict.map { ": " + $0 } ?? "")]
            }
            print(table(["RUN", "STARTED", "STATUS", "TIME", "NAME: VERDICT"], rows))
        }
    }
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two runs metric by metric: values, intervals, the change and whether it exceeds the intervals.",
        discussion: """
            RUN is a run id, a unique prefix of one, or 'latest'. A change 'exceeds the intervals' when the two 95% \
            intervals do not overlap (a conservative test); figures without intervals show 'n/a'. Thresholds and the \
            hashes of what was audited are compared too.
            """)
    @OptionGroup var store: StoreOptions
    @Argument(help: "The earlier run.") var runA: String
    @Argument(help: "The later run.") var runB: String
    @Flag(help: "JSON instead of a table.") var json = false

    func run() throws {
        try reportingErrors {
            let st = try store.open()
            let d = RunDiff(try st.load(runID: try st.resolveRun(runA)), try st.load(runID: try st.resolveRun(runB)))
            let a = d.a, b = d.b, notes = d.notes
            let rows = d.rows.map { r in
                [r.key, r.a.map(show) ?? "-", r.b.map(show) ?? "-", r.change.map { String(format: "%+.3f", $0) } ?? "-", r.exceedsIntervals]
            }
            let out: [[String: Any]] = d.rows.map { r in
                ["metric": r.key, "a": r.a.map(json) ?? NSNull(), "b": r.b.map(json) ?? NSNull(),
                 "change": r.change.map { $0 as Any } ?? NSNull(), "exceeds_intervals": r.exceedsIntervals]
            }
            let checks = d.checks.map { [$0.expression, $0.a, $0.b] }
            if json {
                print(jsonLine(["a": a.run.id, "b": b.run.id, "metrics": out, "notes": notes,
                                "checks": checks.map { ["expression": $0[0], "a": $0[1], "b": $0[2]] }]))
                return
            }
            print(consoleSafe("A: \(a.run.id)  \(a.run.status.rawValue)  \(a.run.name)"))
            print(consoleSafe("B: \(b.run.id)  \(b.run.status.rawValue)  \(b.run.name)"))
            notes.forEach { print(consoleSafe($0)) }
            print("")
            print(table(["METRIC", "A [95% CI]", "B [95% CI]", "CHANGE", "EXCEEDS CI"], rows))
            if !checks.isEmpty { print(""); print(table(["THRESHOLD", "A", "B"], checks)) }
        }
    }

    private func show(_ m: MetricRecord) -> String {
        String(format: "%.3f", m.value) + (m.lower.map { String(format: " [%.3f, %.3f]", $0, m.upper!) } ?? "")
    }
    private func json(_ m: MetricRecord) -> [String: Any] {
        ["value": m.value, "ci95": m.lower.map { [$0, m.upper!] as Any } ?? NSNull()]
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render a stored run's report again (report.md, report.html, summary.json, junit.xml).",
        discussion: "RUN is a run id, a unique prefix of one, or 'latest'. Writes REPORTS/<run-id>/, replacing what is there.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The run.") var runID: String
    @Option(help: "Folder for reports.") var reports = "reports"
    @Flag(help: "Include secrets (canaries, generated text) in the report.") var showSecrets = false

    func run() throws {
        try reportingErrors {
            let st = try store.open()
            let r = try st.load(runID: try st.resolveRun(runID))
            // Title and histogram bins come from the stored spec; it parsed when the run was made.
            let spec = (try? Yams.load(yaml: r.run.specText)) as? [String: Any]
            let rep = spec?["report"] as? [String: Any]
            let options = ReportOptions(showSecrets: showSecrets, title: rep?["title"] as? String,
                                        histogramBins: rep?["histogram_bins"] as? Int ?? 20)
            let dir = (reports as NSString).appendingPathComponent(r.run.id)
            _ = try Report.write(r, to: dir, options: options)
            print("report: \((dir as NSString).appendingPathComponent("report.md"))")
        }
    }
}

/// A plain text table, columns padded to their widest cell.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let rows = rows.map { $0.map(consoleSafe) }  // run names and verdicts come from specs: shown, never obeyed
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max()! }
    return all.map { r in
        r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}

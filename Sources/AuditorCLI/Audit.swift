// `auditor audit SPEC`: parse, run the spec through the Audit library, write the report, print the verdict.
import ArgumentParser
import Audit
import Foundation
import Report
import Store
import Tensor

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Run an audit spec (audits/*.yml): attacks, thresholds, a stored run and a report.",
        discussion: """
            Scores every member and non-member text once per checkpoint (LOSS, zlib, Min-K%, Min-K%++ and the \
            reference attack all come from those passes), then runs extraction, canary exposure and copyright-trap \
            tests as the spec asks. Each finished step is committed to the SQLite store in one transaction; a run \
            that stops early is marked interrupted. The report goes to REPORTS/<run-id>/: report.md, report.html \
            (self-contained, inline SVG charts), summary.json and junit.xml (one test case per threshold). \
            It prints the verdict, each breached threshold, the report's warnings (e.g. a blind baseline that \
            separates members from non-members) and the paths of those files; --quiet only the verdict and the paths, \
            and no progress bars. \
            --json prints the summary (what summary.json holds) on stdout and nothing else there; the verdict, \
            warnings and paths then go to stderr with the progress lines. \
            Exit status: 0 every threshold holds, 1 a threshold is breached, 2 bad input (spec, checkpoint, data). \
            Canaries, generated text and other secrets are redacted unless --show-secrets is given.
            """)

    @Argument(help: "The audit spec (YAML).") var spec: String
    @Option(help: "SQLite store of runs.") var db = "reports/auditor.sqlite"
    @Option(help: "Folder for reports; each run writes REPORTS/<run-id>/.") var reports = "reports"
    @Flag(help: "Include secrets (canaries, generated text) in the report.") var showSecrets = false
    @Option(help: "Threads for matrix products (default: all cores).") var threads: Int?
    @OptionGroup(title: "Served model (replaces the spec's target)") var remote: EndpointOptions
    @Flag(help: "Print only the verdict line and the paths of the outputs (no breached checks, no warnings, no progress).") var quiet = false
    @Flag(help: "Print the summary (summary.json) on stdout; the verdict, warnings and paths go to stderr.") var json = false

    func validate() throws {
        if let threads, threads < 1 || threads > Int(Int32.max) { throw ValidationError("--threads must be between 1 and \(Int32.max)") }
    }

    func run() throws {
        var breached = false
        try reportingErrors {
            var spec = try loadAuditSpec(self.spec)
            printWarnings(spec.warnings)
            if let e = remote.spec { spec.targetEndpoint = e; spec.target = e.url; spec.targetIsDefault = false }
            BLAS.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
            // Before any model work: a reports folder that cannot be written would otherwise fail only at the end.
            try Report.checkWritable(folder: reports)
            let store = try openStore(db)
            var runner = AuditRunner(spec: spec, store: store, dbPath: db)
            runner.quietProgress = quiet
            let report = try runner.run()
            let dir = (reports as NSString).appendingPathComponent(report.run.id)
            let options = ReportOptions(showSecrets: showSecrets, title: spec.title, histogramBins: spec.histogramBins)
            _ = try Report.write(report, to: dir, options: options)
            breached = report.run.status == .breached
            // With --json, stdout carries the summary alone: the human lines move to stderr.
            var console: [String] = ["\(report.run.status == .passed ? "PASS" : "BREACH"): \(report.run.verdict ?? "")"]
            if !quiet {
                for c in report.checks where !c.passed { console.append("  breached: \(c.message)") }
                for w in Report.warnings(report) { console.append("warning: \(w)") }
            }
            let files = ["report.md", "report.html", "summary.json", "junit.xml"].map { (dir as NSString).appendingPathComponent($0) }
            for (i, f) in files.enumerated() { console.append(i == 0 ? "report: \(f)" : "        \(f)") }
            console.append("run: \(report.run.id) (stored in \(db))")
            let text = console.map(consoleSafe).joined(separator: "\n") + "\n"
            if json {
                FileHandle.standardError.write(Data(text.utf8))
                FileHandle.standardOutput.write(Data(Report.summaryJSON(report, options: options).utf8))
            } else {
                print(text, terminator: "")
            }
        }
        if breached { throw ExitCode(1) }
    }
}

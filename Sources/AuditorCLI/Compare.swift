// `auditor compare SPEC.yml`: full fine-tuning, LoRA, DP-SGD and DP-LoRA measured side by side (privacy, utility, cost,
// empirical epsilon); exit 0 when every threshold holds, 1 when one is breached, 2 on bad input.
import ArgumentParser
import Audit
import Experiments
import Foundation
import Tensor

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Fine-tune one base several ways (full, LoRA, DP-SGD, DP-LoRA) and compare privacy, utility and cost.",
        discussion: """
            SPEC.yml names the base checkpoint, the training and held-out sets (JSON Lines; sensitive spans in \
            sensitive_field, or found by the PII detectors), the canaries (each inserted with probability 1/2), the \
            variants and the seeds. Writes OUT/report.md, OUT/privacy-utility-cost.svg, OUT/summary.json and one \
            OUT/runs/VARIANT-seedN.json per trained variant; those already there are not trained again (resumable). \
            The comparison is stored in --db as one run whose metrics are VARIANT.figure. \
            Exit codes: 0 every threshold holds, 1 a threshold is breached, 2 bad input.
            """)

    @Argument(help: "The comparison spec (YAML).") var spec: String
    @Option(help: "Output folder (default: the spec's 'out').") var out: String?
    @Option(help: "SQLite store of runs.") var db = "reports/auditor.sqlite"
    @Option(help: "Threads for matrix products (default: all cores).") var threads: Int?

    /// An option's value is checked before the spec is read: a usage error (64) whatever the file holds.
    func validate() throws {
        if let threads, threads < 1 || threads > Int(Int32.max) { throw ValidationError("--threads must be between 1 and \(Int32.max)") }
    }

    func run() throws {
        var breached = false
        try reportingErrors {
            let s = try Compare.load(spec, out: out)
            BLAS.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
            let store = try openStore(db)
            let o = try Compare.run(s, store: store) { FileHandle.standardError.write(Data("compare: \($0)\n".utf8)) }
            print(String(format: "compared %ld variants x %ld seeds (%ld trained, %ld reused) in %.0f s", s.variants.count, s.seeds.count,
                         o.trained, o.reused, o.seconds))
            for c in o.checks {
                let r = c.passed.map { $0 ? "holds" : "BREACHED" } ?? "not measured"
                print(String(format: "threshold %@: %@ (%.3f vs %.3f)", c.text, r, c.lhsValue ?? .nan, c.rhsValue ?? .nan))
            }
            print("wrote: \((s.out as NSString).appendingPathComponent("report.md")), summary.json, privacy-utility-cost.svg")
            breached = o.checks.contains { $0.passed == false }
        }
        if breached { throw ExitCode(1) }
    }
}

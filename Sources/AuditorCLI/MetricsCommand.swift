// `auditor metrics SPEC`: every figure key the spec's audit produces, with its label, for writing thresholds.
import ArgumentParser
import Audit
import Experiments
import Foundation
import Yams

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "List every metric key an audit spec produces (what its thresholds may name).",
        discussion: """
            Reads and checks SPEC as `audit` does, runs nothing, and prints one line per figure: its key, then its \
            label, which way means more leakage, and how its 95% interval is made. Per-repetition figures \
            (canary.rep_R.exposure.*, traps.rep_R.auc) are listed for the repetition counts in the spec's canary and \
            trap manifests. A threshold is 'KEY OP NUMBER', OP one of <= < >= > ==, e.g. 'mia.loss.auc <= 0.60'.
            """)

    @Argument(help: "The audit spec, or an unlearning spec (YAML).") var spec: String

    /// An unlearning spec (a top-level `method`): the pair's own figures, then before./after. each audit figure.
    func unlearnFigures() throws -> Bool {
        guard let text = try? String(contentsOfFile: spec, encoding: .utf8), let node = try? Yams.compose(yaml: text),
              let m = node.mapping, m.contains(where: { $0.key.string == "method" }) else { return false }
        let (own, audit) = try Unlearn.pairFigures(try UnlearnSpecFile.load(spec))
        let c = Figure.LabelContext()
        let rows = own.map { f -> (String, String) in
            guard case .unlearn(let u) = f else { return (f.key, f.label(c)) }
            return (u.rawValue, "\(f.label(c)) (\(f.direction.rawValue))")
        } + audit.flatMap { f in ["before", "after"].map { ("\($0).\(f.key)", "\(f.label(c)), \($0 == "before" ? "on the original" : "on the unlearned model") (\(f.direction.rawValue))") } }
        let width = (rows.map(\.0.count).max() ?? 0) + 2
        for (k, label) in rows { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + label) }
        return true
    }

    func run() throws {
        try reportingErrors {
            if try unlearnFigures() { return }
            let s = try loadAuditSpec(spec)
            printWarnings(s.warnings)
            var figures = s.producedFigures
            // Per-repetition figures, from the manifests' counts (as the runner makes them).
            if s.canary != nil, let path = s.canaries {
                let reps = Set(try readCanaryManifest(path).canaries.map(\.repetitions)).sorted()
                for r in reps { figures += [.canaryExposure(.max, repetitions: r), .canaryExposure(.mean, repetitions: r)] }
            }
            if s.trapsSpec != nil, let path = s.traps {
                let reps = Set(try readTrapManifest(path).traps.filter(\.injected).map(\.repetitions)).sorted()
                for r in reps { figures.append(.trapsAUC(repetitions: r)) }
            }
            var c = Figure.LabelContext()
            c.blindFeature = "chosen by the run"
            c.trapsStatistic = s.reference == nil ? "-ppl_target" : "ppl_reference/ppl_target"
            if let e = s.extractionSpec { c.approxThreshold = e.approxThreshold; c.n = e.n; c.p = e.p }
            let width = (figures.map(\.key.count).max() ?? 0) + 2
            for f in figures {
                let interval = f.interval.map { "; 95% interval: \($0.rawValue)" } ?? ""
                print(f.key.padding(toLength: width, withPad: " ", startingAt: 0) + "\(f.label(c)) (\(f.direction.rawValue)\(interval))")
            }
        }
    }
}

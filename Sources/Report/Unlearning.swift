// The before/after report of one unlearning pair (unlearning.md and unlearning.html in the unlearned checkpoint's
// folder): forget-set extraction, verbatim memorisation (MUSE's VerbMem), PrivLeak, canary exposure, utility, the
// relearning check, every audit figure, the thresholds, and generations side by side. Redacted unless showSecrets;
// the HTML goes through the audit report's cmark-gfm safe renderer (no scripts, no external requests).
import Foundation
import Store

/// One forget prefix: the record's true continuation and the greedy continuations before and after.
public struct UnlearningGeneration: Sendable, Equatable {
    public var prefix: String, truth: String, before: String, after: String
    public init(prefix: String, truth: String, before: String, after: String) {
        self.prefix = prefix; self.truth = truth; self.before = before; self.after = after
    }
}

/// Everything the pair's report shows; the figures are the pair's own keys (forget.loss.before, relearn.*, ...).
public struct UnlearningPair: Sendable, Equatable {
    public var name: String
    /// One Markdown line: checkpoint, output, method, record counts.
    public var description: String
    public var stop: String
    public var figures: [String: Double]
    public var before: RunReport?, after: RunReport?
    public var checks: [CheckRecord]
    public var generations: [UnlearningGeneration]
    /// Texts a redacted report must never show (the forget and held-out records).
    public var secrets: [String]
    /// Whether PrivLeak's and the relearning check's reference is a retrained model (else 0.5 / none).
    public var retrained: Bool
    public var seconds: Double, peakMemoryMiB: Double
    public init(name: String, description: String, stop: String, figures: [String: Double], before: RunReport?, after: RunReport?,
                checks: [CheckRecord], generations: [UnlearningGeneration], secrets: [String], retrained: Bool, seconds: Double, peakMemoryMiB: Double) {
        self.name = name; self.description = description; self.stop = stop; self.figures = figures; self.before = before; self.after = after
        self.checks = checks; self.generations = generations; self.secrets = secrets; self.retrained = retrained
        self.seconds = seconds; self.peakMemoryMiB = peakMemoryMiB
    }
}

extension Report {
    /// The pair's report as Markdown.
    public static func unlearningMarkdown(_ p: UnlearningPair, options: ReportOptions) -> String {
        let scrub = unlearningScrubber(p, options)
        func cell(_ s: String) -> String { Escape.markdown(scrub(s)) }
        func code(_ s: String) -> String { "`" + scrub(s).replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "\\|") + "`" }
        func f(_ x: Double?) -> String { x.map { $0.isFinite ? String(format: "%.4g", $0) : "–" } ?? "–" }
        func pct(_ x: Double?) -> String { x.map { $0.isFinite ? String(format: "%+.1f%%", 100 * $0) : "–" } ?? "–" }
        let fig = p.figures
        func metricCell(_ r: RunReport?, _ key: String) -> String {
            guard let m = r.flatMap({ metric($0, key) }) else { return "–" }
            return f(m.value) + ((m.lower != nil && m.upper != nil) ? " [\(f(m.lower)), \(f(m.upper))]" : "")
        }
        var md = "# Unlearning: \(cell(options.title ?? p.name))\n\n"
        md += scrub(p.description) + String(format: ". Total time %.1f s, unlearning %.1f s, peak memory %.0f MiB.\n\n",
                                             p.seconds, fig["unlearn.seconds"] ?? 0, p.peakMemoryMiB)
        md += "Stop: \(scrub(p.stop)).\n\n"

        md += "## Forget-set extraction\n\n"
        let extractionKeys: [(String, String)] = [("extraction.exact.rate", "exact (greedy suffix reproduced)"),
                                                  ("extraction.approximate.rate", "approximate (normalised edit distance within the bound)"),
                                                  ("extraction.np.rate", "(n, p)-discoverable")]
        if p.before != nil || p.after != nil {
            md += "| rate on the forget set | before | after |\n|---|---|---|\n"
            for (k, label) in extractionKeys {
                let present = [p.before, p.after].contains { r in r.map { metric($0, k) != nil } ?? false }
                guard present else { continue }
                md += "| \(label) | \(metricCell(p.before, k)) | \(metricCell(p.after, k)) |\n"
            }
            md += "\nRates with 95% Clopper-Pearson intervals from the audits (the forget set as extraction targets).\n\n"
        } else {
            md += "No audit ran (--no-audit): no extraction figures.\n\n"
        }

        md += "## Verbatim memorisation (VerbMem)\n\n"
        md += "| ROUGE-L of greedy continuations against the true ones | before | after |\n|---|---|---|\n"
        md += "| F1 | \(f(fig["verbmem.rougeL.before"])) | \(f(fig["verbmem.rougeL.after"])) |\n"
        md += "| recall | \(f(fig["verbmem.rougeL_recall.before"])) | \(f(fig["verbmem.rougeL_recall.after"])) |\n\n"

        md += "## Membership inference (PrivLeak)\n\n"
        if let ref = fig["privleak.reference.auc"] {
            md += "| Min-K% (k 0.4) AUC, forget vs held-out | before | after |\n|---|---|---|\n"
            md += "| AUC | \(f(fig["privleak.auc.before"])) | \(f(fig["privleak.auc.after"])) |\n"
            md += "| PrivLeak (AUC − reference) / reference, % | \(f(fig["privleak.before"])) | \(f(fig["privleak.after"])) |\n\n"
            md += p.retrained
                ? "The reference is the retrained model's AUC, \(f(ref)): PrivLeak near 0 means the unlearned model looks like one that never saw the forget set.\n\n"
                : "There is no retrained model, so the AUC is compared with 0.5 (chance), not with a retrained model's AUC (MUSE's PrivLeak needs one): a PrivLeak near 0 means the forget set is as hard to tell from the held-out set as a coin flip makes it.\n\n"
        } else {
            md += "No held-out set: no membership figures.\n\n"
        }

        let canaryKeys = Set((p.before?.metrics ?? []).map(\.key) + (p.after?.metrics ?? []).map(\.key)).filter { $0.hasPrefix("canary.") }.sorted()
        md += "## Canary exposure\n\n"
        if canaryKeys.isEmpty {
            md += "The audit had no canaries.\n\n"
        } else {
            md += "| figure | before | after |\n|---|---|---|\n"
            for k in canaryKeys { md += "| \(code(k)) | \(metricCell(p.before, k)) | \(metricCell(p.after, k)) |\n" }
            md += "\n"
        }

        md += "## Utility\n\n| figure | before | after | change |\n|---|---|---|---|\n"
        md += "| forget loss (nats/token) | \(f(fig["forget.loss.before"])) | \(f(fig["forget.loss.after"])) | |\n"
        md += "| retain perplexity | \(f(fig["retain.perplexity.before"])) | \(f(fig["retain.perplexity.after"])) | \(pct(fig["retain.perplexity.increase"])) |\n"
        if fig["holdout.perplexity.before"] != nil {
            md += "| held-out perplexity | \(f(fig["holdout.perplexity.before"])) | \(f(fig["holdout.perplexity.after"])) | \(pct(fig["holdout.perplexity.increase"])) |\n"
        }
        md += "\n## Relearning check\n\n"
        if fig["relearn.exact.rate.after"] != nil {
            md += "The unlearned model was fine-tuned on half of the forget set (\(f(fig["relearn.seconds"])) s) and extraction measured on the other half "
                + "(\(f(fig["relearn.records"])) records), before and after those steps.\n\n"
            md += "| held half | exact rate | approximate rate | loss (nats/token) |\n|---|---|---|---|\n"
            for (prefix, label) in [("relearn", "unlearned model"), ("retrained.relearn", "retrained model")] where fig["\(prefix).exact.rate.after"] != nil {
                for side in ["before", "after"] {
                    md += "| \(label), \(side) relearning | \(f(fig["\(prefix).exact.rate.\(side)"])) | \(f(fig["\(prefix).approximate.rate.\(side)"])) | \(f(fig["\(prefix).loss.\(side)"])) |\n"
                }
            }
            md += p.retrained
                ? "\nA model that truly forgot relearns the held half no faster than the retrained model.\n\n"
                : "\nNo retrained model was given: the same check on one that never saw the forget set is the comparison to make (target.retrained, --retrained).\n\n"
        } else {
            md += "Not run (relearning steps 0).\n\n"
        }

        if let before = p.before, let after = p.after {
            md += "## Every audit figure\n\n| figure | before | after |\n|---|---|---|\n"
            for m in after.metrics { md += "| \(cell(m.label)) | \(metricCell(before, m.key)) | \(metricCell(after, m.key)) |\n" }
            md += "\nAudit runs: before `\(before.run.id)`, after `\(after.run.id)`.\n\n"
        }
        if !p.checks.isEmpty {
            md += "## Thresholds on the pair\n\n| threshold | value | result |\n|---|---|---|\n"
            for c in p.checks { md += "| \(code(c.expression)) | \(f(c.value)) | \(c.passed ? "holds" : "**breached**") |\n" }
            md += "\n"
        }
        if !p.generations.isEmpty {
            md += "## Greedy continuations of forget prefixes\n\n"
            if !options.showSecrets { md += "The texts are redacted (--show-secrets shows them); the ROUGE-L of each continuation against the true one is not.\n\n" }
            md += "| prefix | true continuation | before | after | ROUGE-L before | ROUGE-L after |\n|---|---|---|---|---|---|\n"
            for g in p.generations {
                let rb = rougeLF1(g.before, g.truth), ra = rougeLF1(g.after, g.truth)
                let texts = options.showSecrets ? [g.prefix, g.truth, g.before, g.after].map(cell) : [String](repeating: redacted, count: 4)
                md += "| " + texts.joined(separator: " | ") + " | \(f(rb)) | \(f(ra)) |\n"
            }
            md += "\n"
        }
        return md
    }

    /// Replaces every secret of 6 or more characters (the forget and held-out records) in free text, unless showSecrets.
    static func unlearningScrubber(_ p: UnlearningPair, _ options: ReportOptions) -> (String) -> String {
        let secrets = options.showSecrets ? [] : Array(Set(p.secrets.filter { $0.count >= 6 })).sorted { $0.count > $1.count || ($0.count == $1.count && $0 < $1) }
        return { s in
            var t = s
            for x in secrets where t.contains(x) { t = t.replacingOccurrences(of: x, with: redacted) }
            return t
        }
    }

    /// ROUGE-L F1 over lowercase alphanumeric words (the same rule as the pair's VerbMem figure).
    static func rougeLF1(_ candidate: String, _ reference: String) -> Double {
        func words(_ s: String) -> [Substring] { s.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }) }
        let a = words(candidate), b = words(reference)
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var prev = [Int](repeating: 0, count: b.count + 1), cur = prev
        for i in 1...a.count {
            for j in 1...b.count { cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : max(prev[j], cur[j - 1]) }
            swap(&prev, &cur)
        }
        let l = Double(prev[b.count])
        guard l > 0 else { return 0 }
        let pr = l / Double(a.count), rc = l / Double(b.count)
        return 2 * pr * rc / (pr + rc)
    }

    /// Writes unlearning.md and unlearning.html into `directory` (which exists: the unlearned checkpoint's folder).
    @discardableResult
    public static func writeUnlearning(_ p: UnlearningPair, to directory: String, options: ReportOptions) throws -> [String] {
        let md = unlearningMarkdown(p, options: options)
        let page = try html(markdown: md, charts: [], title: "Unlearning: " + unlearningScrubber(p, options)(options.title ?? p.name))
        var written: [String] = []
        for (name, text) in [("unlearning.md", md), ("unlearning.html", page)] {
            let path = (directory as NSString).appendingPathComponent(name)
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw ReportError.write(path: path, reason: error.localizedDescription)
            }
            written.append(path)
        }
        return written
    }
}

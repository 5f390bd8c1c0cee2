// report.md: the verdict first, then thresholds, provenance, one section per attack step, and reading notes.
import Foundation
import Store

/// Accumulates Markdown; every untrusted string goes through `text(_:)` (redacted, then escaped).
struct MarkdownBuilder {
    var lines: [String] = []
    let redact: Redactor

    mutating func add(_ s: String = "") { lines.append(s) }
    func text(_ s: String) -> String { Escape.markdown(redact(s)) }
    func digest(_ s: String) -> String { Fmt.isHex(s) ? "`\(s)`" : text(s) }

    mutating func table(_ header: [String], _ rows: [[String]]) {
        add("| " + header.joined(separator: " | ") + " |")
        add("|" + header.map { _ in "---" }.joined(separator: "|") + "|")
        for r in rows { add("| " + r.map { $0.isEmpty ? " " : $0 }.joined(separator: " | ") + " |") }
        add()
    }
}

extension Report {
    /// The report as GitHub-flavoured Markdown. Charts are referenced as `![title](file.svg)`, by the names
    /// `charts(_:options:)` gives them.
    public static func markdown(_ r: RunReport, options: ReportOptions) -> String {
        var md = MarkdownBuilder(redact: Redactor(r, options))
        var shown = Set<String>()             // metric keys already shown; the rest go to "Other figures"
        let charts = charts(r, options: options)
        let chartNames = Set(charts.map { $0.fileName })
        func image(_ file: String) {
            guard chartNames.contains(file), let c = charts.first(where: { $0.fileName == file }) else { return }
            md.add("![\(Escape.markdown(c.title))](\(file))")
            md.add()
        }
        /// A "Figure | Value | n" table of `metrics`, each marked as shown.
        func figures(_ metrics: [MetricRecord], valueHeader: String = "Value [95% CI]") {
            md.table(["Figure", valueHeader, "n"], metrics.map { m in
                shown.insert(m.key)
                return [md.text(m.label.isEmpty ? m.key : m.label), cell(m, md), m.n.map(String.init) ?? ""]
            })
        }

        md.add("# Privacy audit: \(md.text(displayName(r, options)))")
        md.add()
        md.add("**" + verdictParagraph(r, md) + "**")
        md.add()

        // Thresholds
        md.add("## Thresholds")
        md.add()
        if r.checks.isEmpty {
            md.add("The spec sets no thresholds.")
            md.add()
        } else {
            md.table(["Check", "Value [95% CI]", "Threshold", "Result", "Margin"], r.checks.map { c in
                let d = Fmt.decimals(forKey: c.metric)
                let m = metric(r, c.metric)
                return [md.text(c.expression),
                        Fmt.valueCI(c.value, c.lower, c.upper, decimals: d, method: m?.method, escape: md.text),
                        md.text(c.op) + " " + Fmt.fixed(c.threshold, d),
                        c.passed ? "pass" : "**FAIL**",
                        margin(c)]
            })
        }

        // Provenance
        md.add("## What was audited")
        md.add()
        let run = r.run
        var about: [[String]] = [
            ["Run", md.text(run.id)],
            ["Status", md.text(run.status.rawValue)],
            ["Started (UTC)", md.text(run.startedAt)],
            ["Finished (UTC)", md.text(run.finishedAt ?? "not finished")],
            ["Duration", Fmt.duration(run.durationSeconds)],
            ["Auditor version", md.text(run.auditorVersion)],
            ["Machine", md.text(run.machine)],
            ["Seed", String(run.seed)],
            ["Spec", md.text(run.specPath)],
            ["Spec SHA-256", md.digest(run.specSHA256)],
        ]
        if let v = run.verdict, !v.isEmpty { about.append(["Verdict recorded by the run", md.text(v)]) }
        about.append(["Steps finished", r.steps.isEmpty ? "none" :
            r.steps.map { "\(md.text($0.name)) (\(Fmt.fixed($0.seconds, 1)) s)" }.joined(separator: ", ")])
        md.table(["Item", "Value"], about)

        if !r.checkpoints.isEmpty {
            md.add("### Checkpoints")
            md.add()
            for c in r.checkpoints {
                md.add("#### \(md.text(c.role.capitalized)) checkpoint")
                md.add()
                md.add("- Path: \(md.text(c.path))")
                md.add("- Format: \(md.text(c.format)); architecture: \(md.text(c.architecture)); parameters: \(Fmt.grouped(c.parameters)); context length: \(c.contextLength)")
                md.add("- SHA-256: \(md.digest(c.sha256))" + (c.files.count > 1 ? " (of the sorted `sha256  name` lines of its \(c.files.count) files)" : ""))
                md.add("- Tokenizer SHA-256: \(md.digest(c.tokenizerSHA256))")
                md.add()
                if c.files.count > 1 {
                    md.table(["File", "Bytes", "SHA-256"], c.files.map { [md.text($0.path), Fmt.grouped($0.bytes), md.digest($0.sha256)] })
                }
            }
        }
        if !r.datasets.isEmpty {
            md.add("### Datasets")
            md.add()
            md.table(["Role", "Path", "Texts", "SHA-256"], r.datasets.map {
                [md.text($0.role), md.text($0.path), String($0.texts), md.digest($0.sha256)]
            })
        }

        // Membership inference
        let mia = miaRows(r)
        let scoreAttacks = attackScores(r)
        if !mia.isEmpty || !scoreAttacks.isEmpty {
            md.add("## Membership inference")
            md.add()
            md.add("Can an attacker tell the texts the model was trained on (members) from texts it never saw (non-members)? AUC 0.5 means no better than a coin toss.")
            md.add()
            let suffixes = tprSuffixes(mia)
            let attacks = mia.filter { $0.attack != "blind_baseline" }
            let baseline = mia.first { $0.attack == "blind_baseline" }
            if !mia.isEmpty {
                var rows: [[String]] = []
                for a in attacks + (baseline.map { [$0] } ?? []) {
                    var row = [a.attack == "blind_baseline" ? "blind baseline (no model)" : md.text(a.attack)]
                    row.append(cell(a.auc, md))
                    for s in suffixes { row.append(cell(a.tpr[s], md)) }
                    row.append((a.auc?.n ?? a.tpr.values.first?.n).map(String.init) ?? "")
                    rows.append(row)
                    if let m = a.auc { shown.insert(m.key) }
                    for m in a.tpr.values { shown.insert(m.key) }
                }
                md.table(["Attack", "AUC [95% CI]"] + suffixes.map { "TPR at \(Fmt.percent(fromSuffix: $0)) FPR [95% CI]" } + ["n"], rows)
                // With m non-members the smallest non-zero FPR is 1/m: a TPR "at 0.1% FPR" from fewer than 1,000
                // non-members is the TPR at FPR 0.
                if let m = r.datasets.first(where: { $0.role == "nonmembers" })?.texts, m > 0, !suffixes.isEmpty {
                    md.add("With \(m) non-members the smallest non-zero false-positive rate is 1/\(m) = \(Fmt.fixed(100 / Double(m), 2))%, so a TPR at a lower FPR is the TPR at FPR 0: the fraction of members that score above every non-member.")
                    md.add()
                }
            }
            if let b = baseline?.auc {
                let ci = Fmt.valueCI(b.value, b.lower, b.upper, decimals: 3, method: b.method, escape: md.text)
                if let l = b.lower, let u = b.upper, l.isFinite, u.isFinite {
                    if l > 0.5 || u < 0.5 {
                        md.add("> **Warning:** the blind baseline, which never queries the model, separates members from non-members with AUC \(ci). Its interval excludes 0.5, so the member and non-member sets differ in distribution, and the attack AUCs above say little about what the model memorised.")
                    } else {
                        md.add("The blind baseline, which never queries the model, reaches AUC \(ci); its interval includes 0.5, so there is no sign that the member and non-member sets differ in distribution.")
                    }
                } else {
                    md.add("The blind baseline, which never queries the model, reaches AUC \(ci); compare it with 0.5 before trusting the attack AUCs.")
                }
                md.add()
            }
            image("roc.svg")
            image("roc-log.svg")
            for c in charts where c.fileName.hasPrefix("hist-") { image(c.fileName) }
        }

        // Extraction
        let prefixes = extractionByPrefix(r)
        let extractionFindings = r.findings.filter { $0.kind == "extraction" }
        let overallExtraction = r.metrics.filter { $0.key.hasPrefix("extraction.") && !$0.key.hasPrefix("extraction.prefix_") }
        if !prefixes.isEmpty || !extractionFindings.isEmpty || !overallExtraction.isEmpty {
            md.add("## Extraction")
            md.add()
            md.add("Prompted with the start of a training text, does the model continue it with the rest?")
            md.add()
            if !overallExtraction.isEmpty {
                figures(overallExtraction)
            }
            if !prefixes.isEmpty {
                var kinds = ["exact", "approximate"].filter { k in prefixes.contains { $0.kinds[k] != nil } }
                kinds += Set(prefixes.flatMap { $0.kinds.keys }).subtracting(kinds).sorted()
                md.add("By prefix length (tokens of the training text given as the prompt):")
                md.add()
                md.table(["Prefix length"] + kinds.map { "\(md.text($0)) rate [95% CI]" } + ["n"], prefixes.map { p in
                    for m in p.kinds.values { shown.insert(m.key) }
                    return [String(p.prefix)] + kinds.map { cell(p.kinds[$0], md) } + [(p.kinds.values.compactMap { $0.n }.max()).map(String.init) ?? ""]
                })
            }
            image("extraction.svg")
            if !extractionFindings.isEmpty {
                let hits = extractionFindings.filter { ($0.numbers["exact"] ?? 0) > 0 || ($0.numbers["approximate"] ?? 0) > 0 || ($0.numbers["np"] ?? 0) > 0 }
                let rows = extractionFindings.count <= 100 ? extractionFindings : Array(hits.prefix(500))
                if rows.count < extractionFindings.count {
                    md.add("Sample and prefix-length pairs: \(extractionFindings.count) tested, \(hits.count) extracted (exactly, approximately or (n, p)-discoverable); the \(rows.count) shown are extracted ones (all are in summary.json).")
                } else {
                    md.add("Sample and prefix-length pairs (\(extractionFindings.count), \(hits.count) extracted exactly, approximately or (n, p)-discoverable):")
                }
                md.add()
                md.table(["Dataset", "Index", "ID", "Prefix", "Exact", "Approximate", "log10 p(z)", "np", "Generated text"], rows.map { f in
                    [md.text(f.dataset), String(f.index), md.text(f.itemID ?? ""), num(f.numbers["prefix"], 0),
                     flag(f.numbers["exact"]), flag(f.numbers["approximate"]), num(f.numbers["log10_pz"], 2), flag(f.numbers["np"]),
                     secret(f.secret, options, md)]
                })
            }
        }

        // Canaries
        let canaryGroups = canariesByRepetition(r)
        let canaryMetrics = r.metrics.filter { $0.key.hasPrefix("canary.") }
        if !canaryGroups.isEmpty || !canaryMetrics.isEmpty {
            md.add("## Canary exposure")
            md.add()
            md.add("Random secrets (canaries) were planted in the training data a known number of times. Exposure, in bits, says how much more likely the model finds the planted canary than random alternatives; at the maximum it prefers the canary to every alternative.")
            md.add()
            let overall = canaryMetrics.filter { !$0.key.hasPrefix("canary.rep_") }
            if !overall.isEmpty {
                figures(overall, valueHeader: "Value [95% CI or method]")
            }
            if !canaryGroups.isEmpty {
                md.table(["Repetitions", "Canaries", "Mean exposure (bits)", "Max exposure (bits)", "Max possible (bits)"], canaryGroups.map { g in
                    let rep = Fmt.fixed(g.repetitions, 0)
                    let e = g.findings.compactMap { $0.numbers["exposure"] }.filter { $0.isFinite }
                    let k = e.count
                    func figure(_ stat: String, _ computed: Double?, _ how: String) -> String {
                        if let m = metric(r, "canary.rep_\(rep).exposure.\(stat)") { shown.insert(m.key); return cell(m, md) }
                        guard let v = computed else { return "n/a" }
                        return "\(Fmt.fixed(v, 1)) (\(how) \(k) canar\(k == 1 ? "y" : "ies"), no interval)"
                    }
                    let mean = k > 0 ? e.reduce(0, +) / Double(k) : nil
                    let maxPossible = g.findings.compactMap { $0.numbers["max_exposure"] }.filter { $0.isFinite }.max()
                    return [rep, String(g.findings.count), figure("mean", mean, "mean over"), figure("max", e.max(), "max over"),
                            maxPossible.map { Fmt.fixed($0, 1) } ?? "n/a"]
                })
                image("exposure.svg")
                let all = canaryGroups.flatMap { $0.findings }
                // An interval exists where the rank was estimated from sampled candidates; an exact rank has none.
                func exposureCell(_ f: FindingRecord) -> String {
                    guard let e = f.numbers["exposure"], let l = f.numbers["exposure_lower"], let u = f.numbers["exposure_upper"] else {
                        return num(f.numbers["exposure"], 1)
                    }
                    return l == u ? "\(Fmt.fixed(e, 1)) (exact rank)" : "\(Fmt.fixed(e, 1)) [\(Fmt.fixed(l, 1)), \(Fmt.fixed(u, 1))]"
                }
                md.add("Each canary (exposure with its 95% interval where the rank was estimated from sampled candidates):")
                md.add()
                md.table(["Canary", "Repetitions", "Exposure (bits)", "Max possible (bits)", "Canary text"], all.map { f in
                    [md.text(f.itemID ?? "#\(f.index)"), num(f.numbers["repetitions"], 0), exposureCell(f),
                     num(f.numbers["max_exposure"], 1), secret(f.secret, options, md)]
                })
            }
        }

        // Traps
        let traps = r.findings.filter { $0.kind == "trap" }
        let trapMetrics = r.metrics.filter { $0.key.hasPrefix("traps.") }
        if !traps.isEmpty || !trapMetrics.isEmpty {
            md.add("## Copyright traps")
            md.add()
            md.add("Trap sequences were injected into documents; a detector that scores injected traps above never-injected ones (AUC above 0.5) shows the model memorised them.")
            md.add()
            if !trapMetrics.isEmpty {
                figures(trapMetrics)
            }
            if !traps.isEmpty {
                let withText = traps.contains { $0.secret != nil }
                md.table(["Trap", "Repetitions", "Score", "Injected"] + (withText ? ["Trap text"] : []), traps.map { f in
                    [md.text(f.itemID ?? "#\(f.index)"), num(f.numbers["repetitions"], 0), num(f.numbers["score"], 3),
                     flag(f.numbers["injected"])] + (withText ? [secret(f.secret, options, md)] : [])
                })
            }
        }

        // Anything not shown above, so no figure the run produced is missing from the report.
        let rest = r.metrics.filter { !shown.contains($0.key) }
        if !rest.isEmpty {
            md.add("## Other figures")
            md.add()
            md.table(["Metric", "Meaning", "Value [95% CI or method]", "n"], rest.map { m in
                [md.text(m.key), md.text(m.label), cell(m, md), m.n.map(String.init) ?? ""]
            })
        }

        md.add("## How to read this")
        md.add()
        md.add("- Attack scores point one way: a higher score means the attack thinks the text is more likely a member (was in the training data).")
        md.add("- AUC is the chance that a random member scores above a random non-member: 0.5 is guessing, 1.0 is perfect separation. TPR at a low FPR is the fraction of members caught while wrongly flagging only that fraction of non-members; it is what matters for an individual's privacy.")
        md.add("- Every figure carries a 95% interval: bootstrap (resampling the texts) for AUC and TPR, Clopper-Pearson (exact binomial) for rates. Where no interval exists the table says how the figure was obtained instead.")
        md.add("- A threshold's margin is the distance between the figure and the threshold; a breach whose interval still reaches the allowed side may be sampling noise, one whose whole interval is beyond the threshold is not.")
        md.add("- Exposure is measured in bits: log2 of the number of candidate secrets minus log2 of the planted canary's rank among them (Carlini et al., The Secret Sharer, 2019). Its maximum, log2 of the number of candidates, means the model ranks the canary first. When the candidates are too many to rank them all, the rank is estimated from a random sample of them, and the interval says how far that estimate can be trusted: ranking first among m sampled candidates establishes only about log2 m bits.")
        md.add(options.showSecrets
               ? "- This report SHOWS the sensitive texts (canaries, generated text): handle it as confidential."
               : "- Sensitive texts (canaries, generated text) are replaced by \(Escape.markdown(redacted)); render with `--show-secrets` to see them.")
        md.add()

        md.add("## Audit spec")
        md.add()
        md.add("\(md.text(run.specPath)), SHA-256 \(md.digest(run.specSHA256)):")
        md.add()
        md.add(Escape.fenced(md.redact(run.specText), info: "yaml"))
        return md.lines.joined(separator: "\n")
    }

    // MARK: Verdict

    /// "PASS: ...", "BREACH: ..." or "INCOMPLETE: ...", already Markdown-escaped (without the bold markers).
    static func verdictParagraph(_ r: RunReport, _ md: MarkdownBuilder) -> String {
        let failing = r.checks.filter { !$0.passed }
        let breaches = failing.map { breachSentence($0, r, md) }.joined(separator: " ")
        switch r.run.status {
        case .running, .interrupted, .failed:
            let what = r.run.status == .running ? "was still running when this report was rendered"
                : "did not finish (status: \(r.run.status.rawValue))"
            let steps = r.steps.isEmpty ? "No step finished." : "Steps finished: " + r.steps.map { md.text($0.name) }.joined(separator: ", ") + "."
            var s = "INCOMPLETE: this audit \(what). \(steps) The thresholds cover only what finished, and a missing figure is not evidence of safety."
            if !failing.isEmpty { s += " Already breached: " + breaches }
            return s
        case .passed, .breached:
            if !failing.isEmpty {
                let n = r.checks.count
                return "BREACH: \(failing.count) of \(n) threshold\(n == 1 ? "" : "s") \(failing.count == 1 ? "is" : "are") breached. " + breaches
            }
            if r.run.status == .breached {
                return "BREACH: the run recorded a breach" + (r.run.verdict.map { " (\(md.text($0)))" } ?? "") + "."
            }
            if r.checks.isEmpty {
                return "PASS (no thresholds): the audit finished, but its spec sets no thresholds, so this report states figures without a verdict on them."
            }
            let n = r.checks.count
            var s = "PASS: All \(n) threshold\(n == 1 ? " holds" : "s hold")."
            if let tight = r.checks.compactMap({ c in headroom(c).map { (c, $0) } }).min(by: { $0.1 < $1.1 }) {
                s += " The tightest is \(md.text(tight.0.expression)) at \(Fmt.fixed(tight.0.value!, Fmt.decimals(forKey: tight.0.metric))), \(Fmt.fixed(tight.1, Fmt.decimals(forKey: tight.0.metric))) from its threshold."
            }
            return s
        }
    }

    /// Distance from the threshold on the allowed side (negative when breached); nil without a value.
    static func headroom(_ c: CheckRecord) -> Double? {
        guard let v = c.value else { return nil }
        switch c.op {
        case "<=", "<": return c.threshold - v
        case ">=", ">": return v - c.threshold
        default: return -abs(v - c.threshold)
        }
    }

    static func margin(_ c: CheckRecord) -> String {
        guard let h = headroom(c) else { return "metric not produced" }
        let d = Fmt.decimals(forKey: c.metric)
        if c.op == "==" { return c.passed ? "equal" : "off by \(Fmt.fixed(-h, d))" }
        return c.passed ? "\(Fmt.fixed(h, d)) to spare" : "breached by \(Fmt.fixed(-h, d))"
    }

    static func breachSentence(_ c: CheckRecord, _ r: RunReport, _ md: MarkdownBuilder) -> String {
        let expr = md.text(c.expression)
        guard let v = c.value else { return "\(expr): the metric \(md.text(c.metric)) was not produced." }
        let d = Fmt.decimals(forKey: c.metric)
        let ci = Fmt.valueCI(v, c.lower, c.upper, decimals: d, method: metric(r, c.metric)?.method, escape: md.text)
        let amount = Fmt.fixed(abs(v - c.threshold), d)
        let t = Fmt.fixed(c.threshold, d)
        var s: String
        switch c.op {
        case "<=", "<":
            s = "\(expr): \(ci) is above the threshold \(t) by \(amount)"
            if let l = c.lower, l.isFinite { s += l > c.threshold ? ", and so is its whole 95% interval" : "; its 95% interval reaches back below the threshold" }
        case ">=", ">":
            s = "\(expr): \(ci) is below the threshold \(t) by \(amount)"
            if let u = c.upper, u.isFinite { s += u < c.threshold ? ", and so is its whole 95% interval" : "; its 95% interval reaches back above the threshold" }
        default:
            s = "\(expr): \(ci) differs from \(t) by \(amount)"
        }
        return s + "."
    }

    // MARK: Cells

    /// "0.734 [0.650, 0.810]" or "12.3 (max over 15 canaries)"; empty when the metric is absent.
    static func cell(_ m: MetricRecord?, _ md: MarkdownBuilder) -> String {
        guard let m else { return "" }
        return Fmt.valueCI(m.value, m.lower, m.upper, decimals: Fmt.decimals(forKey: m.key), method: m.method, escape: md.text)
    }

    static func num(_ x: Double?, _ d: Int) -> String { x.map { Fmt.fixed($0, d) } ?? "" }
    static func flag(_ x: Double?) -> String { x.map { $0 > 0 ? "yes" : "no" } ?? "" }

    static func secret(_ s: String?, _ options: ReportOptions, _ md: MarkdownBuilder) -> String {
        guard let s else { return "" }
        return options.showSecrets ? Escape.markdown(s) : Escape.markdown(redacted)
    }
}

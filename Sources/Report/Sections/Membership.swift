// The "Membership inference" section: AUC and TPR at low FPR per attack, the blind baseline, ROC curves, histograms.
import Stats
import Store

extension Report {
    struct Membership: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            let r = ctx.report
            let mia = miaRows(r)
            guard !mia.isEmpty || !attackScores(r).isEmpty else { return }
            md.heading("Membership inference", intro: "Can an attacker tell the texts the model was trained on (members) from texts it never saw (non-members)? AUC 0.5 means no better than a coin toss.")
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
                    if let m = a.auc { md.shown.insert(m.key) }
                    for m in a.tpr.values { md.shown.insert(m.key) }
                }
                md.table(["Attack", "AUC [95% CI]"] + suffixes.map { "TPR at \(Fmt.percent(fromSuffix: $0)) FPR [95% CI]" } + ["n"], rows)
                // With m non-members the smallest non-zero FPR is 1/m: a TPR "at 0.1% FPR" from fewer than 1,000
                // non-members is the TPR at FPR 0.
                if let m = r.datasets.first(where: { $0.role == "nonmembers" })?.texts, m > 0, !suffixes.isEmpty {
                    md.add("With \(m) non-members the smallest non-zero false-positive rate is 1/\(m) = \(Fmt.fixed(100 / Double(m), 2))%, so a TPR at a lower FPR is the TPR at FPR 0: the fraction of members that score above every non-member.")
                    md.add()
                }
            }
            for w in [overlapWarning(r), miaSmallSampleWarning(r)].compactMap({ $0 }) {
                md.add("> **Warning:** \(md.text(w))")
                md.add()
            }
            if let b = baseline?.auc {
                let ci = Fmt.valueCI(b.value, b.lower, b.upper, decimals: 3, method: b.method, escape: md.text)
                if let l = b.lower, let u = b.upper, l.isFinite, u.isFinite {
                    if let warning = blindBaselineWarning(r, escape: md.text) {
                        md.add("> **Warning:** \(warning)")
                    } else {
                        md.add("The blind baseline, which never queries the model, reaches AUC \(ci); its 95% lower bound is not above \(Metrics.blindBaselineWarningLowerBound), so there is no clear sign that the member and non-member sets differ in distribution.")
                    }
                } else {
                    md.add("The blind baseline, which never queries the model, reaches AUC \(ci); compare it with 0.5 before trusting the attack AUCs.")
                }
                md.add()
            }
            md.image("roc.svg", from: ctx.charts)
            md.image("roc-log.svg", from: ctx.charts)
            for c in ctx.charts where c.fileName.hasPrefix("hist-") { md.image(c.fileName, from: ctx.charts) }
        }
    }
}

extension Report {
    /// The run's warnings as plain sentences (no Markdown), in report order: what report.md shows as
    /// "> **Warning:**" and what `auditor audit` prints, so a CI log carries them too.
    public static func warnings(_ r: RunReport) -> [String] {
        [overlapWarning(r), miaSmallSampleWarning(r), blindBaselineWarning(r, escape: { $0 }), trapsSmallSampleWarning(r)]
            .compactMap { $0 }
    }

    /// The blind-baseline caveat under the rule `mia` uses (`Metrics.blindBaselineSeparates`: 95% lower bound above
    /// 0.6): the member and non-member sets differ in distribution, so the attack AUCs say little. Nil otherwise.
    static func blindBaselineWarning(_ r: RunReport, escape: (String) -> String) -> String? {
        guard let b = miaRows(r).first(where: { $0.attack == "blind_baseline" })?.auc,
              let l = b.lower, let u = b.upper, l.isFinite, u.isFinite, Metrics.blindBaselineSeparates(lower: l) else { return nil }
        let ci = Fmt.valueCI(b.value, b.lower, b.upper, decimals: 3, method: b.method, escape: escape)
        return "the blind baseline, which never queries the model, separates members from non-members with AUC \(ci). Its 95% lower bound is above \(Metrics.blindBaselineWarningLowerBound), so the member and non-member sets differ in distribution, and the attack AUCs above say little about what the model memorised."
    }

    /// Members and non-members sharing texts (the inputs step records an "overlap" finding), as `mia` warns.
    static func overlapWarning(_ r: RunReport) -> String? {
        guard let f = r.findings.first(where: { $0.kind == "overlap" }), let n = f.numbers["shared"], n > 0 else { return nil }
        let k = Int(n)
        return "\(k) text\(k == 1 ? "" : "s") appear\(k == 1 ? "s" : "") among both the members and the non-members: no attack can separate \(k == 1 ? "it" : "them"), and the blind baseline sees each one's twin, so the AUCs above are distorted; remove the shared texts from one side."
    }

    /// The tiny-sample warning of the membership figures (`Metrics.smallSampleWarning`), from the datasets' counts.
    static func miaSmallSampleWarning(_ r: RunReport) -> String? {
        guard !miaRows(r).isEmpty,
              let m = r.datasets.first(where: { $0.role == "members" })?.texts,
              let n = r.datasets.first(where: { $0.role == "nonmembers" })?.texts else { return nil }
        return Metrics.smallSampleWarning(positives: m, negatives: n).map { "membership inference: " + $0 }
    }

    /// The tiny-sample warning of the trap figures: overall, else the first repetition count whose injected traps or
    /// the controls are too few.
    static func trapsSmallSampleWarning(_ r: RunReport) -> String? {
        let traps = r.findings.filter { $0.kind == "trap" }
        guard !traps.isEmpty else { return nil }
        let injected = traps.filter { ($0.numbers["injected"] ?? 0) > 0 }
        let controls = traps.count - injected.count
        if let w = Metrics.smallSampleWarning(positives: injected.count, negatives: controls, positiveName: "injected traps",
                                              negativeName: "never-injected controls") {
            return "copyright traps: " + w
        }
        let reps = Set(injected.compactMap { $0.numbers["repetitions"] }).sorted()
        for rep in reps {
            let k = injected.filter { $0.numbers["repetitions"] == rep }.count
            if let w = Metrics.smallSampleWarning(positives: k, negatives: controls,
                                                  positiveName: "traps injected \(Int(rep)) times", negativeName: "controls") {
                return "copyright traps: " + w
            }
        }
        return nil
    }
}

// The verdict paragraph under the title: PASS, BREACH or INCOMPLETE, with every breach spelled out.
import Store

extension Report {
    struct Verdict: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            md.add("**" + Self.paragraph(ctx.report, md) + "**")
            md.add()
        }

        /// "PASS: ...", "BREACH: ..." or "INCOMPLETE: ...", already Markdown-escaped (without the bold markers).
        static func paragraph(_ r: RunReport, _ md: MarkdownBuilder) -> String {
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
    }
}

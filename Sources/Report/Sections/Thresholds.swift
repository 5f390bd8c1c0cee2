// The "Thresholds" section: each check of the spec with its figure, result and margin.
import Store

extension Report {
    struct Thresholds: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            let r = ctx.report
            md.heading("Thresholds")
            if r.checks.isEmpty {
                md.add("The spec sets no thresholds.")
                md.add()
                return
            }
            md.table(["Check", "Value [95% CI]", "Threshold", "Result", "Margin"], r.checks.map { c in
                let d = Fmt.decimals(forKey: c.metric)
                let m = metric(r, c.metric)
                return [md.text(c.expression),
                        Fmt.valueCI(c.value, c.lower, c.upper, decimals: d, method: m?.method, escape: md.text),
                        md.text(c.op) + " " + Fmt.fixed(c.threshold, d),
                        c.passed ? "pass" : "**FAIL**",
                        Self.margin(c)]
            })
        }

        static func margin(_ c: CheckRecord) -> String {
            guard let h = headroom(c) else { return "metric not produced" }
            let d = Fmt.decimals(forKey: c.metric)
            if c.op == "==" { return c.passed ? "equal" : "off by \(Fmt.fixed(-h, d))" }
            return c.passed ? "\(Fmt.fixed(h, d)) to spare" : "breached by \(Fmt.fixed(-h, d))"
        }
    }
}

// The "Other figures" section: every metric no earlier section showed, so none the run produced is missing.
import Store

extension Report {
    struct OtherFigures: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            let rest = ctx.report.metrics.filter { !md.shown.contains($0.key) }
            guard !rest.isEmpty else { return }
            md.heading("Other figures")
            md.table(["Metric", "Meaning", "Value [95% CI or method]", "n"], rest.map { m in
                [md.text(m.key), md.text(m.label), cell(m, md), m.n.map(String.init) ?? ""]
            })
        }
    }
}

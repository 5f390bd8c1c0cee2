// report.md: the title, then the sections of Sections/ in order; the builder they write into and the cells they share.
import Foundation
import Store

/// Accumulates Markdown; every untrusted string goes through `text(_:)` (redacted, then escaped).
struct MarkdownBuilder {
    var lines: [String] = []
    let redact: Redactor
    /// Metric keys already shown; "Other figures" lists the rest, so no figure the run produced is missing.
    var shown = Set<String>()

    mutating func add(_ s: String = "") { lines.append(s) }
    func text(_ s: String) -> String { Escape.markdown(redact(s)) }
    func digest(_ s: String) -> String { Fmt.isHex(s) ? "`\(s)`" : text(s) }

    mutating func table(_ header: [String], _ rows: [[String]]) {
        add("| " + header.joined(separator: " | ") + " |")
        add("|" + header.map { _ in "---" }.joined(separator: "|") + "|")
        for r in rows { add("| " + r.map { $0.isEmpty ? " " : $0 }.joined(separator: " | ") + " |") }
        add()
    }

    /// A section's `##` heading, and the paragraph that opens it, if any.
    mutating func heading(_ title: String, intro: String? = nil) {
        add("## " + title)
        add()
        if let intro {
            add(intro)
            add()
        }
    }

    /// A "Figure | Value | n" table of `metrics`, each marked as shown; nothing when there are none.
    mutating func figures(_ metrics: [MetricRecord], valueHeader: String = "Value [95% CI]") {
        guard !metrics.isEmpty else { return }
        let rows = metrics.map { m in [text(m.label.isEmpty ? m.key : m.label), Report.cell(m, self), m.n.map(String.init) ?? ""] }
        shown.formUnion(metrics.map(\.key))
        table(["Figure", valueHeader, "n"], rows)
    }

    /// The chart `file` as an image, when the run has that chart.
    mutating func image(_ file: String, from charts: [Chart]) {
        guard let c = charts.first(where: { $0.fileName == file }) else { return }
        add("![\(Escape.markdown(c.title))](\(file))")
        add()
    }
}

/// What a section renders from.
struct ReportContext {
    let report: RunReport
    let options: ReportOptions
    /// Named as `Report.charts(_:options:)` names them; a section refers to a chart by its file name.
    let charts: [Chart]
}

/// One part of report.md. A section the run has nothing for adds nothing, not even its heading.
protocol ReportSection: Sendable {
    func render(into md: inout MarkdownBuilder, _ ctx: ReportContext)
}

extension Report {
    /// The sections of report.md, in order; a new section is one file in Sections/ and one entry here.
    /// OtherFigures lists the metrics no earlier section showed, so it stays after every section that shows metrics.
    static let sections: [any ReportSection] = [
        Verdict(), Thresholds(), Provenance(), Membership(), Extraction(), Canaries(), Traps(), OtherFigures(),
        HowToRead(), Spec(),
    ]

    /// The report as GitHub-flavoured Markdown. Charts are referenced as `![title](file.svg)`, by the names
    /// `charts(_:options:)` gives them.
    public static func markdown(_ r: RunReport, options: ReportOptions) -> String {
        var md = MarkdownBuilder(redact: Redactor(r, options))
        md.add("# Privacy audit: \(md.text(displayName(r, options)))")
        md.add()
        let ctx = ReportContext(report: r, options: options, charts: charts(r, options: options))
        for s in sections { s.render(into: &md, ctx) }
        return md.lines.joined(separator: "\n")
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

    // MARK: Cells

    /// "0.734 [0.650, 0.810]" or "12.3 (max over 15 canaries)"; empty when the metric is absent.
    static func cell(_ m: MetricRecord?, _ md: MarkdownBuilder) -> String {
        guard let m else { return "" }
        return Fmt.valueCI(m.value, m.lower, m.upper, decimals: Fmt.decimals(forKey: m.key), method: m.method, escape: md.text)
    }

    static func num(_ x: Double?, _ d: Int) -> String { x.map { Fmt.fixed($0, d) } ?? "" }
    static func flag(_ x: Double?) -> String { x.map { $0 > 0 ? "yes" : "no" } ?? "" }

    /// A per-item column that holds a secret: redacted whatever its length unless secrets are shown.
    static func secret(_ s: String?, _ options: ReportOptions) -> String {
        guard let s else { return "" }
        return options.showSecrets ? Escape.markdown(s) : Escape.markdown(redacted)
    }
}

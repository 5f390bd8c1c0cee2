// The "Extraction" section: extraction rates overall and by prefix length, and the sample and prefix pairs tested.
import Store

extension Report {
    struct Extraction: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            let r = ctx.report
            let prefixes = extractionByPrefix(r)
            let findings = r.findings.filter { $0.kind == "extraction" }
            let overall = r.metrics.filter { $0.key.hasPrefix("extraction.") && !$0.key.hasPrefix("extraction.prefix_") }
            guard !prefixes.isEmpty || !findings.isEmpty || !overall.isEmpty else { return }
            md.heading("Extraction", intro: "Prompted with the start of a training text, does the model continue it with the rest?")
            md.figures(overall)
            if !prefixes.isEmpty {
                var kinds = ["exact", "approximate"].filter { k in prefixes.contains { $0.kinds[k] != nil } }
                kinds += Set(prefixes.flatMap { $0.kinds.keys }).subtracting(kinds).sorted()
                md.add("By prefix length (tokens of the training text given as the prompt):")
                md.add()
                md.table(["Prefix length"] + kinds.map { "\(md.text($0)) rate [95% CI]" } + ["n"], prefixes.map { p in
                    for m in p.kinds.values { md.shown.insert(m.key) }
                    return [String(p.prefix)] + kinds.map { cell(p.kinds[$0], md) } + [(p.kinds.values.compactMap { $0.n }.max()).map(String.init) ?? ""]
                })
            }
            md.image("extraction.svg", from: ctx.charts)
            if !findings.isEmpty {
                let hits = findings.filter { ($0.numbers["exact"] ?? 0) > 0 || ($0.numbers["approximate"] ?? 0) > 0 || ($0.numbers["np"] ?? 0) > 0 }
                let rows = findings.count <= 100 ? findings : Array(hits.prefix(500))
                if rows.count < findings.count {
                    md.add("Sample and prefix-length pairs: \(findings.count) tested, \(hits.count) extracted (exactly, approximately or (n, p)-discoverable); the \(rows.count) shown are extracted ones (all are in summary.json).")
                } else {
                    md.add("Sample and prefix-length pairs (\(findings.count), \(hits.count) extracted exactly, approximately or (n, p)-discoverable):")
                }
                md.add()
                md.table(["Dataset", "Index", "ID", "Prefix", "Exact", "Approximate", "log10 p(z)", "np", "Generated text"], rows.map { f in
                    [md.text(f.dataset), String(f.index), md.text(f.itemID ?? ""), num(f.numbers["prefix"], 0),
                     flag(f.numbers["exact"]), flag(f.numbers["approximate"]), num(f.numbers["log10_pz"], 2), flag(f.numbers["np"]),
                     secret(f.secret, ctx.options)]
                })
            }
        }
    }
}

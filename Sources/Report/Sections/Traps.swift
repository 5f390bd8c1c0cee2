// The "Copyright traps" section: the trap detector's figures and each trap's score.
import Store

extension Report {
    struct Traps: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            let r = ctx.report
            let traps = r.findings.filter { $0.kind == "trap" }
            let metrics = r.metrics.filter { $0.key.hasPrefix("traps.") }
            guard !traps.isEmpty || !metrics.isEmpty else { return }
            md.heading("Copyright traps", intro: "Trap sequences were injected into documents; a detector that scores injected traps above never-injected ones (AUC above 0.5) shows the model memorised them.")
            md.figures(metrics)
            if let w = Report.trapsSmallSampleWarning(r) { md.add("> **Warning:** \(md.text(w))"); md.add() }
            if !traps.isEmpty {
                let withText = traps.contains { $0.secret != nil }
                md.table(["Trap", "Repetitions", "Score", "Injected"] + (withText ? ["Trap text"] : []), traps.map { f in
                    [md.text(f.itemID ?? "#\(f.index)"), num(f.numbers["repetitions"], 0), num(f.numbers["score"], 3),
                     flag(f.numbers["injected"])] + (withText ? [secret(f.secret, ctx.options)] : [])
                })
            }
        }
    }
}

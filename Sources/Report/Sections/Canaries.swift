// The "Canary exposure" section: exposure of the planted canaries, by repetition count and one by one.
import Store

extension Report {
    struct Canaries: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            let r = ctx.report
            let groups = canariesByRepetition(r)
            let metrics = r.metrics.filter { $0.key.hasPrefix("canary.") }
            guard !groups.isEmpty || !metrics.isEmpty else { return }
            md.heading("Canary exposure", intro: "Random secrets (canaries) were planted in the training data a known number of times. Exposure, in bits, says how much more likely the model finds the planted canary than random alternatives; at the maximum it prefers the canary to every alternative.")
            let overall = metrics.filter { !$0.key.hasPrefix("canary.rep_") }
            md.figures(overall, valueHeader: "Value [95% CI or method]")
            guard !groups.isEmpty else { return }
            md.table(["Repetitions", "Canaries", "Mean exposure (bits)", "Max exposure (bits)", "Max possible (bits)"], groups.map { g in
                let rep = Fmt.fixed(g.repetitions, 0)
                let e = g.findings.compactMap { $0.numbers["exposure"] }.filter { $0.isFinite }
                let k = e.count
                func figure(_ stat: String, _ computed: Double?, _ how: String) -> String {
                    if let m = metric(r, "canary.rep_\(rep).exposure.\(stat)") { md.shown.insert(m.key); return cell(m, md) }
                    guard let v = computed else { return "n/a" }
                    return "\(Fmt.fixed(v, 1)) (\(how) \(k) canar\(k == 1 ? "y" : "ies"), no interval)"
                }
                let mean = k > 0 ? e.reduce(0, +) / Double(k) : nil
                let maxPossible = g.findings.compactMap { $0.numbers["max_exposure"] }.filter { $0.isFinite }.max()
                return [rep, String(g.findings.count), figure("mean", mean, "mean over"), figure("max", e.max(), "max over"),
                        maxPossible.map { Fmt.fixed($0, 1) } ?? "n/a"]
            })
            md.image("exposure.svg", from: ctx.charts)
            md.add("Each canary (exposure with its 95% interval where the rank was estimated from sampled candidates):")
            md.add()
            md.table(["Canary", "Repetitions", "Exposure (bits)", "Max possible (bits)", "Canary text"], groups.flatMap { $0.findings }.map { f in
                [md.text(f.itemID ?? "#\(f.index)"), num(f.numbers["repetitions"], 0), Self.exposure(f),
                 num(f.numbers["max_exposure"], 1), secret(f.secret, ctx.options)]
            })
        }

        /// An interval exists where the rank was estimated from sampled candidates; an exact rank has none.
        static func exposure(_ f: FindingRecord) -> String {
            guard let e = f.numbers["exposure"], let l = f.numbers["exposure_lower"], let u = f.numbers["exposure_upper"] else {
                return num(f.numbers["exposure"], 1)
            }
            return l == u ? "\(Fmt.fixed(e, 1)) (exact rank)" : "\(Fmt.fixed(e, 1)) [\(Fmt.fixed(l, 1)), \(Fmt.fixed(u, 1))]"
        }
    }
}

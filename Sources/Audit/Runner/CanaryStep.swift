// The canary step: exposure of every canary in the manifest, with its interval, overall and by repetition count.
import Attacks
import Foundation
import LM
import Store

extension AuditRunner {
    func canaries(_ c: AuditSpec.CanarySpec, _ lm: any AuditableModel, _ m: CanaryManifest) throws -> StepOutput {
        let words = try c.words.map { try readWordList($0) } ?? []
        var bar: Progress?
        let rows = try canaryExposures(m, lm, words: words, enumerateUpTo: c.enumerateUpTo, references: c.references,
                                       seed: spec.seed, manifestPath: spec.canaries!) { done, total in
            if bar == nil { bar = progress("canary", total: total, unit: "texts") }
            bar!.update(done: done)
        }
        var out = StepOutput()
        out.findings = rows.enumerated().map { i, r in
            FindingRecord(step: "canary", kind: "canary", dataset: "canaries", index: i, itemID: r.canary.id, secret: r.canary.text,
                          numbers: ["repetitions": Double(r.canary.repetitions), "exposure": r.exposure,
                                    "exposure_extrapolated": r.extrapolated, "max_exposure": r.maxExposure,
                                    "exposure_lower": r.lower, "exposure_upper": r.upper,
                                    "exact": r.exact ? 1 : 0, "references": Double(r.references)])
        }
        let sampled = rows.contains { !$0.exact }
        let methods = Set(rows.map { $0.exact ? "ranked among all candidates" : "ranked among \($0.references) sampled candidates" })
            .sorted().joined(separator: "; ")
        // Interval of the max (mean): the max (mean) of the canaries' own intervals, which holds when theirs all do.
        let how = sampled ? "; interval from each canary's Clopper-Pearson 95% interval on its sampled rank" : "; exact, no sampling"
        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
        func figures(_ g: [ExposureRow], repetitions: Int?, _ method: (String) -> String) -> [MetricRecord] {
            let e = g.map(\.exposure)
            let mx = Figure.canaryExposure(.max, repetitions: repetitions).record(
                e.max()!, lower: g.map(\.lower).max(), upper: g.map(\.upper).max(), n: g.count, method: method("max"))
            let mn = Figure.canaryExposure(.mean, repetitions: repetitions).record(
                mean(e), lower: mean(g.map(\.lower)), upper: mean(g.map(\.upper)), n: g.count, method: method("mean"))
            return repetitions == nil ? [mx, mn] : [mn, mx]
        }
        out.metrics = figures(rows, repetitions: nil) { "\($0) over \(rows.count) canaries (\(methods))\(how)" }
        for r in Set(rows.map(\.canary.repetitions)).sorted() {
            let g = rows.filter { $0.canary.repetitions == r }
            out.metrics += figures(g, repetitions: r) { "\($0) over \(g.count) canaries\(how)" }
        }
        return out
    }
}

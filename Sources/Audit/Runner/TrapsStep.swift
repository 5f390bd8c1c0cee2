// The copyright-traps step: injected traps against never-injected controls, overall and by repetition count.
import Attacks
import Foundation
import Store

extension AuditRunner {
    func traps(_ t: AuditSpec.TrapsSpec, _ inputs: AuditInputs, _ m: TrapManifest) throws -> StepOutput {
        let d: TrapDetection
        do {
            var bar: Progress?
            d = try Traps.detect(target: inputs.target.model, reference: inputs.reference?.model, manifest: m,
                                 resamples: t.resamples, seed: spec.seed) { done, total in
                if bar == nil { bar = progress("traps", total: total, unit: "texts") }
                bar!.update(done: done)
            }
        } catch let e as TrapsError { throw InputError(spec.traps!, e.description) }
        var out = StepOutput()
        out.findings = d.scores.enumerated().map { i, s in
            FindingRecord(step: "traps", kind: "trap", dataset: "traps", index: i, itemID: s.id, secret: nil,
                          numbers: ["repetitions": Double(s.repetitions), "score": s.score, "injected": s.injected ? 1 : 0,
                                    "perplexity_target": s.perplexityTarget])
        }
        let method = "bootstrap \(t.resamples), 95%"
        var context = Figure.LabelContext()
        context.trapsStatistic = d.statistic
        out.metrics = [Figure.trapsAUC(repetitions: nil).record(d.overall.auc, lower: d.overall.lower, upper: d.overall.upper,
                                                                n: d.overall.injected + d.overall.controls, method: method, context)]
        for a in d.byRepetition {
            guard let r = a.repetitions else { continue }
            out.metrics.append(Figure.trapsAUC(repetitions: r).record(a.auc, lower: a.lower, upper: a.upper,
                                                                      n: a.injected + a.controls, method: method))
        }
        return out
    }
}

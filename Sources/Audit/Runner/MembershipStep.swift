// The membership-inference step: one scoring pass per text and checkpoint feeds every attack of the spec; AUC and
// TPR at low FPR with bootstrap intervals, the per-text scores, and the blind baseline.
import Attacks
import Foundation
import LM
import Stats
import Store

extension AuditRunner {
    func membership(_ mia: AuditSpec.MIA, _ inputs: AuditInputs) throws -> StepOutput {
        var out = StepOutput()
        var attacks = spec.miaAttacks(mia)
        // What the backend cannot compute is reported unavailable, never approximated (Min-K%++ on a served model).
        if attacks.contains(where: { if case .minKPlusPlus = $0 { true } else { false } }) {
            do { try inputs.target.model.require(.vocabularyStatistics, for: "Min-K%++") } catch let e as ModelInterfaceError {
                for a in attacks { if case .minKPlusPlus = a {
                    out.unavailable["mia.\(a.key)."] = e.message
                    out.findings.append(FindingRecord(step: "mia", kind: "unavailable", dataset: "members+nonmembers", index: 0,
                                                      itemID: a.key, secret: nil, numbers: [:]))
                } }
                log("audit: mia: \(e.model): \(e.message); its figures are reported unavailable")
                attacks.removeAll { if case .minKPlusPlus = $0 { true } else { false } }
            }
        }
        let scorer = MIAScorer(target: inputs.target.model, reference: attacks.contains(.reference) ? inputs.reference?.model : nil,
                               options: MIAOptions(ks: mia.ks, lowercase: false, recallPrefix: nil,
                                                   minKPlusPlus: attacks.contains { if case .minKPlusPlus = $0 { true } else { false } }))
        let bar = progress("mia", total: (inputs.memberTexts.count + inputs.nonmemberTexts.count) * scorer.passesPerText, unit: "texts")
        func scored(_ texts: [String], _ file: String?, after: Int) throws -> [MIAScores] {
            do { return try scorer.score(texts) { done, _ in bar.update(done: after + done) } } catch let e as MIAError {
                throw InputError(file ?? "datasets", e.oneBased.description)
            }
        }
        let ms = try scored(inputs.memberTexts, spec.members, after: 0)
        let ns = try scored(inputs.nonmemberTexts, spec.nonmembers, after: inputs.memberTexts.count * scorer.passesPerText)
        let labels = Metrics.labels(members: ms.count, nonMembers: ns.count)
        let method = "bootstrap \(mia.resamples), 95%"
        for attack in attacks {
            // The scorer computed every attack it was asked for: a missing value is our bug, not the user's input.
            let m = ms.map { $0.value(attack)! }, n = ns.map { $0.value(attack)! }
            for (dataset, values) in [("members", m), ("nonmembers", n)] {
                for (i, v) in values.enumerated() {
                    out.scores.append(TextScoreRecord(checkpoint: "target", dataset: dataset, index: i, attack: attack.key, score: v))
                }
            }
            let all = m + n
            for (figure, metric) in [(Figure.miaAUC(attack), { (s: [Double], l: [Int]) in try Metrics.auc(scores: s, labels: l) }),
                                     (.miaTPR(attack, .onePercent), { try Metrics.tprAtFPR(scores: $0, labels: $1, maxFPR: 0.01) }),
                                     (.miaTPR(attack, .tenthPercent), { try Metrics.tprAtFPR(scores: $0, labels: $1, maxFPR: 0.001) })] {
                let b = try Metrics.bootstrap(scores: all, labels: labels, metric: metric, resamples: mia.resamples, seed: spec.seed)
                out.metrics.append(figure.record(b.estimate, lower: b.lower, upper: b.upper, n: all.count, method: method))
            }
        }
        if mia.blindBaseline {
            let b = try Metrics.blindBaseline(memberTexts: inputs.memberTexts, nonMemberTexts: inputs.nonmemberTexts,
                                              seed: spec.seed, resamples: mia.resamples)
            var context = Figure.LabelContext()
            context.blindFeature = b.feature
            out.metrics.append(Figure.blindBaselineAUC.record(b.auc, lower: b.lower, upper: b.upper,
                                                              n: inputs.memberTexts.count + inputs.nonmemberTexts.count,
                                                              method: method, context))
        }
        return out
    }
}

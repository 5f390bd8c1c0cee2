// The extraction step: discoverable and (n, p)-discoverable extraction at each prefix length against the same
// suffix, with Clopper-Pearson intervals on every rate; generated text kept as a (redacted) finding.
import Attacks
import Foundation
import LM
import Stats
import Store

extension AuditRunner {
    func extraction(_ e: AuditSpec.ExtractionSpec, _ inputs: AuditInputs) throws -> StepOutput {
        let lm = inputs.target.model, texts = inputs.extractionTexts
        let file = spec.extraction ?? "datasets.extraction"
        let longest = e.prefixes.max()!   // the spec reader admits no empty list
        let need = longest + e.suffix
        guard need <= lm.contextLength else {
            throw InputError(spec.path, "attacks.extraction: prefix + suffix (\(need)) exceeds the model's context (\(lm.contextLength))")
        }
        let samples = try texts.map { try lm.encode($0.text) }
        for (i, s) in samples.enumerated() where s.count < need {
            throw InputError(file, "text \(i + 1) has \(s.count) tokens, fewer than the longest prefix + suffix = \(need)")
        }
        let scheme = SamplingParams(temperature: e.temperature, topK: e.topK, topP: e.topP)
        var context = Figure.LabelContext()
        context.approxThreshold = e.approxThreshold; context.n = e.n; context.p = e.p
        var out = StepOutput()
        var any: [Figure.ExtractionKind: [Bool]] = [:]
        for kind in Figure.ExtractionKind.allCases { any[kind] = Array(repeating: false, count: samples.count) }
        let bar = progress("extraction", total: samples.count * e.prefixes.count, unit: "samples")
        for (pi, prefix) in e.prefixes.enumerated() {
            // Every sample is cut at the same place whatever the prefix: the suffix is tokens [P_max, P_max + S),
            // so rates at different prefix lengths test the same target text.
            let cut = samples.map { Array($0[(longest - prefix)..<need]) }
            let rows = try extractionResults(lm, samples: cut, prefix: prefix, suffix: e.suffix, approxThreshold: e.approxThreshold,
                                             scheme: scheme, n: e.n, p: e.p) {
                bar.update(done: pi * samples.count + $0)
            }
            for (i, r) in rows.enumerated() {
                any[.exact]![i] = any[.exact]![i] || r.exact
                any[.approximate]![i] = any[.approximate]![i] || r.approximate
                any[.np]![i] = any[.np]![i] || r.np
                out.findings.append(FindingRecord(step: "extraction", kind: "extraction", dataset: "extraction", index: i,
                                                  itemID: texts[i].id.map { "\($0)" }, secret: try lm.decode(r.generated),
                                                  numbers: ["prefix": Double(prefix), "exact": r.exact ? 1 : 0,
                                                            "approximate": r.approximate ? 1 : 0, "log10_pz": r.log10Pz,
                                                            "np": r.np ? 1 : 0, "exact_memorization": r.exactMemorization]))
            }
            for (kind, flags) in [(Figure.ExtractionKind.exact, rows.map(\.exact)), (.approximate, rows.map(\.approximate)),
                                  (.np, rows.map(\.np))] {
                out.metrics.append(try rate(.extractionRate(kind, prefix: prefix), flags, context))
            }
        }
        for kind in Figure.ExtractionKind.allCases { out.metrics.append(try rate(.extractionRate(kind, prefix: nil), any[kind]!, context)) }
        return out
    }

    /// The fraction of true flags with its Clopper-Pearson 95% interval.
    private func rate(_ figure: Figure, _ flags: [Bool], _ context: Figure.LabelContext) throws -> MetricRecord {
        let k = flags.filter { $0 }.count
        let ci = try Metrics.clopperPearson(successes: k, trials: flags.count)
        return figure.record(Double(k) / Double(flags.count), lower: ci.lower, upper: ci.upper, n: flags.count,
                             method: "Clopper-Pearson 95%", context)
    }
}

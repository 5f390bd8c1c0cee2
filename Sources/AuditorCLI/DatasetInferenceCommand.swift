// `auditor dataset-inference`: was a suspect set trained on? MIA features + Welch's t-test (Maini et al. 2024).
import Audit
import ArgumentParser
import Attacks
import Foundation
import Stats
import Model

struct DatasetInferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset-inference",
        abstract: "Dataset inference: a p-value for \"the --suspect set was trained on\", against --validation.",
        discussion: """
            Every text of both sets gets the membership features of `auditor mia` (LOSS, zlib, Min-K% and \
            Min-K%++ at each --k, lowercase). Each set is split in half with --seed; on the first halves a \
            class-balanced ridge logistic regression on the standardised features learns the combination that \
            separates suspect from validation; on the second halves Welch's one-sided t-test asks whether suspect \
            texts score higher. p_value < --alpha (0.05): evidence that the suspect set was trained on. \
            The test assumes that the validation texts come from the SAME distribution as the suspect texts and \
            were NOT trained on; otherwise any difference between the sets gives a small p-value. blind_baseline \
            reports how well text length or a bag of words alone separates the two sets: a high value means the \
            assumption fails and the p-value says nothing. Needs at least 10 texts per set; hundreds give power.
            """)

    @OptionGroup var model: ModelOptions
    @Option(help: "JSON Lines of the texts suspected to be in the training data.") var suspect: String
    @Option(help: "JSON Lines of texts from the same distribution known not to be.") var validation: String
    @Option(help: "Field holding the text.") var field = "text"
    @Option(help: "Comma-separated k values for the Min-K% and Min-K%++ features.") var k = "0.2,0.4,0.6"
    @Flag(help: "Leave out the lowercase feature (it needs a second pass).") var noLowercase = false
    @Option(help: "Seed of the split (and of the blind baseline's bootstrap).") var seed: UInt64 = 0
    @Option(help: "Significance level of the verdict.") var alpha = 0.05

    func validate() throws {
        guard alpha > 0 && alpha < 1 else { throw ValidationError("--alpha must be in (0, 1)") }
    }

    func run() throws {
        try reportingErrors {
            let ks = try k.split(separator: ",").map { s -> Double in
                guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v > 0, v <= 1 else {
                    throw InputError("--k", "expected comma-separated values in (0, 1], got '\(k)'")
                }
                return v
            }
            let sus = try readJSONLTexts(suspect, field: field).map(\.text)
            let val = try readJSONLTexts(validation, field: field).map(\.text)
            let minimum = DatasetInference.minimumTexts
            for (file, texts) in [(suspect, sus), (validation, val)] where texts.count < minimum {
                throw InputError(file, "\(texts.count) text(s); dataset inference needs at least \(minimum) per set "
                                 + "(half fit the feature combination, half test it)")
            }
            let lm = try model.load()
            let scorer = MIAScorer(target: lm, options: MIAOptions(ks: ks, lowercase: !noLowercase))
            let bar = Progress(total: (sus.count + val.count) * scorer.passesPerText, unit: "texts", label: "dataset-inference")
            func scored(_ texts: [String], _ file: String, after: Int) throws -> [MIAScores] {
                do { return try scorer.score(texts) { done, _ in bar.update(done: after + done) } } catch let e as MIAError {
                    throw InputError(file, e.description)
                }
            }
            let ss = try scored(sus, suspect, after: 0), vs = try scored(val, validation, after: sus.count * scorer.passesPerText)
            let names = ss[0].named(ks: ks).map(\.name)
            let result: DatasetInference.Result
            do {
                result = try DatasetInference.run(suspect: ss.map { $0.named(ks: ks).map(\.value) },
                                                  validation: vs.map { $0.named(ks: ks).map(\.value) },
                                                  featureNames: names, seed: seed)
            } catch let e as DatasetInferenceError {
                throw InputError(suspect, e.description)
            }
            let blind = try Metrics.blindBaseline(memberTexts: sus, nonMemberTexts: val, seed: seed)
            let p = result.pValue
            let pText = String(format: "%.3g", p)
            let verdict = p < alpha
                ? "p = \(pText) < \(alpha): the suspect texts look more like training data than the validation texts; "
                    + "evidence that the suspect set was trained on, valid only if both sets come from the same distribution."
                : "p = \(pText) >= \(alpha): no evidence that the suspect set was trained on (not proof that it was not; "
                    + "more texts give more power)."
            var out: [String: Any] = [
                "p_value": p, "t": result.welch.t, "df": result.welch.df, "alpha": alpha, "significant": p < alpha,
                "verdict": verdict,
                "assumption": "the validation texts must come from the same distribution as the suspect texts and must "
                    + "not have been trained on; if the sets differ otherwise (see blind_baseline) the p-value is meaningless",
                "suspect": sus.count, "validation": val.count,
                "fit_sizes": ["suspect": result.fitSizes.suspect, "validation": result.fitSizes.validation],
                "test_sizes": ["suspect": result.testSizes.suspect, "validation": result.testSizes.validation],
                "features": result.features, "dropped_features": result.dropped,
                "weights": Dictionary(uniqueKeysWithValues: zip(result.features, result.weights)),
                "intercept": result.intercept,
                "mean_score": ["suspect": result.welch.meanA, "validation": result.welch.meanB],
                "method": "seeded half split; class-balanced ridge logistic regression (\(DatasetInference.fitSteps) "
                    + "gradient steps, lambda \(DatasetInference.ridge)) on standardised features of the first halves; "
                    + "one-sided Welch t-test (suspect > validation) on the second halves",
                "seed": seed,
                "blind_baseline": ["feature": blind.feature, "auc": ["value": blind.auc, "ci95": [blind.lower, blind.upper]]],
            ]
            if let w = Metrics.blindBaselineWarning(blind) { out["warning"] = w }
            print(jsonLine(out))
        }
    }
}

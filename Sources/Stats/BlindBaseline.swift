// Blind (model-free) baselines: how well text length or a bag-of-words classifier alone separates members from
// non-members (shared/REFERENCES.md section 2, "blind baselines" pitfall). A high value means the two sets differ in
// distribution, so any membership-inference AUC measured on them is inflated.
import Foundation

extension Metrics {
    /// The blind features, in the order they are reported.
    public static let blindFeatureNames = ["length in characters", "length in words", "bag-of-words log-ratio"]

    /// A warning is raised when the best blind feature's bootstrap lower bound exceeds this AUC.
    public static let blindBaselineWarningLowerBound = 0.6

    /// Every blind feature's oriented AUC with a stratified percentile bootstrap interval (`bootstrap`, 95%).
    /// - length in characters: `text.count` (extended grapheme clusters);
    /// - length in words: runs of non-whitespace;
    /// - bag-of-words log-ratio: words are lower-cased runs of letters and digits; with `folds`-fold cross-fitting
    ///   (folds drawn by a seeded shuffle within each class) each text is scored by a multinomial naive Bayes model
    ///   trained on the other folds only: the mean over the text's words of ln P(w | member) - ln P(w | non-member),
    ///   add-one smoothed over the training vocabulary and one unseen-word slot (0 for a text without words). It is a mean, not a sum, so it
    ///   measures content, not length.
    /// The direction of a blind feature is unknown, so the reported AUC is max(AUC, 1 - AUC): the direction is
    /// fixed on the full data (scores negated when AUC < 0.5) and the interval bootstraps that oriented score.
    /// Cross-fitted scores are computed once; the bootstrap resamples them, it does not refit the classifier.
    public static func blindBaselineFeatures(memberTexts: [String], nonMemberTexts: [String], seed: UInt64 = 0,
                                             resamples: Int = 1000, folds: Int = 5)
        throws -> [(feature: String, auc: Double, lower: Double, upper: Double)]
    {
        guard !memberTexts.isEmpty && !nonMemberTexts.isEmpty else {
            throw MetricsError.emptyClass("blind baseline: \(memberTexts.count) member and \(nonMemberTexts.count) non-member texts")
        }
        guard folds >= 2 else { throw MetricsError.invalidArgument("blind baseline needs at least 2 folds, got \(folds)") }
        let texts = memberTexts + nonMemberTexts
        let labels = Self.labels(members: memberTexts.count, nonMembers: nonMemberTexts.count)
        let features: [[Double]] = [
            texts.map { Double($0.count) },
            texts.map { text in Double(text.split(whereSeparator: { $0.isWhitespace }).count) },
            bagOfWordsScores(texts: texts, labels: labels, folds: folds, seed: seed),
        ]
        return try zip(blindFeatureNames, features).map { name, raw in
            let direction: Double = try auc(scores: raw, labels: labels) < 0.5 ? -1 : 1
            let scores = raw.map { direction * $0 }
            let b = try bootstrap(scores: scores, labels: labels, metric: auc(scores:labels:), resamples: resamples,
                                  seed: seed, confidence: 0.95)
            return (name, b.estimate, b.lower, b.upper)
        }
    }

    /// The blind feature with the highest oriented AUC (first in `blindFeatureNames` order on a tie), with its
    /// 95% bootstrap interval; see `blindBaselineFeatures` for the features and the max(AUC, 1 - AUC) rule.
    public static func blindBaseline(memberTexts: [String], nonMemberTexts: [String], seed: UInt64 = 0,
                                     resamples: Int = 1000)
        throws -> (feature: String, auc: Double, lower: Double, upper: Double)
    {
        let all = try blindBaselineFeatures(memberTexts: memberTexts, nonMemberTexts: nonMemberTexts, seed: seed,
                                            resamples: resamples)
        var best = all[0]
        for f in all.dropFirst() where f.auc > best.auc { best = f }
        return best
    }

    /// The warning rule: when the best blind feature's 95% lower bound is above
    /// `blindBaselineWarningLowerBound` (0.6), the member and non-member sets are distinguishable without the
    /// model, and the returned text says so; otherwise nil.
    public static func blindBaselineWarning(_ best: (feature: String, auc: Double, lower: Double, upper: Double)) -> String? {
        guard best.lower > blindBaselineWarningLowerBound else { return nil }
        let f = { (x: Double) in String(format: "%.3f", x) }
        return "blind baseline: \(best.feature) alone separates members from non-members with AUC \(f(best.auc)) "
            + "(95% CI \(f(best.lower))-\(f(best.upper)), lower bound above \(blindBaselineWarningLowerBound)). "
            + "The two sets differ in distribution without any model, so membership-inference AUCs on them are "
            + "inflated; use members and non-members drawn from the same distribution."
    }

    /// `blindBaselineWarning` of `blindBaseline` on these texts.
    public static func blindBaselineWarning(memberTexts: [String], nonMemberTexts: [String], seed: UInt64 = 0)
        throws -> String?
    {
        blindBaselineWarning(try blindBaseline(memberTexts: memberTexts, nonMemberTexts: nonMemberTexts, seed: seed))
    }

    /// Lower-cased runs of letters and digits.
    static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    /// Cross-fitted naive Bayes log-ratio scores, one per text (see `blindBaselineFeatures`).
    static func bagOfWordsScores(texts: [String], labels: [Int], folds k: Int, seed: UInt64) -> [Double] {
        let tokens = texts.map(words)
        // Stratified folds: a seeded Fisher-Yates shuffle within each class, then round-robin.
        var rng = SeededRNG(seed: seed ^ 0xB1ED_BA5E)
        var fold = [Int](repeating: 0, count: texts.count)
        for cls in [1, 0] {
            var idx = labels.indices.filter { labels[$0] == cls }
            if idx.count > 1 {
                for i in stride(from: idx.count - 1, to: 0, by: -1) {
                    idx.swapAt(i, Int(rng.uniform() * Double(i + 1)))
                }
            }
            for (pos, i) in idx.enumerated() { fold[i] = pos % k }
        }
        var scores = [Double](repeating: 0, count: texts.count)
        for f in 0..<k {
            var counts: [[String: Int]] = [[:], [:]], totals = [0, 0]  // [non-member, member]
            for i in texts.indices where fold[i] != f {
                for w in tokens[i] { counts[labels[i]][w, default: 0] += 1 }
                totals[labels[i]] += tokens[i].count
            }
            let vocab = Set(counts[0].keys).union(counts[1].keys).count
            // Add-one smoothing over the training vocabulary plus one slot for unseen words.
            let denomMember = log(Double(totals[1] + vocab + 1)), denomNon = log(Double(totals[0] + vocab + 1))
            for i in texts.indices where fold[i] == f && !tokens[i].isEmpty {
                var sum = 0.0
                for w in tokens[i] {
                    sum += log(Double(counts[1][w, default: 0] + 1)) - denomMember
                        - log(Double(counts[0][w, default: 0] + 1)) + denomNon
                }
                scores[i] = sum / Double(tokens[i].count)
            }
        }
        return scores
    }
}

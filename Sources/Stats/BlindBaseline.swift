// Blind (model-free) baselines: how well text length or a bag-of-words classifier alone separates members from
// non-members (shared/REFERENCES.md section 2, "blind baselines" pitfall). A high value means the two sets differ in
// distribution, so any membership-inference AUC measured on them is inflated.
import Foundation

extension Metrics {
    /// The blind features, in the order they are reported.
    public static let blindFeatureNames = ["length in characters", "length in words", "bag-of-words log-ratio"]

    /// A warning is raised when the best blind feature's bootstrap lower bound exceeds this AUC.
    public static let blindBaselineWarningLowerBound = 0.6

    /// Every blind feature's cross-fitted AUC with a stratified percentile bootstrap interval (`bootstrap`, 95%).
    /// - length in characters: `text.count` (extended grapheme clusters);
    /// - length in words: runs of non-whitespace;
    /// - bag-of-words log-ratio: words are lower-cased runs of letters and digits; each text is scored by a
    ///   multinomial naive Bayes model trained on the other folds only: the mean over the text's words of
    ///   ln P(w | member) - ln P(w | non-member), add-one smoothed over the training vocabulary and one unseen-word
    ///   slot (0 for a text without words). It is a mean, not a sum, so it measures content, not length.
    /// Cross-fitting: `folds` folds are drawn by a seeded shuffle within each class, and texts with the same bag of
    /// words (duplicates, word shuffles) always share a fold, so a text is never scored by a model trained on its
    /// twin, and twins always score alike (a tie). Every direction is fixed before the held-out fold is seen: the
    /// bag-of-words score is oriented by construction (higher = more member-like), and for a length feature the
    /// held-out fold's lengths are negated when members are shorter than non-members on the other folds
    /// (training AUC < 0.5). Nothing is flipped after the fact, so when the two sets share a distribution every AUC
    /// is close to 0.5 in expectation (it may fall below 0.5 by chance; that is no separation; in simulation the
    /// length features average about 0.52, from comparing texts across folds oriented on each other, the bag of
    /// words about 0.50, and the 0.6 lower-bound warning fired in 1 of 800 same-distribution splits), and identical
    /// sets or sets of word-shuffled twins give exactly 0.5. The cross-fitted scores are computed once; the
    /// bootstrap resamples them, it does not refit.
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
        let tokens = texts.map(words)
        let fold = blindFolds(tokens: tokens, labels: labels, folds: folds, seed: seed)
        let features: [[Double]] = [
            crossFitOriented(texts.map { Double($0.count) }, labels: labels, fold: fold, folds: folds),
            crossFitOriented(texts.map { Double($0.split(whereSeparator: { $0.isWhitespace }).count) },
                             labels: labels, fold: fold, folds: folds),
            bagOfWordsScores(tokens: tokens, labels: labels, fold: fold, folds: folds),
        ]
        return try zip(blindFeatureNames, features).map { name, scores in
            let b = try bootstrap(scores: scores, labels: labels, metric: auc(scores:labels:), resamples: resamples,
                                  seed: seed, confidence: 0.95)
            return (name, b.estimate, b.lower, b.upper)
        }
    }

    /// The blind feature with the highest cross-fitted AUC (first in `blindFeatureNames` order on a tie), with its
    /// 95% bootstrap interval; see `blindBaselineFeatures` for the features and how their directions are fixed.
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
        guard blindBaselineSeparates(lower: best.lower) else { return nil }
        let f = { (x: Double) in String(format: "%.3f", x) }
        return "blind baseline: \(best.feature) alone separates members from non-members with AUC \(f(best.auc)) "
            + "(95% CI \(f(best.lower))-\(f(best.upper)), lower bound above \(blindBaselineWarningLowerBound)). "
            + "The two sets differ in distribution without any model, so membership-inference AUCs on them are "
            + "inflated; use members and non-members drawn from the same distribution."
    }

    /// The one warning rule, for `mia`, `dataset-inference` and the audit report alike: the 95% lower bound is above
    /// `blindBaselineWarningLowerBound` (0.6). Not "the interval excludes 0.5": on same-distribution splits that
    /// fires far above its nominal 2.5% (see the simulation in MetricsTests); an interval below 0.5 is no separation,
    /// since every direction is fixed before the held-out fold is seen.
    public static func blindBaselineSeparates(lower: Double) -> Bool {
        lower.isFinite && lower > blindBaselineWarningLowerBound
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

    /// Cross-fitting folds: a seeded Fisher-Yates shuffle within each class (members first), then round-robin,
    /// except that a text whose non-empty bag of words (the sorted multiset of its words) was already placed joins
    /// that text's fold, so twins share a fold. Without twins these are plain stratified folds.
    static func blindFolds(tokens: [[String]], labels: [Int], folds k: Int, seed: UInt64) -> [Int] {
        var rng = SeededRNG(seed: seed ^ 0xB1ED_BA5E)
        var fold = [Int](repeating: 0, count: tokens.count)
        var foldOfBag: [[String]: Int] = [:]
        for cls in [1, 0] {
            var idx = labels.indices.filter { labels[$0] == cls }
            if idx.count > 1 {
                for i in stride(from: idx.count - 1, to: 0, by: -1) {
                    idx.swapAt(i, Int(rng.uniform() * Double(i + 1)))
                }
            }
            var next = 0
            for i in idx {
                let bag = tokens[i].sorted()
                if !bag.isEmpty, let f = foldOfBag[bag] { fold[i] = f; continue }
                fold[i] = next % k
                if !bag.isEmpty { foldOfBag[bag] = fold[i] }
                next += 1
            }
        }
        return fold
    }

    /// A length feature oriented fold by fold: the held-out fold's values are negated when, on the other folds,
    /// members score below non-members (AUC < 0.5); kept when the other folds show no direction or lack a class.
    static func crossFitOriented(_ raw: [Double], labels: [Int], fold: [Int], folds k: Int) -> [Double] {
        var out = raw
        for f in 0..<k {
            let train = raw.indices.filter { fold[$0] != f }
            let trainLabels = train.map { labels[$0] }
            guard trainLabels.contains(1) && trainLabels.contains(0),
                  let a = try? auc(scores: train.map { raw[$0] }, labels: trainLabels), a < 0.5 else { continue }
            for i in raw.indices where fold[i] == f { out[i] = -raw[i] }
        }
        return out
    }

    /// Cross-fitted naive Bayes log-ratio scores, one per text (see `blindBaselineFeatures`).
    static func bagOfWordsScores(tokens: [[String]], labels: [Int], fold: [Int], folds k: Int) -> [Double] {
        var scores = [Double](repeating: 0, count: tokens.count)
        for f in 0..<k {
            var counts: [[String: Int]] = [[:], [:]], totals = [0, 0]  // [non-member, member]
            for i in tokens.indices where fold[i] != f {
                for w in tokens[i] { counts[labels[i]][w, default: 0] += 1 }
                totals[labels[i]] += tokens[i].count
            }
            let vocab = Set(counts[0].keys).union(counts[1].keys).count
            // Add-one smoothing over the training vocabulary plus one slot for unseen words.
            let denomMember = log(Double(totals[1] + vocab + 1)), denomNon = log(Double(totals[0] + vocab + 1))
            for i in tokens.indices where fold[i] == f && !tokens[i].isEmpty {
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

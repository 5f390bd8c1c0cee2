// Membership-inference metrics: ROC curve, ROC-AUC, TPR at low FPR, calibrated thresholds, stratified bootstrap
// (shared/REFERENCES.md section 2; ROC and AUC follow scikit-learn's roc_curve / roc_auc_score exactly).
//
// Conventions for every function in `Metrics`:
// - Every score is "higher = more likely member". Attacks whose raw statistic points the other way (LOSS, zlib,
//   Min-K%, ...) are negated before they get here.
// - Labels: member = 1 (the positive class), non-member = 0. Any other label value is an error.
// - Scores must be finite; NaN or infinity is an error (it means the attack produced no score).
// - A "positive decision" at threshold t is `score >= t` on the ROC curve (scikit-learn) and `score > t` for a
//   threshold calibrated on non-members (`threshold(atFPR:nonMemberScores:)`); each says so where it is defined.
import Foundation

/// Bad input to a metric: a message that says what was wrong and how to fix it.
public enum MetricsError: Error, CustomStringConvertible, Equatable {
    /// One of the two classes has no example, so a rate over it is undefined.
    case emptyClass(String)
    case lengthMismatch(scores: Int, labels: Int)
    case badLabel(index: Int, value: Int)
    case nonFinite(index: Int, value: Double)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .emptyClass(let what):
            return "\(what): ROC-based metrics need at least one member (label 1) and one non-member (label 0)"
        case .lengthMismatch(let s, let l):
            return "\(s) scores but \(l) labels: give one label per score"
        case .badLabel(let i, let v):
            return "label \(v) at index \(i): labels must be 1 (member) or 0 (non-member)"
        case .nonFinite(let i, let v):
            return "score \(v) at index \(i) is not finite: every text needs a finite score (higher = more likely member)"
        case .invalidArgument(let m):
            return m
        }
    }
}

public enum Metrics {
    /// One point of the ROC curve per distinct score, in counts: members and non-members scoring >= threshold.
    struct RocCounts {
        var thresholds: [Double] = [.infinity]
        var tps: [Int] = [0]
        var fps: [Int] = [0]
        var positives: Int { tps.last! }
        var negatives: Int { fps.last! }
    }

    static func validate(_ scores: [Double], _ labels: [Int]) throws {
        guard scores.count == labels.count else {
            throw MetricsError.lengthMismatch(scores: scores.count, labels: labels.count)
        }
        for (i, s) in scores.enumerated() where !s.isFinite { throw MetricsError.nonFinite(index: i, value: s) }
        for (i, l) in labels.enumerated() where l != 0 && l != 1 { throw MetricsError.badLabel(index: i, value: l) }
    }

    /// The full ROC curve in counts (roc_curve's `_binary_clf_curve` with drop_intermediate=False).
    /// Throws when a class is empty.
    static func rocCounts(_ scores: [Double], _ labels: [Int], what: String) throws -> RocCounts {
        try validate(scores, labels)
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var c = RocCounts()
        var tp = 0, fp = 0, i = 0
        while i < order.count {
            let s = scores[order[i]]
            while i < order.count && scores[order[i]] == s {
                if labels[order[i]] == 1 { tp += 1 } else { fp += 1 }
                i += 1
            }
            c.thresholds.append(s); c.tps.append(tp); c.fps.append(fp)
        }
        if tp == 0 || fp == 0 {
            throw MetricsError.emptyClass("\(what): \(tp) members and \(fp) non-members")
        }
        return c
    }

    /// The ROC curve with scikit-learn's `roc_curve(y_true, y_score, drop_intermediate=False)` semantics:
    /// one point per distinct score, thresholds strictly descending, a text counted positive when
    /// `score >= threshold`, tied scores form one point, and the first point is (0, 0) at threshold `+infinity`.
    /// fpr = fps / non-members and tpr = tps / members, divided in Double as numpy does.
    /// Throws `MetricsError` when a class is empty, labels are not 0/1, or a score is not finite.
    public static func rocCurve(scores: [Double], labels: [Int]) throws -> [(fpr: Double, tpr: Double, threshold: Double)] {
        let c = try rocCounts(scores, labels, what: "ROC curve")
        let p = Double(c.positives), n = Double(c.negatives)
        return c.thresholds.indices.map { (Double(c.fps[$0]) / n, Double(c.tps[$0]) / p, c.thresholds[$0]) }
    }

    /// ROC-AUC, equal to scikit-learn's `roc_auc_score`: the Mann-Whitney probability that a random member scores
    /// above a random non-member, ties counting 1/2. Computed exactly in integers, then divided once.
    /// Throws `MetricsError.emptyClass` when there are no members or no non-members.
    public static func auc(scores: [Double], labels: [Int]) throws -> Double {
        let c = try rocCounts(scores, labels, what: "ROC-AUC")
        // Twice the Mann-Whitney U: each non-member in a tie group beats the members above it, half the tied ones.
        var twiceU = 0
        for k in 1..<c.tps.count {
            let dn = c.fps[k] - c.fps[k - 1], dp = c.tps[k] - c.tps[k - 1]
            twiceU += dn * (2 * c.tps[k - 1] + dp)
        }
        return Double(twiceU) / (2 * Double(c.positives) * Double(c.negatives))
    }

    /// ROC-AUC of member scores against non-member scores (labels 1 and 0).
    public static func auc(members: [Double], nonMembers: [Double]) throws -> Double {
        try auc(scores: members + nonMembers, labels: labels(members: members.count, nonMembers: nonMembers.count))
    }

    /// Labels for `members + nonMembers` concatenated: `m` ones then `n` zeros.
    public static func labels(members m: Int, nonMembers n: Int) -> [Int] {
        [Int](repeating: 1, count: m) + [Int](repeating: 0, count: n)
    }

    /// The largest TPR over the points of the full ROC curve (`rocCurve`, no point dropped) whose FPR is
    /// `<= maxFPR` ("<=" convention). MIMIR computes `tpr[np.where(fpr < bound)[0][-1]]` on sklearn's default
    /// curve, i.e. strict "<" and with collinear intermediate points dropped. This value is never smaller than
    /// MIMIR's; it is larger when a point has FPR exactly maxFPR (e.g. 1 of 100 non-members at 1%), or when a
    /// dropped collinear point lies at or below the bound.
    /// The point (0, 0) always qualifies, so the result is at least 0.
    public static func tprAtFPR(scores: [Double], labels: [Int], maxFPR: Double) throws -> Double {
        guard maxFPR >= 0 else { throw MetricsError.invalidArgument("maxFPR \(maxFPR) must be >= 0") }
        let c = try rocCounts(scores, labels, what: "TPR at FPR <= \(maxFPR)")
        let p = Double(c.positives), n = Double(c.negatives)
        var best = 0.0
        for k in c.tps.indices where Double(c.fps[k]) / n <= maxFPR { best = max(best, Double(c.tps[k]) / p) }
        return best
    }

    // MARK: Thresholds calibrated on non-members

    /// A decision threshold `t` calibrated on known non-members: a text is flagged as a member when
    /// `score > t` (strictly), and at most a fraction `fpr` of `nonMemberScores` score strictly above `t`.
    /// With the non-member scores sorted descending s(1) >= s(2) >= ... >= s(N), k is the largest integer with
    /// k / N <= fpr (the same division as the ROC curve's FPR) and t = s(k+1), the lowest threshold that keeps
    /// the calibration FPR within the target (ties at s(k+1) may leave it below k / N).
    /// k = N (fpr = 1) gives -infinity: everything is flagged.
    /// Throws for an empty calibration set, a non-finite score, or fpr outside [0, 1].
    public static func threshold(atFPR fpr: Double, nonMemberScores: [Double]) throws -> Double {
        guard fpr >= 0 && fpr <= 1 else { throw MetricsError.invalidArgument("target FPR \(fpr) must lie in [0, 1]") }
        guard !nonMemberScores.isEmpty else {
            throw MetricsError.emptyClass("threshold calibration: no non-member scores")
        }
        for (i, s) in nonMemberScores.enumerated() where !s.isFinite { throw MetricsError.nonFinite(index: i, value: s) }
        let n = nonMemberScores.count
        var k = min(n, Int((fpr * Double(n)).rounded(.down)))
        while k < n && Double(k + 1) / Double(n) <= fpr { k += 1 }
        while k > 0 && Double(k) / Double(n) > fpr { k -= 1 }
        if k == n { return -.infinity }
        let sorted = nonMemberScores.sorted(by: >)
        return sorted[k]
    }

    /// Outcome of flagging `score > threshold` on a labelled set, with the counts for exact intervals.
    public struct ThresholdOutcome: Sendable, Equatable {
        public var threshold: Double
        public var truePositives: Int, members: Int
        public var falsePositives: Int, nonMembers: Int
        /// Flagged members / members; NaN when there are no members.
        public var tpr: Double { members > 0 ? Double(truePositives) / Double(members) : .nan }
        /// Flagged non-members / non-members; NaN when there are no non-members.
        public var fpr: Double { nonMembers > 0 ? Double(falsePositives) / Double(nonMembers) : .nan }
    }

    /// Applies a threshold from `threshold(atFPR:nonMemberScores:)` to a labelled set: a text is flagged as a
    /// member when `score > threshold`. Either class may be empty here (its rate is then NaN).
    public static func apply(threshold: Double, scores: [Double], labels: [Int]) throws -> ThresholdOutcome {
        try validate(scores, labels)
        var o = ThresholdOutcome(threshold: threshold, truePositives: 0, members: 0, falsePositives: 0, nonMembers: 0)
        for (s, l) in zip(scores, labels) {
            let flagged = s > threshold
            if l == 1 { o.members += 1; if flagged { o.truePositives += 1 } } else {
                o.nonMembers += 1; if flagged { o.falsePositives += 1 }
            }
        }
        return o
    }

    // MARK: Bootstrap

    /// A metric of a labelled score set, e.g. `Metrics.auc(scores:labels:)`.
    public typealias Metric = (_ scores: [Double], _ labels: [Int]) throws -> Double

    /// Stratified percentile bootstrap: `estimate` is `metric` on the data as given; each of `resamples` replicates
    /// draws the members with replacement (as many as there are) and, separately, the non-members, so both
    /// classes are always present (MIMIR resamples the pooled pairs instead). `lower` and `upper` are the
    /// (1 - confidence) / 2 and (1 + confidence) / 2 percentiles of the replicates, linearly interpolated between
    /// order statistics (numpy's default `percentile`). Seeded with `SeededRNG(seed:)`: index j of a class of
    /// size m is `Int(uniform() * m)`, members first then non-members in each replicate.
    public static func bootstrap(scores: [Double], labels: [Int], metric: Metric, resamples: Int = 1000,
                                 seed: UInt64 = 0, confidence: Double = 0.95)
        throws -> (estimate: Double, lower: Double, upper: Double)
    {
        guard resamples >= 1 else { throw MetricsError.invalidArgument("bootstrap needs at least 1 resample, got \(resamples)") }
        guard confidence > 0 && confidence < 1 else {
            throw MetricsError.invalidArgument("confidence \(confidence) must lie strictly between 0 and 1")
        }
        try validate(scores, labels)
        let pos = zip(scores, labels).filter { $0.1 == 1 }.map(\.0)
        let neg = zip(scores, labels).filter { $0.1 == 0 }.map(\.0)
        guard !pos.isEmpty && !neg.isEmpty else {
            throw MetricsError.emptyClass("bootstrap: \(pos.count) members and \(neg.count) non-members")
        }
        let estimate = try metric(scores, labels)
        let resampledLabels = Self.labels(members: pos.count, nonMembers: neg.count)
        var rng = SeededRNG(seed: seed)
        var replicates = [Double](), sample = [Double](repeating: 0, count: scores.count)
        replicates.reserveCapacity(resamples)
        for _ in 0..<resamples {
            for j in 0..<pos.count { sample[j] = pos[Int(rng.uniform() * Double(pos.count))] }
            for j in 0..<neg.count { sample[pos.count + j] = neg[Int(rng.uniform() * Double(neg.count))] }
            replicates.append(try metric(sample, resampledLabels))
        }
        replicates.sort()
        let alpha = 1 - confidence
        return (estimate, percentile(replicates, alpha / 2), percentile(replicates, 1 - alpha / 2))
    }

    /// numpy.percentile(sorted, q * 100) with the default "linear" method: position q (n - 1), interpolated.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        precondition(!sorted.isEmpty)
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        let f = pos - Double(lo)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * f
    }
}

// MARK: Too few to interval

extension Metrics {
    /// Below this many examples in either class a 95% bootstrap interval of an AUC is not presented as meaningful.
    /// Why 10: simulating members N(d, 1) against non-members N(0, 1), k of each, 400 repetitions of a 300-resample
    /// stratified percentile bootstrap (numpy), the interval covered the true AUC in 69%, 49% and 21% of
    /// repetitions at k = 2 (d = 0, 1, 2) and collapsed to one point (such as 1.000 [1.000, 1.000]) in 31-79% of
    /// them; at k = 5, 92%, 91% and 61%; at k = 10, 93%, 93% and 83%, with at most 9% single points.
    public static let minimumPerClassForInterval = 10

    /// The tiny-sample warning: nil when both classes hold at least `minimumPerClassForInterval` examples, else a
    /// sentence naming the counts. `positives` / `negatives` name the classes ("members", "non-members").
    public static func smallSampleWarning(positives: Int, negatives: Int, positiveName: String = "members",
                                          negativeName: String = "non-members") -> String? {
        let least = minimumPerClassForInterval
        guard positives < least || negatives < least else { return nil }
        return "too few to interval: \(positives) \(positiveName) and \(negatives) \(negativeName); with fewer than "
            + "\(least) in either class a 95% bootstrap interval is not meaningful (it can collapse to a single point "
            + "such as 1.000 [1.000, 1.000]), so read these AUCs as anecdotes and add texts"
    }
}

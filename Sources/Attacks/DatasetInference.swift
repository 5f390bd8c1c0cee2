// Dataset inference (Maini et al. 2024, "LLM Dataset Inference", arXiv 2406.06443; shared/REFERENCES.md section 2):
// combine per-text membership features of a SUSPECT set and a same-distribution VALIDATION set into one p-value
// for "the suspect set was trained on", with a one-sided Welch t-test (Welch 1947; scipy.stats.ttest_ind with
// equal_var=False, alternative="greater").
//
// The recipe, simplified from the paper (which also fits on one half and tests on the other):
// 1. Each set is shuffled with a seeded Fisher-Yates permutation and split in half: the first floor(n/2) texts fit
//    the combination, the rest test it. Fitting and testing on disjoint texts keeps the test valid under the null.
// 2. Features are standardised with the mean and standard deviation of the pooled fitting halves. A feature that
//    is constant there, or not finite for some text, is dropped (and reported).
// 3. The combination is L2-regularised logistic regression (suspect = 1, validation = 0), each class weighted
//    1/2 whatever its size, fitted by `fitSteps` steps of full-batch gradient descent from zero with step size
//    1 / ((max_i |x_i|^2 + 1)/4 + lambda), a bound on the loss's curvature, so the descent cannot diverge.
//    The paper trains a linear model too; we avoid any stochastic optimiser so that the result is deterministic.
// 4. Score = w . z + b on the test halves; Welch's t-test that suspect scores are higher; p = P(T_df > t) from the
//    Student t distribution through the regularized incomplete beta function.
// The test is only meaningful when the validation texts come from the SAME distribution as the suspect texts and
// were certainly not trained on: otherwise any distribution shift shows up as a small p-value.
import Foundation
import Stats

public enum DatasetInferenceError: Error, CustomStringConvertible, Equatable {
    case tooFew(set: String, count: Int, minimum: Int)
    case featureCount(String)
    case noUsableFeature
    case degenerate(String)

    public var description: String {
        switch self {
        case let .tooFew(set, n, m):
            return "\(set) set has \(n) text(s); dataset inference needs at least \(m) per set "
                + "(half fit the feature combination, half test it)"
        case let .featureCount(m): return m
        case .noUsableFeature:
            return "every feature is constant or not finite on the fitting halves: nothing separates the sets"
        case let .degenerate(m): return m
        }
    }
}

public enum DatasetInference {
    /// Texts per set, at least: 5 to fit and 5 to test.
    public static let minimumTexts = 10
    /// Logistic regression settings (see the file comment).
    public static let fitSteps = 500
    public static let ridge = 0.01

    /// Indices 0..<n in a seeded Fisher-Yates order, then split: the first floor(n/2) fit, the rest test.
    public static func split(count n: Int, seed: UInt64) -> (fit: [Int], test: [Int]) {
        var rng = SeededRNG(seed: seed)
        var idx = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) { idx.swapAt(i, Int(rng.uniform() * Double(i + 1))) }
        }
        return (Array(idx[..<(n / 2)]), Array(idx[(n / 2)...]))
    }

    public struct Result: Sendable {
        /// Names of the features used, in input order (dropped ones left out).
        public var features: [String]
        /// Features left out: constant on the fitting halves, or not finite for some text.
        public var dropped: [String]
        /// Logistic-regression weights on the standardised features (same order as `features`) and the intercept.
        public var weights: [Double]
        public var intercept: Double
        public var fitSizes: (suspect: Int, validation: Int)
        public var testSizes: (suspect: Int, validation: Int)
        /// Welch's test on the test halves: suspect (a) against validation (b).
        public var welch: Metrics.WelchResult
        public var pValue: Double { welch.pValue }
        /// Combined scores of the test halves.
        public var suspectScores: [Double], validationScores: [Double]
    }

    /// Runs the recipe of the file comment. `suspect` and `validation`: one feature vector per text, every vector
    /// `featureNames.count` long, oriented or not (the fit picks the sign). The split uses `seed` for the suspect set
    /// and `seed + 1` for the validation set.
    public static func run(suspect: [[Double]], validation: [[Double]], featureNames: [String], seed: UInt64 = 0)
        throws -> Result
    {
        guard suspect.count >= minimumTexts else {
            throw DatasetInferenceError.tooFew(set: "suspect", count: suspect.count, minimum: minimumTexts)
        }
        guard validation.count >= minimumTexts else {
            throw DatasetInferenceError.tooFew(set: "validation", count: validation.count, minimum: minimumTexts)
        }
        let d = featureNames.count
        for (i, v) in (suspect + validation).enumerated() where v.count != d {
            throw DatasetInferenceError.featureCount("feature vector \(i) has \(v.count) values, expected \(d) (\(featureNames))")
        }
        let s = split(count: suspect.count, seed: seed), v = split(count: validation.count, seed: seed &+ 1)
        let fitRows = s.fit.map { suspect[$0] } + v.fit.map { validation[$0] }
        let labels = [Double](repeating: 1, count: s.fit.count) + [Double](repeating: 0, count: v.fit.count)

        // Standardise with the fitting halves; drop constant or non-finite features.
        var keep: [Int] = [], dropped: [String] = [], mean: [Double] = [], sd: [Double] = []
        for j in 0..<d {
            let col = fitRows.map { $0[j] }
            let allFinite = (suspect + validation).allSatisfy { $0[j].isFinite }
            let (m, var_) = allFinite ? Metrics.meanAndVariance(col) : (0, 0)
            if allFinite && var_ > 0 {
                keep.append(j); mean.append(m); sd.append(var_.squareRoot())
            } else {
                dropped.append(featureNames[j])
            }
        }
        guard !keep.isEmpty else { throw DatasetInferenceError.noUsableFeature }
        func standardised(_ row: [Double]) -> [Double] { keep.indices.map { (row[keep[$0]] - mean[$0]) / sd[$0] } }
        let z = fitRows.map(standardised)
        let (w, b) = logisticRegression(z, labels: labels, steps: fitSteps, ridge: ridge)
        func score(_ row: [Double]) -> Double {
            let x = standardised(row)
            var acc = b
            for j in x.indices { acc += w[j] * x[j] }
            return acc
        }
        let sa = s.test.map { score(suspect[$0]) }, va = v.test.map { score(validation[$0]) }
        let test: Metrics.WelchResult
        do { test = try Metrics.welch(sa, va) } catch let e as MetricsError { throw DatasetInferenceError.degenerate(e.description) }
        return Result(features: keep.map { featureNames[$0] }, dropped: dropped, weights: w, intercept: b,
                      fitSizes: (s.fit.count, v.fit.count), testSizes: (s.test.count, v.test.count), welch: test,
                      suspectScores: sa, validationScores: va)
    }

    /// Class-balanced, L2-regularised logistic regression by full-batch gradient descent from zero.
    /// x: [N][d] standardised features, labels 0 or 1 (both present). Loss:
    /// sum_c (1/2) mean_{i in c} ln(1 + exp(-y_i (w.x_i + b))) + (ridge/2) |w|^2 (y = +-1; the intercept is not
    /// penalised). Step size 1 / ((max_i |x_i|^2 + 1)/4 + ridge): the Hessian's largest eigenvalue is at most its inverse.
    public static func logisticRegression(_ x: [[Double]], labels: [Double], steps: Int, ridge: Double)
        -> (weights: [Double], intercept: Double)
    {
        precondition(!x.isEmpty && x.count == labels.count)
        let d = x[0].count
        let nPos = labels.filter { $0 == 1 }.count, nNeg = labels.count - nPos
        precondition(nPos > 0 && nNeg > 0, "logistic regression needs both classes")
        let rowWeight = labels.map { $0 == 1 ? 0.5 / Double(nPos) : 0.5 / Double(nNeg) }
        // Curvature bound: each row's Hessian is p(1-p) [x;1][x;1]^T <= (|x|^2 + 1)/4; take the largest row.
        let maxNorm = x.map { $0.reduce(0) { $0 + $1 * $1 } }.max()! + 1
        let lr = 1 / (maxNorm / 4 + ridge)
        var w = [Double](repeating: 0, count: d), b = 0.0
        var gw = [Double](repeating: 0, count: d)
        for _ in 0..<steps {
            for j in 0..<d { gw[j] = ridge * w[j] }
            var gb = 0.0
            for (i, row) in x.enumerated() {
                var s = b
                for j in 0..<d { s += w[j] * row[j] }
                // d/ds of ln(1 + e^{-ys}) = sigmoid(s) - label.
                let r = rowWeight[i] * (1 / (1 + Foundation.exp(-s)) - labels[i])
                for j in 0..<d { gw[j] += r * row[j] }
                gb += r
            }
            for j in 0..<d { w[j] -= lr * gw[j] }
            b -= lr * gb
        }
        return (w, b)
    }
}

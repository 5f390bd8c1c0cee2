// An empirical lower bound on epsilon from one training run: Steinke, Nasr & Jagielski 2023, "Privacy Auditing with
// One (1) Training Run" (NeurIPS), Theorem 3.1 (pure epsilon-DP) and Algorithm 2 / Proposition 5.8 ((epsilon, delta)).
//
// m canaries are each inserted with probability 1/2; the auditor guesses "inserted" for the k+ best-scoring and "not
// inserted" for the k- worst, abstaining on the rest: r = k+ + k- guesses, v of them correct. Under (eps, delta)-DP,
// P[at least v correct] <= P[Binomial(r, q) >= v] + 2 m delta max_{1<=i<=v} P[v - i <= Binomial(r, q) < v] / i,
// q = e^eps / (1 + e^eps). Every eps whose bound is below beta is rejected at level beta; the largest rejected eps is
// the lower bound, which lies above the true epsilon with probability at most beta.
import Foundation

public enum OneRunAudit {
    /// Guesses and their outcome: r guesses (k+ "in", k- "out"), v correct, out of m canaries.
    public struct Guesses: Sendable, Equatable {
        public var m: Int, kPlus: Int, kMinus: Int, correct: Int
        public var r: Int { kPlus + kMinus }
        public init(m: Int, kPlus: Int, kMinus: Int, correct: Int) {
            self.m = m; self.kPlus = kPlus; self.kMinus = kMinus; self.correct = correct
        }
    }

    /// The bound with the guesses that produced it.
    public struct Bound: Sendable, Equatable {
        public var epsilon: Double
        public var guesses: Guesses
        /// The level each candidate (k+, k-) was tested at: beta / (number of candidates), a Bonferroni correction.
        public var level: Double
    }

    /// P[Binomial(n, p) = k], in log space so that n in the thousands stays finite.
    public static func binomialPMF(_ k: Int, n: Int, p: Double) -> Double {
        precondition(n >= 0 && p >= 0 && p <= 1)
        if k < 0 || k > n { return 0 }
        if p == 0 { return k == 0 ? 1 : 0 }
        if p == 1 { return k == n ? 1 : 0 }
        let logC = lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1))
        return exp(logC + Double(k) * log(p) + Double(n - k) * log1p(-p))
    }

    /// P[Binomial(n, p) >= k] = I_p(k, n - k + 1) for 1 <= k <= n.
    public static func binomialUpperTail(_ k: Int, n: Int, p: Double) -> Double {
        precondition(n >= 0 && p >= 0 && p <= 1)
        if k <= 0 { return 1 }
        if k > n { return 0 }
        if p == 0 { return 0 }
        if p == 1 { return 1 }
        return Beta.regularized(p, a: Double(k), b: Double(n - k + 1))
    }

    /// The p-value of `v` or more correct of `r` guesses among `m` canaries under the null hypothesis that training
    /// is (eps, delta)-DP (Algorithm 2's test; delta = 0 gives the pure-DP binomial tail of Theorem 3.1).
    public static func pValue(m: Int, r: Int, v: Int, epsilon: Double, delta: Double) -> Double {
        precondition(0 <= v && v <= r && r <= m, "one-run audit needs 0 <= v <= r <= m, got v \(v), r \(r), m \(m)")
        precondition(epsilon >= 0 && delta >= 0 && delta <= 1)
        let q = 1 / (1 + exp(-epsilon))
        let tail = binomialUpperTail(v, n: r, p: q)
        guard delta > 0 else { return min(tail, 1) }
        // alpha = max_i P[v - i <= B < v] / i: the delta slack spread over the i guesses that could be flipped.
        var alpha = 0.0, below = 0.0
        if v >= 1 {
            for i in 1...v {
                below += binomialPMF(v - i, n: r, p: q)
                alpha = max(alpha, below / Double(i))
            }
        }
        return min(tail + alpha * delta * 2 * Double(m), 1)
    }

    /// The largest epsilon rejected at level `beta` (p-value < beta), to 1e-6 by bisection; 0 when even epsilon 0 is
    /// not rejected. The p-value grows with epsilon, so the rejected set is an interval [0, bound).
    public static func epsilonLowerBound(m: Int, r: Int, v: Int, delta: Double, beta: Double) -> Double {
        precondition(beta > 0 && beta < 1)
        if r == 0 || pValue(m: m, r: r, v: v, epsilon: 0, delta: delta) >= beta { return 0 }
        var lo = 0.0, hi = 1.0
        while pValue(m: m, r: r, v: v, epsilon: hi, delta: delta) < beta {
            lo = hi; hi *= 2
            if hi > 1e4 { return .infinity }  // v = r with enormous r: no finite epsilon survives
        }
        while hi - lo > 1e-6 {
            let mid = (lo + hi) / 2
            if pValue(m: m, r: r, v: v, epsilon: mid, delta: delta) < beta { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// Guesses from scores (higher = more likely inserted): "in" for the `kPlus` highest, "out" for the `kMinus` lowest.
    /// Ties are broken by index so that the result is deterministic.
    public static func guesses(scores: [Double], inserted: [Bool], kPlus: Int, kMinus: Int) -> Guesses {
        precondition(scores.count == inserted.count && kPlus >= 0 && kMinus >= 0 && kPlus + kMinus <= scores.count)
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        var correct = 0
        for i in order.prefix(kPlus) where inserted[i] { correct += 1 }
        for i in order.suffix(kMinus) where !inserted[i] { correct += 1 }
        return Guesses(m: scores.count, kPlus: kPlus, kMinus: kMinus, correct: correct)
    }

    /// The bound over a grid of (k+, k-) candidates, each tested at beta / |grid| (Bonferroni), so that the largest
    /// of them is still a valid lower bound at confidence 1 - beta. Default grid: k+ = k- in {m/20, m/10, m/4, m/2}
    /// (rounded, at least 1, distinct) plus k+ alone at the same sizes, as the paper sweeps k+ with k- = k+ or 0.
    public static func bound(scores: [Double], inserted: [Bool], delta: Double, beta: Double,
                             grid: [(kPlus: Int, kMinus: Int)]? = nil) -> Bound {
        let m = scores.count
        let candidates = grid ?? defaultGrid(m)
        precondition(!candidates.isEmpty)
        let level = beta / Double(candidates.count)
        var best: Bound? = nil
        // With no bound (every candidate's epsilon is 0), the guesses kept are the most significant ones, those with the
        // smallest p-value at epsilon 0, so that a report shows what was tried rather than zero guesses.
        var closest: (p: Double, guesses: Guesses)? = nil
        for c in candidates {
            let g = guesses(scores: scores, inserted: inserted, kPlus: c.kPlus, kMinus: c.kMinus)
            let e = epsilonLowerBound(m: m, r: g.r, v: g.correct, delta: delta, beta: level)
            if e > (best?.epsilon ?? 0) { best = Bound(epsilon: e, guesses: g, level: level) }
            let p = pValue(m: m, r: g.r, v: g.correct, epsilon: 0, delta: delta)
            if closest == nil || p < closest!.p { closest = (p, g) }
        }
        return best ?? Bound(epsilon: 0, guesses: closest!.guesses, level: level)
    }

    public static func defaultGrid(_ m: Int) -> [(kPlus: Int, kMinus: Int)] {
        var sizes: [Int] = []
        for f in [0.05, 0.1, 0.25, 0.5] {
            let k = max(1, Int((Double(m) * f).rounded()))
            if 2 * k <= m, !sizes.contains(k) { sizes.append(k) }
        }
        return sizes.map { ($0, $0) } + sizes.map { ($0, 0) }
    }
}

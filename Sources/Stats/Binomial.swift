// Exact (Clopper-Pearson) binomial intervals via the regularized incomplete beta function I_x(a, b) and its inverse
// (continued fraction: Numerical Recipes 3rd ed. §6.4 "betacf"; prefactor with Stirling corrections as in
// Boost.Math's ibeta_power_terms, so that it stays accurate for counts in the tens of thousands).
import Foundation

extension Metrics {
    /// Clopper-Pearson interval for `successes` out of `trials` at `confidence` (two-sided, equal tails):
    /// lower = B^-1(alpha/2; k, n-k+1), upper = B^-1(1-alpha/2; k+1, n-k) with alpha = 1 - confidence, where
    /// B^-1 is the inverse of the regularized incomplete beta function. k = 0 gives lower 0, k = n gives upper 1.
    /// Matches scipy.stats.beta.ppf (and statsmodels' proportion_confint(method="beta")) to about 1e-15.
    public static func clopperPearson(successes k: Int, trials n: Int, confidence: Double = 0.95)
        throws -> (lower: Double, upper: Double)
    {
        guard n >= 1, k >= 0, k <= n else {
            throw MetricsError.invalidArgument("Clopper-Pearson needs 0 <= successes <= trials and trials >= 1, got \(k) of \(n)")
        }
        guard confidence > 0 && confidence < 1 else {
            throw MetricsError.invalidArgument("confidence \(confidence) must lie strictly between 0 and 1")
        }
        let alpha = 1 - confidence
        let lower = k == 0 ? 0 : Beta.inverseLowerTail(alpha / 2, a: Double(k), b: Double(n - k + 1))
        // upper solves I_p(k+1, n-k) = 1 - alpha/2, i.e. I_{1-p}(n-k, k+1) = alpha/2: solve the small tail.
        let upper = k == n ? 1 : 1 - Beta.inverseLowerTail(alpha / 2, a: Double(n - k), b: Double(k + 1))
        return (lower, upper)
    }
}

/// The regularized incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b) for a, b > 0 and its inverse.
enum Beta {
    /// I_x(a, b), accurate to a few ulps of the larger of the result and its complement.
    static func regularized(_ x: Double, a: Double, b: Double) -> Double {
        precondition(a > 0 && b > 0 && x >= 0 && x <= 1, "I_x(a, b) needs a, b > 0 and 0 <= x <= 1")
        if x == 0 { return 0 }
        if x == 1 { return 1 }
        // y = 1 - x is exact for x >= 1/2; below that its logarithm comes from log1p.
        let y = 1 - x, lnx = log(x), lny = x < 0.5 ? log1p(-x) : log(y)
        // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry I_x(a,b) = 1 - I_y(b,a) above.
        if x < (a + 1) / (a + b + 2) {
            return exp(logPrefactor(x, lnx, lny, a: a, b: b)) * continuedFraction(x, a: a, b: b) / a
        }
        return 1 - exp(logPrefactor(y, lny, lnx, a: b, b: a)) * continuedFraction(y, a: b, b: a) / b
    }

    /// x solving I_x(a, b) = p for 0 < p < 1, by bisection on [0, 1] down to adjacent doubles (I is increasing in x).
    static func inverseLowerTail(_ p: Double, a: Double, b: Double) -> Double {
        precondition(p > 0 && p < 1)
        var lo = 0.0, hi = 1.0
        for _ in 0..<2200 {
            let mid = lo + (hi - lo) / 2
            if mid <= lo || mid >= hi { break }
            if regularized(mid, a: a, b: b) < p { lo = mid } else { hi = mid }
        }
        // Pick the end whose value is closer to p.
        let flo = abs(regularized(lo, a: a, b: b) - p), fhi = abs(regularized(hi, a: a, b: b) - p)
        return flo < fhi ? lo : hi
    }

    /// ln( x^a (1-x)^b / B(a, b) ), given x, ln x and ln(1 - x).
    static func logPrefactor(_ x: Double, _ lnx: Double, _ lny: Double, a: Double, b: Double) -> Double {
        let c = a + b
        let big = 10.0
        if a >= big && b >= big {
            // x^a y^b / B = sqrt(ab / (2 pi c)) (x c / a)^a (y c / b)^b e^(d(c) - d(a) - d(b)), d = Stirling remainder.
            // x c - a = -(y c - b) is formed once with a fused multiply-add so both powers stay accurate near the mode.
            let d = (-a).addingProduct(x, c)
            let t = a * log1p(d / a) + b * log1p(-d / b)
            return t + 0.5 * log(a * b / (2 * Double.pi * c)) + stirlingRemainder(c) - stirlingRemainder(a) - stirlingRemainder(b)
        }
        if a < big && b < big {
            return a * lnx + b * lny + lgamma(c) - lgamma(a) - lgamma(b)
        }
        // One small parameter s (paired with xs) and one large L (paired with xl):
        // ln G(c) - ln G(L) = (L - 1/2) log1p(s/L) + s ln c - s + d(c) - d(L) (Stirling for both, c and L >= 10).
        let (s, lnxs, l, lnxl) = a < b ? (a, lnx, b, lny) : (b, lny, a, lnx)
        return s * (lnxs + log(c)) + l * lnxl + (l - 0.5) * log1p(s / l) - s - lgamma(s)
            + stirlingRemainder(c) - stirlingRemainder(l)
    }

    /// d(z) = ln G(z) - [(z - 1/2) ln z - z + ln(2 pi)/2] for z >= 10 (asymptotic series, error < 1e-17 there).
    static func stirlingRemainder(_ z: Double) -> Double {
        let r = 1 / z, r2 = r * r
        return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 - r2 * (1.0 / 1188
            - r2 * (691.0 / 360360 - r2 / 156))))))
    }

    /// The continued fraction of I_x(a, b) (modified Lentz), for x < (a+1)/(a+b+2).
    static func continuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300, eps = 1e-16
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0, d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...100_000 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d; h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let del = d * c
            h *= del
            if abs(del - 1) < eps { return h }
        }
        return h
    }
}

// Welch's unequal-variance t-test and the Student t tail it needs (scipy.stats.ttest_ind with equal_var=False).
import Foundation

extension Metrics {
    /// A one-sided two-sample Welch t-test of "mean(a) > mean(b)".
    public struct WelchResult: Sendable, Equatable {
        /// (mean a - mean b) / sqrt(var a / n_a + var b / n_b), sample variances (n - 1 denominators).
        public var t: Double
        /// Welch-Satterthwaite degrees of freedom.
        public var df: Double
        /// P(T_df >= t).
        public var pValue: Double
        public var meanA: Double, meanB: Double, varianceA: Double, varianceB: Double
    }

    /// Welch's t-test, alternative "mean of a is greater", as scipy.stats.ttest_ind(a, b, equal_var=False,
    /// alternative="greater"). Needs at least 2 values per sample and a non-zero standard error.
    public static func welch(_ a: [Double], _ b: [Double]) throws -> WelchResult {
        guard a.count >= 2 && b.count >= 2 else {
            throw MetricsError.invalidArgument("Welch's t-test needs at least 2 values per sample, got \(a.count) and \(b.count)")
        }
        guard (a + b).allSatisfy(\.isFinite) else { throw MetricsError.invalidArgument("Welch's t-test needs finite values") }
        let (ma, va) = meanAndVariance(a), (mb, vb) = meanAndVariance(b)
        let sa = va / Double(a.count), sb = vb / Double(b.count)
        let se2 = sa + sb
        guard se2 > 0 else {
            throw MetricsError.invalidArgument("both samples are constant: Welch's t statistic is undefined")
        }
        let t = (ma - mb) / se2.squareRoot()
        let df = se2 * se2 / (sa * sa / Double(a.count - 1) + sb * sb / Double(b.count - 1))
        return WelchResult(t: t, df: df, pValue: studentTUpperTail(t, df: df), meanA: ma, meanB: mb, varianceA: va, varianceB: vb)
    }

    /// P(T > t) for Student's t with `df` > 0 degrees of freedom:
    /// 1/2 I_{df/(df+t^2)}(df/2, 1/2) for t >= 0, and 1 minus that for t < 0.
    public static func studentTUpperTail(_ t: Double, df: Double) -> Double {
        precondition(df > 0 && !t.isNaN, "Student t needs df > 0 and a number")
        if t.isInfinite { return t > 0 ? 0 : 1 }
        let t2 = t * t
        let x = df / (df + t2)
        let half = 0.5 * Beta.regularized(x, a: df / 2, b: 0.5)
        return t >= 0 ? half : 1 - half
    }

    /// Mean and sample variance (n - 1 denominator), two-pass in Double.
    public static func meanAndVariance(_ v: [Double]) -> (Double, Double) {
        let m = v.reduce(0, +) / Double(v.count)
        let ss = v.reduce(0.0) { $0 + ($1 - m) * ($1 - m) }
        return (m, ss / Double(v.count - 1))
    }
}

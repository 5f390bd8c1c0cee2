// Log-space arithmetic and the normal distribution's tails, accurate far out (log Phi down to z = -1e6 and beyond).
import Foundation

enum Numerics {
    static let sqrt2 = 2.0.squareRoot()
    static let logSqrt2Pi = 0.5 * log(2 * Double.pi)

    /// log(e^a + e^b), exact when one side is -infinity.
    static func logAdd(_ a: Double, _ b: Double) -> Double {
        let lo = Swift.min(a, b), hi = Swift.max(a, b)
        if lo == -.infinity { return hi }
        return hi + log1p(exp(lo - hi))
    }

    /// log |Gamma(x)| (the reentrant lgamma: no shared sign global).
    static func logGamma(_ x: Double) -> Double {
        var sign: Int32 = 0
        return lgamma_r(x, &sign)
    }

    /// log |binomial(n, k)| for real n, k (log-gamma of each factorial; the absolute value where n - k + 1 < 0).
    static func logBinomial(_ n: Double, _ k: Double) -> Double {
        logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1)
    }

    /// The standard normal CDF Phi(z).
    static func normalCDF(_ z: Double) -> Double {
        if z.isNaN { return .nan }
        return 0.5 * erfc(-z / sqrt2)
    }

    /// log Phi(z), without underflow in the lower tail: erfc while it is representable, then the asymptotic series
    /// log Phi(z) = -z^2/2 - log(-z) - log sqrt(2 pi) + log(1 - 1/z^2 + 3/z^4 - 15/z^6 + 105/z^8).
    static func logNormalCDF(_ z: Double) -> Double {
        if z.isNaN { return .nan }
        if z == .infinity { return 0 }
        if z == -.infinity { return -.infinity }
        if z > 5 { return log1p(-0.5 * erfc(z / sqrt2)) }
        if z > -37 { return log(0.5 * erfc(-z / sqrt2)) }
        let r = 1 / (z * z)
        let series = 1 - r * (1 - r * (3 - r * (15 - r * 105)))
        return -0.5 * z * z - log(-z) - logSqrt2Pi + log(series)
    }

    /// log erfc(x) = log 2 + log Phi(-x sqrt 2), accurate for large x.
    static func logErfc(_ x: Double) -> Double {
        log(2.0) + logNormalCDF(-x * sqrt2)
    }

    /// The z with Phi(z) = p, for 0 < p < 1: Newton's method on log Phi, which converges from the tail asymptote.
    static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "normalQuantile needs 0 < p < 1")
        if p > 0.5 { return -normalQuantile(1 - p) }
        if p == 0.5 { return 0 }
        let target = log(p)
        var z = p < 0.1 ? -(-2 * target - log(-2 * target) - log(2 * Double.pi)).squareRoot() : -0.5
        if !z.isFinite || z > -0.1 { z = -0.5 }
        for _ in 0..<100 {
            let lc = logNormalCDF(z)
            // d/dz log Phi(z) = phi(z) / Phi(z)
            let slope = exp(-0.5 * z * z - logSqrt2Pi - lc)
            let step = (lc - target) / slope
            z -= step
            if abs(step) <= 1e-14 * Swift.max(1, abs(z)) { break }
        }
        return z
    }
}

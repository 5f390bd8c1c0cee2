// Renyi-DP accountant of the Poisson-subsampled Gaussian mechanism (add-or-remove-one neighbours).
//
// RDP at integer orders alpha: log A_alpha = logsumexp_{i=0..alpha} [log C(alpha, i) + i log q + (alpha - i) log(1 - q)
// + (i^2 - i) / (2 sigma^2)], RDP = log A_alpha / (alpha - 1). Fractional orders: the two-sided erfc series of Mironov,
// Talwar and Zhang 2019 (arXiv 1908.10530, section 3.3). q = 1 is the plain Gaussian, alpha / (2 sigma^2).
// Conversion to (epsilon, delta): Proposition 12 of Canonne, Kamath, Steinke (arXiv 2004.00010), the same rule as
// dp_accounting's RdpAccountant, including its KL shortcut and the alpha > 1.01 floor.
import Foundation

/// Epsilon from Renyi differential privacy at a set of orders.
public struct RDPAccountant: Sendable {
    /// dp_accounting's default orders: 1.1, 1.2, ..., 10.9, then 11, ..., 63, then 128, 256, 512, 1024.
    public static let defaultOrders: [Double] = {
        var orders: [Double] = (1...99).map { (x: Int) -> Double in 1 + Double(x) / 10.0 }
        orders += (11...63).map { (x: Int) -> Double in Double(x) }
        orders += [128, 256, 512, 1024]
        return orders
    }()

    /// The orders alpha (> 1) at which RDP is tracked.
    public let orders: [Double]

    /// The epsilon of a composition and the order that attains it.
    public struct Result: Sendable, Equatable {
        public let epsilon: Double
        public let optimalOrder: Double
    }

    public init(orders: [Double] = RDPAccountant.defaultOrders) throws {
        guard !orders.isEmpty else { throw DPParameterError(parameter: "orders", requirement: "must not be empty") }
        for a in orders where !(a > 1) || !a.isFinite {
            throw DPParameterError(parameter: "orders", value: a, requirement: "must be finite and > 1")
        }
        self.orders = orders
    }

    /// RDP after `steps` Poisson-subsampled Gaussian steps, one value per order (may be +infinity).
    public func rdp(q: Double, noise: Double, steps: Int) throws -> [Double] {
        try DPCheck.q(q); try DPCheck.noise(noise); try DPCheck.steps(steps)
        if steps == 0 { return orders.map { _ in 0 } }
        return orders.map { Double(steps) * RDPAccountant.rdpOneStep(q: q, sigma: noise, order: $0) }
    }

    /// Epsilon (and the optimal order) after `steps` steps, for `delta`.
    public func epsilon(q: Double, noise: Double, steps: Int, delta: Double) throws -> Result {
        try DPCheck.delta(delta)
        let r = try rdp(q: q, noise: noise, steps: steps)
        return try RDPAccountant.epsilon(orders: orders, rdp: r, delta: delta)
    }

    /// Epsilon from RDP values for delta in (0, 1): min over orders of
    /// rdp + log1p(-1/alpha) - log(delta alpha) / (alpha - 1); an order whose RDP is so small that
    /// delta^2 >= 1 - e^-rdp (the KL bound) gives 0; orders <= 1.01 are unusable (infinity). The first minimum wins.
    public static func epsilon(orders: [Double], rdp: [Double], delta: Double) throws -> Result {
        try DPCheck.delta(delta)
        guard orders.count == rdp.count && !orders.isEmpty else {
            throw DPParameterError(parameter: "rdp", requirement: "must have one value per order (\(orders.count) orders, \(rdp.count) values)")
        }
        var best = Double.infinity, bestOrder = orders[0]
        for (a, r) in zip(orders, rdp) {
            let e: Double
            if r < 0 {
                e = 0
            } else if delta * delta + expm1(-r) > 0 {
                e = 0
            } else if a > 1.01 {
                e = r + log1p(-1 / a) - log(delta * a) / (a - 1)
            } else {
                e = .infinity
            }
            if e < best { best = e; bestOrder = a }
        }
        return Result(epsilon: Swift.max(0, best), optimalOrder: bestOrder)
    }

    /// RDP of one Poisson-subsampled Gaussian step at one order.
    static func rdpOneStep(q: Double, sigma: Double, order alpha: Double) -> Double {
        if q == 0 { return 0 }
        if alpha.isInfinite || sigma == 0 { return .infinity }
        if q == 1 { return alpha / (2 * sigma * sigma) }
        let logA = alpha.rounded() == alpha && alpha < 1e6
            ? logAInteger(q: q, sigma: sigma, alpha: Int(alpha))
            : logAFractional(q: q, sigma: sigma, alpha: alpha)
        return logA / (alpha - 1)
    }

    /// log A_alpha for integer alpha: the binomial expansion of E_{z ~ mu_0}[(mu(z) / mu_0(z))^alpha], in log space.
    static func logAInteger(q: Double, sigma: Double, alpha: Int) -> Double {
        let logQ = log(q), log1mQ = log1p(-q), twoVar = 2 * sigma * sigma
        let a = Double(alpha)
        var acc = -Double.infinity
        for i in 0...alpha {
            let di = Double(i)
            let term = Numerics.logBinomial(a, di) + di * logQ + (a - di) * log1mQ + (di * di - di) / twoVar
            acc = Numerics.logAdd(acc, term)
        }
        return acc
    }

    /// Iterations of the fractional-order series before the order is given up (its RDP is then +infinity).
    static let maxFractionalTerms = 1000

    /// log A_alpha for fractional alpha: the integral split at z0 = sigma^2 log(1/q - 1) + 1/2, each half a series
    /// in i whose terms carry a Gaussian tail factor erfc(...)/2; stops once both halves' terms fall and are 30 nats
    /// below the running total.
    static func logAFractional(q: Double, sigma: Double, alpha: Double) -> Double {
        let logQ = log(q), log1mQ = log1p(-q), twoVar = 2 * sigma * sigma
        let z0 = sigma * sigma * log(1 / q - 1) + 0.5
        let scale = Numerics.sqrt2 * sigma
        var logA0 = -Double.infinity, logA1 = -Double.infinity
        var lastS0 = -Double.infinity, lastS1 = -Double.infinity
        for step in 0..<maxFractionalTerms {
            let i = Double(step), j = alpha - i
            let coef = Numerics.logBinomial(alpha, i)
            let t0 = coef + i * logQ + j * log1mQ
            let t1 = coef + j * logQ + i * log1mQ
            let e0 = log(0.5) + Numerics.logErfc((i - z0) / scale)
            let e1 = log(0.5) + Numerics.logErfc((z0 - j) / scale)
            let s0 = t0 + (i * i - i) / twoVar + e0
            let s1 = t1 + (j * j - j) / twoVar + e1
            logA0 = Numerics.logAdd(logA0, s0)
            logA1 = Numerics.logAdd(logA1, s1)
            let total = Numerics.logAdd(logA0, logA1)
            if s0 < lastS0 && s1 < lastS1 && Swift.max(s0, s1) < total - 30 { return total }
            lastS0 = s0; lastS1 = s1
        }
        return .infinity
    }
}

// The accountants' common entry points: epsilon after T Poisson-subsampled Gaussian steps, and noise calibration.
import Foundation

/// Which accountant computes epsilon: Renyi DP (fast, looser) or the privacy-loss distribution (tighter).
public enum PrivacyAccountantKind: String, CaseIterable, Sendable { case rdp, pld }

/// Bad input to an accountant: "delta must be in (0, 1); got 1.5".
public struct DPParameterError: Error, CustomStringConvertible {
    public let description: String
    /// The parameter at fault ("q", "noise", "steps", "delta", "epsilon", ...).
    public let parameter: String
    /// "must be in (0, 1); got 1.5": the description without the parameter's name.
    public let problem: String

    /// A free-form message (for callers' own checks); `parameter` is then empty and `problem` the message.
    public init(description: String) {
        parameter = ""
        problem = description
        self.description = description
    }

    public init(parameter: String, requirement: String) {
        self.parameter = parameter
        problem = requirement
        description = "\(parameter) \(requirement)"
    }

    public init(parameter: String, value: Double, requirement: String) {
        self.init(parameter: parameter, requirement: "\(requirement); got \(DPCheck.show(value))")
    }
}

/// Input checks shared by the accountants.
enum DPCheck {
    static let maxSteps = 1_000_000_000
    static func show(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        return "\(v)"
    }
    static func q(_ q: Double) throws {
        guard q > 0 && q <= 1 else { throw DPParameterError(parameter: "q", value: q, requirement: "must be a sampling rate in (0, 1]") }
    }
    static func noise(_ s: Double) throws {
        guard s >= 0 && s.isFinite else { throw DPParameterError(parameter: "noise", value: s, requirement: "must be a finite noise multiplier >= 0") }
    }
    static func steps(_ t: Int) throws {
        guard t >= 0 else { throw DPParameterError(parameter: "steps", requirement: "must be >= 0; got \(t)") }
        // Far beyond any training run, and it keeps the PLD's grid index arithmetic clear of Int overflow.
        guard t <= maxSteps else { throw DPParameterError(parameter: "steps", requirement: "must be at most \(maxSteps); got \(t)") }
    }
    static func delta(_ d: Double) throws {
        guard d > 0 && d < 1 else { throw DPParameterError(parameter: "delta", value: d, requirement: "must be in (0, 1)") }
    }
    static func epsilon(_ e: Double) throws {
        guard e > 0 && e.isFinite else { throw DPParameterError(parameter: "epsilon", value: e, requirement: "must be finite and > 0") }
    }
}

/// epsilon spent after `steps` Poisson-subsampled Gaussian steps (sampling rate q, noise multiplier sigma), for delta.
/// RDP uses `RDPAccountant.defaultOrders`; PLD uses `PLDAccountant()` (discretisation 1e-4, pessimistic).
/// Noise 0 gives +infinity (for steps > 0); steps 0 gives 0.
public func dpEpsilon(q: Double, noise: Double, steps: Int, delta: Double, accountant: PrivacyAccountantKind) throws -> Double {
    switch accountant {
    case .rdp: return try RDPAccountant().epsilon(q: q, noise: noise, steps: steps, delta: delta).epsilon
    case .pld: return try PLDAccountant().epsilon(q: q, noise: noise, steps: steps, delta: delta).epsilon
    }
}

/// the smallest noise multiplier whose epsilon after `steps` is <= epsilon (bisection on dpEpsilon).
/// The returned sigma always satisfies dpEpsilon(sigma) <= epsilon; it is within a relative 1e-4 (PLD) or 1e-6 (RDP)
/// of the smallest such sigma. Steps 0 needs no noise (0).
public func dpNoise(epsilon: Double, delta: Double, q: Double, steps: Int, accountant: PrivacyAccountantKind) throws -> Double {
    try DPCheck.epsilon(epsilon); try DPCheck.delta(delta); try DPCheck.q(q); try DPCheck.steps(steps)
    if steps == 0 { return 0 }
    return try NoiseCalibration.calibrate(epsilon: epsilon, relativeTolerance: accountant == .rdp ? 1e-6 : 1e-4) { sigma in
        try dpEpsilon(q: q, noise: sigma, steps: steps, delta: delta, accountant: accountant)
    }.noise
}

/// Bisection for the smallest sigma with epsilon(sigma) <= target, for any accountant.
public enum NoiseCalibration {
    /// Search limits: no noise multiplier outside [minNoise, maxNoise] is considered.
    public static let minNoise = 1e-3, maxNoise = 1e6

    /// The calibrated noise and the epsilon it gives.
    public struct Result: Sendable { public let noise: Double; public let epsilon: Double }

    /// Bisection on `epsilonOf`, assumed non-increasing in sigma: returns the upper end of the final bracket, whose
    /// epsilon is <= `epsilon` by construction.
    public static func calibrate(epsilon target: Double, relativeTolerance: Double,
                                 _ epsilonOf: (Double) throws -> Double) throws -> Result {
        var hi = 1.0, epsHi = try epsilonOf(hi)
        var lo = 0.0
        if epsHi <= target {
            // Walk down until epsilon exceeds the target.
            lo = hi / 2
            while true {
                let e = try epsilonOf(lo)
                if e > target { break }
                hi = lo; epsHi = e
                if lo < minNoise { return Result(noise: hi, epsilon: epsHi) }
                lo /= 2
            }
        } else {
            while epsHi > target {
                lo = hi
                hi *= 2
                if hi > maxNoise {
                    throw DPParameterError(parameter: "epsilon", value: target,
                                           requirement: "is out of reach: even noise \(maxNoise) gives epsilon \(epsHi)")
                }
                epsHi = try epsilonOf(hi)
            }
        }
        // Invariant: epsilon(lo) > target >= epsilon(hi).
        while hi - lo > relativeTolerance * hi {
            let mid = 0.5 * (lo + hi)
            let e = try epsilonOf(mid)
            if e <= target { hi = mid; epsHi = e } else { lo = mid }
        }
        return Result(noise: hi, epsilon: epsHi)
    }
}

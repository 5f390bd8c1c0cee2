// Privacy-loss-distribution (PLD) accountant of the Poisson-subsampled Gaussian mechanism.
//
// Neighbouring relation: add-or-remove-one (dp_accounting's default). Both the REMOVE and the ADD privacy-loss
// distributions are tracked when q < 1 (they differ under subsampling) and epsilon is the larger of the two; for
// q = 1 they coincide. Each single-step PLD is discretised on the grid d * Z by the pessimistic "connect the dots"
// rule (Doroshenko, Ghazi, Kamath, Kumar, Manurangsi 2022, arXiv 2207.04380): the masses are chosen from the exact
// hockey-stick divergences delta(eps_i) at the grid points so that the discrete PLD's delta(eps) is never below the
// true one. The noise tails beyond the truncation point (mass 0.5 e^-50 each side) go to the +infinity atom.
// T-fold composition is one FFT (FFTW, real-to-complex), the T-th power of every coefficient and one inverse FFT,
// on a window from Chernoff bounds whose outside mass (at most 1e-15) is also added to the +infinity atom.
import CFFTW
import Foundation

/// Epsilon from the discretised privacy-loss distribution (pessimistic: never below the true epsilon).
public struct PLDAccountant: Sendable {
    /// dp_accounting's default value_discretization_interval.
    public static let defaultDiscretizationInterval = 1e-4

    /// Grid spacing of privacy losses (nats). Coarser is faster and looser, never optimistic.
    public let valueDiscretizationInterval: Double
    /// Mass that the composition window may leave out; it is added to the +infinity atom (dp_accounting: 1e-15).
    public let tailMassTruncation: Double
    /// log of the Gaussian noise mass cut off in each single-step PLD, which goes to +infinity (dp_accounting: -50).
    public let logMassTruncationBound: Double
    /// Largest FFT (and single-step grid) allowed; past it the interval is doubled until the work fits.
    public let maxFFTLength: Int
    /// The coarsest interval tried. A setting that needs a coarser grid (noise multipliers far below any DP-SGD use,
    /// around 0.01 and less) gets epsilon +infinity: a valid, if useless, bound, never an optimistic one.
    public static let maxDiscretizationInterval = 1.0

    /// Epsilon and how it was computed.
    public struct Result: Sendable, Equatable {
        public let epsilon: Double
        /// The discretisation interval actually used (larger than requested only when the grid had to be coarsened).
        public let discretizationInterval: Double
        /// Points of the single-step PLD grid (the larger side) and the FFT length of the composition (0 if none).
        public let gridSize: Int, fftLength: Int
    }

    public init(valueDiscretizationInterval: Double = PLDAccountant.defaultDiscretizationInterval,
                tailMassTruncation: Double = 1e-15, logMassTruncationBound: Double = -50,
                maxFFTLength: Int = 1 << 22) throws {
        guard valueDiscretizationInterval > 0 && valueDiscretizationInterval.isFinite else {
            throw DPParameterError(parameter: "valueDiscretizationInterval", value: valueDiscretizationInterval, requirement: "must be finite and > 0")
        }
        guard tailMassTruncation >= 0 && tailMassTruncation < 1e-3 else {
            throw DPParameterError(parameter: "tailMassTruncation", value: tailMassTruncation, requirement: "must be in [0, 1e-3)")
        }
        guard logMassTruncationBound < 0 && logMassTruncationBound > -700 else {
            throw DPParameterError(parameter: "logMassTruncationBound", value: logMassTruncationBound, requirement: "must be in (-700, 0)")
        }
        guard maxFFTLength >= 1024 else {
            throw DPParameterError(parameter: "maxFFTLength", value: Double(maxFFTLength), requirement: "must be >= 1024")
        }
        self.valueDiscretizationInterval = valueDiscretizationInterval
        self.tailMassTruncation = tailMassTruncation
        self.logMassTruncationBound = logMassTruncationBound
        self.maxFFTLength = maxFFTLength
    }

    /// Epsilon after `steps` Poisson-subsampled Gaussian steps, for `delta`.
    public func epsilon(q: Double, noise: Double, steps: Int, delta: Double) throws -> Result {
        try DPCheck.q(q); try DPCheck.noise(noise); try DPCheck.steps(steps); try DPCheck.delta(delta)
        let d0 = valueDiscretizationInterval
        if steps == 0 { return Result(epsilon: 0, discretizationInterval: d0, gridSize: 0, fftLength: 0) }
        if noise == 0 { return Result(epsilon: .infinity, discretizationInterval: d0, gridSize: 0, fftLength: 0) }
        let sides: [PLDAdjacency] = q == 1 ? [.remove] : [.remove, .add]
        var d = d0
        coarsening: while true {
            if d > Swift.max(d0, PLDAccountant.maxDiscretizationInterval) {
                return Result(epsilon: .infinity, discretizationInterval: d, gridSize: 0, fftLength: 0)
            }
            var eps = 0.0, grid = 0, fft = 0
            for side in sides {
                let loss = SubsampledGaussianLoss(sigma: noise, q: q, side: side)
                guard let single = DiscretePLD.connectTheDots(loss, interval: d, logMassTruncationBound: logMassTruncationBound,
                                                              maxSize: maxFFTLength),
                      let (composed, length) = single.selfComposed(steps, tailMassTruncation: tailMassTruncation,
                                                                  maxFFTLength: maxFFTLength)
                else { d *= 2; continue coarsening }
                eps = Swift.max(eps, composed.epsilon(forDelta: delta))
                grid = Swift.max(grid, single.probs.count); fft = Swift.max(fft, length)
            }
            return Result(epsilon: eps, discretizationInterval: d, gridSize: grid, fftLength: fft)
        }
    }
}

/// REMOVE: mu_upper = (1 - q) N(0, s^2) + q N(-1, s^2), mu_lower = N(0, s^2). ADD: mu_upper = N(0, s^2),
/// mu_lower = (1 - q) N(0, s^2) + q N(1, s^2). Sensitivity 1, s = the noise multiplier.
enum PLDAdjacency: Sendable { case remove, add }

/// The privacy loss log(mu_upper(x) / mu_lower(x)) of one subsampled Gaussian step, non-increasing in x.
struct SubsampledGaussianLoss: Sendable {
    let sigma: Double, q: Double, side: PLDAdjacency

    /// Privacy loss at x.
    func loss(_ x: Double) -> Double {
        switch side {
        case .remove: return removeLoss(x)
        case .add: return -removeLoss(-x)
        }
    }

    /// log(1 - q + q e^L) with L = (-1/2 - x) / sigma^2, the unsubsampled REMOVE loss.
    private func removeLoss(_ x: Double) -> Double {
        let l = (-0.5 - x) / (sigma * sigma)
        if q == 1 { return l }
        if l > 30 { return l + log(q) + log1p((1 - q) / q * exp(-l)) }
        return log1p(q * expm1(l))
    }

    /// log(1 + (e^l - 1) / q): the unsubsampled loss whose subsampled loss is l (for l > log(1 - q)).
    private func unsubsampled(_ l: Double) -> Double {
        if q == 1 { return l }
        if l > 50 { return l - log(q) + log1p((q - 1) * exp(-l)) }
        return log1p(expm1(l) / q)
    }

    /// The largest x whose privacy loss is at least l.
    func inverseLoss(_ l: Double) -> Double {
        switch side {
        case .remove: return -0.5 - unsubsampled(l) * sigma * sigma
        case .add: return 0.5 + unsubsampled(-l) * sigma * sigma
        }
    }

    /// The hockey-stick divergence delta(eps) = sup_S mu_upper(S) - e^eps mu_lower(S) of this single step: the
    /// privacy loss is monotone, so S = (-inf, x] with x = inverseLoss(eps).
    func hockeyStick(_ eps: Double) -> Double {
        let s = sigma
        let value: Double
        switch side {
        case .remove:
            if q < 1 && eps <= log1p(-q) { return Swift.min(1, Swift.max(0, -expm1(eps))) }
            let x = inverseLoss(eps)
            let upper = q == 1 ? Numerics.normalCDF((x + 1) / s)
                : (1 - q) * Numerics.normalCDF(x / s) + q * Numerics.normalCDF((x + 1) / s)
            value = upper - exp(eps + Numerics.logNormalCDF(x / s))
        case .add:
            if q < 1 && eps >= -log1p(-q) { return 0 }
            let x = inverseLoss(eps)
            let lowerLog = q == 1 ? Numerics.logNormalCDF((x - 1) / s)
                : Numerics.logAdd(log1p(-q) + Numerics.logNormalCDF(x / s), log(q) + Numerics.logNormalCDF((x - 1) / s))
            value = Numerics.normalCDF(x / s) - exp(eps + lowerLog)
        }
        return Swift.min(1, Swift.max(0, value))
    }
}

/// A privacy-loss distribution on the grid d * (lowerIndex + k), k = 0..<probs.count, plus an atom at +infinity.
struct DiscretePLD: Sendable {
    let interval: Double
    let lowerIndex: Int
    let probs: [Double]
    let infinityMass: Double

    /// The pessimistic connect-the-dots discretisation of one step on the grid points between the privacy losses at
    /// the two noise-truncation points. Nil when the grid would exceed `maxSize` points.
    static func connectTheDots(_ mech: SubsampledGaussianLoss, interval d: Double, logMassTruncationBound: Double,
                               maxSize: Int) -> DiscretePLD? {
        // Truncation points: half of e^bound of N(0, s^2) in each tail, widened by the sensitivity on the side of
        // the shifted component (as dp_accounting's GaussianPrivacyLoss.privacy_loss_tail).
        var lowerX = mech.sigma * Numerics.normalQuantile(0.5 * exp(logMassTruncationBound))
        var upperX = -lowerX
        switch mech.side {
        case .remove: lowerX -= 1
        case .add: upperX += 1
        }
        let epsUpper = mech.loss(lowerX), epsLower = mech.loss(upperX)
        let hiD = (epsUpper / d).rounded(.up), loD = (epsLower / d).rounded(.down)
        guard hiD.isFinite, loD.isFinite, hiD - loD + 1 <= Double(maxSize) else { return nil }
        let lo = Int(loD), hi = Int(hiD)
        let n = hi - lo + 1
        var deltas = [Double](repeating: 0, count: n)
        for k in 0..<n { deltas[k] = mech.hockeyStick(Double(lo + k) * d) }
        for k in 1..<Swift.max(1, n) where deltas[k] > deltas[k - 1] { deltas[k] = deltas[k - 1] }   // non-increasing
        var probs = [Double](repeating: 0, count: n)
        if n == 1 {
            probs[0] = 1 - deltas[0]
        } else {
            let em1 = expm1(d), e = exp(d)
            probs[0] = 1 - deltas[0] + (deltas[1] - deltas[0]) / em1
            for k in 1..<(n - 1) {
                probs[k] = ((deltas[k + 1] - deltas[k]) - e * (deltas[k] - deltas[k - 1])) / em1
            }
            probs[n - 1] = (deltas[n - 1] - deltas[n - 2]) / expm1(-d)
            for k in 0..<n where probs[k] < 0 { probs[k] = 0 }
        }
        // Overflow or cancellation that left a NaN or infinity: refuse this grid (the caller coarsens or gives
        // +infinity) rather than lose mass, which would be optimistic.
        guard probs.allSatisfy({ $0.isFinite }), deltas[n - 1].isFinite else { return nil }
        return DiscretePLD(interval: d, lowerIndex: lo, probs: probs, infinityMass: deltas[n - 1])
    }

    /// The `times`-fold composition and the FFT length used; nil when the FFT would exceed `maxFFTLength`.
    func selfComposed(_ times: Int, tailMassTruncation: Double, maxFFTLength: Int) -> (DiscretePLD, Int)? {
        precondition(times >= 1)
        if times == 1 { return (self, 0) }
        let m = probs.count
        let (lo, hi) = chernoffWindow(times: times, tailMass: tailMassTruncation)
        let outLen = hi - lo + 1
        let length = FFT.fastLength(Swift.max(outLen, m))
        guard length <= maxFFTLength else { return nil }
        let powered = FFT.convolutionPower(probs, times: times, length: length)
        var out = [Double](repeating: 0, count: outLen)
        for k in 0..<outLen {
            let v = powered[(lo + k) % length]
            guard v.isFinite else { return nil }
            out[k] = v > 0 ? v : 0   // round-off below zero: dropping it only adds mass (pessimistic)
        }
        // 1 - (1 - inf)^times, stably, plus whatever the window left out.
        let inf = tailMassTruncation - expm1(Double(times) * log1p(-infinityMass))
        return (DiscretePLD(interval: interval, lowerIndex: lowerIndex * times + lo, probs: out,
                            infinityMass: Swift.min(1, inf)), length)
    }

    /// Index bounds [lo, hi] (offsets of the sum of `times` grid indices 0..<m) outside which the `times`-fold
    /// convolution has at most `tailMass` in all: Chernoff, P[S >= u] <= e^{times log M(l) - l u} with M the
    /// moment generating function, each tail held to tailMass / 2, over a range of l.
    func chernoffWindow(times: Int, tailMass: Double) -> (Int, Int) {
        let m = probs.count
        let full = (m - 1) * times
        guard tailMass > 0 else { return (0, full) }
        let slack = log(2 / tailMass)
        var lo = 0, hi = full
        let scales: [Double] = [0.25, 0.5] + (1...20).map(Double.init) + [30, 40, 60, 80, 120, 160]
        for c in scales {
            for sign in [1.0, -1.0] {
                // l k stays within [-160, 160] over the grid, so M(l) = sum p_k e^{l k} needs no log space; e^{l k}
                // is recomputed exactly every 64 points and stepped by e^l in between.
                let l = sign * c / Double(m)
                let stepFactor = exp(l)
                var mgf = 0.0, w = 1.0
                for k in 0..<m {
                    if k & 63 == 0 { w = exp(l * Double(k)) } else { w *= stepFactor }
                    mgf += probs[k] * w
                }
                guard mgf > 0 else { continue }
                let bound = (Double(times) * log(mgf) + slack) / l
                guard bound.isFinite else { continue }
                if sign > 0 { hi = Swift.min(hi, Int(Swift.min(bound.rounded(.up), Double(full)))) }
                else { lo = Swift.max(lo, Int(Swift.max(bound.rounded(.down), 0))) }
            }
        }
        if hi < lo { hi = lo }
        return (lo, hi)
    }

    /// The smallest eps >= 0 with delta(eps) = inf + sum_{l > eps} p_l (1 - e^{eps - l}) <= delta; +infinity when
    /// the infinity atom alone exceeds delta. Scans losses from the top: between grid points delta(eps) =
    /// U - e^eps W with U, W the masses (and e^-l weighted masses) above eps, solved in closed form.
    func epsilon(forDelta delta: Double) -> Double {
        if infinityMass > delta { return .infinity }
        var upper = infinityMass, lower = 0.0
        var k = probs.count - 1
        while k >= 0 {
            let loss = Double(lowerIndex + k) * interval
            if upper > delta && lower > 0 && log((upper - delta) / lower) >= loss { break }
            let p = probs[k]
            upper += p
            lower += p * exp(Swift.min(-loss, 700))
            if upper >= delta && lower == 0 { return Swift.max(0, loss) }
            k -= 1
        }
        if upper <= lower + delta { return 0 }
        return log((upper - delta) / lower)
    }

    /// delta(eps) of this distribution.
    func delta(forEpsilon eps: Double) -> Double {
        var delta = infinityMass
        for (k, p) in probs.enumerated() {
            let loss = Double(lowerIndex + k) * interval
            if loss > eps { delta += -expm1(eps - loss) * p }
        }
        return delta
    }
}

/// FFTW's planner is not thread-safe (execution is): plans are made one at a time.
private let fftwPlanner = NSLock()

enum FFT {
    /// The smallest n >= `minimum` whose prime factors are 2, 3, 5 and 7 (FFTW's fast sizes).
    static func fastLength(_ minimum: Int) -> Int {
        var best = Int.max
        var p2 = 1
        while p2 < 2 * Swift.max(minimum, 1) {
            var p3 = p2
            while p3 < 2 * Swift.max(minimum, 1) {
                var p5 = p3
                while p5 < 2 * Swift.max(minimum, 1) {
                    var p7 = p5
                    while p7 < minimum { p7 *= 7 }
                    best = Swift.min(best, p7)
                    p5 *= 5
                }
                p3 *= 3
            }
            p2 *= 2
        }
        return best
    }

    /// The `times`-fold circular self-convolution of `x` (zero-padded to `length`): inverse FFT of FFT(x)^times.
    static func convolutionPower(_ x: [Double], times: Int, length n: Int) -> [Double] {
        precondition(n >= x.count && n > 0)
        let half = n / 2 + 1
        guard let real = fftw_alloc_real(n), let spec = fftw_alloc_complex(half) else {
            fatalError("FFTW could not allocate \(n) points")
        }
        defer { fftw_free(real); fftw_free(spec) }
        fftwPlanner.lock()
        let forward = fftw_plan_dft_r2c_1d(Int32(n), real, spec, FFTW_ESTIMATE)
        let backward = fftw_plan_dft_c2r_1d(Int32(n), spec, real, FFTW_ESTIMATE)
        fftwPlanner.unlock()
        defer {
            fftwPlanner.lock()
            fftw_destroy_plan(forward); fftw_destroy_plan(backward)
            fftwPlanner.unlock()
        }
        for i in 0..<n { real[i] = i < x.count ? x[i] : 0 }
        fftw_execute(forward)
        let t = Double(times)
        for k in 0..<half {
            let (re, im) = spec[k]
            let r = (re * re + im * im).squareRoot()
            if r == 0 { spec[k] = (0, 0); continue }
            let mag = exp(t * log(r)), angle = t * atan2(im, re)
            spec[k] = (mag * cos(angle), mag * sin(angle))
        }
        fftw_execute(backward)
        let scale = 1 / Double(n)
        return (0..<n).map { real[$0] * scale }
    }
}

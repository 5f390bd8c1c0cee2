// DP-SGD (Abadi et al. 2016; shared/REFERENCES.md section 5): each example joins a step with probability q (Poisson
// sampling, so batch sizes vary), its gradient is clipped to norm C, the clipped sum gets Gaussian noise of standard
// deviation sigma * C on every coordinate, and the result is divided by the expected batch size q * N.
import Foundation
import Model
import Stats
import Tensor

public struct DPOptions: Sendable, Equatable {
    /// sigma: the noise's standard deviation in units of the clipping bound.
    public var noiseMultiplier: Double
    /// C: every example's gradient is scaled to norm at most C.
    public var clip: Double
    /// q: the probability with which each example joins a step.
    public var sampleRate: Double
    /// true: Poisson sampling (what the accountants assume). false: shuffled batches of round(q N) examples, which the
    /// accountants' guarantee does not cover (said wherever the epsilon is printed).
    public var poisson = true
    /// The noise's seed; nil draws it from the system's generator, so that nobody who knows the training seed can
    /// subtract the noise. Tests fix it.
    public var noiseSeed: UInt64?
    public init(noiseMultiplier: Double, clip: Double, sampleRate: Double, poisson: Bool = true, noiseSeed: UInt64? = nil) {
        self.noiseMultiplier = noiseMultiplier; self.clip = clip; self.sampleRate = sampleRate; self.poisson = poisson
        self.noiseSeed = noiseSeed
    }
}

/// What one DP step saw.
public struct DPStepInfo: Sendable {
    /// Examples in this step's batch (Poisson: varies around q N).
    public var examples: Int
    /// Mean per-example gradient norm before clipping, and the fraction of examples that were clipped.
    public var meanNorm: Double, clippedFraction: Double
}

public enum DPSampling {
    /// The examples of step `step`: each index of 0..<n with probability q (seeded by (seed, step), so a resumed run
    /// draws the same batches), or with `poisson` false the next round(q n) of a seeded shuffle.
    public static func batch(step: Int, n: Int, q: Double, poisson: Bool, seed: UInt64) -> [Int] {
        if poisson {
            var rng = SeededRNG(seed: seed ^ (UInt64(step) &* 0xD1B54A32D192ED03) ^ 0x5DEECE66D)
            return (0..<n).filter { _ in rng.uniform() < q }
        }
        let size = max(1, Int((q * Double(n)).rounded()))
        let perEpoch = max(1, n / size)
        let epoch = step / perEpoch, k = step % perEpoch
        let order = TrainingData.order(n, seed: seed, epoch: epoch)
        return Array(order[(k * size)..<min(n, (k + 1) * size)])
    }
}

public enum GaussianNoise {
    /// x[i] += std * z_i for every i in `ranges`, z standard normal (Box-Muller in Double). The stream is cut into
    /// fixed blocks of 65,536 values, each from its own generator seeded by (seed, block): the same values on any
    /// number of threads.
    public static func add(_ x: UnsafeMutablePointer<Float>, ranges: [Range<Int>], std: Double, seed: UInt64) {
        guard std > 0 else { return }
        let block = 65536
        var blocks: [(lo: Int, hi: Int, id: Int)] = []
        var id = 0
        for r in ranges {
            var lo = r.lowerBound
            while lo < r.upperBound { blocks.append((lo, min(r.upperBound, lo + block), id)); id += 1; lo += block }
        }
        Kernels.parallelRanges(blocks.count) { range in
            for b in blocks[range] {
                var rng = SeededRNG(seed: seed &+ UInt64(b.id) &* 0x9E3779B97F4A7C15)
                var i = b.lo
                while i < b.hi {
                    // u1 in (0, 1], so the logarithm is finite.
                    let u1 = Double((rng.next() >> 11) + 1) * 0x1.0p-53, u2 = rng.uniform()
                    let r = std * (-2 * log(u1)).squareRoot(), a = 2 * Double.pi * u2
                    x[i] += Float(r * cos(a))
                    if i + 1 < b.hi { x[i + 1] += Float(r * sin(a)) }
                    i += 2
                }
            }
        }
    }
}

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
    /// x[i] += std * z_i for every i in `ranges`, z standard normal (Marsaglia and Tsang's ziggurat with 128 layers,
    /// layer index and value from separate bits of one 64-bit draw, Doornik's fix). The stream is cut into fixed
    /// blocks of 65,536 values, each from its own generator seeded by (seed, block): the same values on any number of
    /// threads.
    public static func add(_ x: UnsafeMutablePointer<Float>, ranges: [Range<Int>], std: Double, seed: UInt64) {
        guard std > 0 else { return }
        let block = 65536
        var blocks: [(lo: Int, hi: Int, id: Int)] = []
        var id = 0
        for r in ranges {
            var lo = r.lowerBound
            while lo < r.upperBound { blocks.append((lo, min(r.upperBound, lo + block), id)); id += 1; lo += block }
        }
        let z = Ziggurat.shared
        Kernels.parallelRanges(blocks.count) { range in
            for b in blocks[range] {
                var rng = SeededRNG(seed: seed &+ UInt64(b.id) &* 0x9E3779B97F4A7C15)
                for i in b.lo..<b.hi { x[i] += Float(std * z.sample(&rng)) }
            }
        }
    }

    /// The slow twin: Box-Muller in Double, for tests.
    public static func boxMuller(_ rng: inout SeededRNG) -> Double {
        let u1 = Double((rng.next() >> 11) + 1) * 0x1.0p-53, u2 = rng.uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// Standard normal draws by the ziggurat method (Marsaglia & Tsang 2000): 128 layers of equal area under the
/// density; a draw lands inside its layer's rectangle (about 99% of the time) and costs one multiply, otherwise the
/// wedge or the tail (x > R) is sampled exactly.
public struct Ziggurat: Sendable {
    static let shared = Ziggurat()
    let k: [UInt32], w: [Double], f: [Double]
    static let r = 3.442619855899, v = 9.91256303526217e-3

    init() {
        var k = [UInt32](repeating: 0, count: 128), w = [Double](repeating: 0, count: 128), f = [Double](repeating: 0, count: 128)
        let m = 2147483648.0   // 2^31
        var d = Ziggurat.r, t = d
        let q = Ziggurat.v / exp(-0.5 * d * d)
        k[0] = UInt32(d / q * m); k[1] = 0
        w[0] = q / m; w[127] = d / m
        f[0] = 1; f[127] = exp(-0.5 * d * d)
        for i in stride(from: 126, through: 1, by: -1) {
            d = (-2 * log(Ziggurat.v / d + exp(-0.5 * d * d))).squareRoot()
            k[i + 1] = UInt32(d / t * m)
            t = d
            f[i] = exp(-0.5 * d * d)
            w[i] = d / m
        }
        self.k = k; self.w = w; self.f = f
    }

    @inline(__always)
    public func sample(_ rng: inout SeededRNG) -> Double {
        while true {
            let bits = rng.next()
            let i = Int(bits & 127)
            let hz = Int32(truncatingIfNeeded: bits >> 32)          // value bits, apart from the layer's
            let a = hz.magnitude
            let x = Double(hz) * w[i]
            if a < k[i] { return x }                                 // inside the rectangle
            if i == 0 {
                // The tail beyond R (Marsaglia 1964).
                var tx = 0.0, ty = 0.0
                repeat {
                    tx = -log(Double((rng.next() >> 11) + 1) * 0x1.0p-53) / Ziggurat.r
                    ty = -log(Double((rng.next() >> 11) + 1) * 0x1.0p-53)
                } while ty + ty < tx * tx
                return hz > 0 ? Ziggurat.r + tx : -Ziggurat.r - tx
            }
            // The wedge: accept under the density.
            if f[i] + rng.uniform() * (f[i - 1] - f[i]) < exp(-0.5 * x * x) { return x }
        }
    }
}

// Per-row losses on logits for the unlearning objectives (shared/REFERENCES.md section 6): cross-entropy that keeps
// each row's value (NPO's sequence sums), the reference model's log-probabilities and KL(p_ref || p_theta) to them
// (GA+KL), LoKU's inverted hinge, and cross-entropy on labels sampled from the model (the true Fisher of K-FAC).
import Foundation
import Stats
import Tensor

/// Weighted next-token cross-entropy, as the pass computes it, keeping each row's unweighted value by packed row.
public final class RecordedCrossEntropy: RowLoss {
    /// rowLoss[n] = -log p(target_n) for the rows seen (others 0); sized by `reset(rows:)`.
    public private(set) var rowLoss: [Double] = []
    public init() {}
    public func reset(rows N: Int) { rowLoss = [Double](repeating: 0, count: N) }

    public func apply(rows: UnsafeBufferPointer<Int>, logits: UnsafeMutablePointer<Float>, V: Int,
                      targets: UnsafePointer<Int32>, weights: UnsafePointer<Float>, gradScale: Float, backward: Bool) -> Double {
        var out = [Double](repeating: 0, count: rows.count)
        out.withUnsafeMutableBufferPointer { o in
            let o = o.baseAddress!
            Kernels.parallelRanges(rows.count, minPerThread: 4) { rr in
                for r in rr {
                    let n = rows[r], row = logits + r * V, t = Int(targets[n])
                    let target = Double(row[t])
                    let lse = Kernels.softmaxInPlace(row, V)
                    o[r] = lse - target
                    if backward {
                        let a = weights[n] * gradScale
                        for v in 0..<V { row[v] *= a }
                        row[t] -= a
                    }
                }
            }
        }
        var total = 0.0
        for (r, n) in rows.enumerated() { rowLoss[n] = out[r]; total += Double(weights[n]) * out[r] }
        return total
    }
}

/// The log-softmax of every row seen, by packed row: the reference model's distribution for a later KL.
/// Evaluation only (no backward). Holds N x V floats.
public final class LogProbRecorder: RowLoss {
    public private(set) var V = 0
    var logp: [Float] = []
    public init() {}
    public func reset(rows N: Int, vocabulary V: Int) { self.V = V; logp = [Float](repeating: 0, count: N * V) }

    public func apply(rows: UnsafeBufferPointer<Int>, logits: UnsafeMutablePointer<Float>, V: Int,
                      targets: UnsafePointer<Int32>, weights: UnsafePointer<Float>, gradScale: Float, backward: Bool) -> Double {
        precondition(!backward && V == self.V, "the recorder is for evaluation passes of a reset size")
        var total = 0.0
        logp.withUnsafeMutableBufferPointer { lp in
            for (r, n) in rows.enumerated() {
                let row = logits + r * V, dst = lp.baseAddress! + n * V
                let lse = logSumExp(row, V)
                for v in 0..<V { dst[v] = Float(Double(row[v]) - lse) }
                total += Double(weights[n]) * -Double(dst[Int(targets[n])])
            }
        }
        return total
    }
}

/// KL(p_ref || p_theta) per row, with p_ref recorded by a `LogProbRecorder` over the same batch.
/// d KL / d logits = softmax(logits) - p_ref.
public final class KLToReference: RowLoss {
    public let reference: LogProbRecorder
    public init(reference: LogProbRecorder) { self.reference = reference }

    public func apply(rows: UnsafeBufferPointer<Int>, logits: UnsafeMutablePointer<Float>, V: Int,
                      targets: UnsafePointer<Int32>, weights: UnsafePointer<Float>, gradScale: Float, backward: Bool) -> Double {
        precondition(V == reference.V)
        var out = [Double](repeating: 0, count: rows.count)
        reference.logp.withUnsafeBufferPointer { lp in
            out.withUnsafeMutableBufferPointer { o in
                let o = o.baseAddress!, lp = lp.baseAddress!
                Kernels.parallelRanges(rows.count, minPerThread: 4) { rr in
                    for r in rr {
                        let n = rows[r], row = logits + r * V, ref = lp + n * V
                        // KL from the logits (log p_theta = logit - lse), so a p_theta that underflows costs nothing.
                        let lse = logSumExp(row, V)
                        var kl = 0.0
                        for v in 0..<V {
                            let lr = Double(ref[v])
                            kl += Foundation.exp(lr) * (lr - (Double(row[v]) - lse))
                        }
                        _ = Kernels.softmaxInPlace(row, V)   // row = p_theta
                        o[r] = kl
                        if backward {
                            let a = weights[n] * gradScale
                            for v in 0..<V { row[v] = a * (row[v] - Float(Foundation.exp(Double(ref[v])))) }
                        }
                    }
                }
            }
        }
        var total = 0.0
        for (r, n) in rows.enumerated() { total += Double(weights[n]) * out[r] }
        return total
    }
}

/// LoKU's inverted hinge loss per token: 1 + p(y) - max_{v != y} p(v). With m the runner-up,
/// d / d logit_k = p_y (1[k = y] - p_k) - p_m (1[k = m] - p_k).
public final class InvertedHinge: RowLoss {
    public init() {}
    public func apply(rows: UnsafeBufferPointer<Int>, logits: UnsafeMutablePointer<Float>, V: Int,
                      targets: UnsafePointer<Int32>, weights: UnsafePointer<Float>, gradScale: Float, backward: Bool) -> Double {
        var out = [Double](repeating: 0, count: rows.count)
        out.withUnsafeMutableBufferPointer { o in
            let o = o.baseAddress!
            Kernels.parallelRanges(rows.count, minPerThread: 4) { rr in
                for r in rr {
                    let n = rows[r], row = logits + r * V, y = Int(targets[n])
                    _ = Kernels.softmaxInPlace(row, V)
                    var m = y == 0 ? 1 : 0
                    for v in 0..<V where v != y && row[v] > row[m] { m = v }
                    let py = row[y], pm = row[m]
                    o[r] = 1 + Double(py) - Double(pm)
                    if backward {
                        let a = weights[n] * gradScale
                        for v in 0..<V { row[v] = a * (pm - py) * row[v] }
                        row[y] += a * py
                        row[m] -= a * pm
                    }
                }
            }
        }
        var total = 0.0
        for (r, n) in rows.enumerated() { total += Double(weights[n]) * out[r] }
        return total
    }
}

/// Cross-entropy on a label drawn from the model's own distribution at each row (the true Fisher): row n's label
/// comes from a generator seeded by (seed, n), so the same batch and seed draw the same labels.
public final class SampledLabels: RowLoss {
    public var seed: UInt64
    public init(seed: UInt64) { self.seed = seed }
    public func apply(rows: UnsafeBufferPointer<Int>, logits: UnsafeMutablePointer<Float>, V: Int,
                      targets: UnsafePointer<Int32>, weights: UnsafePointer<Float>, gradScale: Float, backward: Bool) -> Double {
        var out = [Double](repeating: 0, count: rows.count)
        let seed = seed
        out.withUnsafeMutableBufferPointer { o in
            let o = o.baseAddress!
            Kernels.parallelRanges(rows.count, minPerThread: 4) { rr in
                for r in rr {
                    let n = rows[r], row = logits + r * V
                    _ = Kernels.softmaxInPlace(row, V)
                    var rng = SeededRNG(seed: seed &* 0x9E3779B97F4A7C15 &+ UInt64(n))
                    let u = rng.uniform()
                    var cum = 0.0, y = V - 1
                    for v in 0..<V { cum += Double(row[v]); if u < cum { y = v; break } }
                    o[r] = -Foundation.log(Swift.max(Double(row[y]), Double.leastNormalMagnitude))
                    if backward {
                        let a = weights[n] * gradScale
                        for v in 0..<V { row[v] *= a }
                        row[y] -= a
                    }
                }
            }
        }
        var total = 0.0
        for (r, n) in rows.enumerated() { total += Double(weights[n]) * out[r] }
        return total
    }
}

/// log sum_v exp(row[v]) in Double.
func logSumExp(_ row: UnsafePointer<Float>, _ V: Int) -> Double {
    let m = Double(Kernels.max(row, V))
    var s = 0.0
    for v in 0..<V { s += Foundation.exp(Double(row[v]) - m) }
    return m + Foundation.log(s)
}

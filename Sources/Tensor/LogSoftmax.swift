// Log-softmax statistics of one logit row without materialising log p: log-sum-exp, moments of log p under p, top-k.
import Foundation

public enum LogSoftmax {
    /// log sum_v exp(l_v) of logits[V]; `tmp` (V floats) receives exp(l_v - max).
    public static func logSumExp(_ logits: UnsafePointer<Float>, _ V: Int, tmp: UnsafeMutablePointer<Float>) -> Double {
        let m = Kernels.max(logits, V)
        tmp.update(from: logits, count: V)
        let s = Kernels.expShiftSum(tmp, V, shift: m)
        return Double(m) + Foundation.log(s)
    }

    /// Mean and variance of log p_v under p (Min-K%++: mu = sum p ln p, sigma^2 = sum p (ln p - mu)^2), two passes.
    /// `e` holds exp(l_v - max) from logSumExp, `lse` its result.
    public static func moments(_ logits: UnsafePointer<Float>, _ e: UnsafePointer<Float>, _ V: Int, lse: Double) -> (mean: Double, variance: Double) {
        let m = Kernels.max(logits, V)
        let sumE = Foundation.exp(lse - Double(m))   // sum of e
        let mean = weightedSum(logits, e, V, center: lse, square: false) / sumE
        let variance = weightedSum(logits, e, V, center: lse + mean, square: true) / sumE
        return (mean, max(0, variance))
    }

    /// sum_v e_v * (l_v - center) (or its square), lanes in Float, flushed to Double every 1024 elements.
    private static func weightedSum(_ logits: UnsafePointer<Float>, _ e: UnsafePointer<Float>, _ V: Int,
                                    center: Double, square: Bool) -> Double {
        let lr = UnsafeRawPointer(logits), er = UnsafeRawPointer(e)
        var acc = SIMD8<Float>(repeating: 0), total = 0.0, i = 0
        let cv = SIMD8<Float>(repeating: Float(center))
        while i + 8 <= V {
            let d = lr.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - cv
            let w = er.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc += square ? w * d * d : w * d
            i += 8
            if i & 1023 == 0 { total += Double(acc.sum()); acc = .zero }
        }
        total += Double(acc.sum())
        while i < V {
            let d = Double(logits[i]) - center
            total += Double(e[i]) * (square ? d * d : d); i += 1
        }
        return total
    }

    /// The k largest logits as (index, logit), largest first (ties: lower index first).
    public static func topK(_ logits: UnsafePointer<Float>, _ V: Int, k: Int) -> [(Int, Float)] {
        guard k > 0 else { return [] }
        let k = Swift.min(k, V)
        var top: [(Int, Float)] = []   // kept sorted descending, at most k
        top.reserveCapacity(k + 1)
        var floor = -Float.infinity
        for i in 0..<V {
            let v = logits[i]
            if top.count == k && v <= floor { continue }
            var j = top.count
            while j > 0 && top[j - 1].1 < v { j -= 1 }
            top.insert((i, v), at: j)
            if top.count > k { top.removeLast() }
            if top.count == k { floor = top[k - 1].1 }
        }
        return top
    }
}

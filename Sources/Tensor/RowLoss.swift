// A loss on each row's logits in place of next-token cross-entropy (KL to a reference, inverted hinge, sampled
// labels), fused with the LM head in chunks of rows like crossEntropyForwardBackward, so [N, V] logits never exist.
import Foundation

/// A per-row loss on logits. Implementations see only the rows with a positive weight, a chunk at a time, in the
/// order of the packed batch.
public protocol RowLoss: AnyObject {
    /// `logits` [rows.count, V]: the logits of the packed rows `rows` (indices into `targets` and `weights`).
    /// Returns sum_r weights[rows[r]] * loss_r. When `backward`, overwrites row r with
    /// weights[rows[r]] * gradScale * d loss_r / d logits_r.
    func apply(rows: UnsafeBufferPointer<Int>, logits: UnsafeMutablePointer<Float>, V: Int,
               targets: UnsafePointer<Int32>, weights: UnsafePointer<Float>, gradScale: Float, backward: Bool) -> Double
}

extension Kernels {
    /// logits = x[N, C] · head[V, C]^T, then `loss` on the rows with weights[n] > 0, `chunk` rows at a time; with its
    /// dlogits, accumulates dx[N, C] += dlogits · head and dhead[V, C] += dlogits^T · x (each skipped when nil).
    /// Returns the sum of the weighted row losses.
    public static func rowLossForwardBackward(_ loss: RowLoss, _ dx: UnsafeMutablePointer<Float>?,
                                              _ dhead: UnsafeMutablePointer<Float>?,
                                              _ x: UnsafePointer<Float>, _ head: UnsafePointer<Float>,
                                              _ targets: UnsafePointer<Int32>, _ weights: UnsafePointer<Float>,
                                              N: Int, C: Int, V: Int, gradScale: Float, scratch: Scratch,
                                              chunk: Int = 64) -> Double {
        precondition(chunk > 0 && V > 0)
        var active: [Int] = []
        for n in 0..<N {
            precondition(weights[n] >= 0, "row weight \(weights[n]) of row \(n) is negative or NaN")
            if weights[n] > 0 { active.append(n) }
        }
        if active.isEmpty { return 0 }
        let backward = dx != nil || dhead != nil
        let R = Swift.min(chunk, active.count)
        let logits = scratch.get("rl.logits", R * V)   // [R, V] logits, then dlogits
        let xc = scratch.get("rl.x", R * C)            // [R, C] gathered rows of x
        let dxc = scratch.get("rl.dx", R * C)          // [R, C]
        var total = 0.0, c0 = 0
        while c0 < active.count {
            let rows = Swift.min(R, active.count - c0)
            for r in 0..<rows { (xc + r * C).update(from: x + active[c0 + r] * C, count: C) }
            BLAS.sgemm(transB: true, m: rows, n: V, k: C, a: xc, lda: C, b: head, ldb: C, c: logits, ldc: V)
            total += active.withUnsafeBufferPointer { act in
                loss.apply(rows: UnsafeBufferPointer(rebasing: act[c0..<(c0 + rows)]), logits: logits, V: V,
                           targets: targets, weights: weights, gradScale: gradScale, backward: backward)
            }
            if backward, let dx {
                BLAS.sgemm(m: rows, n: C, k: V, a: logits, lda: V, b: head, ldb: C, c: dxc, ldc: C)
                for r in 0..<rows { addInPlace(dx + active[c0 + r] * C, dxc + r * C, C) }
            }
            if backward, let dhead {
                BLAS.sgemm(transA: true, m: V, n: C, k: rows, a: logits, lda: V, b: xc, ldb: C, beta: 1, c: dhead, ldc: C)
            }
            c0 += rows
        }
        return total
    }

    /// Overwrites row[V] with softmax(row) and returns logsumexp(row).
    @inline(__always)
    public static func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, _ V: Int) -> Double {
        let m = Kernels.max(row, V)
        let sum = expShiftSum(row, V, shift: m)
        scaleInPlace(row, V, by: Float(1 / sum))
        return Double(m) + Foundation.log(sum)
    }
}

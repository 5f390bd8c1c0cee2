// Next-token cross-entropy fused with the LM head: loss and gradients in chunks of rows, so [N, V] logits never exist.
import Foundation

extension Kernels {
    /// logits = x[N, C] · head[V, C]^T; for each row n with weights[n] > 0,
    /// loss_n = weights[n] * (logsumexp(logits_n) - logits_n[targets[n]]). Returns sum_n loss_n.
    /// With dlogits_n = weights[n] * gradScale * (softmax(logits_n) - onehot(targets[n])), accumulates
    /// dx[N, C] += dlogits · head and dhead[V, C] += dlogits^T · x (each skipped when nil). Rows with weight 0 cost
    /// nothing: the rows that count are gathered `chunk` at a time (logits [chunk, V] in scratch).
    public static func crossEntropyForwardBackward(_ dx: UnsafeMutablePointer<Float>?, _ dhead: UnsafeMutablePointer<Float>?,
                                                   _ x: UnsafePointer<Float>, _ head: UnsafePointer<Float>,
                                                   _ targets: UnsafePointer<Int32>, _ weights: UnsafePointer<Float>,
                                                   N: Int, C: Int, V: Int, gradScale: Float, scratch: Scratch,
                                                   chunk: Int = 64) -> Double {
        precondition(chunk > 0 && V > 0)
        var active: [Int] = []   // rows with a positive weight, in order
        for n in 0..<N {
            precondition(weights[n] >= 0, "cross-entropy weight \(weights[n]) of row \(n) is negative or NaN")
            precondition(targets[n] >= 0 && Int(targets[n]) < V, "target \(targets[n]) of row \(n) outside 0..<\(V)")
            if weights[n] > 0 { active.append(n) }
        }
        if active.isEmpty { return 0 }
        let backward = dx != nil || dhead != nil
        let R = Swift.min(chunk, active.count)
        let logits = scratch.get("ce.logits", R * V)   // [R, V] logits, then dlogits
        let xc = scratch.get("ce.x", R * C)            // [R, C] gathered rows of x
        let dxc = scratch.get("ce.dx", R * C)          // [R, C] dx of the gathered rows
        var losses = [Double](repeating: 0, count: R)  // [R] loss of each gathered row
        var total = 0.0
        var c0 = 0
        while c0 < active.count {
            let rows = Swift.min(R, active.count - c0)
            for r in 0..<rows { (xc + r * C).update(from: x + active[c0 + r] * C, count: C) }
            // logits[rows, V] = xc[rows, C] · head[V, C]^T
            BLAS.sgemm(transB: true, m: rows, n: V, k: C, a: xc, lda: C, b: head, ldb: C, c: logits, ldc: V)
            active.withUnsafeBufferPointer { act in
                losses.withUnsafeMutableBufferPointer { loss in
                    let act = act.baseAddress! + c0, loss = loss.baseAddress!
                    parallelRanges(rows, minPerThread: Swift.max(1, 16384 / V)) { rr in
                        for r in rr {
                            let n = act[r], row = logits + r * V, t = Int(targets[n]), w = Double(weights[n])
                            let target = row[t]
                            let m = Kernels.max(row, V)
                            let sum = expShiftSum(row, V, shift: m)        // row = exp(l - m)
                            loss[r] = w * (Double(m) + Foundation.log(sum) - Double(target))
                            if backward {
                                let a = w * Double(gradScale)
                                scaleInPlace(row, V, by: Float(a / sum))         // row = a * softmax
                                row[t] -= Float(a)
                            }
                        }
                    }
                }
            }
            for r in 0..<rows { total += losses[r] }
            if let dx {
                // dxc[rows, C] = dlogits[rows, V] · head[V, C], then scattered back to the rows of dx
                BLAS.sgemm(m: rows, n: C, k: V, a: logits, lda: V, b: head, ldb: C, c: dxc, ldc: C)
                for r in 0..<rows { addInPlace(dx + active[c0 + r] * C, dxc + r * C, C) }
            }
            if let dhead {
                // dhead[V, C] += dlogits^T[V, rows] · xc[rows, C]
                BLAS.sgemm(transA: true, m: V, n: C, k: rows, a: logits, lda: V, b: xc, ldb: C, beta: 1, c: dhead, ldc: C)
            }
            c0 += rows
        }
        return total
    }

    /// x[count] *= a
    @inline(__always)
    static func scaleInPlace(_ x: UnsafeMutablePointer<Float>, _ count: Int, by a: Float) {
        let raw = UnsafeMutableRawPointer(x), av = SIMD8<Float>(repeating: a)
        var i = 0
        while i + 8 <= count {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * av, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { x[i] *= a; i += 1 }
    }

    /// Slow twin of crossEntropyForwardBackward: the full [N, V] logits, softmax and both products in Double.
    public static func crossEntropyNaive(_ dx: UnsafeMutablePointer<Float>?, _ dhead: UnsafeMutablePointer<Float>?,
                                         _ x: UnsafePointer<Float>, _ head: UnsafePointer<Float>,
                                         _ targets: UnsafePointer<Int32>, _ weights: UnsafePointer<Float>,
                                         N: Int, C: Int, V: Int, gradScale: Float) -> Double {
        var total = 0.0
        var gx = [Double](repeating: 0, count: N * C), gh = [Double](repeating: 0, count: V * C)
        for n in 0..<N where weights[n] > 0 {
            var l = [Double](repeating: 0, count: V)   // [V]
            for v in 0..<V { for c in 0..<C { l[v] += Double(x[n * C + c]) * Double(head[v * C + c]) } }
            let m = l.max()!
            let lse = m + Foundation.log(l.reduce(0) { $0 + Foundation.exp($1 - m) })
            let w = Double(weights[n]), t = Int(targets[n])
            total += w * (lse - l[t])
            for v in 0..<V {
                let g = w * Double(gradScale) * (Foundation.exp(l[v] - lse) - (v == t ? 1 : 0))
                for c in 0..<C {
                    gx[n * C + c] += g * Double(head[v * C + c])
                    gh[v * C + c] += g * Double(x[n * C + c])
                }
            }
        }
        if let dx { for i in 0..<N * C { dx[i] += Float(gx[i]) } }
        if let dhead { for i in 0..<V * C { dhead[i] += Float(gh[i]) } }
        return total
    }
}

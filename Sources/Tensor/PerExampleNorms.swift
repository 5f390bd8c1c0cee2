// Per-example gradient norms for DP-SGD (shared/REFERENCES.md section 5), llm.c style: each kernel beside a slow
// twin that materialises every per-example gradient in Double. A batch is packed rows [N, ...]; `segments` are the
// examples' row ranges. Squared norms are added into sq[B] (one Double per example).
import Foundation

/// How a per-example weight-gradient norm is computed.
public enum GradNormMethod: Sendable {
    /// The cheaper of the two for the sequence length at hand.
    case auto
    /// ||G_n||^2 = sum_{t,s} (g_t . g_s)(a_t . a_s): two [T, T] Gram matrices, O(T^2 (IN + OUT)).
    case ghost
    /// G_n = g_n^T a_n itself, O(T IN OUT).
    case materialise
}

extension Kernels {
    /// A linear layer's per-example gradients: weight G_n = dout_n^T · inp_n [OUT, IN] and, with `bias`, the bias
    /// gradient sum_t dout_t [OUT]. Adds ||G_n||^2 (+ ||bias_n||^2) into sq[n]. dout [N, OUT], inp [N, IN].
    public static func linearGradNormSquared(_ sq: UnsafeMutablePointer<Double>, dout: UnsafePointer<Float>,
                                             inp: UnsafePointer<Float>, segments: [(start: Int, count: Int)],
                                             IN: Int, OUT: Int, bias: Bool, scratch: Scratch,
                                             method: GradNormMethod = .auto) {
        for (n, s) in segments.enumerated() where s.count > 0 {
            let T = s.count, g = dout + s.start * OUT, a = inp + s.start * IN
            let ghost: Bool
            switch method {
            case .auto: ghost = T * (IN + OUT) < IN * OUT
            case .ghost: ghost = true
            case .materialise: ghost = false
            }
            if ghost {
                let gg = scratch.get("pe.gramG", T * T), ga = scratch.get("pe.gramA", T * T)   // [T, T] each
                BLAS.sgemm(transB: true, m: T, n: T, k: OUT, a: g, lda: OUT, b: g, ldb: OUT, c: gg, ldc: T)
                BLAS.sgemm(transB: true, m: T, n: T, k: IN, a: a, lda: IN, b: a, ldb: IN, c: ga, ldc: T)
                sq[n] += dotDouble(gg, ga, T * T)
            } else {
                let w = scratch.get("pe.G", OUT * IN)                                               // [OUT, IN]
                BLAS.sgemm(transA: true, m: OUT, n: IN, k: T, a: g, lda: OUT, b: a, ldb: IN, c: w, ldc: IN)
                sq[n] += dotDouble(w, w, OUT * IN)
            }
            if bias {
                let b = scratch.get("pe.bias", OUT)                                                 // [OUT]
                b.update(repeating: 0, count: OUT)
                for t in 0..<T { addInPlace(b, g + t * OUT, OUT) }
                sq[n] += dotDouble(b, b, OUT)
            }
        }
    }

    /// Slow twin of linearGradNormSquared: every G_n in Double.
    public static func linearGradNormSquaredNaive(_ sq: UnsafeMutablePointer<Double>, dout: UnsafePointer<Float>,
                                                  inp: UnsafePointer<Float>, segments: [(start: Int, count: Int)],
                                                  IN: Int, OUT: Int, bias: Bool) {
        for (n, s) in segments.enumerated() {
            var w = [Double](repeating: 0, count: OUT * IN), b = [Double](repeating: 0, count: OUT)
            for t in s.start..<(s.start + s.count) {
                for o in 0..<OUT {
                    let g = Double(dout[t * OUT + o])
                    b[o] += g
                    for i in 0..<IN { w[o * IN + i] += g * Double(inp[t * IN + i]) }
                }
            }
            sq[n] += w.reduce(0) { $0 + $1 * $1 } + (bias ? b.reduce(0) { $0 + $1 * $1 } : 0)
        }
    }

    /// An embedding table's per-example gradient E_n (row dout_t added at table row rows[t]): adds
    /// ||E_n||^2 = sum over distinct rows r of ||sum_{t: rows[t] = r} dout_t||^2 into sq[n]. With `headRows`
    /// (tied embeddings: the same table is the LM head, whose per-example gradient H_n has row H_n[rows[t]] =
    /// headRows[t]) also the cross term 2 <H_n, E_n> = 2 sum_t headRows_t . dout_t; ||H_n||^2 is the caller's.
    public static func embeddingGradNormSquared(_ sq: UnsafeMutablePointer<Double>, dout: UnsafePointer<Float>,
                                                rows: UnsafePointer<Int32>, segments: [(start: Int, count: Int)], C: Int,
                                                headRows: UnsafePointer<Float>?, scratch: Scratch) {
        for (n, s) in segments.enumerated() where s.count > 0 {
            // Sum the rows of each distinct table row, in order of first appearance.
            var slot: [Int32: Int] = [:]
            let sums = scratch.get("pe.embed", s.count * C)                  // [distinct, C]
            for t in s.start..<(s.start + s.count) {
                if let k = slot[rows[t]] {
                    addInPlace(sums + k * C, dout + t * C, C)
                } else {
                    let k = slot.count
                    slot[rows[t]] = k
                    (sums + k * C).update(from: dout + t * C, count: C)
                }
                if let headRows { sq[n] += 2 * Double(dot(headRows + t * C, dout + t * C, C)) }
            }
            sq[n] += dotDouble(sums, sums, slot.count * C)
        }
    }

    /// For DP-SGD's first pass: the loss and dx of crossEntropyForwardBackward (no dhead), and per segment the
    /// squared norm of the head's per-example gradient H_n = D_n^T x_n [V, C] (D_n: the segment's dlogits) into
    /// headSq[n]. With `tokens`, also headRows[t] = H_n[tokens[t]] for every row t of the segment (tied embeddings
    /// need them for the cross term). Ghost form (||H_n||^2 = <D_n D_n^T, x_n x_n^T>, logits of the whole segment
    /// at once) when the segment's weighted rows number at most `maxGhostRows` and fewer than C; otherwise H_n
    /// is accumulated chunk by chunk.
    public static func crossEntropyPerExample(_ dx: UnsafeMutablePointer<Float>, headSq: UnsafeMutablePointer<Double>,
                                              headRows: UnsafeMutablePointer<Float>?, tokens: UnsafePointer<Int32>?,
                                              _ x: UnsafePointer<Float>, _ head: UnsafePointer<Float>,
                                              _ targets: UnsafePointer<Int32>, _ weights: UnsafePointer<Float>,
                                              segments: [(start: Int, count: Int)], C: Int, V: Int, gradScale: Float,
                                              scratch: Scratch, maxGhostRows: Int = 512,
                                              method: GradNormMethod = .auto) -> Double {
        var total = 0.0
        for (n, s) in segments.enumerated() {
            if let headRows { (headRows + s.start * C).update(repeating: 0, count: s.count * C) }
            let active = (s.start..<(s.start + s.count)).filter {
                precondition(weights[$0] >= 0, "cross-entropy weight \(weights[$0]) of row \($0) is negative or NaN")
                return weights[$0] > 0
            }
            let A = active.count
            if A == 0 { continue }
            let ghost: Bool
            switch method {
            case .auto: ghost = A <= maxGhostRows && A < C
            case .ghost: ghost = true
            case .materialise: ghost = false
            }
            let R = ghost ? A : Swift.min(A, maxGhostRows)
            let logits = scratch.get("pe.ce.logits", R * V), xc = scratch.get("pe.ce.x", R * C), dxc = scratch.get("pe.ce.dx", R * C)
            let H = ghost ? nil : scratch.get("pe.ce.H", V * C)                         // [V, C]
            H?.update(repeating: 0, count: V * C)
            var c0 = 0
            while c0 < A {
                let rows = Swift.min(R, A - c0)
                for r in 0..<rows { (xc + r * C).update(from: x + active[c0 + r] * C, count: C) }
                BLAS.sgemm(transB: true, m: rows, n: V, k: C, a: xc, lda: C, b: head, ldb: C, c: logits, ldc: V)
                for r in 0..<rows {
                    let i = active[c0 + r]
                    total += softmaxCrossEntropyRow(logits + r * V, V, target: Int(targets[i]), weight: Double(weights[i]),
                                                    gradScale: Double(gradScale), backward: true)
                }
                BLAS.sgemm(m: rows, n: C, k: V, a: logits, lda: V, b: head, ldb: C, c: dxc, ldc: C)
                for r in 0..<rows { addInPlace(dx + active[c0 + r] * C, dxc + r * C, C) }
                if let H { BLAS.sgemm(transA: true, m: V, n: C, k: rows, a: logits, lda: V, b: xc, ldb: C, beta: 1, c: H, ldc: C) }
                c0 += rows
            }
            if let H {
                headSq[n] += dotDouble(H, H, V * C)
                if let headRows, let tokens {
                    for t in s.start..<(s.start + s.count) { (headRows + t * C).update(from: H + Int(tokens[t]) * C, count: C) }
                }
            } else {
                // All A rows are in `logits` (dlogits [A, V]) and `xc` [A, C].
                let gd = scratch.get("pe.gramG", A * A), gx = scratch.get("pe.gramA", A * A)
                BLAS.sgemm(transB: true, m: A, n: A, k: V, a: logits, lda: V, b: logits, ldb: V, c: gd, ldc: A)
                BLAS.sgemm(transB: true, m: A, n: A, k: C, a: xc, lda: C, b: xc, ldb: C, c: gx, ldc: A)
                headSq[n] += dotDouble(gd, gx, A * A)
                if let headRows, let tokens {
                    // headRows[t] = sum_s D[s, tokens[t]] x_s: gather D's columns at the segment's tokens, then one product.
                    let T = s.count, dt = scratch.get("pe.ce.dtok", A * T)               // [A, T]
                    for r in 0..<A { for t in 0..<T { dt[r * T + t] = logits[r * V + Int(tokens[s.start + t])] } }
                    BLAS.sgemm(transA: true, m: T, n: C, k: A, a: dt, lda: T, b: xc, ldb: C, c: headRows + s.start * C, ldc: C)
                }
            }
        }
        return total
    }

    /// One row of the fused cross-entropy: returns weight * (logsumexp(row) - row[target]); with `backward` the row
    /// becomes weight * gradScale * (softmax(row) - onehot(target)).
    @inline(__always)
    static func softmaxCrossEntropyRow(_ row: UnsafeMutablePointer<Float>, _ V: Int, target t: Int, weight w: Double,
                                       gradScale: Double, backward: Bool) -> Double {
        precondition(t >= 0 && t < V, "target \(t) outside 0..<\(V)")
        let target = row[t], m = Kernels.max(row, V)
        let sum = expShiftSum(row, V, shift: m)
        let loss = w * (Double(m) + Foundation.log(sum) - Double(target))
        if backward {
            let a = w * gradScale
            scaleInPlace(row, V, by: Float(a / sum))
            row[t] -= Float(a)
        }
        return loss
    }

    /// sum_i a[i] b[i], accumulated in Double per block of 8 lanes.
    public static func dotDouble(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Double {
        var total = 0.0, i = 0
        while i < count {
            let n = Swift.min(4096, count - i)
            total += Double(dot(a + i, b + i, n))
            i += n
        }
        return total
    }
}

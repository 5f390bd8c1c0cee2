// Causal self-attention for training: the forward keeps each row's log-sum-exp, the backward recomputes the
// probabilities from it (the FlashAttention-2 backward, Dao 2023, without tiling over keys); grouped-query heads.
import Foundation

extension Kernels {
    /// Causal attention of one sequence of T tokens; query head h reads key/value head h / (NH / NKV); scale 1/sqrt(HD).
    /// q[T, NH*HD], k[T, NKV*HD], v[T, NKV*HD] -> out[T, NH*HD] and lse[NH, T] (log-sum-exp of each row of scaled
    /// scores). The query heads sharing a key/value head are stacked into one [group * rows, HD] block, rows in
    /// blocks of `block` queries so that scores past the diagonal are mostly not computed.
    public static func attentionForward(_ out: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>,
                                        _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                                        T: Int, NH: Int, NKV: Int, HD: Int, scratch: Scratch, block: Int = 128) {
        precondition(NKV > 0 && NH % NKV == 0 && T >= 0 && HD > 0 && block > 0)
        if T == 0 { return }
        let group = NH / NKV, QD = NH * HD, KVD = NKV * HD
        let scale = 1 / Float(HD).squareRoot()
        let maxRows = Swift.min(T, block) * group
        let S = scratch.get("attn.S", maxRows * T)    // [group * rows, Tk] scores, then probabilities
        let Qg = scratch.get("attn.Q", maxRows * HD)  // [group * rows, HD] stacked query heads
        let Og = scratch.get("attn.O", maxRows * HD)  // [group * rows, HD] stacked outputs
        for kvh in 0..<NKV {
            var qb = 0
            while qb < T {
                let rows = Swift.min(block, T - qb), Tk = qb + rows, M = group * rows
                for g in 0..<group {
                    let h = kvh * group + g
                    for r in 0..<rows { (Qg + (g * rows + r) * HD).update(from: q + (qb + r) * QD + h * HD, count: HD) }
                }
                // S[M, Tk] = scale * Qg[M, HD] · K_kvh[Tk, HD]^T
                BLAS.sgemm(transB: true, m: M, n: Tk, k: HD, alpha: scale, a: Qg, lda: HD,
                           b: k + kvh * HD, ldb: KVD, c: S, ldc: Tk)
                parallelRanges(M, minPerThread: Swift.max(1, 4096 / Tk)) { rr in
                    for i in rr {
                        let g = i / rows, t = qb + i % rows, valid = t + 1
                        let row = S + i * Tk
                        let m = Kernels.max(row, valid)
                        let sum = expShiftSum(row, valid, shift: m)
                        lse[(kvh * group + g) * T + t] = Float(Double(m) + Foundation.log(sum))
                        let inv = Float(1 / sum)
                        for j in 0..<valid { row[j] *= inv }
                        for j in valid..<Tk { row[j] = 0 }
                    }
                }
                // Og[M, HD] = P[M, Tk] · V_kvh[Tk, HD]
                BLAS.sgemm(m: M, n: HD, k: Tk, a: S, lda: Tk, b: v + kvh * HD, ldb: KVD, c: Og, ldc: HD)
                for g in 0..<group {
                    let h = kvh * group + g
                    for r in 0..<rows { (out + (qb + r) * QD + h * HD).update(from: Og + (g * rows + r) * HD, count: HD) }
                }
                qb += rows
            }
        }
    }

    /// Gradients of attentionForward, accumulated into dq[T, NH*HD], dk[T, NKV*HD], dv[T, NKV*HD] from dout[T, NH*HD],
    /// the forward's inputs, out[T, NH*HD] and lse[NH, T]. Per row i of a head, P = exp(scale q_i·k_j - lse_i):
    /// dv_j += sum_i P_ij dout_i; dS_ij = P_ij (dout_i·v_j - dout_i·out_i); dq_i += scale sum_j dS_ij k_j;
    /// dk_j += scale sum_i dS_ij q_i.
    public static func attentionBackward(_ dq: UnsafeMutablePointer<Float>, _ dk: UnsafeMutablePointer<Float>,
                                         _ dv: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                         _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                                         _ out: UnsafePointer<Float>, _ lse: UnsafePointer<Float>,
                                         T: Int, NH: Int, NKV: Int, HD: Int, scratch: Scratch, block: Int = 128) {
        precondition(NKV > 0 && NH % NKV == 0 && T >= 0 && HD > 0 && block > 0)
        if T == 0 { return }
        let group = NH / NKV, QD = NH * HD, KVD = NKV * HD
        let scale = 1 / Float(HD).squareRoot()
        let maxRows = Swift.min(T, block) * group
        let P = scratch.get("attn.P", maxRows * T)      // [M, Tk] probabilities
        let dP = scratch.get("attn.dP", maxRows * T)    // [M, Tk] dout · V^T, then dS
        let Qg = scratch.get("attn.Q", maxRows * HD)    // [M, HD] stacked query heads
        let dOg = scratch.get("attn.dO", maxRows * HD)  // [M, HD] stacked dout
        let dQg = scratch.get("attn.dQ", maxRows * HD)  // [M, HD] stacked dq of this block
        let D = scratch.get("attn.D", maxRows)          // [M] dout_i · out_i
        let L = scratch.get("attn.L", maxRows)          // [M] lse of the stacked rows
        for kvh in 0..<NKV {
            let kh = k + kvh * HD, vh = v + kvh * HD     // [T, HD] with row stride KVD
            var qb = 0
            while qb < T {
                let rows = Swift.min(block, T - qb), Tk = qb + rows, M = group * rows
                for g in 0..<group {
                    let h = kvh * group + g
                    for r in 0..<rows {
                        let t = qb + r, i = g * rows + r
                        (Qg + i * HD).update(from: q + t * QD + h * HD, count: HD)
                        (dOg + i * HD).update(from: dout + t * QD + h * HD, count: HD)
                        D[i] = dot(dout + t * QD + h * HD, out + t * QD + h * HD, HD)
                        L[i] = lse[h * T + t]
                    }
                }
                // P[M, Tk] = scale * Qg · K^T (exponentiated below); dP[M, Tk] = dOg · V^T
                BLAS.sgemm(transB: true, m: M, n: Tk, k: HD, alpha: scale, a: Qg, lda: HD, b: kh, ldb: KVD, c: P, ldc: Tk)
                BLAS.sgemm(transB: true, m: M, n: Tk, k: HD, a: dOg, lda: HD, b: vh, ldb: KVD, c: dP, ldc: Tk)
                parallelRanges(M, minPerThread: Swift.max(1, 4096 / Tk)) { rr in
                    for i in rr {
                        let valid = qb + i % rows + 1
                        let p = P + i * Tk, ds = dP + i * Tk, d = D[i]
                        expShiftSum(p, valid, shift: L[i])
                        for j in 0..<valid { ds[j] = p[j] * (ds[j] - d) }
                        for j in valid..<Tk { p[j] = 0; ds[j] = 0 }
                    }
                }
                // dV[Tk, HD] += P^T · dOg; dK[Tk, HD] += scale * dS^T · Qg; dQg[M, HD] = scale * dS · K
                BLAS.sgemm(transA: true, m: Tk, n: HD, k: M, a: P, lda: Tk, b: dOg, ldb: HD, beta: 1, c: dv + kvh * HD, ldc: KVD)
                BLAS.sgemm(transA: true, m: Tk, n: HD, k: M, alpha: scale, a: dP, lda: Tk, b: Qg, ldb: HD,
                           beta: 1, c: dk + kvh * HD, ldc: KVD)
                BLAS.sgemm(m: M, n: HD, k: Tk, alpha: scale, a: dP, lda: Tk, b: kh, ldb: KVD, c: dQg, ldc: HD)
                for g in 0..<group {
                    let h = kvh * group + g
                    for r in 0..<rows { addInPlace(dq + (qb + r) * QD + h * HD, dQg + (g * rows + r) * HD, HD) }
                }
                qb += rows
            }
        }
    }

    /// Slow twin of attentionForward: per head and row, the scores, softmax and weighted sum in Double.
    public static func attentionForwardNaive(_ out: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>,
                                             _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                                             T: Int, NH: Int, NKV: Int, HD: Int) {
        let group = NH / NKV, QD = NH * HD, KVD = NKV * HD, scale = 1 / Double(HD).squareRoot()
        for h in 0..<NH {
            let kvh = h / group
            for t in 0..<T {
                let p = naiveProbabilities(q, k, t: t, h: h, kvh: kvh, QD: QD, KVD: KVD, HD: HD, scale: scale)
                lse[h * T + t] = Float(p.lse)
                for d in 0..<HD {
                    var s = 0.0
                    for j in 0...t { s += p.p[j] * Double(v[j * KVD + kvh * HD + d]) }
                    out[t * QD + h * HD + d] = Float(s)
                }
            }
        }
    }

    /// Slow twin of attentionBackward: recomputes everything from q, k, v in Double (it needs neither out nor lse).
    public static func attentionBackwardNaive(_ dq: UnsafeMutablePointer<Float>, _ dk: UnsafeMutablePointer<Float>,
                                              _ dv: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                              _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                                              T: Int, NH: Int, NKV: Int, HD: Int) {
        let group = NH / NKV, QD = NH * HD, KVD = NKV * HD, scale = 1 / Double(HD).squareRoot()
        var gq = [Double](repeating: 0, count: T * QD), gk = [Double](repeating: 0, count: T * KVD), gv = gk
        for h in 0..<NH {
            let kvh = h / group
            for t in 0..<T {
                let p = naiveProbabilities(q, k, t: t, h: h, kvh: kvh, QD: QD, KVD: KVD, HD: HD, scale: scale).p
                // dp_j = dout_t · v_j; through the softmax ds_j = p_j (dp_j - sum_l p_l dp_l)
                var dp = [Double](repeating: 0, count: t + 1)
                for j in 0...t {
                    for d in 0..<HD { dp[j] += Double(dout[t * QD + h * HD + d]) * Double(v[j * KVD + kvh * HD + d]) }
                }
                var pdp = 0.0
                for j in 0...t { pdp += p[j] * dp[j] }
                for j in 0...t {
                    let ds = p[j] * (dp[j] - pdp)
                    for d in 0..<HD {
                        gv[j * KVD + kvh * HD + d] += p[j] * Double(dout[t * QD + h * HD + d])
                        gq[t * QD + h * HD + d] += scale * ds * Double(k[j * KVD + kvh * HD + d])
                        gk[j * KVD + kvh * HD + d] += scale * ds * Double(q[t * QD + h * HD + d])
                    }
                }
            }
        }
        for i in 0..<T * QD { dq[i] += Float(gq[i]) }
        for i in 0..<T * KVD { dk[i] += Float(gk[i]); dv[i] += Float(gv[i]) }
    }

    /// Softmax over keys 0...t of scale * q_t·k_j for query head h (key head kvh), and its log-sum-exp, in Double.
    private static func naiveProbabilities(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, t: Int, h: Int, kvh: Int,
                                           QD: Int, KVD: Int, HD: Int, scale: Double) -> (p: [Double], lse: Double) {
        var s = [Double](repeating: 0, count: t + 1)
        for j in 0...t {
            for d in 0..<HD { s[j] += Double(q[t * QD + h * HD + d]) * Double(k[j * KVD + kvh * HD + d]) }
            s[j] *= scale
        }
        let m = s.max()!
        let lse = m + Foundation.log(s.reduce(0) { $0 + Foundation.exp($1 - m) })
        return (s.map { Foundation.exp($0 - lse) }, lse)
    }
}

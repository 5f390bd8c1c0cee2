// The decoder-only transformer forward pass shared by every architecture: packed rows, per-sequence causal
// attention, optional KV cache. Shapes: N rows (tokens of all sequences back to back), C model width,
// NH/NKV heads, HD head size, F feed-forward width, V vocabulary.
import Foundation
import Tensor

/// Keys and values of one sequence for every layer, so generation feeds one new token per step.
/// Not Sendable: each forward pass appends to it unsynchronised; one cache belongs to one sequence of one call.
public final class KVCache {
    public let capacity: Int
    let keys: [FloatBuffer]     // per layer [capacity, kvDim]
    let values: [FloatBuffer]   // per layer [capacity, kvDim]
    public internal(set) var length = 0

    public init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        keys = (0..<config.nLayers).map { _ in FloatBuffer(count: capacity * config.kvDim, zeroed: false) }
        values = (0..<config.nLayers).map { _ in FloatBuffer(count: capacity * config.kvDim, zeroed: false) }
    }
}

/// One sequence's slice of a packed batch: rows start..<start+count, at positions pos0..<pos0+count.
struct Segment {
    var start: Int
    var count: Int
    var pos0: Int
    var cache: KVCache?
}

/// Unchecked, and safe because it is immutable after init: the weights `embed`, `head` and `blocks` point into
/// are only read, `rope` locks, and each forward call brings its own `Scratch` and KV caches.
public final class TransformerModel: @unchecked Sendable {
    public let config: ModelConfig
    public let params: Parameters
    let blocks: [BlockParams]
    let rope: RoPETable?
    let embed: UnsafeMutablePointer<Float>        // [V, C]
    let head: UnsafeMutablePointer<Float>         // [V, C] (the embedding when tied)

    public init(config: ModelConfig, params: Parameters) {
        self.config = config
        self.params = params
        blocks = (0..<config.nLayers).map { BlockParams(params, layer: $0) }
        rope = config.rotaryDims > 0 ? RoPETable(rotaryDims: config.rotaryDims, theta: config.ropeTheta, style: config.ropeStyle) : nil
        embed = params.ptr("embed.weight")
        head = config.tiedEmbeddings ? embed : params.ptr("head.weight")
    }

    /// Runs every block over the packed rows and returns the final-normed hidden states [N, C] (in `scratch`).
    /// Sequences with a cache append their keys/values to it and attend over everything cached so far.
    func forward(tokens: [Int32], segments: [Segment], scratch: Scratch) -> UnsafeMutablePointer<Float> {
        let c = config, N = tokens.count, C = c.dModel, QD = c.qDim, KVD = c.kvDim, F = c.ffnDim
        let x = scratch.get("x", N * C)          // residual stream [N, C]
        let xn = scratch.get("xn", N * C)        // normed input [N, C]
        let q = scratch.get("q", N * QD)         // [N, NH*HD]
        let k = scratch.get("k", N * KVD)        // [N, NKV*HD]
        let v = scratch.get("v", N * KVD)        // [N, NKV*HD]
        let att = scratch.get("att", N * QD)     // attention output before projection [N, NH*HD]
        let ao = scratch.get("ao", N * C)        // projected attention [N, C]
        let h1 = scratch.get("h1", N * F)        // [N, F]
        let h2 = scratch.get("h2", N * F)        // [N, F]
        var positions = [Int32](repeating: 0, count: N)
        for s in segments { for i in 0..<s.count { positions[s.start + i] = Int32(s.pos0 + i) } }

        // Embedding (+ learned positions).
        let pos = config.rotaryDims == 0 ? params.ptr("pos.weight") : nil
        for n in 0..<N {
            let row = x + n * C
            row.update(from: embed + Int(tokens[n]) * C, count: C)
            if let pos { Kernels.addInPlace(row, pos + Int(positions[n]) * C, C) }
        }

        for (l, b) in blocks.enumerated() {
            norm(xn, x, b.norm1W, b.norm1B, N)
            Kernels.matmulForward(q, xn, b.qW, b.qB, N: N, IC: C, OC: QD)
            Kernels.matmulForward(k, xn, b.kW, b.kB, N: N, IC: C, OC: KVD)
            Kernels.matmulForward(v, xn, b.vW, b.vB, N: N, IC: C, OC: KVD)
            if let rope {
                positions.withUnsafeBufferPointer { pp in
                    rope.apply(q, N: N, nHeads: c.nHeads, headDim: c.headDim, positions: pp.baseAddress!)
                    rope.apply(k, N: N, nHeads: c.nKVHeads, headDim: c.headDim, positions: pp.baseAddress!)
                }
            }
            for s in segments {
                var keys = k + s.start * KVD, vals = v + s.start * KVD
                if let cache = s.cache {
                    precondition(s.pos0 == cache.length || l > 0, "cache out of step")
                    precondition(s.pos0 + s.count <= cache.capacity, "KV cache full")
                    (cache.keys[l].ptr + s.pos0 * KVD).update(from: keys, count: s.count * KVD)
                    (cache.values[l].ptr + s.pos0 * KVD).update(from: vals, count: s.count * KVD)
                    keys = cache.keys[l].ptr; vals = cache.values[l].ptr
                } else {
                    precondition(s.pos0 == 0)
                }
                attentionForward(att + s.start * QD, q + s.start * QD, keys, vals, Tq: s.count, pos0: s.pos0, scratch: scratch)
            }
            Kernels.matmulForward(ao, att, b.oW, b.oB, N: N, IC: QD, OC: C)
            if c.parallelResidual {
                // x + attn(ln1 x) + mlp(ln2 x): the MLP reads the block's input, not x + attn.
                norm(xn, x, b.norm2W, b.norm2B, N)
                Kernels.addInPlace(x, ao, N * C)
            } else {
                Kernels.addInPlace(x, ao, N * C)
                norm(xn, x, b.norm2W, b.norm2B, N)
            }
            mlpForward(ao, xn, b, N: N, h1: h1, h2: h2)
            Kernels.addInPlace(x, ao, N * C)
        }
        for s in segments { if let cache = s.cache { cache.length = s.pos0 + s.count } }
        let xf = scratch.get("xf", N * C)
        norm(xf, x, params.ptr("final_norm.weight"), params.optionalPtr("final_norm.bias"), N)
        return xf
    }

    @inline(__always)
    private func norm(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                      _ b: UnsafePointer<Float>?, _ N: Int) {
        switch config.norm {
        case .rms: Kernels.rmsnormForward(out, inp, w, N: N, C: config.dModel, eps: config.normEps)
        case .layer: Kernels.layernormForward(out, inp, w, b, N: N, C: config.dModel, eps: config.normEps)
        }
    }

    /// out[N, C] = MLP(inp[N, C]); h1, h2 are [N, F] scratch.
    private func mlpForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ b: BlockParams,
                            N: Int, h1: UnsafeMutablePointer<Float>, h2: UnsafeMutablePointer<Float>) {
        let C = config.dModel, F = config.ffnDim
        switch config.mlp {
        case .swiglu:
            Kernels.matmulForward(h1, inp, b.gateW!, nil, N: N, IC: C, OC: F)
            Kernels.matmulForward(h2, inp, b.upW, b.upB, N: N, IC: C, OC: F)
            Kernels.swigluForward(h1, h2, N * F)
        case .geluTanh:
            Kernels.matmulForward(h1, inp, b.upW, b.upB, N: N, IC: C, OC: F)
            Kernels.geluTanhForward(h1, N * F)
        case .geluErf:
            Kernels.matmulForward(h1, inp, b.upW, b.upB, N: N, IC: C, OC: F)
            Kernels.geluErfForward(h1, N * F)
        }
        Kernels.matmulForward(out, h1, b.downW, b.downB, N: N, IC: F, OC: C)
    }

    /// Causal attention of one sequence: queries q[Tq, NH*HD] at positions pos0..<pos0+Tq over keys and values
    /// [pos0+Tq, NKV*HD]; out[Tq, NH*HD]. Query rows go in blocks so that masked scores are mostly not computed.
    private func attentionForward(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>,
                                  _ keys: UnsafePointer<Float>, _ vals: UnsafePointer<Float>,
                                  Tq: Int, pos0: Int, scratch: Scratch) {
        let c = config, HD = c.headDim, QD = c.qDim, KVD = c.kvDim, group = c.nHeads / c.nKVHeads
        let block = 256
        let scale = 1 / Float(HD).squareRoot()
        if Tq <= 4 {   // generation steps: direct loops beat BLAS calls on single rows
            let sc = scratch.get("scores1", pos0 + Tq)
            for r in 0..<Tq {
                let valid = pos0 + r + 1
                for h in 0..<c.nHeads {
                    let kvh = h / group, qv = q + r * QD + h * HD, o = out + r * QD + h * HD
                    for j in 0..<valid { sc[j] = Kernels.dot(qv, keys + j * KVD + kvh * HD, HD) * scale }
                    let m = Kernels.max(sc, valid)
                    let inv = Float(1 / Kernels.expShiftSum(sc, valid, shift: m))
                    o.update(repeating: 0, count: HD)
                    for j in 0..<valid { Kernels.axpy(o, vals + j * KVD + kvh * HD, sc[j] * inv, HD) }
                }
            }
            return
        }
        // The `group` query heads that share a key/value head are stacked into one [group * rows, HD] block so that
        // each pair of BLAS calls is `group` times larger (grouped-query attention).
        let maxRows = min(Tq, block) * group
        let S = scratch.get("scores", maxRows * (pos0 + Tq))   // [group * rows, Tk]
        let Qg = scratch.get("q_group", maxRows * HD)          // [group * rows, HD]
        let Og = scratch.get("o_group", maxRows * HD)          // [group * rows, HD]
        for kvh in 0..<c.nKVHeads {
            var qb = 0
            while qb < Tq {
                let rows = min(block, Tq - qb), Tk = pos0 + qb + rows, M = group * rows
                for g in 0..<group {
                    let h = kvh * group + g
                    for r in 0..<rows { (Qg + (g * rows + r) * HD).update(from: q + (qb + r) * QD + h * HD, count: HD) }
                }
                // S[M, Tk] = scale * Qg[M, HD] · K_kvh[Tk, HD]^T
                BLAS.sgemm(transB: true, m: M, n: Tk, k: HD, alpha: scale, a: Qg, lda: HD,
                           b: keys + kvh * HD, ldb: KVD, c: S, ldc: Tk)
                Kernels.parallelRanges(M, minPerThread: 16) { rr in
                    for i in rr {
                        let row = S + i * Tk, valid = pos0 + qb + i % rows + 1
                        let m = Kernels.max(row, valid)
                        let inv = Float(1 / Kernels.expShiftSum(row, valid, shift: m))
                        for j in 0..<valid { row[j] *= inv }
                        for j in valid..<Tk { row[j] = 0 }
                    }
                }
                // Og[M, HD] = S[M, Tk] · V_kvh[Tk, HD]
                BLAS.sgemm(m: M, n: HD, k: Tk, a: S, lda: Tk, b: vals + kvh * HD, ldb: KVD, c: Og, ldc: HD)
                for g in 0..<group {
                    let h = kvh * group + g
                    for r in 0..<rows { (out + (qb + r) * QD + h * HD).update(from: Og + (g * rows + r) * HD, count: HD) }
                }
                qb += rows
            }
        }
    }
}

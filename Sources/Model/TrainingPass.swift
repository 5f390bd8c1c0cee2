// The differentiable forward pass and its backward for every architecture (Llama, GPT-2, GPT-NeoX), llm.c style:
// each block's activations are kept (or recomputed from the block's input), every op's backward kernel runs in
// reverse order, and gradients accumulate into a buffer with the parameters' layout. Shapes: N packed rows (the
// tokens of all sequences back to back), C model width, QD = NH*HD, KVD = NKV*HD, F feed-forward width, V vocabulary.
import Foundation
import Stats
import Tensor

/// One batch of training sequences and, per predicted token, its weight in the loss (0 masks it).
public struct TrainingBatch: Sendable {
    /// Token ids; each sequence has at least 2 tokens and fits in the context.
    public var sequences: [[Int]]
    /// weights[s][i] weighs the prediction of sequences[s][i + 1]; nil weighs every prediction 1.
    public var weights: [[Float]]?
    public init(sequences: [[Int]], weights: [[Float]]? = nil) { self.sequences = sequences; self.weights = weights }
    public var tokens: Int { sequences.reduce(0) { $0 + $1.count } }
}

/// The loss of a batch: the weighted mean of next-token cross-entropies (nats), and the total weight it averages.
public struct BatchLoss: Sendable, Equatable {
    public var loss: Double
    public var weight: Double
}

/// Activations of one block, kept from its forward for its backward.
final class BlockActivations {
    /// The scratch names' prefix; adapter intermediates live under it too.
    let prefix: String
    let x0, xn1, rstd1, mean1, q, k, v, att, lse, x1, xn2, rstd2, mean2, g, u, a: UnsafeMutablePointer<Float>
    /// Buffers named "<prefix>.<what>" in `scratch`; `N` rows.
    init(_ s: Scratch, _ prefix: String, _ c: ModelConfig, N: Int) {
        self.prefix = prefix
        let C = c.dModel, QD = c.qDim, KVD = c.kvDim, F = c.ffnDim
        func b(_ what: String, _ n: Int) -> UnsafeMutablePointer<Float> { s.get("\(prefix).\(what)", Swift.max(1, n)) }
        x0 = b("x0", N * C); xn1 = b("xn1", N * C); rstd1 = b("rstd1", N); mean1 = b("mean1", N)   // [N, C], [N]
        q = b("q", N * QD); k = b("k", N * KVD); v = b("v", N * KVD)                                  // after RoPE
        att = b("att", N * QD); lse = b("lse", c.nHeads * N)                                         // [N, QD], [NH, N]
        x1 = b("x1", N * C); xn2 = b("xn2", N * C); rstd2 = b("rstd2", N); mean2 = b("mean2", N)      // [N, C], [N]
        g = b("g", N * F); u = b("u", N * F); a = b("a", N * F)                                       // [N, F]
    }
}

/// Trains a model in place: `forwardBackward` accumulates gradients of the trainable parameters, which are every
/// parameter of the model (full fine-tuning) or, with `lora`, only the adapters (the model's own weights frozen).
public final class TrainingPass {
    public let model: TransformerModel
    public let lora: LoRA?
    /// d loss / d trainable parameter, with the layout and names of `model.params`, or of `lora.params`.
    public let grads: Parameters
    /// The parameters `grads` belongs to.
    public var trainable: Parameters { lora?.params ?? model.params }
    /// Keep only each block's input and recompute the rest during the backward (less memory, one more forward).
    public var recompute: Bool
    /// Seeds the LoRA dropout masks of the next pass (the trainer sets it per micro-batch; a recompute redraws the same).
    public var dropoutSeed: UInt64 = 0
    /// Dropout applies in training passes only, never in `loss`.
    private var training = false
    let scratch = Scratch()
    let gradBlocks: [BlockParams]?
    /// Set during a clipped (DP-SGD) pass: per-example norms accumulate and weight gradients wait for the factors.
    var clipState: PerExampleClip?
    // Unlearning hooks (TrainingHooks.swift); nil leaves the pass as it was.
    /// Replaces next-token cross-entropy with a loss on each row's logits (KL to a reference, inverted hinge, ...).
    public var rowLoss: RowLoss? = nil
    /// Sees every linear layer's input and output gradient during the backward (K-FAC factors).
    public var linearObserver: LinearObserver? = nil

    public init(model: TransformerModel, lora: LoRA? = nil, recompute: Bool = false) {
        self.model = model
        self.lora = lora
        self.recompute = recompute
        let t = lora?.params ?? model.params
        let g = Parameters(t.refs.map { ($0.name, $0.shape) })
        grads = g
        gradBlocks = lora == nil ? (0..<model.config.nLayers).map { BlockParams(g, layer: $0) } : nil
    }

    public func zeroGradients() { grads.storage.zero() }

    /// The gradient of a model parameter, nil when it is frozen (LoRA).
    private func g(_ name: String) -> UnsafeMutablePointer<Float>? { lora == nil ? grads.optionalPtr(name) : nil }

    /// The rows of a batch: tokens, positions, segments, next-token targets and weights (last row of each sequence 0).
    struct Rows {
        var tokens: [Int32] = [], positions: [Int32] = [], targets: [Int32] = [], weights: [Float] = []
        var segments: [(start: Int, count: Int)] = []
    }

    func rows(_ batch: TrainingBatch) -> Rows {
        var r = Rows()
        for (s, seq) in batch.sequences.enumerated() {
            precondition(seq.count >= 2 && seq.count <= model.config.maxPositions, "training sequence of \(seq.count) tokens")
            let w = batch.weights?[s]
            precondition(w == nil || w!.count == seq.count - 1, "one weight per predicted token")
            r.segments.append((r.tokens.count, seq.count))
            for (i, t) in seq.enumerated() {
                r.tokens.append(Int32(t)); r.positions.append(Int32(i))
                r.targets.append(Int32(i + 1 < seq.count ? seq[i + 1] : 0))
                r.weights.append(i + 1 < seq.count ? (w?[i] ?? 1) : 0)
            }
        }
        return r
    }

    /// The loss without gradients (evaluation).
    public func loss(_ batch: TrainingBatch) -> BatchLoss { run(batch, backward: false) }

    /// The loss, and its gradient added into `grads` (scaled by `gradScale`, e.g. 1/accumulation steps).
    @discardableResult
    public func forwardBackward(_ batch: TrainingBatch, gradScale: Float = 1) -> BatchLoss {
        run(batch, backward: true, gradScale: gradScale)
    }

    /// DP-SGD's clipped pass: each example's loss is its own weighted mean token loss L_n; its gradient g_n over all
    /// trainable parameters has norm ||g_n|| (returned); `grads` accumulates sum_n min(1, clip / (||g_n|| + 1e-6)) g_n.
    /// Not with `recompute` (the deferred weight gradients need every block's activations).
    public func forwardBackwardClipped(_ batch: TrainingBatch, clip: Double) -> ClippedBatch {
        precondition(!recompute, "a clipped pass keeps every block's activations; recompute is not supported with it")
        precondition(clip > 0, "clipping bound \(clip)")
        var out = ClippedBatch(loss: BatchLoss(loss: .nan, weight: 0), norms: [], factors: [])
        out.loss = run(batch, backward: true, clip: clip, clipped: &out)
        return out
    }

    private func run(_ batch: TrainingBatch, backward: Bool, gradScale: Float = 1) -> BatchLoss {
        var unused = ClippedBatch(loss: BatchLoss(loss: .nan, weight: 0), norms: [], factors: [])
        return run(batch, backward: backward, gradScale: gradScale, clip: nil, clipped: &unused)
    }

    private func run(_ batch: TrainingBatch, backward: Bool, gradScale: Float = 1, clip: Double?,
                     clipped: inout ClippedBatch) -> BatchLoss {
        training = backward
        let c = model.config, N = batch.tokens, C = c.dModel
        var r = rows(batch)
        // A clipped pass weighs each example's rows by 1 / (its total weight): the loss is sum_n L_n.
        let pe = clip == nil ? nil : PerExampleClip(segments: r.segments)
        clipState = pe
        defer { clipState = nil }
        var examples = 0
        if pe != nil {
            for s in r.segments {
                let w = r.weights[s.start..<(s.start + s.count)].reduce(0.0) { $0 + Double($1) }
                if w > 0 { examples += 1; for i in s.start..<(s.start + s.count) { r.weights[i] = Float(Double(r.weights[i]) / w) } }
            }
        }
        let totalWeight = pe == nil ? r.weights.reduce(0.0) { $0 + Double($1) } : Double(examples)
        guard totalWeight > 0 else {
            clipped.norms = [Double](repeating: 0, count: r.segments.count); clipped.factors = clipped.norms.map { _ in 1 }
            return BatchLoss(loss: .nan, weight: 0)
        }
        let L = c.nLayers
        // Activations: one set per block, or (recompute) one shared set plus every block's input.
        let acts = (0..<(recompute ? 1 : L)).map { BlockActivations(scratch, "act\($0)", c, N: N) }
        let inputs = recompute ? (0..<L).map { scratch.get("in\($0)", N * C) } : acts.map(\.x0)
        let x = scratch.get("x", N * C)                                   // residual stream [N, C]

        r.tokens.withUnsafeBufferPointer { tok in
        r.positions.withUnsafeBufferPointer { pos in
            // Embedding (+ learned positions).
            let posW = c.rotaryDims == 0 ? model.params.ptr("pos.weight") : nil
            for n in 0..<N {
                (x + n * C).update(from: model.embed + Int(tok[n]) * C, count: C)
                if let posW { Kernels.addInPlace(x + n * C, posW + Int(pos[n]) * C, C) }
            }
            for l in 0..<L {
                let act = acts[recompute ? 0 : l]
                inputs[l].update(from: x, count: N * C)
                if recompute && act.x0 != inputs[l] { act.x0.update(from: x, count: N * C) }
                blockForward(l, act, x, r, pos.baseAddress!)
            }
        }}
        let xf = scratch.get("xf", N * C), rstdF = scratch.get("rstdF", N), meanF = scratch.get("meanF", N)
        normForward(xf, rstdF, meanF, x, model.params.ptr("final_norm.weight"), model.params.optionalPtr("final_norm.bias"), N)

        let scale = pe == nil ? gradScale / Float(totalWeight) : 1
        let dxf = backward ? scratch.get("dxf", N * C) : nil
        dxf?.update(repeating: 0, count: N * C)
        let headGrad: UnsafeMutablePointer<Float>? = backward ? g(c.tiedEmbeddings ? "embed.weight" : "head.weight") : nil
        // Clipped pass with a trainable head: its per-example norms now, its weight gradient after the factors.
        let headRows = pe != nil && headGrad != nil && c.tiedEmbeddings ? scratch.get("dp.headRows", N * C) : nil
        let sum = customRowLoss(r, dxf, headGrad, xf, scale: scale) ?? r.targets.withUnsafeBufferPointer { t in
            r.weights.withUnsafeBufferPointer { w in
                r.tokens.withUnsafeBufferPointer { tok in
                    if let pe, let dxf, headGrad != nil {
                        return pe.sq.withUnsafeMutableBufferPointer { sq in
                            Kernels.crossEntropyPerExample(dxf, headSq: sq.baseAddress!, headRows: headRows, tokens: tok.baseAddress!,
                                                           xf, model.head, t.baseAddress!, w.baseAddress!, segments: r.segments,
                                                           C: C, V: c.vocabSize, gradScale: 1, scratch: scratch)
                        }
                    }
                    return Kernels.crossEntropyForwardBackward(dxf, headGrad, xf, model.head, t.baseAddress!, w.baseAddress!,
                                                               N: N, C: C, V: c.vocabSize, gradScale: scale, scratch: scratch, chunk: 256)
                }
            }
        }
        let result = BatchLoss(loss: sum / totalWeight, weight: totalWeight)
        guard let dxf else { return result }

        // Backward. dx: d loss / d residual stream [N, C].
        let dx = scratch.get("dx", N * C)
        dx.update(repeating: 0, count: N * C)
        normBackward(dx, g("final_norm.weight"), g("final_norm.bias"), dxf, x,
                     model.params.ptr("final_norm.weight"), meanF, rstdF, N)
        r.positions.withUnsafeBufferPointer { pos in
            for l in stride(from: L - 1, through: 0, by: -1) {
                let act = acts[recompute ? 0 : l]
                if recompute {
                    act.x0.update(from: inputs[l], count: N * C)
                    let y = scratch.get("recompute_x", N * C)
                    y.update(from: inputs[l], count: N * C)
                    blockForward(l, act, y, r, pos.baseAddress!)
                }
                blockBackward(l, act, dx, r, pos.baseAddress!)
            }
            if let pe { finishClipped(pe, clip: clip!, clipped: &clipped, dx: dx, xf: xf, headGrad: headGrad, headRows: headRows,
                                      rows: r, positions: pos.baseAddress!) }
            if let dEmbed = g("embed.weight") {
                r.tokens.withUnsafeBufferPointer { tok in Kernels.embeddingBackward(dEmbed, dx, tok.baseAddress!, N: N, C: C) }
            }
            if let dPos = g("pos.weight") { Kernels.embeddingBackward(dPos, dx, pos.baseAddress!, N: N, C: C) }
        }
        return result
    }

    /// The end of a clipped pass: the embeddings' per-example norms (the head's cross term with tied embeddings), the
    /// factors, the deferred gradients, the head's weight gradient (a second head pass with each example's rows
    /// weighted by its factor) and dx scaled per example, so the embedding scatter that follows is clipped too.
    private func finishClipped(_ pe: PerExampleClip, clip: Double, clipped: inout ClippedBatch, dx: UnsafeMutablePointer<Float>,
                               xf: UnsafePointer<Float>, headGrad: UnsafeMutablePointer<Float>?,
                               headRows: UnsafePointer<Float>?, rows r: Rows, positions: UnsafePointer<Int32>) {
        let c = model.config, C = c.dModel, N = r.tokens.count
        r.tokens.withUnsafeBufferPointer { tok in
            pe.sq.withUnsafeMutableBufferPointer { sq in
                if g("embed.weight") != nil {
                    Kernels.embeddingGradNormSquared(sq.baseAddress!, dout: dx, rows: tok.baseAddress!, segments: r.segments, C: C,
                                                     headRows: headRows, scratch: scratch)
                }
                if g("pos.weight") != nil {
                    Kernels.embeddingGradNormSquared(sq.baseAddress!, dout: dx, rows: positions, segments: r.segments, C: C,
                                                     headRows: nil, scratch: scratch)
                }
            }
        }
        if let rows = pe.adapterRows {
            let P = grads.storage.count
            for n in 0..<r.segments.count { pe.sq[n] += Kernels.dotDouble(rows.ptr + n * P, rows.ptr + n * P, P) }
        }
        let norms = pe.sq.map { $0.squareRoot() }
        let factors = norms.map { Swift.min(1, clip / ($0 + 1e-6)) }
        clipped.norms = norms; clipped.factors = factors
        pe.applyDeferred(factors, scratch: scratch)
        if let rows = pe.adapterRows {
            let P = grads.storage.count
            for n in 0..<r.segments.count { Kernels.axpy(grads.storage.ptr, rows.ptr + n * P, Float(factors[n]), P) }
        }
        if let headGrad {
            var w = r.weights
            for (n, s) in r.segments.enumerated() { for i in s.start..<(s.start + s.count) { w[i] *= Float(factors[n]) } }
            _ = r.targets.withUnsafeBufferPointer { t in
                w.withUnsafeBufferPointer { w in
                    Kernels.crossEntropyForwardBackward(nil, headGrad, xf, model.head, t.baseAddress!, w.baseAddress!,
                                                       N: N, C: C, V: c.vocabSize, gradScale: 1, scratch: scratch, chunk: 256)
                }
            }
        }
        for (n, s) in r.segments.enumerated() where factors[n] != 1 {
            let f = Float(factors[n])
            for i in (s.start * C)..<((s.start + s.count) * C) { dx[i] *= f }
        }
    }

    // MARK: one block

    /// x[N, C] (the block's input, also in act.x0) becomes the block's output; activations are kept in `act`.
    private func blockForward(_ l: Int, _ act: BlockActivations, _ x: UnsafeMutablePointer<Float>, _ r: Rows,
                              _ positions: UnsafePointer<Int32>) {
        let c = model.config, b = model.blocks[l], N = r.tokens.count, C = c.dModel, QD = c.qDim, KVD = c.kvDim, F = c.ffnDim
        let ao = scratch.get("ao", N * C), m = scratch.get("m", N * C)         // [N, C]
        _ = F
        normForward(act.xn1, act.rstd1, act.mean1, act.x0, b.norm1W, b.norm1B, N)
        linear(.q, l, act, act.q, act.xn1, b.qW, b.qB, N)
        linear(.k, l, act, act.k, act.xn1, b.kW, b.kB, N)
        linear(.v, l, act, act.v, act.xn1, b.vW, b.vB, N)
        if let rope = model.rope {
            rope.apply(act.q, N: N, nHeads: c.nHeads, headDim: c.headDim, positions: positions)
            rope.apply(act.k, N: N, nHeads: c.nKVHeads, headDim: c.headDim, positions: positions)
        }
        for s in r.segments {
            Kernels.attentionForward(act.att + s.start * QD, act.lse + c.nHeads * s.start, act.q + s.start * QD,
                                     act.k + s.start * KVD, act.v + s.start * KVD,
                                     T: s.count, NH: c.nHeads, NKV: c.nKVHeads, HD: c.headDim, scratch: scratch)
        }
        linear(.o, l, act, ao, act.att, b.oW, b.oB, N)
        // x1: the MLP's input before its norm: x + attn (sequential) or the block input (parallel residual).
        if c.parallelResidual {
            act.x1.update(from: act.x0, count: N * C)
        } else {
            Kernels.addInPlace(x, ao, N * C)
            act.x1.update(from: x, count: N * C)
        }
        normForward(act.xn2, act.rstd2, act.mean2, act.x1, b.norm2W, b.norm2B, N)
        switch c.mlp {
        case .swiglu:
            linear(.gate, l, act, act.g, act.xn2, b.gateW!, nil, N)
            linear(.up, l, act, act.u, act.xn2, b.upW, b.upB, N)
            Kernels.swigluForward(act.a, act.g, act.u, N * F)
        case .geluTanh:
            linear(.up, l, act, act.u, act.xn2, b.upW, b.upB, N)
            Kernels.geluTanhForward(act.a, act.u, N * F)
        case .geluErf:
            linear(.up, l, act, act.u, act.xn2, b.upW, b.upB, N)
            Kernels.geluErfForward(act.a, act.u, N * F)
        }
        linear(.down, l, act, m, act.a, b.downW, b.downB, N)
        if c.parallelResidual { Kernels.addInPlace(x, ao, N * C) }
        Kernels.addInPlace(x, m, N * C)
    }

    /// dx[N, C]: d loss / d (block output) in, d loss / d (block input) out; parameter gradients accumulate.
    private func blockBackward(_ l: Int, _ act: BlockActivations, _ dx: UnsafeMutablePointer<Float>, _ r: Rows,
                               _ positions: UnsafePointer<Int32>) {
        let c = model.config, b = model.blocks[l], gb = gradBlocks?[l]
        let N = r.tokens.count, C = c.dModel, QD = c.qDim, KVD = c.kvDim, F = c.ffnDim
        let da = zeroed("da", N * F), dg = zeroed("dg", N * F), du = zeroed("du", N * F)   // [N, F]
        let dxn = zeroed("dxn", N * C)                                                        // [N, C]
        // MLP: m = a · Wd + bd
        linearBackward(.down, l, act, da, gb?.downW, gb?.downB, dx, act.a, b.downW, N)
        switch c.mlp {
        case .swiglu:
            Kernels.swigluBackward(dg, du, da, act.g, act.u, N * F)
            linearBackward(.gate, l, act, dxn, gb?.gateW, nil, dg, act.xn2, b.gateW!, N)
        case .geluTanh: Kernels.geluTanhBackward(du, da, act.u, N * F)
        case .geluErf: Kernels.geluErfBackward(du, da, act.u, N * F)
        }
        linearBackward(.up, l, act, dxn, gb?.upW, gb?.upB, du, act.xn2, b.upW, N)
        // The attention branch's output gradient: dx itself (parallel: x2 = x0 + ao + m), or dx after the MLP norm's
        // contribution (sequential: x1 = x0 + ao feeds both the MLP and the output).
        let dao = scratch.get("dao", N * C)
        if c.parallelResidual { dao.update(from: dx, count: N * C) }
        normBackward(dx, gb?.norm2W, gb?.norm2B, dxn, act.x1, b.norm2W, act.mean2, act.rstd2, N)
        if !c.parallelResidual { dao.update(from: dx, count: N * C) }
        // Attention: ao = att · Wo + bo; att = attention(rope(q), rope(k), v).
        let datt = zeroed("datt", N * QD), dq = zeroed("dq", N * QD), dk = zeroed("dk", N * KVD), dv = zeroed("dv", N * KVD)
        linearBackward(.o, l, act, datt, gb?.oW, gb?.oB, dao, act.att, b.oW, N)
        for s in r.segments {
            Kernels.attentionBackward(dq + s.start * QD, dk + s.start * KVD, dv + s.start * KVD, datt + s.start * QD,
                                      act.q + s.start * QD, act.k + s.start * KVD, act.v + s.start * KVD,
                                      act.att + s.start * QD, act.lse + c.nHeads * s.start,
                                      T: s.count, NH: c.nHeads, NKV: c.nKVHeads, HD: c.headDim, scratch: scratch)
        }
        if let rope = model.rope {
            rope.applyBackward(dq, N: N, nHeads: c.nHeads, headDim: c.headDim, positions: positions)
            rope.applyBackward(dk, N: N, nHeads: c.nKVHeads, headDim: c.headDim, positions: positions)
        }
        dxn.update(repeating: 0, count: N * C)
        linearBackward(.q, l, act, dxn, gb?.qW, gb?.qB, dq, act.xn1, b.qW, N)
        linearBackward(.k, l, act, dxn, gb?.kW, gb?.kB, dk, act.xn1, b.kW, N)
        linearBackward(.v, l, act, dxn, gb?.vW, gb?.vB, dv, act.xn1, b.vW, N)
        normBackward(dx, gb?.norm1W, gb?.norm1B, dxn, act.x0, b.norm1W, act.mean1, act.rstd1, N)
    }

    private func zeroed(_ key: String, _ n: Int) -> UnsafeMutablePointer<Float> {
        let p = scratch.get(key, n)
        p.update(repeating: 0, count: n)
        return p
    }

    // MARK: every linear layer, with its optional adapter

    /// out[N, OUT] = inp[N, IN] · W^T + bias (+ s · (dropout(inp) · A^T) · B^T with an adapter on this slot).
    /// The adapter's intermediate t [N, r] (and its dropped input) are kept in `act`'s buffers for the backward.
    private func linear(_ slot: LinearSlot, _ l: Int, _ act: BlockActivations, _ out: UnsafeMutablePointer<Float>,
                        _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ N: Int) {
        let (IN, OUT) = slot.shape(model.config)!
        Kernels.matmulForward(out, inp, w, bias, N: N, IC: IN, OC: OUT)
        guard let lora, let A = lora.a(l, slot), let B = lora.b(l, slot) else { return }
        let R = lora.config.rank
        let t = scratch.get("\(act.prefix).\(slot).t", N * R)                  // [N, r]
        let x = dropped(slot, l, act, inp, N * IN)                              // [N, IN]
        Kernels.matmulForward(t, x, A, nil, N: N, IC: IN, OC: R)
        let u = scratch.get("lora_u", N * OUT)                                  // [N, OUT]
        Kernels.matmulForward(u, t, B, nil, N: N, IC: R, OC: OUT)
        Kernels.axpy(out, u, Float(lora.config.scaling), N * OUT)
    }

    /// dinp += dout · W; dW, dbias accumulate unless frozen (nil); the adapter's dA, dB accumulate into `grads`.
    private func linearBackward(_ slot: LinearSlot, _ l: Int, _ act: BlockActivations, _ dinp: UnsafeMutablePointer<Float>,
                                _ dw: UnsafeMutablePointer<Float>?, _ dbias: UnsafeMutablePointer<Float>?,
                                _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ N: Int) {
        let (IN, OUT) = slot.shape(model.config)!
        if let pe = clipState, let dw {
            // Clipped pass, full fine-tuning: input gradient now, per-example norms, weight gradient deferred.
            Kernels.matmulBackward(dinp, nil, nil, dout, inp, w, N: N, IC: IN, OC: OUT)
            pe.sq.withUnsafeMutableBufferPointer {
                Kernels.linearGradNormSquared($0.baseAddress!, dout: dout, inp: inp, segments: pe.segments, IN: IN, OUT: OUT,
                                              bias: dbias != nil, scratch: scratch)
            }
            let kept = scratch.get("dp.\(l).\(slot)", N * OUT)                    // [N, OUT]
            kept.update(from: dout, count: N * OUT)
            pe.linears.append(.init(dout: kept, inp: inp, w: w, dw: dw, dbias: dbias, IN: IN, OUT: OUT))
            return
        }
        Kernels.matmulBackward(dinp, dw, dbias, dout, inp, w, N: N, IC: IN, OC: OUT)
        linearObserver?.observe(layer: l, slot: slot, input: inp, outputGradient: dout, rows: N, inputs: IN, outputs: OUT)
        guard let lora, let A = lora.a(l, slot), let B = lora.b(l, slot) else { return }
        let R = lora.config.rank, name = "blk.\(l).\(slot.rawValue)"
        let t = scratch.get("\(act.prefix).\(slot).t", N * R)
        let drop = lora.config.dropout > 0    // backward runs only in training passes, where dropout applied
        let x = drop ? UnsafePointer(scratch.get("\(act.prefix).\(slot).xd", N * IN)) : inp
        let du = scratch.get("lora_du", N * OUT)                                // s · dout [N, OUT]
        let s = Float(lora.config.scaling)
        for i in 0..<(N * OUT) { du[i] = s * dout[i] }
        let dt = zeroed("lora_dt", N * R)                                       // [N, r]
        // A clipped pass keeps every example's adapter gradient (small: r (IN + OUT) per adapter) instead of the sum.
        let pe = clipState
        Kernels.matmulBackward(dt, pe == nil ? grads.ptr(name + ".lora_B") : nil, nil, du, t, B, N: N, IC: R, OC: OUT)
        if let pe {
            let P = grads.storage.count
            if pe.adapterRows == nil { pe.adapterRows = FloatBuffer(count: pe.segments.count * P) }
            let rows = pe.adapterRows!.ptr, offA = grads.ref(name + ".lora_A")!.offset, offB = grads.ref(name + ".lora_B")!.offset
            for (n, sg) in pe.segments.enumerated() where sg.count > 0 {
                // dB_n [OUT, r] = du_n^T · t_n;  dA_n [r, IN] = dt_n^T · x_n
                BLAS.sgemm(transA: true, m: OUT, n: R, k: sg.count, a: du + sg.start * OUT, lda: OUT, b: t + sg.start * R, ldb: R,
                           beta: 1, c: rows + n * P + offB, ldc: R)
                BLAS.sgemm(transA: true, m: R, n: IN, k: sg.count, a: dt + sg.start * R, lda: R, b: x + sg.start * IN, ldb: IN,
                           beta: 1, c: rows + n * P + offA, ldc: IN)
            }
        }
        let dA = pe == nil ? grads.ptr(name + ".lora_A") : nil
        if drop {
            let dx = zeroed("lora_dx", N * IN), mask = scratch.get("\(act.prefix).\(slot).mask", N * IN)
            Kernels.matmulBackward(dx, dA, nil, dt, x, A, N: N, IC: IN, OC: R)
            for i in 0..<(N * IN) { dinp[i] += dx[i] * mask[i] }
        } else {
            Kernels.matmulBackward(dinp, dA, nil, dt, x, A, N: N, IC: IN, OC: R)
        }
    }

    /// The adapter's input: `inp` itself, or with dropout p a copy with each value zeroed with probability p and the
    /// rest scaled by 1/(1-p); the mask comes from (dropoutSeed, layer, slot), so a recompute draws the same one.
    private func dropped(_ slot: LinearSlot, _ l: Int, _ act: BlockActivations, _ inp: UnsafePointer<Float>,
                         _ n: Int) -> UnsafePointer<Float> {
        guard training, let p = lora?.config.dropout, p > 0 else { return inp }
        let mask = scratch.get("\(act.prefix).\(slot).mask", n), xd = scratch.get("\(act.prefix).\(slot).xd", n)
        let slotIndex = UInt64(LinearSlot.allCases.firstIndex(of: slot)!)
        var rng = SeededRNG(seed: dropoutSeed &* 0x9E3779B97F4A7C15 &+ UInt64(l) &* 0x100 &+ slotIndex)
        let keep = Float(1 / (1 - p))
        for i in 0..<n {
            mask[i] = rng.uniform() < p ? 0 : keep
            xd[i] = inp[i] * mask[i]
        }
        return UnsafePointer(xd)
    }

    // MARK: norms of either kind

    private func normForward(_ out: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                             _ mean: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                             _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ N: Int) {
        let c = model.config
        switch c.norm {
        case .rms: Kernels.rmsnormForward(out, rstd, inp, w, N: N, C: c.dModel, eps: c.normEps)
        case .layer: Kernels.layernormForward(out, mean, rstd, inp, w, bias, N: N, C: c.dModel, eps: c.normEps)
        }
    }

    /// dinp += d norm / d inp · dout; dweight (and dbias) accumulate.
    private func normBackward(_ dinp: UnsafeMutablePointer<Float>, _ dw: UnsafeMutablePointer<Float>?,
                              _ db: UnsafeMutablePointer<Float>?, _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>,
                              _ w: UnsafePointer<Float>, _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, _ N: Int) {
        let c = model.config, C = c.dModel
        if let pe = clipState, let dw {
            // Clipped pass: each example's norm-weight (and bias) gradient on its own rows, kept for the factors.
            let rw = pe.vectorRows(C), rb = db == nil ? nil : pe.vectorRows(C)
            for (n, s) in pe.segments.enumerated() where s.count > 0 {
                let o = s.start * C
                switch c.norm {
                case .rms: Kernels.rmsnormBackward(dinp + o, rw.ptr + n * C, dout + o, inp + o, w, rstd + s.start, N: s.count, C: C)
                case .layer: Kernels.layernormBackward(dinp + o, rw.ptr + n * C, rb.map { $0.ptr + n * C }, dout + o, inp + o, w,
                                                       mean + s.start, rstd + s.start, N: s.count, C: C)
                }
            }
            pe.keep(rw, count: C, into: dw)
            if let rb, let db { pe.keep(rb, count: C, into: db) }
            return
        }
        switch c.norm {
        case .rms: Kernels.rmsnormBackward(dinp, dw, dout, inp, w, rstd, N: N, C: C)
        case .layer: Kernels.layernormBackward(dinp, dw, db, dout, inp, w, mean, rstd, N: N, C: C)
        }
    }
}

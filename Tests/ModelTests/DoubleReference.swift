// A slow, obvious Double-precision twin of the whole forward pass and loss (every architecture, written from the
// formulas, not from the fast code), for finite-difference checks of the training backward.
import Foundation
import Tensor
@testable import Model

struct DoubleReference {
    let c: ModelConfig
    var p: [String: [Double]]

    init(_ model: TransformerModel) {
        c = model.config
        var p: [String: [Double]] = [:]
        for r in model.params.refs { p[r.name] = model.params.values(r.name).map(Double.init) }
        self.p = p
    }

    /// The loss with LoRA adapters: W + scale · B A for every "blk.{l}.{slot}.lora_A/B" pair in `adapters`.
    func loss(_ batch: TrainingBatch, adapters: [String: [Double]], rank: Int, scale: Double) -> Double {
        var merged = self
        for (name, a) in adapters where name.hasSuffix(".lora_A") {
            let base = String(name.dropLast(".lora_A".count)), b = adapters[base + ".lora_B"]!
            let inp = a.count / rank, out = b.count / rank
            for o in 0..<out { for i in 0..<inp {
                var d = 0.0
                for k in 0..<rank { d += b[o * rank + k] * a[k * inp + i] }
                merged.p[base + ".weight"]![o * inp + i] += scale * d
            } }
        }
        return merged.loss(batch)
    }

    /// Weighted mean next-token cross-entropy of the batch (the definition TrainingPass uses).
    func loss(_ batch: TrainingBatch) -> Double {
        var total = 0.0, weight = 0.0
        for (s, seq) in batch.sequences.enumerated() {
            let xf = hidden(seq)
            let head = p[c.tiedEmbeddings ? "embed.weight" : "head.weight"]!
            for t in 0..<(seq.count - 1) {
                let w = Double(batch.weights?[s][t] ?? 1)
                if w == 0 { continue }
                let logits = linear(xf[t], head, nil, out: c.vocabSize)
                let m = logits.max()!
                let lse = m + Foundation.log(logits.reduce(0) { $0 + Foundation.exp($1 - m) })
                total += w * (lse - logits[seq[t + 1]]); weight += w
            }
        }
        return total / weight
    }

    /// Final-normed hidden states [T][C] of one sequence.
    func hidden(_ seq: [Int]) -> [[Double]] {
        let C = c.dModel, T = seq.count
        var x = (0..<T).map { t -> [Double] in
            var row = Array(p["embed.weight"]![seq[t] * C..<(seq[t] + 1) * C])
            if c.rotaryDims == 0 { for i in 0..<C { row[i] += p["pos.weight"]![t * C + i] } }
            return row
        }
        for l in 0..<c.nLayers {
            let b = "blk.\(l)."
            let xn1 = x.map { norm($0, b + "norm1") }
            var q = xn1.map { linear($0, p[b + "q.weight"]!, p[b + "q.bias"], out: c.qDim) }
            var k = xn1.map { linear($0, p[b + "k.weight"]!, p[b + "k.bias"], out: c.kvDim) }
            let v = xn1.map { linear($0, p[b + "v.weight"]!, p[b + "v.bias"], out: c.kvDim) }
            for t in 0..<T { q[t] = rope(q[t], heads: c.nHeads, pos: t); k[t] = rope(k[t], heads: c.nKVHeads, pos: t) }
            let att = attention(q, k, v)
            let ao = att.map { linear($0, p[b + "o.weight"]!, p[b + "o.bias"], out: c.dModel) }
            if c.parallelResidual {
                let m = x.map { mlp(norm($0, b + "norm2"), b) }
                for t in 0..<T { for i in 0..<C { x[t][i] += ao[t][i] + m[t][i] } }
            } else {
                for t in 0..<T { for i in 0..<C { x[t][i] += ao[t][i] } }
                let m = x.map { mlp(norm($0, b + "norm2"), b) }
                for t in 0..<T { for i in 0..<C { x[t][i] += m[t][i] } }
            }
        }
        return x.map { norm($0, "final_norm") }
    }

    /// y = W x + b with W [out, in] row-major.
    func linear(_ x: [Double], _ w: [Double], _ bias: [Double]?, out: Int) -> [Double] {
        let n = x.count
        return (0..<out).map { o in
            var s = bias?[o] ?? 0
            for i in 0..<n { s += w[o * n + i] * x[i] }
            return s
        }
    }

    func norm(_ x: [Double], _ name: String) -> [Double] {
        let w = p[name + ".weight"]!, n = Double(x.count), eps = Double(c.normEps)
        switch c.norm {
        case .rms:
            let r = 1 / (x.reduce(0) { $0 + $1 * $1 } / n + eps).squareRoot()
            return x.indices.map { x[$0] * r * w[$0] }
        case .layer:
            let mean = x.reduce(0, +) / n
            let r = 1 / (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n + eps).squareRoot()
            let b = p[name + ".bias"]
            return x.indices.map { (x[$0] - mean) * r * w[$0] + (b?[$0] ?? 0) }
        }
    }

    /// Rotates the first rotaryDims of each head: pairs (i, i + rd/2) or (2i, 2i + 1), angle pos * theta^(-2i/rd).
    func rope(_ x: [Double], heads: Int, pos: Int) -> [Double] {
        let rd = c.rotaryDims, HD = c.headDim
        guard rd > 0 else { return x }
        var y = x
        for h in 0..<heads {
            for i in 0..<(rd / 2) {
                let a = Double(pos) / Foundation.pow(c.ropeTheta, Double(2 * i) / Double(rd))
                let (i0, i1) = c.ropeStyle == .halves ? (i, i + rd / 2) : (2 * i, 2 * i + 1)
                let u = x[h * HD + i0], v = x[h * HD + i1]
                y[h * HD + i0] = u * Foundation.cos(a) - v * Foundation.sin(a)
                y[h * HD + i1] = v * Foundation.cos(a) + u * Foundation.sin(a)
            }
        }
        return y
    }

    /// Causal softmax attention; query head h reads key/value head h / (NH / NKV).
    func attention(_ q: [[Double]], _ k: [[Double]], _ v: [[Double]]) -> [[Double]] {
        let T = q.count, HD = c.headDim, group = c.nHeads / c.nKVHeads, scale = 1 / Double(HD).squareRoot()
        var out = [[Double]](repeating: [Double](repeating: 0, count: c.qDim), count: T)
        for t in 0..<T {
            for h in 0..<c.nHeads {
                let kv = h / group
                let s = (0...t).map { j in (0..<HD).reduce(0.0) { $0 + q[t][h * HD + $1] * k[j][kv * HD + $1] } * scale }
                let m = s.max()!
                let e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                for d in 0..<HD { out[t][h * HD + d] = (0...t).reduce(0.0) { $0 + e[$1] / z * v[$1][kv * HD + d] } }
            }
        }
        return out
    }

    func mlp(_ x: [Double], _ b: String) -> [Double] {
        let F = c.ffnDim
        let u = linear(x, p[b + "up.weight"]!, p[b + "up.bias"], out: F)
        let a: [Double]
        switch c.mlp {
        case .swiglu:
            let g = linear(x, p[b + "gate.weight"]!, nil, out: F)
            a = (0..<F).map { g[$0] / (1 + Foundation.exp(-g[$0])) * u[$0] }
        case .geluTanh:
            a = u.map { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
        case .geluErf:
            a = u.map { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }
        }
        return linear(a, p[b + "down.weight"]!, p[b + "down.bias"], out: c.dModel)
    }
}

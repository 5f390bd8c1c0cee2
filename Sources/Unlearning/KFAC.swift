// The K-FAC curvature edit (Merullo et al. 2025, "From memorization to reasoning in the spectrum of loss curvature";
// shared/REFERENCES.md section 6): per chosen linear layer, A = E[a a^T] over its inputs and G = E[g g^T] over the
// gradients at its outputs, positions [:-1], labels sampled from the model (the true Fisher). With A = U_A diag(lA)
// U_A^T and G = U_G diag(lG) U_G^T, the weight in the eigenbasis is C = U_G^T W U_A; the edit keeps the pairs (i, j)
// of largest curvature lG_i * lA_j until they hold rho of the total and drops the rest: W' = U_G (M o C) U_A^T.
// Memorised data lives in the low-curvature directions, so dropping them suppresses recitation. No training loop.
import Foundation
import Model
import Tensor

/// One linear layer of one block.
public struct LayerRef: Hashable, Sendable, CustomStringConvertible {
    public let layer: Int
    public let slot: LinearSlot
    public init(layer: Int, slot: LinearSlot) { self.layer = layer; self.slot = slot }
    public var description: String { "blk.\(layer).\(slot.rawValue)" }
    public var weightName: String { "blk.\(layer).\(slot.rawValue).weight" }

    /// The MLP projections (gate, up, down; up, down without a gate) of the last `blocks` blocks.
    public static func lastMLP(_ c: ModelConfig, blocks: Int = 1) -> [LayerRef] {
        let slots: [LinearSlot] = [.gate, .up, .down].filter { $0.dimensions(c) != nil }
        return (max(0, c.nLayers - blocks)..<c.nLayers).flatMap { l in slots.map { LayerRef(layer: l, slot: $0) } }
    }

    /// "blk.29.gate", "29.gate", "model.layers.29.mlp.gate_proj" or "layers.29.self_attn.q_proj".
    public static func parse(_ name: String, config c: ModelConfig) throws -> LayerRef {
        let parts = name.split(separator: ".").map(String.init)
        let example = "expected blk.L.SLOT, L.SLOT or model.layers.L.mlp.gate_proj with L in 0..<\(c.nLayers) and SLOT one of "
            + LinearSlot.allCases.filter { $0.dimensions(c) != nil }.map(\.rawValue).joined(separator: ", ")
        guard let i = parts.firstIndex(where: { Int($0) != nil }), let l = Int(parts[i]), i + 1 < parts.count else {
            throw UnlearningError("layer '\(name)': no block number (\(example))")
        }
        guard (0..<c.nLayers).contains(l) else { throw UnlearningError("layer '\(name)': block \(l) does not exist (\(example))") }
        let last = parts[parts.count - 1] == "weight" ? parts[parts.count - 2] : parts[parts.count - 1]
        let short = last.hasSuffix("_proj") ? String(last.dropLast(5)) : last
        let aliases = ["o": "o", "dense": "o", "c_proj": "down", "fc_in": "up", "fc_out": "down", "dense_h_to_4h": "up", "dense_4h_to_h": "down"]
        guard let slot = LinearSlot(rawValue: aliases[short] ?? short), slot.dimensions(c) != nil else {
            throw UnlearningError("layer '\(name)': no linear layer '\(last)' in a \(c.architecture.rawValue) block (\(example))")
        }
        return LayerRef(layer: l, slot: slot)
    }
}

/// The two Kronecker factors of one layer, averaged over `positions` rows: A [IN, IN], G [OUT, OUT], row-major.
public struct KFACFactors: Sendable {
    public let inputs: Int, outputs: Int
    public var A: [Double], G: [Double]
    public var positions: Int
}

/// What the edit did to one layer.
public struct KFACEditReport: Sendable, Codable, Equatable {
    public var layer: String
    /// Pairs (i, j) kept of all OUT x IN.
    public var kept: Int, pairs: Int
    /// ||W' - W||_F / ||W||_F.
    public var relativeChange: Double
    public var seconds: Double
}

/// Accumulates sum a a^T and sum g g^T of the target layers over the rows in `rows` of each observed backward.
final class KFACCollector: LinearObserver {
    let targets: Set<LayerRef>
    var factors: [LayerRef: KFACFactors] = [:]
    /// The packed rows that count in the current batch (positions [:-1] of each sequence).
    var rows: [Int] = []
    let scratch = Scratch()

    init(_ targets: [LayerRef], _ c: ModelConfig) {
        self.targets = Set(targets)
        for t in targets {
            let (i, o) = t.slot.dimensions(c)!
            factors[t] = KFACFactors(inputs: i, outputs: o, A: [Double](repeating: 0, count: i * i),
                                     G: [Double](repeating: 0, count: o * o), positions: 0)
        }
    }

    func observe(layer: Int, slot: LinearSlot, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                 rows N: Int, inputs IN: Int, outputs OUT: Int) {
        let key = LayerRef(layer: layer, slot: slot)
        guard targets.contains(key), var f = factors[key] else { return }
        precondition(f.inputs == IN && f.outputs == OUT)
        accumulate(&f.A, input, IN)
        accumulate(&f.G, outputGradient, OUT)
        f.positions += rows.count
        factors[key] = f
    }

    /// m[D, D] += X^T X over the counted rows of x[N, D] (gathered, one Float product, added in Double).
    private func accumulate(_ m: inout [Double], _ x: UnsafePointer<Float>, _ D: Int) {
        let M = rows.count
        if M == 0 { return }
        let xs = scratch.get("x", M * D), prod = scratch.get("xtx", D * D)   // [M, D], [D, D]
        for (r, n) in rows.enumerated() { (xs + r * D).update(from: x + n * D, count: D) }
        BLAS.sgemm(transA: true, m: D, n: D, k: M, a: xs, lda: D, b: xs, ldb: D, c: prod, ldc: D)
        for i in 0..<(D * D) { m[i] += Double(prod[i]) }
    }
}

public enum KFAC {
    /// The factors of `layers` over `sequences`: each batch runs forward, draws a label at every position from the
    /// model's distribution (seeded by `seed` and the batch), and backpropagates the summed loss, so that g at a
    /// position is d(loss of the sequence) / d(layer output there). A and G are averaged over positions [:-1].
    public static func collect(model: TransformerModel, sequences: [[Int]], layers: [LayerRef], batchSize: Int = 8,
                               seed: UInt64 = 0, progress: (Int, Int) -> Void = { _, _ in }) -> [LayerRef: KFACFactors] {
        precondition(batchSize >= 1 && !layers.isEmpty)
        // Frozen model: a rank-1 zero adapter keeps the gradient buffer tiny (the model's own weights get none).
        let pass = TrainingPass(model: model, lora: LoRA(modelConfig: model.config, config: LoRAConfig(rank: 1, alpha: 1, targets: [.q]), seed: 0))
        let collector = KFACCollector(layers, model.config)
        pass.linearObserver = collector
        defer { pass.linearObserver = nil; pass.rowLoss = nil }
        let usable = sequences.filter { $0.count >= 2 }
        for (b, start) in stride(from: 0, to: usable.count, by: batchSize).enumerated() {
            let seqs = Array(usable[start..<min(usable.count, start + batchSize)])
            var rows: [Int] = [], offset = 0
            for s in seqs { rows += offset..<(offset + s.count - 1); offset += s.count }
            collector.rows = rows
            pass.rowLoss = SampledLabels(seed: seed &+ UInt64(b) &* 0x2545F4914F6CDD1D)
            // gradScale = the total weight: the pass's scale becomes 1, the loss a sum.
            pass.forwardBackward(TrainingBatch(sequences: seqs), gradScale: Float(rows.count))
            progress(min(usable.count, start + batchSize), usable.count)
        }
        var out = collector.factors
        for (k, f) in out {
            let n = Double(max(1, f.positions))
            out[k]!.A = f.A.map { $0 / n }; out[k]!.G = f.G.map { $0 / n }
        }
        return out
    }

    /// Edits each layer of `factors` in place (see the file's header). rho in (0, 1]; rho = 1 keeps every pair.
    public static func edit(model: TransformerModel, factors: [LayerRef: KFACFactors], rho: Double) throws -> [KFACEditReport] {
        guard rho > 0 && rho <= 1 else { throw UnlearningError("rho must be in (0, 1], got \(rho)") }
        var reports: [KFACEditReport] = []
        let order = { (k: LayerRef) in (k.layer, LinearSlot.allCases.firstIndex(of: k.slot)!) }
        for key in factors.keys.sorted(by: { order($0) < order($1) }) {
            let start = Date(), f = factors[key]!, IN = f.inputs, OUT = f.outputs
            guard let eA = Eigen.symmetric(f.A, n: IN), let eG = Eigen.symmetric(f.G, n: OUT) else {
                throw UnlearningError("\(key): the eigensolver did not converge")
            }
            let w = model.params.ptr(key.weightName)          // [OUT, IN]
            let W = (0..<(OUT * IN)).map { Double(w[$0]) }
            // C = U_G^T W U_A  [OUT, IN]
            var tmp = [Double](repeating: 0, count: OUT * IN), C = [Double](repeating: 0, count: OUT * IN)
            BLAS.dgemm(m: OUT, n: IN, k: IN, a: W, lda: IN, b: eA.vectors, ldb: IN, c: &tmp, ldc: IN)
            BLAS.dgemm(transA: true, m: OUT, n: IN, k: OUT, a: eG.vectors, lda: OUT, b: tmp, ldb: IN, c: &C, ldc: IN)
            let kept = rho >= 1 ? OUT * IN : mask(&C, lG: eG.values, lA: eA.values, rho: rho)
            // W' = U_G (M o C) U_A^T
            BLAS.dgemm(m: OUT, n: IN, k: OUT, a: eG.vectors, lda: OUT, b: C, ldb: IN, c: &tmp, ldc: IN)
            var Wn = [Double](repeating: 0, count: OUT * IN)
            BLAS.dgemm(transB: true, m: OUT, n: IN, k: IN, a: tmp, lda: IN, b: eA.vectors, ldb: IN, c: &Wn, ldc: IN)
            var diff = 0.0, norm = 0.0
            for i in 0..<(OUT * IN) { diff += (Wn[i] - W[i]) * (Wn[i] - W[i]); norm += W[i] * W[i]; w[i] = Float(Wn[i]) }
            reports.append(KFACEditReport(layer: key.description, kept: kept, pairs: OUT * IN,
                                          relativeChange: (diff / max(norm, 1e-300)).squareRoot(), seconds: Date().timeIntervalSince(start)))
        }
        return reports
    }

    /// Zeroes C[i, j] outside the pairs of largest lG_i * lA_j (negative eigenvalues count as 0) whose sum reaches
    /// rho * sum(lG) * sum(lA). Returns how many pairs were kept.
    static func mask(_ C: inout [Double], lG: [Double], lA: [Double], rho: Double) -> Int {
        let OUT = lG.count, IN = lA.count
        let g = lG.map { max($0, 0) }, a = lA.map { max($0, 0) }
        let total = g.reduce(0, +) * a.reduce(0, +)
        var order = Array(0..<(OUT * IN))
        order.sort { g[$0 / IN] * a[$0 % IN] > g[$1 / IN] * a[$1 % IN] }
        var keep = [Bool](repeating: false, count: OUT * IN), cum = 0.0, kept = 0
        for p in order {
            if cum >= rho * total { break }
            keep[p] = true; kept += 1
            cum += g[p / IN] * a[p % IN]
        }
        for p in 0..<(OUT * IN) where !keep[p] { C[p] = 0 }
        return kept
    }
}

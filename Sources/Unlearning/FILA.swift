// LoKU's Fisher-weighted initialisation of LoRA (FILA; Cha et al., "Towards Robust and Parameter-Efficient Knowledge
// Unlearning for LLMs", ICLR 2025; shared/REFERENCES.md section 6). Per target weight W [OUT, IN]: the importance of
// each entry on a set is the token-weighted mean of the squared gradient of the batch's mean loss,
// I = sum_b n_b g_b^2 / sum_b n_b (n_b the batch's label tokens); the relative importance is I_f / (1e-5 + I_r);
// its row sums give the row weights r_i = sqrt(sum_j I_ij). The rank-k SVD of diag(r) W = U S V^T initialises
// A = (V sqrt(S / s))^T [k, IN] and B = diag(1 / (r + 1e-5)) U sqrt(S / s) [OUT, k] (s the LoRA scaling), and the base
// weight becomes the residual W - s B A, so the model computes exactly what it did while the adapters start on the
// directions that matter most to the forget set relative to the retain set.
import Foundation
import Model
import Tensor
import Training

public struct FILAReport: Sendable, Equatable {
    /// Per adapted weight ("blk.L.SLOT"): ||s B A||_F / ||W||_F, the share of the weight moved into the adapter.
    public var moved: [String: Double]
    public var seconds: Double
}

public enum FILA {
    /// LoKU's guard against division by zero, in the ratio and in the row weights.
    public static let epsilon = 1e-5

    /// The token-weighted mean squared gradient of the batch mean loss over `examples` (batches of `batchSize` in
    /// order), for each weight of `names` (in model parameter order within each weight).
    public static func importance(model: TransformerModel, examples: [Example], names: [String], batchSize: Int) -> [String: [Double]] {
        precondition(batchSize >= 1)
        let pass = TrainingPass(model: model)
        var sums = Dictionary(uniqueKeysWithValues: names.map { ($0, [Double](repeating: 0, count: model.params.ref($0)!.count)) })
        var tokens = 0.0
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let batch = TrainingData.batch(examples, Array(start..<min(examples.count, start + batchSize))[...])
            pass.zeroGradients()
            let l = pass.forwardBackward(batch)
            guard l.weight > 0 else { continue }
            tokens += l.weight
            for n in names {
                let g = pass.grads.ptr(n)
                sums[n]!.withUnsafeMutableBufferPointer { s in for i in 0..<s.count { s[i] += l.weight * Double(g[i]) * Double(g[i]) } }
            }
        }
        pass.zeroGradients()
        return sums.mapValues { v in v.map { $0 / max(tokens, 1) } }
    }

    /// Row weights r_i = sqrt(sum_j I_f[i, j] / (eps + I_r[i, j])) of a weight [OUT, IN].
    public static func rowWeights(forget: [Double], retain: [Double], outputs OUT: Int, inputs IN: Int) -> [Double] {
        precondition(forget.count == OUT * IN && retain.count == OUT * IN)
        return (0..<OUT).map { i in
            var s = 0.0
            for j in 0..<IN { s += forget[i * IN + j] / (epsilon + retain[i * IN + j]) }
            return s.squareRoot()
        }
    }

    /// The factors of one weight: A [k, IN], B [OUT, k] (row-major, Double) from the rank-k SVD of diag(r) W.
    public static func factors(W: [Double], rows r: [Double], outputs OUT: Int, inputs IN: Int, rank k: Int, scaling s: Double)
        -> (A: [Double], B: [Double]) {
        precondition(W.count == OUT * IN && r.count == OUT && k >= 1 && s > 0)
        var M = W
        for i in 0..<OUT { for j in 0..<IN { M[i * IN + j] *= r[i] } }
        // The top-k singular triplets from the eigendecomposition of the smaller Gram matrix.
        var U = [Double](repeating: 0, count: OUT * k), V = [Double](repeating: 0, count: IN * k), S = [Double](repeating: 0, count: k)
        if OUT <= IN {
            var gram = [Double](repeating: 0, count: OUT * OUT)   // M M^T [OUT, OUT]
            BLAS.dgemm(transB: true, m: OUT, n: OUT, k: IN, a: M, lda: IN, b: M, ldb: IN, c: &gram, ldc: OUT)
            let e = Eigen.symmetric(gram, n: OUT)!
            for c in 0..<min(k, OUT) {
                let col = OUT - 1 - c, sigma = max(e.values[col], 0).squareRoot()
                S[c] = sigma
                for i in 0..<OUT { U[i * k + c] = e.vectors[i * OUT + col] }
                guard sigma > 0 else { continue }
                for j in 0..<IN {   // v = M^T u / sigma
                    var d = 0.0
                    for i in 0..<OUT { d += M[i * IN + j] * U[i * k + c] }
                    V[j * k + c] = d / sigma
                }
            }
        } else {
            var gram = [Double](repeating: 0, count: IN * IN)      // M^T M [IN, IN]
            BLAS.dgemm(transA: true, m: IN, n: IN, k: OUT, a: M, lda: IN, b: M, ldb: IN, c: &gram, ldc: IN)
            let e = Eigen.symmetric(gram, n: IN)!
            for c in 0..<min(k, IN) {
                let col = IN - 1 - c, sigma = max(e.values[col], 0).squareRoot()
                S[c] = sigma
                for j in 0..<IN { V[j * k + c] = e.vectors[j * IN + col] }
                guard sigma > 0 else { continue }
                for i in 0..<OUT {   // u = M v / sigma
                    var d = 0.0
                    for j in 0..<IN { d += M[i * IN + j] * V[j * k + c] }
                    U[i * k + c] = d / sigma
                }
            }
        }
        var A = [Double](repeating: 0, count: k * IN), B = [Double](repeating: 0, count: OUT * k)
        for c in 0..<k {
            let root = (S[c] / s).squareRoot()
            for j in 0..<IN { A[c * IN + j] = V[j * k + c] * root }
            for i in 0..<OUT { B[i * k + c] = U[i * k + c] * root / (r[i] + epsilon) }
        }
        return (A, B)
    }

    /// Initialises every adapter of `lora` from the relative Fisher importance of `forget` over `retain`, and replaces
    /// each adapted weight of `model` by its residual W - s B A (the model's function is unchanged).
    public static func initialise(model: TransformerModel, lora: LoRA, forget: [Example], retain: [Example], batchSize: Int) throws -> FILAReport {
        guard !forget.isEmpty else { throw UnlearningError("FILA needs a non-empty forget set") }
        guard !retain.isEmpty else { throw UnlearningError("FILA needs a non-empty retain set (the importance is forget over retain)") }
        let start = Date()
        let c = model.config, k = lora.config.rank, s = lora.config.scaling
        let targets = (0..<c.nLayers).flatMap { l in lora.config.targets.map { LayerRef(layer: l, slot: $0) } }
        let names = targets.map(\.weightName)
        let fi = importance(model: model, examples: forget, names: names, batchSize: batchSize)
        let ri = importance(model: model, examples: retain, names: names, batchSize: batchSize)
        var moved: [String: Double] = [:]
        for t in targets {
            let (IN, OUT) = t.slot.dimensions(c)!
            let w = model.params.ptr(t.weightName)
            let W = (0..<(OUT * IN)).map { Double(w[$0]) }
            let r = rowWeights(forget: fi[t.weightName]!, retain: ri[t.weightName]!, outputs: OUT, inputs: IN)
            let (A, B) = factors(W: W, rows: r, outputs: OUT, inputs: IN, rank: k, scaling: s)
            var BA = [Double](repeating: 0, count: OUT * IN)
            BLAS.dgemm(m: OUT, n: IN, k: k, a: B, lda: k, b: A, ldb: IN, c: &BA, ldc: IN)
            let a = lora.params.ptr("blk.\(t.layer).\(t.slot.rawValue).lora_A"), b = lora.params.ptr("blk.\(t.layer).\(t.slot.rawValue).lora_B")
            for i in 0..<(k * IN) { a[i] = Float(A[i]) }
            for i in 0..<(OUT * k) { b[i] = Float(B[i]) }
            // The residual against the adapter as stored (Float), so that W_res + s B A reproduces W to Float rounding.
            var num = 0.0, den = 0.0
            for i in 0..<(OUT * IN) {
                var p = 0.0
                let row = i / IN, col = i % IN
                for q in 0..<k { p += Double(b[row * k + q]) * Double(a[q * IN + col]) }
                w[i] = Float(W[i] - s * p)
                num += (s * BA[i]) * (s * BA[i]); den += W[i] * W[i]
            }
            moved[t.description] = (num / max(den, 1e-300)).squareRoot()
        }
        return FILAReport(moved: moved, seconds: Date().timeIntervalSince(start))
    }
}

// DP-SGD's clipped pass (shared/REFERENCES.md section 5): every example's gradient norm over all trainable
// parameters, without materialising per-example gradients of the large matrices, then the sum of the individually
// clipped gradients. One forward, one backward that computes only input gradients and norms while it keeps each
// linear layer's output gradient, then the weight gradients once, with each example's rows scaled by its clipping
// factor (the "book-keeping" order: no second backward).
import Foundation
import Tensor

/// What a clipped pass did.
public struct ClippedBatch: Sendable {
    /// The mean over the batch's examples of each example's mean token loss (the per-example loss that is clipped).
    public var loss: BatchLoss
    /// Each example's gradient norm before clipping (over every trainable parameter).
    public var norms: [Double]
    /// min(1, clip / (norm + 1e-6)) per example.
    public var factors: [Double]
}

/// The state of one clipped pass: squared norms so far, and the gradients that wait for the clipping factors.
final class PerExampleClip {
    let segments: [(start: Int, count: Int)]
    var sq: [Double]
    /// A linear layer whose weight (and bias) gradient is (c ⊙ dout)^T · inp, once the factors c are known.
    struct DeferredLinear {
        let dout: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, w: UnsafePointer<Float>
        let dw: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?
        let IN: Int, OUT: Int
    }
    var linears: [DeferredLinear] = []
    /// Small parameters (norm weights and biases) whose per-example gradients are kept: rows [B, count].
    var vectors: [(target: UnsafeMutablePointer<Float>, rows: FloatBuffer, count: Int)] = []
    /// LoRA: every example's whole adapter gradient, [B, P] in the layout of the trainable parameters.
    var adapterRows: FloatBuffer?

    init(segments: [(start: Int, count: Int)]) {
        self.segments = segments
        sq = [Double](repeating: 0, count: segments.count)
    }

    /// Per-example gradient rows [B, count] for a small parameter, zeroed; the caller fills them and calls `keep`.
    func vectorRows(_ count: Int) -> FloatBuffer { FloatBuffer(count: segments.count * count) }

    func keep(_ rows: FloatBuffer, count: Int, into target: UnsafeMutablePointer<Float>) {
        for n in 0..<segments.count { sq[n] += Kernels.dotDouble(rows.ptr + n * count, rows.ptr + n * count, count) }
        vectors.append((target, rows, count))
    }

    /// Adds the clipped sum of every deferred gradient into the gradient buffer.
    func applyDeferred(_ factors: [Double], scratch: Scratch) {
        for d in linears {
            for (n, s) in segments.enumerated() {
                let f = Float(factors[n])
                if f != 1 { for i in (s.start * d.OUT)..<((s.start + s.count) * d.OUT) { d.dout[i] *= f } }
            }
            let N = segments.last.map { $0.start + $0.count } ?? 0
            Kernels.matmulBackward(nil, d.dw, d.dbias, d.dout, d.inp, d.w, N: N, IC: d.IN, OC: d.OUT)
        }
        for v in vectors {
            for n in 0..<segments.count { Kernels.axpy(v.target, v.rows.ptr + n * v.count, Float(factors[n]), v.count) }
        }
    }
}

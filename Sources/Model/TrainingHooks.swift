// Hooks of the training pass for unlearning and curvature edits: a per-row loss in place of next-token
// cross-entropy, and an observer of every linear layer's input and output gradient. Both nil by default, and then
// the pass computes exactly what it computed without them.
import Foundation
import Tensor

/// Sees each linear layer's input and the gradient at its output during the backward (e.g. to collect K-FAC factors).
public protocol LinearObserver: AnyObject {
    /// input[N, IN] (the layer's input rows) and outputGradient[N, OUT] (d loss / d output, scaled as the pass scales
    /// its loss) of block `layer`'s `slot`; N is the number of packed rows, including each sequence's last row.
    func observe(layer: Int, slot: LinearSlot, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                 rows N: Int, inputs IN: Int, outputs OUT: Int)
}

extension LinearSlot {
    /// The input and output widths of this slot in `config`; nil when the architecture has no such layer.
    public func dimensions(_ c: ModelConfig) -> (inp: Int, out: Int)? { shape(c) }
}

extension TrainingPass {
    /// The row loss's sum over the batch when `rowLoss` is set (nil otherwise: the pass uses cross-entropy).
    func customRowLoss(_ r: Rows, _ dxf: UnsafeMutablePointer<Float>?, _ headGrad: UnsafeMutablePointer<Float>?,
                       _ xf: UnsafePointer<Float>, scale: Float) -> Double? {
        guard let rowLoss else { return nil }
        let c = model.config
        return r.targets.withUnsafeBufferPointer { t in
            r.weights.withUnsafeBufferPointer { w in
                Kernels.rowLossForwardBackward(rowLoss, dxf, headGrad, xf, model.head, t.baseAddress!, w.baseAddress!,
                                               N: r.tokens.count, C: c.dModel, V: c.vocabSize, gradScale: scale,
                                               scratch: scratch, chunk: 256)
            }
        }
    }
}

// Selective synaptic dampening (Foster et al. 2024; shared/REFERENCES.md section 6): importance I = mean squared
// gradient (the diagonal Fisher) on the forget set (I_f) and on all data (I_D, forget and retain); every parameter
// with I_f > alpha * I_D is scaled by min(lambda * I_D / I_f, 1). No training loop.
import Foundation
import Model
import Training

public struct SSDConfig: Sendable, Equatable {
    /// Selection threshold: dampen where I_f > alpha * I_D.
    public var alpha = 10.0
    /// Dampening strength.
    public var lambda = 1.0
    /// Examples per gradient (the importance is the mean over batches of the squared batch gradient).
    public var batchSize = 1
    public init(alpha: Double = 10, lambda: Double = 1, batchSize: Int = 1) { self.alpha = alpha; self.lambda = lambda; self.batchSize = batchSize }
    public func validate() throws {
        guard alpha.isFinite && alpha > 0 else { throw UnlearningError("SSD alpha must be > 0, got \(alpha)") }
        guard lambda.isFinite && lambda > 0 else { throw UnlearningError("SSD lambda must be > 0, got \(lambda)") }
        guard batchSize >= 1 else { throw UnlearningError("SSD batch size must be >= 1, got \(batchSize)") }
    }
}

public struct SSDReport: Sendable, Codable, Equatable {
    public var dampened: Int, parameters: Int
    public var seconds: Double
}

public enum SSD {
    /// Mean over batches of `batchSize` examples of the squared gradient of the batch's mean loss, per parameter of
    /// the pass's trainable parameters (in their layout).
    public static func importance(_ pass: TrainingPass, _ examples: [Example], batchSize: Int) -> [Double] {
        let n = pass.grads.storage.count
        var imp = [Double](repeating: 0, count: n), batches = 0
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            pass.zeroGradients()
            pass.forwardBackward(TrainingData.batch(examples, Array(start..<min(examples.count, start + batchSize))[...]))
            let g = pass.grads.storage.ptr
            for i in 0..<n { imp[i] += Double(g[i]) * Double(g[i]) }
            batches += 1
        }
        pass.zeroGradients()
        return imp.map { $0 / Double(max(1, batches)) }
    }

    /// theta[i] *= min(lambda * all[i] / forget[i], 1) where forget[i] > alpha * all[i]. Returns how many changed.
    public static func dampen(_ theta: UnsafeMutablePointer<Float>, forget: [Double], all: [Double], alpha: Double, lambda: Double) -> Int {
        precondition(forget.count == all.count)
        var changed = 0
        for i in 0..<forget.count where forget[i] > alpha * all[i] {
            theta[i] = Float(Double(theta[i]) * min(lambda * all[i] / forget[i], 1))
            changed += 1
        }
        return changed
    }

    /// Dampens every weight of `model` in place: I_f over `forget`, I_D over forget and retain together.
    public static func apply(model: TransformerModel, forget: [Example], retain: [Example], config: SSDConfig) throws -> SSDReport {
        try config.validate()
        guard !forget.isEmpty else { throw UnlearningError("SSD needs a non-empty forget set") }
        let start = Date()
        let pass = TrainingPass(model: model)
        let fi = importance(pass, forget, batchSize: config.batchSize)
        let di = importance(pass, forget + retain, batchSize: config.batchSize)
        let changed = dampen(model.params.storage.ptr, forget: fi, all: di, alpha: config.alpha, lambda: config.lambda)
        return SSDReport(dampened: changed, parameters: model.params.count, seconds: Date().timeIntervalSince(start))
    }
}

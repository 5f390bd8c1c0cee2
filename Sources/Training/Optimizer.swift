// Optimisers over one flat parameter buffer and its gradient buffer: AdamW (Loshchilov & Hutter 2019; decoupled
// weight decay and bias correction, as torch.optim.AdamW) and SGD with momentum (as torch.optim.SGD).
import Foundation
import Model

/// Which parameters an optimiser updates and which of those it decays: contiguous ranges of the flat buffer.
public struct ParameterGroups: Sendable {
    /// Updated ranges, each with whether weight decay applies to it.
    public var ranges: [(range: Range<Int>, decay: Bool)]
    public init(_ ranges: [(range: Range<Int>, decay: Bool)]) { self.ranges = ranges }
    /// Number of updated values.
    public var count: Int { ranges.reduce(0) { $0 + $1.range.count } }
    /// Every parameter of `trainable`, weight decay on matrices only (not norms, biases).
    public init(trainable: Parameters) {
        self.init(trainable.refs.map { ($0.offset..<($0.offset + $0.count), $0.shape.count >= 2) })
    }
}

public protocol Optimizer: AnyObject {
    /// One update of `params` from `grads` (same layout) at learning rate `lr`; ranges outside `groups` are untouched.
    func step(_ params: UnsafeMutablePointer<Float>, _ grads: UnsafePointer<Float>, lr: Double)
    /// Completed steps.
    var steps: Int { get }
    /// The optimiser's state as named flat arrays (for saving a resumable training state) and back.
    func state() -> [String: [Float]]
    func restore(_ state: [String: [Float]], steps: Int) throws
}

public struct OptimizerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// torch.optim.AdamW: p -= lr * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Moments in Float32 like PyTorch's defaults.
public final class AdamW: Optimizer {
    public let beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    public let groups: ParameterGroups
    public private(set) var steps = 0
    private var m: [Float], v: [Float]

    public init(groups: ParameterGroups, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01) {
        self.groups = groups; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: groups.count); v = m
    }

    public func step(_ params: UnsafeMutablePointer<Float>, _ grads: UnsafePointer<Float>, lr: Double) {
        steps += 1
        let t = Double(steps)
        let stepSize = Float(lr / (1 - Foundation.pow(beta1, t)))
        let bc2 = Float((1 - Foundation.pow(beta2, t)).squareRoot())
        let b1 = Float(beta1), b2 = Float(beta2), e = Float(eps)
        var o = 0   // offset into the moments
        m.withUnsafeMutableBufferPointer { mb in
        v.withUnsafeMutableBufferPointer { vb in
            for (range, decay) in groups.ranges {
                let keep = decay ? Float(1 - lr * weightDecay) : 1
                for (j, i) in range.enumerated() {
                    let g = grads[i]
                    params[i] *= keep
                    mb[o + j] = b1 * mb[o + j] + (1 - b1) * g
                    vb[o + j] = b2 * vb[o + j] + (1 - b2) * g * g
                    params[i] -= stepSize * mb[o + j] / (vb[o + j].squareRoot() / bc2 + e)
                }
                o += range.count
            }
        }}
    }

    public func state() -> [String: [Float]] { ["adamw.m": m, "adamw.v": v] }

    public func restore(_ state: [String: [Float]], steps: Int) throws {
        guard let m = state["adamw.m"], let v = state["adamw.v"], m.count == groups.count, v.count == groups.count else {
            throw OptimizerError("the saved AdamW state does not fit these parameters (\(groups.count) values)")
        }
        self.m = m; self.v = v; self.steps = steps
    }
}

/// torch.optim.SGD: g += wd * p; b = momentum * b + g (b = g on the first step); p -= lr * b.
public final class SGD: Optimizer {
    public let momentum: Double, weightDecay: Double
    public let groups: ParameterGroups
    public private(set) var steps = 0
    private var buffer: [Float]

    public init(groups: ParameterGroups, momentum: Double = 0, weightDecay: Double = 0) {
        self.groups = groups; self.momentum = momentum; self.weightDecay = weightDecay
        buffer = [Float](repeating: 0, count: momentum > 0 ? groups.count : 0)
    }

    public func step(_ params: UnsafeMutablePointer<Float>, _ grads: UnsafePointer<Float>, lr: Double) {
        let mu = Float(momentum), l = Float(lr), first = steps == 0
        steps += 1
        var o = 0
        for (range, decay) in groups.ranges {
            let wd = decay ? Float(weightDecay) : 0
            for (j, i) in range.enumerated() {
                var g = grads[i] + wd * params[i]
                if mu > 0 {
                    buffer[o + j] = first ? g : mu * buffer[o + j] + g
                    g = buffer[o + j]
                }
                params[i] -= l * g
            }
            o += range.count
        }
    }

    public func state() -> [String: [Float]] { momentum > 0 ? ["sgd.momentum": buffer] : [:] }

    public func restore(_ state: [String: [Float]], steps: Int) throws {
        if momentum > 0 {
            guard let b = state["sgd.momentum"], b.count == groups.count else {
                throw OptimizerError("the saved SGD momentum does not fit these parameters (\(groups.count) values)")
            }
            buffer = b
        }
        self.steps = steps
    }
}

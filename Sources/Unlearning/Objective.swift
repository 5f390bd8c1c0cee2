// The forget/retain objectives of gradient-based unlearning (shared/REFERENCES.md section 6; open-unlearning, NPO,
// SimNPO, LoKU): Loss = gamma * L_forget + alpha * L_retain. GA, GradDiff, NPO and SimNPO are weights on the standard
// cross-entropy gradient (negative for the ascent; NPO's per-sequence weight from a forward of both models); GA+KL's
// KL and LoKU's inverted hinge are per-row losses on the logits (RowLosses.swift).
import Foundation
import Model
import Training

public enum UnlearningMethod: String, Sendable, CaseIterable {
    /// Gradient ascent: L_f = -NLL(forget).
    case ga
    /// GA plus NLL on retain.
    case graddiff
    /// GA plus KL(p_ref || p_theta) on retain, p_ref the original model.
    case gakl = "ga+kl"
    /// NPO: L_f = -(2/beta) mean_s log sigmoid(beta (l_theta(y) - l_ref(y))), l = sequence-summed NLL; NLL on retain.
    case npo
    /// SimNPO: L_f = -(2/beta) mean_s log sigmoid(beta l_theta(y) / |y|); NLL on retain.
    case simnpo
    /// LoKU's inverted hinge loss on forget (mean over tokens); NLL on retain.
    case ihl

    /// Whether the objective needs the frozen original model.
    public var needsReference: Bool { self == .gakl || self == .npo }
    public var label: String {
        switch self {
        case .ga: return "GA"
        case .graddiff: return "GradDiff"
        case .gakl: return "GA+KL"
        case .npo: return "NPO"
        case .simnpo: return "SimNPO"
        case .ihl: return "IHL"
        }
    }
}

public struct UnlearningError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A method and its coefficients.
public struct ObjectiveConfig: Sendable, Equatable {
    public var method: UnlearningMethod
    /// Weight of the forget term.
    public var gamma = 1.0
    /// Weight of the retain term (0 for plain GA, 1 for the others by default).
    public var alpha: Double
    /// NPO's beta (0.1) or SimNPO's (4.5); unused by the other methods.
    public var beta: Double

    public init(method: UnlearningMethod, gamma: Double = 1, alpha: Double? = nil, beta: Double? = nil) {
        self.method = method; self.gamma = gamma
        self.alpha = alpha ?? (method == .ga ? 0 : 1)
        self.beta = beta ?? (method == .simnpo ? 4.5 : 0.1)
    }

    /// Throws on a coefficient out of range, naming it.
    public func validate() throws {
        guard gamma.isFinite && gamma > 0 else { throw UnlearningError("gamma (the forget weight) must be > 0, got \(gamma)") }
        guard alpha.isFinite && alpha >= 0 else { throw UnlearningError("alpha (the retain weight) must be >= 0, got \(alpha)") }
        guard beta.isFinite && beta > 0 else { throw UnlearningError("beta must be > 0, got \(beta)") }
        if method == .ga && alpha > 0 { throw UnlearningError("ga has no retain term (alpha must be 0); use graddiff for GA with retain NLL") }
    }
}

/// One evaluation of the objective: total = gamma * forget + alpha * retain (retain 0 without a retain batch).
public struct ObjectiveLoss: Sendable, Equatable {
    public var total: Double, forget: Double, retain: Double
}

/// The objective on a training pass (full or LoRA). `reference` is the frozen original: needed by GA+KL and NPO.
public final class UnlearningObjective {
    public let config: ObjectiveConfig
    public let pass: TrainingPass
    public let reference: TrainingPass?
    /// l_ref of each forget sequence (the reference never changes), by its tokens and weights.
    private var referenceSums: [[Float]: Double] = [:]

    public init(config: ObjectiveConfig, pass: TrainingPass, reference: TrainingPass?) {
        precondition(!config.method.needsReference || reference != nil, "\(config.method.label) needs the original model")
        self.config = config; self.pass = pass; self.reference = reference
    }

    /// A pass over the original model, frozen: for LoRA the same base weights (the adapters are left out); for full
    /// parametrisation a copy of the weights as they are now. It carries a rank-1 adapter whose B is 0 (so it computes
    /// the base model exactly) so that its gradient buffer is tiny, never the model's size.
    public static func frozenReference(of pass: TrainingPass) -> TrainingPass {
        let model = pass.lora != nil ? pass.model : copy(of: pass.model)
        return evaluationPass(model)
    }

    /// A pass for losses only over `model` as it is: a rank-1 adapter with B = 0 keeps its gradient buffer tiny.
    public static func evaluationPass(_ model: TransformerModel) -> TrainingPass {
        TrainingPass(model: model, lora: LoRA(modelConfig: model.config, config: LoRAConfig(rank: 1, alpha: 1, targets: [.q]), seed: 0))
    }

    /// A model with its own copy of `model`'s weights.
    public static func copy(of model: TransformerModel) -> TransformerModel {
        let src = model.params
        let params = Parameters(src.refs.map { ($0.name, $0.shape) })
        params.storage.ptr.update(from: src.storage.ptr, count: src.storage.count)
        return TransformerModel(config: model.config, params: params)
    }

    /// The objective's value, no gradient.
    public func loss(forget: TrainingBatch, retain: TrainingBatch?) -> ObjectiveLoss { run(forget, retain, backward: false, scale: 1) }

    /// The objective's value, and its gradient added into `pass.grads` (scaled by `gradScale`).
    @discardableResult
    public func forwardBackward(forget: TrainingBatch, retain: TrainingBatch?, gradScale: Float = 1) -> ObjectiveLoss {
        run(forget, retain, backward: true, scale: Double(gradScale))
    }

    private func run(_ forget: TrainingBatch, _ retain: TrainingBatch?, backward: Bool, scale: Double) -> ObjectiveLoss {
        let g = config.gamma, a = config.alpha
        let lf = forgetTerm(forget, backward: backward, scale: g * scale)
        var lr = 0.0
        if let retain, a > 0 { lr = retainTerm(retain, backward: backward, scale: a * scale) }
        return ObjectiveLoss(total: g * lf + a * lr, forget: lf, retain: lr)
    }

    /// L_forget; with `backward`, scale * d L_forget / d theta added into the gradients.
    private func forgetTerm(_ b: TrainingBatch, backward: Bool, scale: Double) -> Double {
        switch config.method {
        case .ga, .graddiff, .gakl:
            let l = backward ? pass.forwardBackward(b, gradScale: Float(-scale)) : pass.loss(b)
            return -l.loss
        case .ihl:
            pass.rowLoss = InvertedHinge()
            defer { pass.rowLoss = nil }
            return (backward ? pass.forwardBackward(b, gradScale: Float(scale)) : pass.loss(b)).loss
        case .npo, .simnpo:
            let beta = config.beta, S = Double(b.sequences.count)
            let theta = Self.sequenceLosses(pass, b)
            var value = 0.0
            var coeff = [Double](repeating: 0, count: theta.count)   // c_s: d L_f / d l_s = -(2/S) c_s
            for (s, l) in theta.enumerated() {
                let z: Double
                if config.method == .npo {
                    z = beta * (l.sum - referenceSum(b, s))
                    coeff[s] = sigmoid(-z)
                } else {
                    precondition(l.weight > 0, "a forget sequence with no token to predict")
                    z = beta * l.sum / l.weight
                    coeff[s] = sigmoid(-z) / l.weight
                }
                value += -(2 / beta) * logSigmoid(z) / S
            }
            if backward {
                // grad = sum_s -(2/S) c_s d l_s; the pass computes gradScale / W' * sum_n w'_n d CE_n with w'_n = w_n c_s.
                var weights: [[Float]] = [], total = 0.0
                for (s, seq) in b.sequences.enumerated() {
                    let w = (b.weights?[s] ?? [Float](repeating: 1, count: seq.count - 1)).map { $0 * Float(coeff[s]) }
                    total += w.reduce(0.0) { $0 + Double($1) }
                    weights.append(w)
                }
                if total > 0 {
                    pass.forwardBackward(TrainingBatch(sequences: b.sequences, weights: weights), gradScale: Float(-scale * 2 / S * total))
                }
            }
            return value
        }
    }

    /// L_retain: KL to the original (GA+KL) or NLL.
    private func retainTerm(_ b: TrainingBatch, backward: Bool, scale: Double) -> Double {
        if config.method == .gakl {
            let reference = reference!, recorder = LogProbRecorder()
            recorder.reset(rows: b.tokens, vocabulary: pass.model.config.vocabSize)
            reference.rowLoss = recorder
            _ = reference.loss(b)
            reference.rowLoss = nil
            pass.rowLoss = KLToReference(reference: recorder)
            defer { pass.rowLoss = nil }
            return (backward ? pass.forwardBackward(b, gradScale: Float(scale)) : pass.loss(b)).loss
        }
        return (backward ? pass.forwardBackward(b, gradScale: Float(scale)) : pass.loss(b)).loss
    }

    /// l_ref of sequence s of `b`, computed once per (tokens, weights).
    private func referenceSum(_ b: TrainingBatch, _ s: Int) -> Double {
        let key = b.sequences[s].map { Float($0) } + [-1] + (b.weights?[s] ?? [])
        if let v = referenceSums[key] { return v }
        let one = TrainingBatch(sequences: [b.sequences[s]], weights: b.weights.map { [$0[s]] })
        let v = Self.sequenceLosses(reference!, one)[0].sum
        referenceSums[key] = v
        return v
    }

    /// Per sequence of `b`: the summed weighted token NLL l(y) = sum_t w_t (-log p(y_t)) and the summed weight |y|.
    public static func sequenceLosses(_ pass: TrainingPass, _ b: TrainingBatch) -> [(sum: Double, weight: Double)] {
        let rec = RecordedCrossEntropy()
        rec.reset(rows: b.tokens)
        pass.rowLoss = rec
        _ = pass.loss(b)
        pass.rowLoss = nil
        var out: [(Double, Double)] = [], start = 0
        for (s, seq) in b.sequences.enumerated() {
            var sum = 0.0, weight = 0.0
            for i in 0..<(seq.count - 1) {
                let w = Double(b.weights?[s][i] ?? 1)
                if w > 0 { sum += w * rec.rowLoss[start + i]; weight += w }
            }
            out.append((sum, weight)); start += seq.count
        }
        return out
    }
}

@inline(__always) func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
/// log sigmoid(x) = -softplus(-x), stable for large |x|.
@inline(__always) func logSigmoid(_ x: Double) -> Double { x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)) }

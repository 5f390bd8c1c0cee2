// The unlearning loop with guardrails: batches of forget (and retain) examples, one objective step each, and every
// few steps an evaluation of forget, retain and held-out loss (and, optionally, of a few greedy generations). It
// stops when the forget target is met; it stops and rolls back to the best evaluated step when retain or held-out
// perplexity rises past its bound, generations degenerate, or the loss turns non-finite. Every stop says why.
import Foundation
import Model
import Tensor
import Training

public struct UnlearningOptions: Sendable {
    public var steps = 50
    /// Forget (and retain) sequences per step.
    public var batchSize = 4
    public var learningRate = 1e-5
    public var optimizer = OptimizerKind.adamw
    public var weightDecay = 0.0
    public var clip: Double? = 1.0
    public var seed: UInt64 = 0
    /// Evaluate every this many steps (and after the last).
    public var evalEvery = 5
    /// Stop once the forget set's mean token loss (nats) reaches this; nil: the held-out loss at that evaluation
    /// (forget data looks unseen), or no target without a held-out set.
    public var forgetTarget: Double? = nil
    /// Stop and roll back when retain (held-out) perplexity exceeds (1 + bound) times the original's.
    public var maxRetainIncrease = 0.25
    public var maxHoldoutIncrease = 0.25
    public init() {}

    public func validate() throws {
        guard steps >= 1 else { throw UnlearningError("steps must be >= 1, got \(steps)") }
        guard batchSize >= 1 else { throw UnlearningError("batch size must be >= 1, got \(batchSize)") }
        guard learningRate.isFinite && learningRate > 0 else { throw UnlearningError("learning rate must be > 0, got \(learningRate)") }
        guard evalEvery >= 1 else { throw UnlearningError("eval-every must be >= 1, got \(evalEvery)") }
        guard maxRetainIncrease > 0 && maxHoldoutIncrease > 0 else {
            throw UnlearningError("perplexity bounds must be > 0, got \(maxRetainIncrease) and \(maxHoldoutIncrease)")
        }
        if let t = forgetTarget, !(t.isFinite && t > 0) { throw UnlearningError("forget target must be > 0 nats, got \(t)") }
    }
}

/// Losses (mean token NLL, nats) at one evaluation.
public struct UnlearningEvaluation: Sendable, Codable, Equatable {
    public var step: Int
    public var forget: Double, retain: Double
    public var holdout: Double?
    /// Why the generations look degenerate, if they do.
    public var degenerate: String?
    public var retainPerplexity: Double { exp(retain) }
}

public enum StopReason: Sendable, Equatable, CustomStringConvertible {
    case completed(steps: Int)
    case forgetTargetMet(step: Int, loss: Double, target: Double)
    case retainBound(step: Int, perplexity: Double, limit: Double, rolledBackTo: Int)
    case holdoutBound(step: Int, perplexity: Double, limit: Double, rolledBackTo: Int)
    case degenerate(step: Int, why: String, rolledBackTo: Int)
    case nonFinite(step: Int, rolledBackTo: Int)

    public var rolledBack: Bool {
        switch self {
        case .completed, .forgetTargetMet: return false
        default: return true
        }
    }
    public var description: String {
        func f(_ x: Double) -> String { String(format: "%.3g", x) }
        switch self {
        case .completed(let n): return "completed all \(n) steps without meeting the forget target"
        case .forgetTargetMet(let s, let l, let t): return "step \(s): forget loss \(f(l)) nats reached the target \(f(t))"
        case .retainBound(let s, let p, let lim, let b):
            return "step \(s): retain perplexity \(f(p)) exceeded the bound \(f(lim)); rolled back to step \(b)"
        case .holdoutBound(let s, let p, let lim, let b):
            return "step \(s): held-out perplexity \(f(p)) exceeded the bound \(f(lim)); rolled back to step \(b)"
        case .degenerate(let s, let why, let b): return "step \(s): generations degenerate (\(why)); rolled back to step \(b)"
        case .nonFinite(let s, let b): return "step \(s): the loss or gradient is not finite; rolled back to step \(b)"
        }
    }
}

public struct UnlearningSummary: Sendable {
    public var reason: StopReason
    /// Steps taken (before any roll-back) and the step whose parameters the model now has.
    public var steps: Int, finalStep: Int
    public var evaluations: [UnlearningEvaluation]
    public var seconds: Double
}

/// Greedy continuations of a few prompts, for the degeneration check: empty outputs, or one token or a short loop
/// repeated over most of the output.
public enum Degeneration {
    /// Why `outputs` look degenerate, or nil. Empty: more than half are empty. Repetition: in more than half, the
    /// distinct 3-grams are at most a quarter of all 3-grams (outputs of at least 8 tokens).
    public static func check(_ outputs: [[Int]]) -> String? {
        guard !outputs.isEmpty else { return nil }
        let empty = outputs.filter(\.isEmpty).count
        if empty * 2 > outputs.count { return "\(empty) of \(outputs.count) generations empty" }
        let repetitive = outputs.filter { o in
            guard o.count >= 8 else { return false }
            let grams = (0..<(o.count - 2)).map { [o[$0], o[$0 + 1], o[$0 + 2]] }
            return Set(grams).count * 4 <= grams.count
        }.count
        if repetitive * 2 > outputs.count { return "\(repetitive) of \(outputs.count) generations repeat a short loop" }
        return nil
    }
}

public final class Unlearner {
    public let objective: UnlearningObjective
    public let options: UnlearningOptions
    public let groups: ParameterGroups
    let optimizer: Optimizer
    public var pass: TrainingPass { objective.pass }

    /// Full (lora nil) or LoRA parametrisation of `model`; the reference for GA+KL and NPO is the model as it is now.
    public init(model: TransformerModel, lora: LoRA? = nil, config: ObjectiveConfig, options: UnlearningOptions) throws {
        try config.validate(); try options.validate()
        let pass = TrainingPass(model: model, lora: lora)
        objective = UnlearningObjective(config: config, pass: pass,
                                        reference: config.method.needsReference ? UnlearningObjective.frozenReference(of: pass) : nil)
        self.options = options
        groups = ParameterGroups(trainable: pass.trainable)
        optimizer = options.optimizer.make(groups: groups, weightDecay: options.weightDecay)
    }

    /// Mean token NLL of `examples` under the current parameters.
    public func evaluate(_ examples: [Example]) -> Double { pass.meanLoss(examples, batchSize: options.batchSize) }

    /// Runs to a stop. `generate` (optional) returns greedy continuations of a few prompts under the current
    /// parameters; `onStep` sees each step's objective, `onEval` each evaluation.
    public func run(forget: [Example], retain: [Example], holdout: [Example]? = nil, generate: (() -> [[Int]])? = nil,
                    onStep: (Int, ObjectiveLoss) -> Void = { _, _ in },
                    onEval: (UnlearningEvaluation) -> Void = { _ in }) throws -> UnlearningSummary {
        guard !forget.isEmpty else { throw UnlearningError("the forget set is empty") }
        let started = Date()
        let params = pass.trainable.storage.ptr, grads = pass.grads.storage.ptr, count = pass.trainable.storage.count
        var evaluations: [UnlearningEvaluation] = []

        func measure(_ step: Int) -> UnlearningEvaluation {
            let e = UnlearningEvaluation(step: step, forget: evaluate(forget), retain: retain.isEmpty ? .nan : evaluate(retain),
                                         holdout: holdout.map { evaluate($0) }, degenerate: generate.flatMap { Degeneration.check($0()) })
            evaluations.append(e); onEval(e)
            return e
        }
        let base = measure(0)
        let retainLimit = exp(base.retain) * (1 + options.maxRetainIncrease)
        let holdoutLimit = base.holdout.map { exp($0) * (1 + options.maxHoldoutIncrease) }
        // The best evaluated state within the bounds: highest forget loss (step 0, the original, to begin with).
        var best = (step: 0, forget: base.forget, params: Array(UnsafeBufferPointer(start: params, count: count)))
        func rollBack() { params.update(from: best.params, count: count) }

        var fOrder = TrainingData.order(forget.count, seed: options.seed, epoch: 0), fCursor = 0, fEpoch = 0
        var rOrder = TrainingData.order(retain.count, seed: options.seed &+ 1, epoch: 0), rCursor = 0, rEpoch = 0
        func next(_ ex: [Example], _ order: inout [Int], _ cursor: inout Int, _ epoch: inout Int, _ seed: UInt64) -> TrainingBatch {
            if cursor >= order.count { epoch += 1; order = TrainingData.order(ex.count, seed: seed, epoch: epoch); cursor = 0 }
            let idx = order[cursor..<min(order.count, cursor + options.batchSize)]
            cursor += idx.count
            return TrainingData.batch(ex, idx)
        }
        for step in 1...options.steps {
            pass.zeroGradients()
            let fb = next(forget, &fOrder, &fCursor, &fEpoch, options.seed)
            let rb = retain.isEmpty ? nil : next(retain, &rOrder, &rCursor, &rEpoch, options.seed &+ 1)
            pass.dropoutSeed = options.seed &+ UInt64(step)
            let l = objective.forwardBackward(forget: fb, retain: rb)
            let norm = options.clip.map { Clipping.clip(grads, groups, maxNorm: $0) } ?? Clipping.norm(grads, groups)
            guard l.total.isFinite, norm.isFinite else {
                rollBack()
                return UnlearningSummary(reason: .nonFinite(step: step, rolledBackTo: best.step), steps: step - 1, finalStep: best.step,
                                         evaluations: evaluations, seconds: Date().timeIntervalSince(started))
            }
            optimizer.step(params, grads, lr: options.learningRate)
            onStep(step, l)
            guard step % options.evalEvery == 0 || step == options.steps else { continue }
            let e = measure(step)
            func stop(_ r: StopReason, rolled: Bool) -> UnlearningSummary {
                if rolled { rollBack() }
                return UnlearningSummary(reason: r, steps: step, finalStep: rolled ? best.step : step, evaluations: evaluations,
                                         seconds: Date().timeIntervalSince(started))
            }
            if !e.forget.isFinite || !(e.retain.isFinite || retain.isEmpty) { return stop(.nonFinite(step: step, rolledBackTo: best.step), rolled: true) }
            if !retain.isEmpty, exp(e.retain) > retainLimit {
                return stop(.retainBound(step: step, perplexity: exp(e.retain), limit: retainLimit, rolledBackTo: best.step), rolled: true)
            }
            if let h = e.holdout, let lim = holdoutLimit, !(exp(h) <= lim) {
                return stop(.holdoutBound(step: step, perplexity: exp(h), limit: lim, rolledBackTo: best.step), rolled: true)
            }
            // Degeneration counts only when the original's generations were sound (a model that loops already is no signal).
            if base.degenerate == nil, let why = e.degenerate { return stop(.degenerate(step: step, why: why, rolledBackTo: best.step), rolled: true) }
            if e.forget > best.forget { best = (step, e.forget, Array(UnsafeBufferPointer(start: params, count: count))) }
            if let target = options.forgetTarget ?? e.holdout, e.forget >= target {
                return stop(.forgetTargetMet(step: step, loss: e.forget, target: target), rolled: false)
            }
        }
        return UnlearningSummary(reason: .completed(steps: options.steps), steps: options.steps, finalStep: options.steps,
                                 evaluations: evaluations, seconds: Date().timeIntervalSince(started))
    }
}

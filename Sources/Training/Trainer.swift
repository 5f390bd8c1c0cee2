// The training loop: seeded batches of examples, gradient accumulation, global-norm clipping, an optimiser and a
// schedule, held-out loss every few steps; stops at a non-finite loss with the parameters of the last good step.
import Foundation
import Model
import Tensor

public enum OptimizerKind: String, Sendable, CaseIterable {
    case adamw, sgd
    /// The optimiser over `groups`, with decoupled weight decay (AdamW) or L2 (SGD) on the decayed ranges.
    public func make(groups: ParameterGroups, weightDecay: Double) -> Optimizer {
        switch self {
        case .adamw: return AdamW(groups: groups, weightDecay: weightDecay)
        case .sgd: return SGD(groups: groups, weightDecay: weightDecay)
        }
    }
}

extension TrainingPass {
    /// Mean loss over `examples` in batches of `batchSize` (weighted by each batch's token weight); NaN when nothing counts.
    public func meanLoss(_ examples: [Example], batchSize: Int) -> Double {
        var sum = 0.0, weight = 0.0
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let l = loss(TrainingData.batch(examples, Array(start..<min(examples.count, start + batchSize))[...]))
            if l.weight > 0 { sum += l.loss * l.weight; weight += l.weight }
        }
        return weight > 0 ? sum / weight : .nan
    }
}

public struct TrainingOptions: Sendable {
    /// Optimiser steps.
    public var steps = 100
    /// Sequences per micro-batch, and micro-batches per optimiser step.
    public var batchSize = 8, accumulation = 1
    public var learningRate = 1e-4
    public var schedule = Schedule.linear
    public var warmup = 0
    public var optimizer = OptimizerKind.adamw
    /// Decoupled weight decay (AdamW) or L2 (SGD), on matrices only (not norms, biases).
    public var weightDecay = 0.0
    /// Global-norm clipping bound; nil: no clipping.
    public var clip: Double? = 1.0
    public var seed: UInt64 = 0
    /// Held-out loss every this many steps (and after the last); 0: only before and after.
    public var evalEvery = 0
    /// A matched-utility target: stop after the first evaluation whose held-out loss is at or below it (needs eval data;
    /// evaluations happen every `evalEvery` steps). The schedule still spans `steps`, the most steps the run may take.
    public var stopAtEvalLoss: Double? = nil
    /// Recompute activations in the backward instead of keeping them (less memory).
    public var recompute = false
    /// DP-SGD instead of ordinary steps: Poisson-sampled batches (`batchSize` is then the most examples in one pass,
    /// `accumulation` and `clip` are unused), per-example clipping, Gaussian noise.
    public var dp: DPOptions? = nil
    public init() {}
}

/// What one optimiser step did.
public struct StepReport: Sendable {
    public var step: Int, steps: Int
    public var loss: Double, learningRate: Double, gradNorm: Double
    public var tokens: Int, seconds: Double
    public var evalLoss: Double?
    /// DP-SGD steps: the batch's size and clipping.
    public var dp: DPStepInfo? = nil
    /// DP-SGD: the accountant's epsilon after this step, where the caller computed it.
    public var epsilon: Double? = nil
}

public struct TrainingSummary: Codable, Sendable, Equatable {
    public var steps: Int, tokens: Int, examples: Int
    public var firstLoss: Double, finalLoss: Double
    public var evalLossBefore: Double?, evalLossAfter: Double?
    public var seconds: Double, tokensPerSecond: Double
}

public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public final class Trainer {
    public let pass: TrainingPass
    public let options: TrainingOptions
    public let groups: ParameterGroups
    public let optimizer: Optimizer

    /// Full fine-tuning (every parameter trained) or, with `lora`, the adapters only; weight decay on matrices only.
    public init(model: TransformerModel, lora: LoRA? = nil, options: TrainingOptions) {
        pass = TrainingPass(model: model, lora: lora, recompute: options.recompute)
        self.options = options
        groups = ParameterGroups(trainable: pass.trainable)
        optimizer = options.optimizer.make(groups: groups, weightDecay: options.weightDecay)
    }

    /// Mean loss over `examples` in batches (weighted by each batch's token weight).
    public func evaluate(_ examples: [Example]) -> Double { pass.meanLoss(examples, batchSize: options.batchSize) }

    /// Trains from step `from` (0, or what `restoreState` returned) to `options.steps`. `onStep` sees every step
    /// (progress, logging); `checkpoint` is called after each step with its number (to save a state). Throws at a
    /// non-finite loss or gradient, before updating, so the model keeps the parameters of the last good step.
    public func run(train: [Example], eval: [Example]? = nil, from: Int = 0, onStep: (StepReport) -> Void = { _ in },
                    checkpoint: (Int) throws -> Void = { _ in }) throws -> TrainingSummary {
        precondition(!train.isEmpty && options.steps >= 1 && options.batchSize >= 1 && options.accumulation >= 1)
        precondition(from >= 0 && from < options.steps, "resuming at step \(from) of \(options.steps)")
        let start = Date()
        let params = pass.trainable.storage.ptr, grads = pass.grads.storage.ptr
        let evalBefore = eval.map { evaluate($0) }
        var epoch = 0, order = TrainingData.order(train.count, seed: options.seed, epoch: 0), cursor = 0
        // The batches of the steps already taken: the data order is a function of (seed, epoch), so replaying the cursor
        // puts a resumed run exactly where the saved one stopped.
        for _ in 0..<(from * options.accumulation) {
            if cursor >= order.count { epoch += 1; order = TrainingData.order(train.count, seed: options.seed, epoch: epoch); cursor = 0 }
            cursor = min(order.count, cursor + options.batchSize)
        }
        var tokens = 0, firstLoss = Double.nan, lastLoss = Double.nan, lastEval = evalBefore
        let noiseSeed = options.dp.map { $0.noiseSeed ?? UInt64.random(in: 0...UInt64.max) } ?? 0
        var done = options.steps
        for step in from..<options.steps {
            // The step's gradient in `grads`: DP-SGD's noised clipped sum, or the (accumulated, clipped) plain gradient.
            let loss: Double, norm: Double
            var info: DPStepInfo? = nil
            if let dp = options.dp {
                let s = dpStep(dp, step: step, train: train, noiseSeed: noiseSeed)
                loss = s.loss; info = s.info; tokens += s.tokens
                norm = Clipping.norm(grads, groups)
                // An empty Poisson batch has no loss: its step is noise only.
                guard norm.isFinite, loss.isFinite || s.info.examples == 0 else {
                    throw TrainingError("step \(step + 1): the loss is \(loss) and the noised gradient's norm \(norm); stopped before the "
                                        + "update, so the model keeps the parameters of step \(step) (lower the learning rate)")
                }
            } else {
                pass.zeroGradients()
                var lossSum = 0.0, weightSum = 0.0
                for micro in 0..<options.accumulation {
                    if cursor >= order.count { epoch += 1; order = TrainingData.order(train.count, seed: options.seed, epoch: epoch); cursor = 0 }
                    let idx = order[cursor..<min(order.count, cursor + options.batchSize)]
                    cursor += idx.count
                    let batch = TrainingData.batch(train, idx)
                    pass.dropoutSeed = options.seed &+ UInt64(step * options.accumulation + micro)
                    let l = pass.forwardBackward(batch, gradScale: 1 / Float(options.accumulation))
                    tokens += batch.tokens
                    lossSum += l.loss * l.weight; weightSum += l.weight
                }
                loss = lossSum / weightSum
                norm = options.clip.map { Clipping.clip(grads, groups, maxNorm: $0) } ?? Clipping.norm(grads, groups)
                guard loss.isFinite, norm.isFinite else {
                    throw TrainingError("step \(step + 1): the loss is \(loss) and the gradient norm \(norm); stopped before the update, "
                                        + "so the model keeps the parameters of step \(step) (lower the learning rate)")
                }
            }
            let lr = options.schedule.rate(peak: options.learningRate, step: step, total: options.steps, warmup: options.warmup)
            optimizer.step(params, grads, lr: lr)
            if loss.isFinite { if firstLoss.isNaN { firstLoss = loss }; lastLoss = loss }
            var evalLoss: Double? = nil
            if let eval, (options.evalEvery > 0 && (step + 1) % options.evalEvery == 0) || step == options.steps - 1 {
                evalLoss = evaluate(eval); lastEval = evalLoss
            }
            onStep(StepReport(step: step + 1, steps: options.steps, loss: loss, learningRate: lr, gradNorm: norm, tokens: tokens,
                              seconds: Date().timeIntervalSince(start), evalLoss: evalLoss, dp: info))
            try checkpoint(step + 1)
            if let target = options.stopAtEvalLoss, let e = evalLoss, e <= target { done = step + 1; break }
        }
        let seconds = Date().timeIntervalSince(start)
        return TrainingSummary(steps: done - from, tokens: tokens, examples: train.count, firstLoss: firstLoss, finalLoss: lastLoss,
                               evalLossBefore: evalBefore, evalLossAfter: eval == nil ? nil : lastEval,
                               seconds: seconds, tokensPerSecond: Double(tokens) / max(seconds, 1e-9))
    }
}

extension Trainer {
    /// One DP-SGD gradient in `pass.grads`: the step's Poisson batch in passes of at most `batchSize` examples, each
    /// example clipped, the sum noised and divided by q N. Returns the batch's mean per-example loss (NaN for an
    /// empty batch), what the step saw, and its tokens.
    public func dpStep(_ dp: DPOptions, step: Int, train: [Example], noiseSeed: UInt64) -> (loss: Double, info: DPStepInfo, tokens: Int) {
        pass.zeroGradients()
        let chosen = DPSampling.batch(step: step, n: train.count, q: dp.sampleRate, poisson: dp.poisson, seed: options.seed)
        var lossSum = 0.0, weight = 0.0, norms: [Double] = [], clipped = 0, tokens = 0
        for start in stride(from: 0, to: chosen.count, by: options.batchSize) {
            let batch = TrainingData.batch(train, chosen[start..<min(chosen.count, start + options.batchSize)])
            pass.dropoutSeed = options.seed &+ UInt64(step) &* 0x100000 &+ UInt64(start)
            let r = pass.forwardBackwardClipped(batch, clip: dp.clip)
            if r.loss.weight > 0 { lossSum += r.loss.loss * r.loss.weight; weight += r.loss.weight }
            norms += r.norms
            clipped += r.factors.filter { $0 < 1 }.count
            tokens += batch.tokens
        }
        let grads = pass.grads.storage.ptr
        GaussianNoise.add(grads, ranges: groups.ranges.map(\.range), std: dp.noiseMultiplier * dp.clip,
                          seed: noiseSeed &+ UInt64(step) &* 0xA24BAED4963EE407)
        let scale = Float(1 / (dp.sampleRate * Double(train.count)))
        for r in groups.ranges { for i in r.range { grads[i] *= scale } }
        let info = DPStepInfo(examples: chosen.count, meanNorm: norms.isEmpty ? 0 : norms.reduce(0, +) / Double(norms.count),
                              clippedFraction: norms.isEmpty ? 0 : Double(clipped) / Double(norms.count))
        return (weight > 0 ? lossSum / weight : .nan, info, tokens)
    }
}

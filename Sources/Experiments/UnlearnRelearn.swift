// Did it really forget: the relearning check. Fine-tune the unlearned model for a few steps (the training engine's
// Trainer) on one half of the forget set and measure extraction and loss on the other half, before and after; a model
// that merely hid the data recovers it from a few related examples, one that never saw it (a retrained model, where
// one is given) shows how much a few steps teach from scratch.
import Attacks
import Audit
import Foundation
import Model
import Stats
import Training

public struct RelearnOptions: Sendable, Equatable {
    /// Fine-tuning steps on the training half (0: no relearning check).
    public var steps = 10
    public var learningRate = 1e-4
    public var batchSize = 4
    /// Greedy extraction on the held half: the first `prefix` tokens of each record, then the next `suffix`
    /// (a record shorter than prefix + suffix uses half its tokens as prefix and the rest, up to `suffix`, as suffix).
    public var prefix = 16, suffix = 16
    /// Approximate extraction: normalised edit distance at most this (the audit's default).
    public var approximateThreshold = 0.1
    public var seed: UInt64 = 0
    public init() {}

    public func validate() throws {
        guard steps >= 0 && steps <= 100_000 else { throw InputError("relearn.steps", "must be in 0...100000, got \(steps)") }
        guard learningRate.isFinite && learningRate > 0 else { throw InputError("relearn.lr", "must be > 0, got \(learningRate)") }
        guard batchSize >= 1 else { throw InputError("relearn.batch_size", "must be >= 1, got \(batchSize)") }
        guard prefix >= 1 && suffix >= 1 else { throw InputError("relearn.prefix", "prefix and suffix must be >= 1, got \(prefix) and \(suffix)") }
    }
}

/// Extraction and loss on the held half, at one moment.
public struct RelearnPoint: Sendable, Equatable {
    public var exact: Int, approximate: Int, evaluated: Int
    /// Mean token NLL (nats) of the held half.
    public var loss: Double
    public init(exact: Int, approximate: Int, evaluated: Int, loss: Double) {
        self.exact = exact; self.approximate = approximate; self.evaluated = evaluated; self.loss = loss
    }
    public var exactRate: Double { evaluated > 0 ? Double(exact) / Double(evaluated) : .nan }
    public var approximateRate: Double { evaluated > 0 ? Double(approximate) / Double(evaluated) : .nan }
}

public struct RelearnOutcome: Sendable, Equatable {
    /// Indices into the forget set: trained on, and measured on.
    public var trainIndices: [Int], heldIndices: [Int]
    public var before: RelearnPoint, after: RelearnPoint
    public var seconds: Double

    /// The outcome as pair figures under `prefix` ("relearn" or "retrained.relearn").
    public func figures(_ prefix: String) -> [String: Double] {
        ["\(prefix).exact.rate.before": before.exactRate, "\(prefix).exact.rate.after": after.exactRate,
         "\(prefix).approximate.rate.before": before.approximateRate, "\(prefix).approximate.rate.after": after.approximateRate,
         "\(prefix).loss.before": before.loss, "\(prefix).loss.after": after.loss,
         "\(prefix).records": Double(after.evaluated), "\(prefix).seconds": seconds]
    }
}

public enum Relearn {
    /// A seeded split of n records: the training half (the first ceil(n / 2) of a seeded permutation) and the held half.
    public static func split(_ n: Int, seed: UInt64) -> (train: [Int], held: [Int]) {
        let order = TrainingData.order(n, seed: seed &+ 0x5E1EA2, epoch: 0)
        let k = (n + 1) / 2
        return (Array(order[..<k]).sorted(), Array(order[k...]).sorted())
    }

    /// The training options of the relearning fine-tune: full parametrisation, constant rate, no clipping changes.
    public static func trainingOptions(_ o: RelearnOptions) -> TrainingOptions {
        var t = TrainingOptions()
        t.steps = o.steps; t.learningRate = o.learningRate; t.batchSize = o.batchSize; t.seed = o.seed
        t.schedule = .constant; t.warmup = 0
        return t
    }

    /// Greedy extraction and mean loss of `examples` under `lm` as it is now.
    public static func measure(_ lm: LanguageModel, _ examples: [Example], options o: RelearnOptions) throws -> RelearnPoint {
        var exact = 0, approximate = 0, evaluated = 0
        var groups: [[Int]: [[Int]]] = [:]   // [prefix, suffix] -> samples
        for e in examples where e.tokens.count >= 2 {
            let p = min(o.prefix, e.tokens.count / 2), s = min(o.suffix, e.tokens.count - p)
            groups[[p, s], default: []].append(e.tokens)
        }
        for key in groups.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let samples = groups[key]!
            for start in stride(from: 0, to: samples.count, by: 32) {
                let batch = Array(samples[start..<min(samples.count, start + 32)])
                let d = try Extraction.discoverable(lm, samples: batch, prefixLength: key[0], suffixLength: key[1],
                                                    approximateThreshold: o.approximateThreshold)
                exact += d.filter(\.exact).count; approximate += d.filter(\.approximate).count; evaluated += d.count
            }
        }
        let loss = TrainingPass(model: lm.model).meanLoss(examples, batchSize: o.batchSize)
        return RelearnPoint(exact: exact, approximate: approximate, evaluated: evaluated, loss: loss)
    }

    /// Fine-tunes `lm`'s model in place on the training half of `forget` and measures the held half before and after.
    public static func run(_ lm: LanguageModel, forget: [Example], options o: RelearnOptions) throws -> RelearnOutcome {
        try o.validate()
        guard forget.count >= 2 else { throw InputError("relearn", "the relearning check needs at least 2 forget records (one to train on, one to measure), got \(forget.count)") }
        let started = Date()
        let (train, held) = split(forget.count, seed: o.seed)
        let heldExamples = held.map { forget[$0] }, trainExamples = train.map { forget[$0] }
        let before = try measure(lm, heldExamples, options: o)
        if o.steps > 0 {
            let trainer = Trainer(model: lm.model, options: trainingOptions(o))
            do { _ = try trainer.run(train: trainExamples) } catch let e as TrainingError { throw InputError("relearn", e.description) }
        }
        let after = try measure(lm, heldExamples, options: o)
        return RelearnOutcome(trainIndices: train, heldIndices: held, before: before, after: after, seconds: Date().timeIntervalSince(started))
    }
}

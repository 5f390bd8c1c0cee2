// Fine-tuning as a recorded run: read the data, train (full or LoRA), write the new checkpoint (and the PEFT
// adapter), write a JSON summary, and keep the run in the store beside the audits so `auditor history` shows it.
import Audit
import Checkpoint
import Foundation
import Model
import Privacy
import Store
import Training

public enum FineTuneMethod: Sendable, Equatable {
    case full
    case lora(LoRAConfig)
    public var name: String { if case .lora = self { return "lora" } else { return "full" } }
}

public struct FineTuneSpec: Sendable {
    public var checkpoint: String
    public var data: String
    public var eval: String?
    /// The field holding the text to learn, and optionally one holding a prompt whose tokens are not learned.
    public var field = "text", promptField: String? = nil
    public var method = FineTuneMethod.full
    /// LoRA target module names (q, v, ..., all-linear), resolved against the model once it is loaded.
    public var loraTargets: [String]? = nil
    public var options = TrainingOptions()
    /// Longest example in tokens (longer texts are split); nil: the model's context.
    public var maxTokens: Int? = nil
    public var out: String
    /// Save a resumable state here every `saveEvery` steps (and after the last); resume from `resume` if given.
    public var saveState: String? = nil, saveEvery = 0, resume: String? = nil
    /// DP-SGD instead of ordinary steps (`options.batchSize` is then the expected batch size q N).
    public var dp: DPSpec? = nil
    public init(checkpoint: String, data: String, out: String) { self.checkpoint = checkpoint; self.data = data; self.out = out }
}

/// DP-SGD as the user asks for it: a target epsilon or a noise multiplier (the other is solved for), delta, the
/// per-example clipping bound, the accountant, and whether batches are Poisson-sampled.
public struct DPSpec: Sendable, Equatable {
    public var epsilon: Double?, noise: Double?
    /// nil: 1 / (10 N), below 1/N as the usual guidance asks.
    public var delta: Double?
    public var clip = 1.0
    public var accountant = PrivacyAccountantKind.pld
    public var poisson = true
    public init(epsilon: Double? = nil, noise: Double? = nil, delta: Double? = nil) { self.epsilon = epsilon; self.noise = noise; self.delta = delta }
}

/// What a DP run spent, as recorded with the run and in the output checkpoint's metadata.
public struct DPSummary: Sendable, Equatable {
    public var epsilon: Double, delta: Double, noise: Double, clip: Double, sampleRate: Double
    public var steps: Int, examples: Int
    public var accountant: PrivacyAccountantKind
    public var poisson: Bool
    /// One line for logs and reports.
    public var line: String {
        String(format: "DP-SGD: epsilon %.3g at delta %.3g (%@ accountant), noise multiplier %.4g, clip %.3g, sampling rate q %.4g "
               + "(expected batch %.1f of %ld examples), %ld steps", epsilon, delta, accountant.rawValue.uppercased(), noise, clip,
               sampleRate, sampleRate * Double(examples), examples, steps)
            + (poisson ? "" : "; fixed-size batches, which the accountant's guarantee (Poisson sampling) does not cover")
    }
    var metadata: [String: String] {
        ["auditor.dp.epsilon": String(epsilon), "auditor.dp.delta": String(delta), "auditor.dp.noise_multiplier": String(noise),
         "auditor.dp.clip": String(clip), "auditor.dp.sample_rate": String(sampleRate), "auditor.dp.steps": String(steps),
         "auditor.dp.accountant": accountant.rawValue, "auditor.dp.sampling": poisson ? "poisson" : "fixed (not covered by the accountant)"]
    }
    var json: [String: Any] {
        ["epsilon": epsilon, "delta": delta, "noise_multiplier": noise, "clip": clip, "sample_rate": sampleRate, "steps": steps,
         "accountant": accountant.rawValue, "poisson_sampling": poisson]
    }
}

public struct FineTuneResult: Sendable {
    public var summary: TrainingSummary
    public var examples: Int, splitTexts: Int
    /// What was written: the model folder, and the adapter folder for LoRA on a Llama model.
    public var outputs: [String]
    public var runID: String?
    public var dp: DPSummary? = nil
}

public enum FineTune {
    /// The pairs (prompt, text) of a JSON Lines file; every line an object with `field` (and `promptField`, if given).
    public static func readExamples(_ path: String, field: String, promptField: String?) throws -> [(prompt: String?, text: String)] {
        let records = try readJSONLRecords(path, field: field)
        return try records.enumerated().map { i, r in
            guard let pf = promptField else { return (nil, r.text) }
            guard let p = r.object?[pf] as? String else { throw InputError(path, "line \(i + 1): missing string field \"\(pf)\"") }
            return (p, r.text)
        }
    }

    /// Trains and writes. `log` gets one-line notes ("split 3 texts longer than 128 tokens"); `onStep` every step.
    public static func run(_ spec: FineTuneSpec, store: Store?, log: (String) -> Void = { _ in },
                           onStep: (StepReport) -> Void = { _ in }) throws -> FineTuneResult {
        try LanguageModel.checkOutput(spec.out, format: .huggingFace, input: spec.checkpoint)
        let started = Date()
        let lm = try LanguageModel.load(path: spec.checkpoint)
        let context = min(spec.maxTokens ?? lm.config.maxPositions, lm.config.maxPositions)
        let (train, split) = try examples(spec.data, spec, lm, context)
        if split > 0 { log("split \(split) text\(split == 1 ? "" : "s") of \(spec.data) longer than \(context) tokens into windows") }
        let eval = try spec.eval.map { try examples($0, spec, lm, context).0 }
        var options = spec.options
        var dp = try spec.dp.map { try resolve($0, options: options, examples: train.count, source: spec.data, log: log) }
        if let dp {
            options.dp = DPOptions(noiseMultiplier: dp.noise, clip: dp.clip, sampleRate: dp.sampleRate, poisson: dp.poisson)
            log(dp.line)
        }
        let lora: LoRA?
        if case .lora(var c) = spec.method {
            if let names = spec.loraTargets {
                do { c.targets = try LoRAConfig.targets(names, config: lm.config) } catch let e as ModelError { throw InputError("--targets", e.message) }
            }
            lora = LoRA(modelConfig: lm.config, config: c, seed: spec.options.seed)
        } else {
            lora = nil
        }
        let trainer = Trainer(model: lm.model, lora: lora, options: options)
        var from = 0
        if let r = spec.resume {
            do { from = try trainer.restoreState(from: r) } catch let e as TrainingError { throw InputError(r, String(e.description.dropFirst(r.count + 2))) }
            guard from < spec.options.steps else { throw InputError(r, "the saved state has done \(from) steps already; --steps is \(spec.options.steps)") }
            log("resuming after step \(from) from \(r)")
        }
        // With DP, the epsilon spent so far at each progress line (every 5% of the steps, and the last).
        let every = max(1, spec.options.steps / 20)
        let report: (StepReport) -> Void = { s in
            var s = s
            if let dp, s.step % every == 0 || s.step == s.steps {
                s.epsilon = try? dpEpsilon(q: dp.sampleRate, noise: dp.noise, steps: s.step, delta: dp.delta, accountant: dp.accountant)
            }
            onStep(s)
        }
        let summary = try trainer.run(train: train, eval: eval, from: from, onStep: report) { step in
            guard let path = spec.saveState, step == spec.options.steps || (spec.saveEvery > 0 && step % spec.saveEvery == 0) else { return }
            try trainer.saveState(to: path, step: step)
        }
        // Stopped early at a matched-utility target: the privacy spent is that of the steps taken, not of the most allowed.
        if var spent = dp, summary.steps + from < spec.options.steps {
            spent.epsilon = try dpEpsilon(q: spent.sampleRate, noise: spent.noise, steps: summary.steps + from, delta: spent.delta,
                                          accountant: spent.accountant)
            spent.steps = summary.steps + from
            log("stopped at the held-out loss target after \(spent.steps) of \(spec.options.steps) steps: " + spent.line)
            dp = spent
        }
        var outputs = [spec.out]
        lora?.merge(into: lm.model)
        try lm.writeHuggingFace(to: spec.out, metadata: dp?.metadata ?? [:])
        // OUT is in place but not finished (adapter, training.json): an interrupt or an error from here on removes it.
        PendingOutputs.add(spec.out)
        defer { PendingOutputs.remove(spec.out) }
        do {
            if let lora, lm.config.architecture == .llama {
                let adapter = (spec.out as NSString).appendingPathComponent("adapter")
                try lora.writePEFT(to: adapter, baseModel: spec.checkpoint)
                outputs.append(adapter)
            }
            var resolved = spec
            if let lora { resolved.method = .lora(lora.config) }
            try writeSummary(summary, resolved, dp: dp, to: (spec.out as NSString).appendingPathComponent("training.json"))
            let runID = try store.map { try record(resolved, summary, lm, dp: dp, started: started, in: $0) }
            return FineTuneResult(summary: summary, examples: train.count, splitTexts: split, outputs: outputs, runID: runID, dp: dp)
        } catch {
            try? FileManager.default.removeItem(atPath: spec.out)
            throw error
        }
    }

    static func examples(_ path: String, _ spec: FineTuneSpec, _ lm: LanguageModel, _ context: Int) throws -> ([Example], Int) {
        let items = try readExamples(path, field: spec.field, promptField: spec.promptField)
        do { return try TrainingData.examples(items, lm: lm, context: context, source: path) } catch let e as DatasetError {
            throw InputError(path, e.description.hasPrefix(path + ": ") ? String(e.description.dropFirst(path.count + 2)) : e.description)
        }
    }

    /// DP-SGD's parameters from what the user gave: q = expected batch / N; the missing one of epsilon and noise from
    /// the accountant. Throws InputError (exit 2) for a dataset smaller than the batch or a noise that overspends.
    public static func resolve(_ d: DPSpec, options: TrainingOptions, examples n: Int, source: String,
                               log: (String) -> Void) throws -> DPSummary {
        guard options.batchSize <= n else {
            throw InputError(source, "\(n) example\(n == 1 ? "" : "s") is smaller than the expected batch of \(options.batchSize) "
                             + "(DP-SGD samples each example with probability batch / examples): lower --batch-size")
        }
        let q = Double(options.batchSize) / Double(n)
        let delta = d.delta ?? 1 / (10 * Double(n))
        if let given = d.delta, given >= 1 / Double(n) {
            log(String(format: "warning: delta %.3g is not below 1/N = %.3g: a guarantee this weak allows publishing a whole "
                       + "example; the usual choice is well below 1/N", given, 1 / Double(n)))
        }
        do {
            let noise: Double, epsilon: Double
            if let s = d.noise {
                noise = s
                epsilon = try dpEpsilon(q: q, noise: s, steps: options.steps, delta: delta, accountant: d.accountant)
                if let target = d.epsilon, epsilon > target {
                    throw InputError("--noise", String(format: "noise multiplier %.4g spends epsilon %.4g over %ld steps, more than "
                                                       + "--epsilon %.4g: raise --noise, or give only --epsilon", s, epsilon, options.steps, target))
                }
            } else if let target = d.epsilon {
                noise = try dpNoise(epsilon: target, delta: delta, q: q, steps: options.steps, accountant: d.accountant)
                epsilon = try dpEpsilon(q: q, noise: noise, steps: options.steps, delta: delta, accountant: d.accountant)
            } else {
                throw InputError("--dp", "needs --epsilon (the noise is then solved for) or --noise (the epsilon is then computed)")
            }
            return DPSummary(epsilon: epsilon, delta: delta, noise: noise, clip: d.clip, sampleRate: q, steps: options.steps,
                             examples: n, accountant: d.accountant, poisson: d.poisson)
        } catch let e as DPParameterError {
            throw InputError("--\(e.parameter)", e.problem)
        }
    }

    static func writeSummary(_ s: TrainingSummary, _ spec: FineTuneSpec, dp: DPSummary? = nil, to path: String) throws {
        var o: [String: Any] = ["method": spec.method.name, "steps": s.steps, "tokens": s.tokens, "examples": s.examples,
                                "first_loss": s.firstLoss, "final_loss": s.finalLoss, "seconds": s.seconds,
                                "tokens_per_second": s.tokensPerSecond, "peak_rss_mib": peakRSSMiB(),
                                "data": spec.data, "checkpoint": spec.checkpoint, "learning_rate": spec.options.learningRate,
                                "batch_size": spec.options.batchSize, "accumulation": spec.options.accumulation,
                                "seed": spec.options.seed]
        if let dp { o["dp"] = dp.json }
        if let b = s.evalLossBefore { o["eval_loss_before"] = b }
        if let a = s.evalLossAfter { o["eval_loss_after"] = a }
        if case .lora(let c) = spec.method {
            o["lora"] = ["rank": c.rank, "alpha": c.alpha, "dropout": c.dropout, "rslora": c.rsLoRA, "targets": c.targets.map(\.rawValue)]
        }
        try (jsonLine(o) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Peak resident memory of this process in MiB.
    public static func peakRSSMiB() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }

    /// The run in the store: input and output checkpoints, the data, the training figures.
    static func record(_ spec: FineTuneSpec, _ s: TrainingSummary, _ lm: LanguageModel, dp: DPSummary? = nil, started: Date,
                       in store: Store) throws -> String {
        var o: [String: Any] = ["method": spec.method.name, "steps": spec.options.steps, "learning_rate": spec.options.learningRate,
                                "batch_size": spec.options.batchSize, "seed": spec.options.seed]
        if let dp { o["dp"] = dp.json }
        let options = jsonLine(o)
        let text = "auditor finetune \(spec.checkpoint) --data \(spec.data) --method \(spec.method.name) --out \(spec.out)\n" + options
        let run = RunRecord(id: makeRunID(started), name: "finetune (\(spec.method.name)): \((spec.data as NSString).lastPathComponent)",
                            specPath: spec.data, specSHA256: sha256(data: Data(text.utf8)), specText: text,
                            seed: Int64(bitPattern: spec.options.seed), auditorVersion: auditorVersion, machine: machineDescription(),
                            host: hostName(), pid: getpid(), startedAt: iso8601(started), optionsJSON: options)
        try store.beginRun(run)
        var metrics = [Figure.training(.firstLoss).record(s.firstLoss, lower: nil, upper: nil, n: s.steps, method: "mean over the first step's tokens"),
                       Figure.training(.finalLoss).record(s.finalLoss, lower: nil, upper: nil, n: s.steps, method: "mean over the last step's tokens"),
                       Figure.training(.tokensPerSecond).record(s.tokensPerSecond, lower: nil, upper: nil, n: s.tokens, method: "wall clock")]
        if let b = s.evalLossBefore { metrics.append(Figure.training(.evalLossBefore).record(b, lower: nil, upper: nil, n: 0, method: "held-out set")) }
        if let a = s.evalLossAfter { metrics.append(Figure.training(.evalLossAfter).record(a, lower: nil, upper: nil, n: 0, method: "held-out set")) }
        if let dp {
            metrics.append(Figure.training(.dpEpsilon).record(dp.epsilon, lower: nil, upper: nil, n: dp.steps,
                                                              method: "\(dp.accountant.rawValue.uppercased()) accountant at delta \(dp.delta)"))
        }
        let trained = try LanguageModel.load(path: spec.out)
        let now = Date()
        try store.commitStep(runID: run.id, step: StepRecord(name: "train", finishedAt: iso8601(now), seconds: s.seconds),
                             checkpoints: [try checkpointRecord(lm, role: "base"), try checkpointRecord(trained, role: "output")],
                             datasets: [try datasetRecord("train", spec.data, s.examples)], metrics: metrics)
        let verdict = String(format: "Fine-tuned (%@) for %d steps on %d tokens: training loss %.3f -> %.3f", spec.method.name,
                             s.steps, s.tokens, s.firstLoss, s.finalLoss)
            + (s.evalLossAfter.map { String(format: ", held-out loss %.3f -> %.3f", s.evalLossBefore ?? .nan, $0) } ?? "") + "."
            + (dp.map { " " + $0.line + "." } ?? "")
        try store.finishRun(id: run.id, status: .passed, verdict: verdict, finishedAt: iso8601(Date()),
                            durationSeconds: Date().timeIntervalSince(started))
        return run.id
    }
}

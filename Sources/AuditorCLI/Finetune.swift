// `auditor finetune`: full or LoRA fine-tuning of a checkpoint on JSON Lines text; writes a Hugging Face checkpoint
// (and the PEFT adapter), a JSON summary, and a run in the store.
import ArgumentParser
import Audit
import Experiments
import Foundation
import Model
import Privacy
import Tensor
import Training

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a checkpoint (full weights or LoRA) on JSON Lines text and write the result.",
        discussion: """
            Trains on --data (one JSON object per line; --field holds the text, --prompt-field optionally a prompt whose \
            tokens are not learned). Texts longer than --max-tokens are split into windows (you are told how many). \
            Writes OUT as a Hugging Face checkpoint (config.json, model.safetensors, tokenizer.json; LoRA adapters are \
            merged into it), OUT/adapter in PEFT's format for LoRA on a Llama model, and OUT/training.json with the \
            summary; the run is stored in --db so that `auditor history` lists it. Progress goes to stderr. The input \
            checkpoint is never modified; OUT must not be the input.
            With --dp: DP-SGD. Each example joins a step with probability q = --batch-size / N (Poisson sampling), its \
            gradient is clipped to norm --clip, Gaussian noise of --noise x --clip is added to the sum, which is divided \
            by q N. Give --epsilon (the noise multiplier is solved for) or --noise (the epsilon is computed); delta \
            defaults to 1/(10 N). The epsilon spent is printed as training goes and recorded in OUT/training.json, the \
            checkpoint's metadata and the stored run.
            """)

    @OptionGroup var model: ModelOptions
    @Option(help: "Training data (JSON Lines).") var data: String
    @Option(help: "Held-out data (JSON Lines) for the loss before, during and after.") var eval: String?
    @Option(help: "Field holding the text to learn.") var field = "text"
    @Option(help: "Field holding a prompt whose tokens are not learned (prompt/completion pairs).") var promptField: String?
    @Option(help: "full or lora.") var method = "full"
    @Option(help: "LoRA rank.") var rank = 8
    @Option(help: "LoRA alpha (scaling alpha / rank).") var alpha = 16.0
    @Option(help: "LoRA dropout probability.") var dropout = 0.0
    @Flag(help: "rsLoRA scaling alpha / sqrt(rank).") var rslora = false
    @Option(help: "LoRA target modules, comma-separated: q,k,v,o,gate,up,down or all-linear.") var targets = "q,v"
    @Option(help: "Optimiser steps.") var steps = 100
    @Option(help: "Sequences per micro-batch.") var batchSize = 8
    @Option(help: "Micro-batches per optimiser step (gradient accumulation).") var accumulation = 1
    @Option(help: "Peak learning rate.") var lr = 1e-4
    @Option(help: "Schedule: constant, linear or cosine.") var schedule = "linear"
    @Option(help: "Warm-up steps.") var warmup = 0
    @Option(help: "Optimiser: adamw or sgd.") var optimizer = "adamw"
    @Option(help: "Weight decay (matrices only).") var weightDecay = 0.0
    @Option(help: "Global gradient-norm bound; 0 disables clipping. With --dp: each example's gradient-norm bound C.") var clip = 1.0
    @Option(help: "Longest example in tokens (default: the model's context).") var maxTokens: Int?
    @Option(help: "Held-out loss every N steps (0: before and after only).") var evalEvery = 0
    @Flag(help: "Recompute activations in the backward pass (less memory, slower).") var recompute = false
    @Option(help: "Seed for the data order, LoRA initialisation and dropout.") var seed: UInt64 = 0
    @Option(help: "Save a resumable training state (one file) here, every --save-every steps and after the last.") var saveState: String?
    @Option(help: "Steps between saved states (0: only after the last).") var saveEvery = 0
    @Option(help: "Resume from a state saved by --save-state (same data, seed and options).") var resume: String?
    @Flag(help: "Differentially private fine-tuning (DP-SGD); --batch-size is then the expected batch size.") var dp = false
    @Option(help: "With --dp: the target epsilon (the noise multiplier is solved for).") var epsilon: Double?
    @Option(help: "With --dp: delta (default 1/(10 N) for N training examples).") var delta: Double?
    @Option(help: "With --dp: the noise multiplier sigma (the epsilon is then computed).") var noise: Double?
    @Option(help: "With --dp: the accountant, pld (tighter) or rdp.") var accountant = "pld"
    @Flag(help: "With --dp: fixed-size shuffled batches instead of Poisson sampling (not covered by the accountant's guarantee).")
    var fixedBatches = false
    @Option(help: "Output folder.") var out: String
    @Option(help: "SQLite store of runs.") var db = "reports/auditor.sqlite"

    func validate() throws {
        guard ["full", "lora"].contains(method) else { throw ValidationError("--method must be full or lora") }
        guard (1...100_000).contains(steps) else { throw ValidationError("--steps must be between 1 and 100000") }
        guard (1...4096).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 4096") }
        guard (1...4096).contains(accumulation) else { throw ValidationError("--accumulation must be between 1 and 4096") }
        guard lr > 0 && lr.isFinite && lr < 10 else { throw ValidationError("--lr must be a positive number below 10") }
        guard Schedule(rawValue: schedule) != nil else { throw ValidationError("--schedule must be constant, linear or cosine") }
        guard OptimizerKind(rawValue: optimizer) != nil else { throw ValidationError("--optimizer must be adamw or sgd") }
        guard warmup >= 0 && warmup <= steps else { throw ValidationError("--warmup must be between 0 and --steps") }
        guard weightDecay >= 0 && weightDecay < 1 else { throw ValidationError("--weight-decay must be in [0, 1)") }
        guard clip >= 0 && clip.isFinite else { throw ValidationError("--clip must be >= 0") }
        guard (1...4096).contains(rank) else { throw ValidationError("--rank must be between 1 and 4096") }
        guard alpha > 0 && alpha.isFinite else { throw ValidationError("--alpha must be positive") }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        if let maxTokens, maxTokens < 2 { throw ValidationError("--max-tokens must be at least 2") }
        if let maxTokens { try atMost(maxTokens, Limits.tokens, "--max-tokens") }
        guard evalEvery >= 0 else { throw ValidationError("--eval-every must be >= 0") }
        try atMost(evalEvery, Limits.count, "--eval-every")
        guard saveEvery >= 0 else { throw ValidationError("--save-every must be >= 0") }
        if !dp {
            for (set, flag) in [(epsilon != nil, "--epsilon"), (delta != nil, "--delta"), (noise != nil, "--noise"), (fixedBatches, "--fixed-batches")] where set {
                throw ValidationError("\(flag) is a DP-SGD option: add --dp")
            }
        } else {
            guard PrivacyAccountantKind(rawValue: accountant) != nil else { throw ValidationError("--accountant must be pld or rdp") }
            if recompute { throw ValidationError("--recompute is not available with --dp (the clipped pass keeps every block's activations)") }
            if accumulation != 1 { throw ValidationError("--accumulation is not used with --dp: the Poisson batch is split into passes of at most --batch-size examples") }
        }
        try atMost(saveEvery, Limits.count, "--save-every")
    }

    func run() throws {
        try reportingErrors {
            try checkCheckpointFolder(model.path)   // a folder without config.json: say so, as every command does
            var spec = FineTuneSpec(checkpoint: model.path, data: data, out: out)
            if model.checkpoint == nil && !FileManager.default.fileExists(atPath: spec.checkpoint) {
                throw ModelError(file: spec.checkpoint, "the default checkpoint is not cached: run scripts/setup.sh first, or pass CHECKPOINT")
            }
            spec.eval = eval; spec.field = field; spec.promptField = promptField; spec.maxTokens = maxTokens
            spec.saveState = saveState; spec.saveEvery = saveEvery; spec.resume = resume
            var o = TrainingOptions()
            o.steps = steps; o.batchSize = batchSize; o.accumulation = accumulation; o.learningRate = lr
            o.schedule = Schedule(rawValue: schedule)!; o.warmup = warmup; o.optimizer = OptimizerKind(rawValue: optimizer)!
            o.weightDecay = weightDecay; o.clip = clip > 0 ? clip : nil; o.seed = seed; o.evalEvery = evalEvery; o.recompute = recompute
            spec.options = o
            if dp {
                // Values outside their ranges name their option: usage errors (exit 64), like the accountant's own checks.
                if let e = epsilon, !(e > 0 && e.isFinite) { throw InputError("--epsilon", "must be a positive number; got \(e)") }
                if let d = delta, !(d > 0 && d < 1) { throw InputError("--delta", "must be in (0, 1); got \(d)") }
                if let s = noise, !(s >= 0 && s.isFinite) { throw InputError("--noise", "must be a number >= 0; got \(s)") }
                guard clip > 0 else { throw InputError("--clip", "must be positive with --dp (each example's gradient-norm bound); got \(clip)") }
                var d = DPSpec(epsilon: epsilon, noise: noise, delta: delta)
                d.clip = clip; d.accountant = PrivacyAccountantKind(rawValue: accountant)!; d.poisson = !fixedBatches
                spec.dp = d
            }
            if method == "lora" {
                spec.method = .lora(LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, rsLoRA: rslora))
                spec.loraTargets = targets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            BLAS.setThreads(model.threads ?? ProcessInfo.processInfo.activeProcessorCount)
            let store = try openStore(db)
            // A line every 5% of the steps (and at every held-out evaluation and the last step).
            let every = max(1, steps / 20)
            // Ctrl-C/SIGTERM end training at once (130/143), removing any half-written OUT.
            let guardian = InterruptGuard(runID: nil, dbPath: nil)
            defer { guardian.cancel() }
            let result = try FineTune.run(spec, store: store, log: { FileHandle.standardError.write(Data("finetune: \($0)\n".utf8)) }) { s in
                guard s.step % every == 0 || s.evalLoss != nil || s.step == s.steps else { return }
                let eval = s.evalLoss.map { String(format: ", held-out loss %.4f", $0) } ?? ""
                let rate = Double(s.tokens) / max(s.seconds, 1e-9), left = s.seconds / Double(s.step) * Double(s.steps - s.step)
                var privacy = ""
                if let d = s.dp {
                    privacy = String(format: ", batch %ld, mean example norm %.3f (%.0f%% clipped)", d.examples, d.meanNorm, 100 * d.clippedFraction)
                        + (s.epsilon.map { String(format: ", epsilon spent %.3f", $0) } ?? "")
                }
                FileHandle.standardError.write(Data(String(format: "step %ld/%ld: loss %.4f, lr %.2e, grad norm %.3f%@%@ (%.0f tokens/s, %.0f s left)\n",
                                                           s.step, s.steps, s.loss, s.learningRate, s.gradNorm, privacy, eval, rate, left).utf8))
            }
            let s = result.summary
            print(String(format: "fine-tuned (%@): %ld steps, %ld tokens, %.1f tokens/s, training loss %.4f -> %.4f", method,
                         s.steps, s.tokens, s.tokensPerSecond, s.firstLoss, s.finalLoss))
            if let b = s.evalLossBefore, let a = s.evalLossAfter { print(String(format: "held-out loss %.4f -> %.4f", b, a)) }
            if let d = result.dp { print(d.line) }
            for p in result.outputs { print("wrote: \(p)") }
            if let id = result.runID { print("run: \(id) (stored in \(db))") }
        }
    }
}

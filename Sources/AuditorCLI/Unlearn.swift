// `auditor unlearn`: audit a checkpoint, unlearn a forget set (gradient methods with guardrails, the K-FAC edit, or
// SSD), write the new checkpoint, audit it the same way, and gate on thresholds over the pair.
import ArgumentParser
import Audit
import Experiments
import Foundation
import Model
import Report
import Tensor
import Training
import Unlearning

struct UnlearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlearn",
        abstract: "Unlearn a forget set from a checkpoint, with an audit before and after.",
        discussion: """
            Either `auditor unlearn SPEC.yml` (target, datasets forget/retain/holdout, method, audit attacks, thresholds, out) \
            or `auditor unlearn CHECKPOINT --forget F --retain R [--holdout H] --method M --out DIR`. Methods: ga, graddiff, \
            ga+kl, npo, simnpo, ihl (gradient methods, full or --lora-rank), kfac (curvature edit of --layers, default the \
            last block's MLP, keeping --rho of the curvature mass), ssd (selective synaptic dampening). Gradient methods \
            evaluate forget, retain and held-out loss every --eval-every steps, stop at the forget target (default: the \
            held-out loss), and roll back to the best step when retain or held-out perplexity rises past its bound or \
            generations degenerate. The audit (forget set as members and extraction targets, held-out set as non-members) \
            runs on the original and on OUT; both runs and an `unlearn` run linking them go to --db; OUT/unlearning.md \
            is the before/after report. Exit status: 0 every threshold holds, 1 a threshold is breached, 2 bad input.
            """)

    @Argument(help: "A checkpoint (GGUF file or Hugging Face folder) or an unlearning spec (.yml).") var target: String
    @Option(help: "Forget set (JSON Lines).") var forget: String?
    @Option(help: "Retain set (JSON Lines).") var retain: String?
    @Option(help: "Held-out set (JSON Lines): never trained on; MIA non-members and the default forget target.") var holdout: String?
    @Option(help: "Field holding the text.") var field = "text"
    @Option(help: "ga, graddiff, ga+kl, npo, simnpo, ihl, kfac or ssd.") var method: String?
    @Option(help: "Forget weight gamma.") var gamma = 1.0
    @Option(help: "Retain weight alpha (default 0 for ga, 1 otherwise).") var alpha: Double?
    @Option(help: "NPO / SimNPO beta (defaults 0.1 / 4.5).") var beta: Double?
    @Option(help: "LoRA rank for gradient methods (0: full parametrisation).") var loraRank = 0
    @Option(help: "LoRA targets, comma-separated.") var loraTargets = "q,v"
    @Option(help: "Optimiser steps.") var steps = 50
    @Option(help: "Learning rate.") var lr = 1e-5
    @Option(help: "Forget (and retain) sequences per step.") var batchSize = 4
    @Option(help: "Evaluate every N steps.") var evalEvery = 5
    @Option(help: "Stop once the forget loss reaches this many nats per token (default: the held-out loss).") var forgetTarget: Double?
    @Option(help: "Roll back when retain perplexity rises by more than this fraction.") var maxRetainIncrease = 0.25
    @Option(help: "Roll back when held-out perplexity rises by more than this fraction.") var maxHoldoutIncrease = 0.25
    @Option(help: "K-FAC: curvature mass kept, in (0, 1].") var rho = 0.8
    @Option(help: "K-FAC: layers, comma-separated (e.g. blk.29.gate,blk.29.up).") var layers: String?
    @Option(help: "SSD: selection threshold alpha.") var ssdAlpha = 10.0
    @Option(help: "SSD: dampening lambda.") var ssdLambda = 1.0
    @Flag(help: "LoRA methods: LoKU's Fisher-weighted initialisation of the adapters (FILA; forget over retain importance).") var fila = false
    @Option(help: "Relearning check: fine-tuning steps on half the forget set, extraction measured on the other half (0: none).") var relearnSteps = 10
    @Option(help: "Relearning check: learning rate.") var relearnLr = 1e-4
    @Option(help: "A model that never saw the forget set: the reference of PrivLeak and of the relearning check.") var retrained: String?
    @Option(help: "Threshold on the pair, repeatable (e.g. 'after.extraction.exact.rate <= 0.01').") var threshold: [String] = []
    @Flag(help: "Skip the audits (perplexities and the report only).") var noAudit = false
    @Option(help: "Extraction samples per record in the flag form's audit ((n, p)-discoverability).") var auditSamples = 20
    @Flag(help: "Show secrets in the report's generations.") var showSecrets = false
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Threads for matrix products (default: all cores).") var threads: Int?
    @Option(help: "Output folder (flag form).") var out: String?
    @Option(help: "SQLite store of runs.") var db = "reports/auditor.sqlite"

    var isSpec: Bool { target.hasSuffix(".yml") || target.hasSuffix(".yaml") }

    /// Option values out of range are usage errors naming the option (exit 64), as in every command; the same
    /// values in a spec file are that file's problem (exit 2, checked by the library).
    func validate() throws {
        func check(_ ok: Bool, _ option: String, _ rule: String, _ value: Any) throws {
            if !ok { throw ValidationError("\(option): must be \(rule), got \(value)") }
        }
        try check(gamma.isFinite && gamma > 0, "--gamma", "> 0", gamma)
        if let alpha { try check(alpha.isFinite && alpha >= 0, "--alpha", ">= 0", alpha) }
        if let alpha, method == "ga", alpha > 0 {
            throw ValidationError("--alpha: ga has no retain term (alpha must be 0); use --method graddiff for GA with retain NLL")
        }
        if let beta { try check(beta.isFinite && beta > 0, "--beta", "> 0", beta) }
        try check(steps >= 1, "--steps", ">= 1", steps)
        try check(lr.isFinite && lr > 0, "--lr", "> 0", lr)
        try check(batchSize >= 1, "--batch-size", ">= 1", batchSize)
        try check(evalEvery >= 1, "--eval-every", ">= 1", evalEvery)
        if let forgetTarget { try check(forgetTarget.isFinite && forgetTarget > 0, "--forget-target", "> 0 nats", forgetTarget) }
        try check(maxRetainIncrease.isFinite && maxRetainIncrease > 0, "--max-retain-increase", "> 0", maxRetainIncrease)
        try check(maxHoldoutIncrease.isFinite && maxHoldoutIncrease > 0, "--max-holdout-increase", "> 0", maxHoldoutIncrease)
        try check(ssdAlpha.isFinite && ssdAlpha > 0, "--ssd-alpha", "> 0", ssdAlpha)
        try check(ssdLambda.isFinite && ssdLambda > 0, "--ssd-lambda", "> 0", ssdLambda)
        if let threads { try check(threads >= 1 && threads <= 4096, "--threads", "in 1...4096", threads) }
    }

    /// The flag form as a spec; every range check is the library's (bad input, exit 2).
    func flagSpec() throws -> UnlearnSpec {
        guard let forget else { throw InputError("--forget", "missing: the forget set (JSON Lines)") }
        guard let retain else { throw InputError("--retain", "missing: the retain set (JSON Lines)") }
        guard let method else { throw InputError("--method", "missing (one of: \(UnlearnAlgorithm.names.joined(separator: ", ")))") }
        guard let out else { throw InputError("--out", "missing: the folder for the unlearned checkpoint") }
        for p in [forget, retain] + (holdout.map { [$0] } ?? []) where !FileManager.default.fileExists(atPath: p) {
            throw InputError(p, "no such file")
        }
        let algorithm: UnlearnAlgorithm
        if let m = UnlearningMethod(rawValue: method) {
            algorithm = .gradient(ObjectiveConfig(method: m, gamma: gamma, alpha: alpha, beta: beta))
        } else if method == "kfac" {
            algorithm = .kfac(rho: rho, layers: layers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
        } else if method == "ssd" {
            algorithm = .ssd(SSDConfig(alpha: ssdAlpha, lambda: ssdLambda))
        } else {
            throw InputError("--method", "unknown method '\(method)' (expected one of: \(UnlearnAlgorithm.names.joined(separator: ", ")))")
        }
        var spec = UnlearnSpec(checkpoint: target, forget: forget, retain: retain, algorithm: algorithm, out: out)
        spec.holdout = holdout; spec.field = field; spec.showSecrets = showSecrets
        spec.name = "unlearn \((forget as NSString).lastPathComponent)"
        guard loraRank >= 0 && loraRank <= 4096 else { throw InputError("--lora-rank", "must be in 0...4096, got \(loraRank)") }
        if loraRank > 0 {
            spec.lora = LoRAConfig(rank: loraRank, alpha: Double(2 * loraRank))
            spec.loraTargets = loraTargets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        var o = UnlearningOptions()
        o.steps = steps; o.learningRate = lr; o.batchSize = batchSize; o.evalEvery = evalEvery; o.forgetTarget = forgetTarget
        o.maxRetainIncrease = maxRetainIncrease; o.maxHoldoutIncrease = maxHoldoutIncrease; o.seed = seed
        spec.options = o
        spec.fila = fila; spec.retrained = retrained
        spec.relearn.steps = relearnSteps; spec.relearn.learningRate = relearnLr; spec.relearn.seed = seed
        guard relearnSteps >= 0 && relearnSteps <= 100_000 else { throw InputError("--relearn-steps", "must be in 0...100000, got \(relearnSteps)") }
        guard relearnLr.isFinite && relearnLr > 0 else { throw InputError("--relearn-lr", "must be > 0, got \(relearnLr)") }
        guard auditSamples >= 1 && auditSamples <= 1000 else { throw InputError("--audit-samples", "must be in 1...1000, got \(auditSamples)") }
        if !noAudit {
            spec.attacksYAML = "extraction:\n  prefix: [16]\n  suffix: 16\n  n: \(auditSamples)\n"
                + (holdout == nil ? "" : "mia:\n  attacks: [loss, zlib, mink]\n  k: [0.4]\n  resamples: 200\n  blind_baseline: false\n")
        }
        spec.thresholds = try threshold.map { try PairThreshold.parse($0) }
        return spec
    }

    func run() throws {
        var breached = false
        try reportingErrors {
            var spec: UnlearnSpec
            if isSpec {
                spec = try UnlearnSpecFile.load(target)
                if showSecrets { spec.showSecrets = true }
            } else {
                spec = try flagSpec()
            }
            if let threads, threads < 1 || threads > 4096 { throw InputError("--threads", "must be in 1...4096") }
            BLAS.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
            let store = try openStore(db)
            let guardian = InterruptGuard(runID: nil, dbPath: nil)
            defer { guardian.cancel() }
            let result = try Unlearn.run(spec, store: store, dbPath: db, log: { FileHandle.standardError.write(Data("unlearn: \($0)\n".utf8)) })
            let f = result.figures
            let pair = UnlearningPair(name: spec.name, description: result.description, stop: result.stop, figures: f, before: result.before,
                                      after: result.after, checks: result.checks,
                                      generations: result.generations.map { UnlearningGeneration(prefix: $0.prefix, truth: $0.truth, before: $0.before, after: $0.after) },
                                      secrets: result.secrets, retrained: spec.retrained != nil, seconds: result.seconds, peakMemoryMiB: result.peakMemoryMiB)
            let written = try Report.writeUnlearning(pair, to: spec.out, options: ReportOptions(showSecrets: spec.showSecrets))
            print("unlearned (\(spec.algorithm.name)): \(result.stop)")
            print(String(format: "forget loss %.4f -> %.4f; retain perplexity %.3f -> %.3f", f["forget.loss.before"] ?? .nan, f["forget.loss.after"] ?? .nan,
                         f["retain.perplexity.before"] ?? .nan, f["retain.perplexity.after"] ?? .nan)
                  + (f["holdout.perplexity.before"].map { String(format: "; held-out perplexity %.3f -> %.3f", $0, f["holdout.perplexity.after"] ?? .nan) } ?? ""))
            for key in ["extraction.exact.rate", "extraction.approximate.rate", "mia.loss.auc"] {
                if let b = f["before." + key], let a = f["after." + key] { print(String(format: "%@ %.4f -> %.4f", key, b, a)) }
            }
            for key in ["verbmem.rougeL", "privleak"] {
                if let b = f[key + ".before"], let a = f[key + ".after"] { print(String(format: "%@ %.4f -> %.4f", key, b, a)) }
            }
            if let b = f["relearn.exact.rate.before"], let a = f["relearn.exact.rate.after"] {
                print(String(format: "relearning check (held half): exact rate %.3f -> %.3f, loss %.3f -> %.3f", b, a,
                             f["relearn.loss.before"] ?? .nan, f["relearn.loss.after"] ?? .nan)
                      + (f["retrained.relearn.exact.rate.after"].map { String(format: "; retrained model %.3f", $0) } ?? ""))
            }
            for c in result.checks where !c.passed { print("  breached: \(c.message)") }
            print("wrote: \(spec.out)")
            print("report: \(written.joined(separator: ", "))")
            if let id = result.runID {
                print("run: \(id) (before \(result.beforeRun ?? "-"), after \(result.afterRun ?? "-"); stored in \(db))")
            }
            breached = result.breached
        }
        if breached { throw ExitCode(1) }
    }
}

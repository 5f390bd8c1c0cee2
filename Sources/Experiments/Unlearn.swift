// Unlearning with evidence: audit the original, unlearn (a gradient method with guardrails, the K-FAC edit, or SSD),
// write the new checkpoint (never over the input), audit the result the same way, and keep the pair: both audit
// runs, an `unlearn` run that names them (options_json before_run / after_run), the perplexities, the pair's
// thresholds, and a before/after Markdown report.
import Audit
import Checkpoint
import Foundation
import Model
import Store
import Tensor
import Training
import Unlearning
import Yams

public enum UnlearnAlgorithm: Sendable, Equatable {
    case gradient(ObjectiveConfig)
    case kfac(rho: Double, layers: [String]?)
    case ssd(SSDConfig)

    public var name: String {
        switch self {
        case .gradient(let c): return c.method.rawValue
        case .kfac: return "kfac"
        case .ssd: return "ssd"
        }
    }
    public static let names = UnlearningMethod.allCases.map(\.rawValue) + ["kfac", "ssd"]
}

/// "after.extraction.exact.rate <= 0.01", "retain.perplexity.increase <= 10%": a figure of the pair, an operator, a
/// number (a trailing % divides by 100).
public struct PairThreshold: Sendable, Equatable {
    public var expression: String, key: String, op: String, value: Double
    public static let ops = ["<=", "<", ">=", ">"]
    public static func parse(_ s: String) throws -> PairThreshold {
        let parts = s.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 3, ops.contains(parts[1]) else {
            throw InputError("thresholds", "'\(s)': expected FIGURE OP NUMBER, e.g. 'after.extraction.exact.rate <= 0.01' or 'retain.perplexity.increase <= 10%'")
        }
        var text = parts[2], scale = 1.0
        if text.hasSuffix("%") { text.removeLast(); scale = 0.01 }
        guard let v = Double(text), v.isFinite else { throw InputError("thresholds", "'\(s)': '\(parts[2])' is not a number") }
        let k = parts[0]
        guard k.hasPrefix("before.") || k.hasPrefix("after.") || PairFigures.own.contains(k) else {
            throw InputError("thresholds", "'\(s)': unknown figure '\(k)' (expected before.KEY or after.KEY with an audit figure, or one of: \(PairFigures.own.joined(separator: ", ")))")
        }
        return PairThreshold(expression: s, key: k, op: parts[1], value: v * scale)
    }
    func holds(_ x: Double) -> Bool {
        switch op {
        case "<=": return x <= value
        case "<": return x < value
        case ">=": return x >= value
        default: return x > value
        }
    }
}

public enum PairFigures {
    /// Figures the unlearning step itself measures (mean token loss in nats; perplexity = exp of it; increase relative).
    public static let own = ["forget.loss.before", "forget.loss.after", "retain.perplexity.before", "retain.perplexity.after",
                             "retain.perplexity.increase", "holdout.perplexity.before", "holdout.perplexity.after",
                             "holdout.perplexity.increase", "unlearn.seconds"]
}

public struct UnlearnSpec: Sendable {
    public var name = "unlearn"
    public var checkpoint: String
    public var forget: String, retain: String, holdout: String?
    public var field = "text"
    public var algorithm: UnlearnAlgorithm
    /// LoRA parametrisation of a gradient method (nil: full).
    public var lora: LoRAConfig? = nil
    public var loraTargets: [String]? = nil
    public var options = UnlearningOptions()
    public var maxTokens: Int? = nil
    public var out: String
    /// The `attacks` mapping of an audit spec (YAML) run before and after; nil: no audits, only the perplexities.
    public var attacksYAML: String? = nil
    public var thresholds: [PairThreshold] = []
    /// Greedy continuations of this many forget prefixes in the report and in the degeneration guardrail.
    public var samples = 4
    public var showSecrets = false
    /// The spec file, when the run came from one (stored with the run).
    public var specPath: String? = nil, specText: String? = nil
    public init(checkpoint: String, forget: String, retain: String, algorithm: UnlearnAlgorithm, out: String) {
        self.checkpoint = checkpoint; self.forget = forget; self.retain = retain; self.algorithm = algorithm; self.out = out
    }
}

public struct UnlearnResult: Sendable {
    public var runID: String?
    public var beforeRun: String?, afterRun: String?
    public var figures: [String: Double]
    public var checks: [CheckRecord]
    public var stop: String
    public var report: String
    public var breached: Bool { checks.contains { !$0.passed } }
}

public enum Unlearn {
    /// Runs the whole pair. `log` gets progress lines. Throws InputError (exit 2) on bad input.
    public static func run(_ spec: UnlearnSpec, store: Store?, dbPath: String, log: @escaping (String) -> Void = { _ in }) throws -> UnlearnResult {
        try LanguageModel.checkOutput(spec.out, format: .huggingFace, input: spec.checkpoint)
        if case .gradient(let c) = spec.algorithm { try wrap { try c.validate() } }
        if case .ssd(let c) = spec.algorithm { try wrap { try c.validate() } }
        if case .kfac(let rho, _) = spec.algorithm, !(rho > 0 && rho <= 1) { throw InputError("--rho", "must be in (0, 1], got \(rho)") }
        try wrap { try spec.options.validate() }
        let started = Date()
        let lm = try LanguageModel.load(path: spec.checkpoint)
        let context = min(spec.maxTokens ?? lm.config.maxPositions, lm.config.maxPositions)
        let forgetTexts = try readJSONLTexts(spec.forget, field: spec.field).map(\.text)
        let retainTexts = try readJSONLTexts(spec.retain, field: spec.field).map(\.text)
        let holdoutTexts = try spec.holdout.map { try readJSONLTexts($0, field: spec.field).map(\.text) }
        guard !forgetTexts.isEmpty else { throw InputError(spec.forget, "the forget set is empty: nothing to unlearn") }
        let overlap = Set(forgetTexts).intersection(retainTexts).count
        if overlap > 0 { log("warning: \(overlap) text\(overlap == 1 ? "" : "s") of the forget set \(overlap == 1 ? "is" : "are") also in the retain set (\(spec.retain)); unlearning will fight retention on them") }
        if let h = holdoutTexts {
            let o = Set(forgetTexts).intersection(h).count
            if o > 0 { log("warning: \(o) forget text\(o == 1 ? "" : "s") also in the held-out set (\(spec.holdout!)): the MIA comparison is biased") }
        }
        func examples(_ texts: [String], _ path: String) throws -> [Example] {
            do { return try TrainingData.examples(texts.map { (nil, $0) }, lm: lm, context: context, source: path).examples } catch let e as DatasetError {
                throw InputError(path, e.description.hasPrefix(path + ": ") ? String(e.description.dropFirst(path.count + 2)) : e.description)
            }
        }
        let forget = try examples(forgetTexts, spec.forget), retain = try examples(retainTexts, spec.retain)
        let holdout = try holdoutTexts.map { try examples($0, spec.holdout!) }
        // Resolve names now, before any work: a wrong layer or target is bad input.
        var layers: [LayerRef] = []
        if case .kfac(_, let names) = spec.algorithm {
            layers = try names.map { try $0.map { n in try wrap { try LayerRef.parse(n, config: lm.config) } } } ?? LayerRef.lastMLP(lm.config)
        }
        var lora: LoRA? = nil
        if var c = spec.lora, case .gradient = spec.algorithm {
            if let names = spec.loraTargets {
                do { c.targets = try LoRAConfig.targets(names, config: lm.config) } catch let e as ModelError { throw InputError("--targets", e.message) }
            }
            lora = LoRA(modelConfig: lm.config, config: c, seed: spec.options.seed)
        }

        // Before: the audit of the original and its perplexities.
        let prompts = forget.prefix(spec.samples).map { Array($0.tokens.prefix(max(1, min(16, $0.tokens.count / 2)))) }
        var figures: [String: Double] = [:]
        let evaluator = UnlearningObjective.evaluationPass(lm.model)
        func meanLoss(_ ex: [Example]) -> Double {
            var s = 0.0, w = 0.0
            for start in stride(from: 0, to: ex.count, by: 8) {
                let l = evaluator.loss(TrainingData.batch(ex, Array(start..<min(ex.count, start + 8))[...]))
                if l.weight > 0 { s += l.loss * l.weight; w += l.weight }
            }
            return w > 0 ? s / w : .nan
        }
        figures["forget.loss.before"] = meanLoss(forget)
        figures["retain.perplexity.before"] = exp(meanLoss(retain))
        if let holdout { figures["holdout.perplexity.before"] = exp(meanLoss(holdout)) }
        let generationsBefore = lm.model.generate(prompts: prompts, maxNewTokens: 24)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("auditor-unlearn-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var before: RunReport? = nil
        if let attacks = spec.attacksYAML, let store {
            log("audit of the original: \(spec.checkpoint)")
            before = try audit(spec, attacks: attacks, target: spec.checkpoint, label: "before", work: work, store: store, dbPath: dbPath, log: log)
        }

        // Unlearn.
        log("unlearning with \(spec.algorithm.name) (\(lora == nil ? "full" : "LoRA rank \(lora!.config.rank)"))")
        let t0 = Date()
        var stop = ""
        switch spec.algorithm {
        case .gradient(let config):
            let u = try Unlearner(model: lm.model, lora: lora, config: config, options: spec.options)
            let generate: () -> [[Int]] = {
                // The adapters are not in the inference path: generate from a merged copy.
                guard let lora else { return lm.model.generate(prompts: prompts, maxNewTokens: 24) }
                let copy = UnlearningObjective.copy(of: lm.model)
                lora.merge(into: copy)
                return copy.generate(prompts: prompts, maxNewTokens: 24)
            }
            let s = try u.run(forget: forget, retain: retain, holdout: holdout, generate: spec.samples > 0 ? generate : nil,
                              onEval: { e in
                                  log(String(format: "step %d: forget loss %.4f, retain perplexity %.3f%@%@", e.step, e.forget, exp(e.retain),
                                             e.holdout.map { String(format: ", held-out perplexity %.3f", exp($0)) } ?? "",
                                             e.degenerate.map { ", degenerate: \($0)" } ?? ""))
                              })
            stop = s.reason.description
            log("stopped: \(stop)")
            lora?.merge(into: lm.model)
        case .kfac(let rho, _):
            let factors = KFAC.collect(model: lm.model, sequences: retain.map(\.tokens), layers: layers, batchSize: 8, seed: spec.options.seed)
            let reports = try wrap { try KFAC.edit(model: lm.model, factors: factors, rho: rho) }
            stop = "K-FAC edit of \(reports.map(\.layer).joined(separator: ", ")) at rho \(rho): kept "
                + reports.map { String(format: "%.1f%%", 100 * Double($0.kept) / Double($0.pairs)) }.joined(separator: ", ")
                + " of the eigenpairs (factors over \(retain.count) retain sequences)"
            log(stop)
        case .ssd(let config):
            let r = try wrap { try SSD.apply(model: lm.model, forget: forget, retain: retain, config: config) }
            stop = "SSD dampened \(r.dampened) of \(r.parameters) parameters (alpha \(config.alpha), lambda \(config.lambda))"
            log(stop)
        }
        figures["unlearn.seconds"] = Date().timeIntervalSince(t0)
        figures["forget.loss.after"] = meanLoss(forget)
        figures["retain.perplexity.after"] = exp(meanLoss(retain))
        figures["retain.perplexity.increase"] = figures["retain.perplexity.after"]! / figures["retain.perplexity.before"]! - 1
        if let holdout {
            figures["holdout.perplexity.after"] = exp(meanLoss(holdout))
            figures["holdout.perplexity.increase"] = figures["holdout.perplexity.after"]! / figures["holdout.perplexity.before"]! - 1
        }
        let generationsAfter = lm.model.generate(prompts: prompts, maxNewTokens: 24)

        // The new checkpoint, then its audit. From here an error removes OUT.
        try lm.writeHuggingFace(to: spec.out)
        PendingOutputs.add(spec.out)
        defer { PendingOutputs.remove(spec.out) }
        do {
            var after: RunReport? = nil
            if let attacks = spec.attacksYAML, let store {
                log("audit of the result: \(spec.out)")
                after = try audit(spec, attacks: attacks, target: spec.out, label: "after", work: work, store: store, dbPath: dbPath, log: log)
            }
            for m in before?.metrics ?? [] { figures["before." + m.key] = m.value }
            for m in after?.metrics ?? [] { figures["after." + m.key] = m.value }
            let checks = spec.thresholds.map { t -> CheckRecord in
                guard let v = figures[t.key] else {
                    return CheckRecord(expression: t.expression, metric: t.key, op: t.op, threshold: t.value, value: nil, lower: nil, upper: nil,
                                       passed: false, message: "\(t.expression): not measured (no such figure in this pair)")
                }
                let ok = t.holds(v)
                return CheckRecord(expression: t.expression, metric: t.key, op: t.op, threshold: t.value, value: v, lower: nil, upper: nil,
                                   passed: ok, message: String(format: "%@: %@ is %.4g", t.expression, ok ? "holds" : "breached", v))
            }
            let secrets = spec.showSecrets ? [] : forgetTexts + (holdoutTexts ?? [])
            let report = markdown(spec, figures: figures, before: before, after: after, checks: checks, stop: stop,
                                  prompts: prompts, generations: (generationsBefore, generationsAfter), lm: lm, redactFrom: secrets,
                                  seconds: Date().timeIntervalSince(started))
            let reportPath = (spec.out as NSString).appendingPathComponent("unlearning.md")
            try report.write(toFile: reportPath, atomically: true, encoding: .utf8)
            let runID = try store.map { try record(spec, figures: figures, checks: checks, before: before?.run.id, after: after?.run.id,
                                                   stop: stop, lm: lm, started: started, in: $0, counts: (forget.count, retain.count, holdout?.count)) }
            return UnlearnResult(runID: runID, beforeRun: before?.run.id, afterRun: after?.run.id, figures: figures, checks: checks, stop: stop,
                                 report: reportPath)
        } catch {
            try? FileManager.default.removeItem(atPath: spec.out)
            throw error
        }
    }

    /// Library errors of bad parameters become input errors (exit 2).
    static func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as UnlearningError { throw InputError("unlearn", e.description) }
    }

    /// The audit spec of one side: the forget set as members and extraction targets, the held-out set as non-members.
    static func audit(_ spec: UnlearnSpec, attacks: String, target: String, label: String, work: String, store: Store, dbPath: String,
                      log: @escaping (String) -> Void) throws -> RunReport {
        func q(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        func abs(_ p: String) -> String { p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p }
        var yaml = "version: 1\nname: \(q("\(spec.name): \(label) unlearning (\(spec.algorithm.name))"))\nseed: \(spec.options.seed)\n"
        yaml += "target:\n  checkpoint: \(q(abs(target)))\n"
        yaml += "datasets:\n  field: \(q(spec.field))\n  members: \(q(abs(spec.forget)))\n  extraction: \(q(abs(spec.forget)))\n"
        if let h = spec.holdout { yaml += "  nonmembers: \(q(abs(h)))\n" }
        yaml += "attacks:\n" + attacks.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") + "\n"
        let path = (work as NSString).appendingPathComponent("\(label).yml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let auditSpec = try loadAuditSpec(path)
        var runner = AuditRunner(spec: auditSpec, store: store, dbPath: dbPath)
        runner.log = log
        runner.handleSignals = false
        return try runner.run()
    }

    static func record(_ spec: UnlearnSpec, figures: [String: Double], checks: [CheckRecord], before: String?, after: String?, stop: String,
                       lm: LanguageModel, started: Date, in store: Store, counts: (Int, Int, Int?)) throws -> String {
        var o: [String: Any] = ["method": spec.algorithm.name, "parametrisation": spec.lora == nil ? "full" : "lora",
                                "steps": spec.options.steps, "learning_rate": spec.options.learningRate, "seed": spec.options.seed,
                                "stop": stop]
        if let before { o["before_run"] = before }
        if let after { o["after_run"] = after }
        let options = jsonLine(o)
        let text = spec.specText ?? "auditor unlearn \(spec.checkpoint) --forget \(spec.forget) --retain \(spec.retain)"
            + (spec.holdout.map { " --holdout \($0)" } ?? "") + " --method \(spec.algorithm.name) --out \(spec.out)\n" + options
        let run = RunRecord(id: makeRunID(started), name: "unlearn (\(spec.algorithm.name)): \((spec.forget as NSString).lastPathComponent)",
                            specPath: spec.specPath ?? spec.forget, specSHA256: sha256(data: Data(text.utf8)), specText: text,
                            seed: Int64(bitPattern: spec.options.seed), auditorVersion: auditorVersion, machine: machineDescription(),
                            host: hostName(), pid: getpid(), startedAt: iso8601(started), optionsJSON: options)
        try store.beginRun(run)
        let metrics = figures.keys.filter { !$0.hasPrefix("before.") && !$0.hasPrefix("after.") }.sorted().map { k in
            MetricRecord(step: "unlearn", key: "unlearn." + k, value: figures[k]!, lower: nil, upper: nil, n: nil,
                         method: k.hasSuffix("seconds") ? "wall clock" : "mean token loss over the set", label: k)
        }
        var datasets = [try datasetRecord("forget", spec.forget, counts.0), try datasetRecord("retain", spec.retain, counts.1)]
        if let h = spec.holdout, let n = counts.2 { datasets.append(try datasetRecord("holdout", h, n)) }
        let unlearned = try LanguageModel.load(path: spec.out)
        try store.commitStep(runID: run.id, step: StepRecord(name: "unlearn", finishedAt: iso8601(Date()), seconds: figures["unlearn.seconds"] ?? 0),
                             checkpoints: [try checkpointRecord(lm, role: "base"), try checkpointRecord(unlearned, role: "output")],
                             datasets: datasets, metrics: metrics, checks: checks)
        let failing = checks.filter { !$0.passed }
        try store.finishRun(id: run.id, status: failing.isEmpty ? .passed : .breached,
                            verdict: "Unlearned with \(spec.algorithm.name): \(stop)" + (failing.isEmpty ? "" : "; \(failing.count) threshold(s) breached"),
                            finishedAt: iso8601(Date()), durationSeconds: Date().timeIntervalSince(started))
        return run.id
    }

    /// The before/after report.
    static func markdown(_ spec: UnlearnSpec, figures: [String: Double], before: RunReport?, after: RunReport?, checks: [CheckRecord],
                         stop: String, prompts: [[Int]], generations: ([[Int]], [[Int]]), lm: LanguageModel, redactFrom secrets: [String],
                         seconds: Double) -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.4g", $0) } ?? "–" }
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        func redact(_ s: String) -> String {
            guard !secrets.isEmpty else { return s }
            // Digits and e-mail addresses are what the records hide; anything else stays readable.
            var out = ""
            for ch in s { out.append(ch.isNumber ? "#" : ch) }
            return out.replacingOccurrences(of: #"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+"#, with: "[email]", options: .regularExpression)
        }
        var md = "# Unlearning: \(cell(spec.name))\n\n"
        md += "Checkpoint `\(spec.checkpoint)` -> `\(spec.out)`; method **\(spec.algorithm.name)**"
        md += spec.lora.map { " (LoRA rank \($0.rank))" } ?? (spec.algorithm.name == "kfac" || spec.algorithm.name == "ssd" ? "" : " (full)")
        md += String(format: "; total time %.1f s, unlearning %.1f s, peak memory %.0f MiB.\n\n", seconds, figures["unlearn.seconds"] ?? 0, FineTune.peakRSSMiB())
        md += "Stop: \(stop).\n\n"
        md += "| figure | before | after |\n|---|---|---|\n"
        md += "| forget loss (nats/token) | \(f(figures["forget.loss.before"])) | \(f(figures["forget.loss.after"])) |\n"
        md += "| retain perplexity | \(f(figures["retain.perplexity.before"])) | \(f(figures["retain.perplexity.after"])) |\n"
        if figures["holdout.perplexity.before"] != nil {
            md += "| held-out perplexity | \(f(figures["holdout.perplexity.before"])) | \(f(figures["holdout.perplexity.after"])) |\n"
        }
        if let before, let after {
            let b = Dictionary(before.metrics.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            for m in after.metrics {
                let x = b[m.key]
                func iv(_ r: MetricRecord?) -> String {
                    guard let r else { return "–" }
                    return f(r.value) + ((r.lower != nil && r.upper != nil) ? " [\(f(r.lower)), \(f(r.upper))]" : "")
                }
                md += "| \(cell(m.label)) | \(iv(x)) | \(iv(m)) |\n"
            }
            md += "\nAudit runs: before `\(before.run.id)`, after `\(after.run.id)`.\n"
            if before.metrics.contains(where: { $0.key.hasPrefix("mia.") }) {
                md += "MIA compares the forget set with the held-out set; there is no retrained model, so an AUC is compared with 0.5 (chance), not with a retrained model's AUC (MUSE's PrivLeak needs one).\n"
            }
        }
        if !checks.isEmpty {
            md += "\n## Thresholds on the pair\n\n| threshold | value | result |\n|---|---|---|\n"
            for c in checks { md += "| `\(cell(c.expression))` | \(f(c.value)) | \(c.passed ? "holds" : "**breached**") |\n" }
        }
        if !prompts.isEmpty {
            md += "\n## Greedy continuations of forget prefixes\(secrets.isEmpty ? "" : " (digits and e-mail addresses redacted; --show-secrets shows them)")\n\n"
            md += "| prefix | before | after |\n|---|---|---|\n"
            for (i, p) in prompts.enumerated() {
                md += "| \(cell(redact(lm.tokenizer.decode(p)))) | \(cell(redact(lm.tokenizer.decode(generations.0[i])))) | \(cell(redact(lm.tokenizer.decode(generations.1[i])))) |\n"
            }
        }
        return md + "\n"
    }
}

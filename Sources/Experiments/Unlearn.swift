// Unlearning with evidence: audit the original, unlearn (a gradient method with guardrails, the K-FAC edit, or SSD),
// write the new checkpoint (never over the input), audit the result the same way, and keep the pair: both audit
// runs, an `unlearn` run that names them (options_json before_run / after_run), the perplexities, the pair's
// thresholds, and a before/after Markdown report.
import Attacks
import Audit
import Checkpoint
import Foundation
import Model
import Stats
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
    /// Figures the unlearning step itself measures (mean token loss in nats; perplexity = exp of it; increase relative;
    /// VerbMem, PrivLeak, the relearning check): the metric catalog's list (Audit/Catalog.swift).
    public static let own = Figure.UnlearnFigure.allCases.map(\.rawValue)
}

public struct UnlearnSpec: Sendable {
    public var name = "unlearn"
    public var checkpoint: String
    public var forget: String, retain: String, holdout: String?
    public var field = "text"
    public var algorithm: UnlearnAlgorithm
    /// LoRA parametrisation of a gradient method (nil: full).
    public var lora: LoRAConfig? = nil
    /// LoKU's Fisher-weighted initialisation of the LoRA adapters (FILA; needs `lora` and a method without a reference).
    public var fila = false
    /// The relearning check after unlearning (steps 0: none).
    public var relearn = RelearnOptions()
    /// A model that never saw the forget set (retrained without it): the reference of PrivLeak and of the relearning check.
    public var retrained: String? = nil
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

/// One forget prefix and the greedy continuations before and after, as text, beside the record's true continuation.
public struct UnlearnGeneration: Sendable, Equatable {
    public var prefix: String, truth: String, before: String, after: String
}

public struct UnlearnResult: Sendable {
    public var runID: String?
    public var beforeRun: String?, afterRun: String?
    public var figures: [String: Double]
    public var checks: [CheckRecord]
    public var stop: String
    /// The Markdown report written by the library (unlearning.md); the CLI renders the full report over it.
    public var report: String
    public var breached: Bool { checks.contains { !$0.passed } }
    /// What a report of the pair needs beyond the figures.
    public var before: RunReport? = nil, after: RunReport? = nil
    public var generations: [UnlearnGeneration] = []
    /// The forget and held-out texts: what a redacted report must not show.
    public var secrets: [String] = []
    public var seconds = 0.0, peakMemoryMiB = 0.0
    public var description = ""
}

public enum Unlearn {
    /// Runs the whole pair. `log` gets progress lines. Throws InputError (exit 2) on bad input.
    public static func run(_ spec: UnlearnSpec, store: Store?, dbPath: String, log: @escaping (String) -> Void = { _ in }) throws -> UnlearnResult {
        try LanguageModel.checkOutput(spec.out, format: .huggingFace, input: spec.checkpoint)
        if case .gradient(let c) = spec.algorithm { try wrap { try c.validate() } }
        if case .ssd(let c) = spec.algorithm { try wrap { try c.validate() } }
        if case .kfac(let rho, _) = spec.algorithm, !(rho > 0 && rho <= 1) { throw InputError("--rho", "must be in (0, 1], got \(rho)") }
        try wrap { try spec.options.validate() }
        try spec.relearn.validate()
        if spec.fila {
            guard case .gradient(let c) = spec.algorithm, spec.lora != nil else {
                throw InputError("fila", "LoKU's Fisher-weighted initialisation is for LoRA adapters: it needs a gradient method (ihl, ...) with a LoRA rank")
            }
            guard !c.method.needsReference else {
                throw InputError("fila", "\(c.method.rawValue) compares with the original model, which FILA's residual base weights no longer are; use it with ihl, ga, graddiff or simnpo")
            }
        }
        if let r = spec.retrained {
            guard FileManager.default.fileExists(atPath: r) else { throw InputError(r, "no such checkpoint (the retrained model)") }
            guard URL(fileURLWithPath: r).standardizedFileURL != URL(fileURLWithPath: spec.checkpoint).standardizedFileURL else {
                throw InputError(r, "the retrained model is the checkpoint being unlearned; it must be a model that never saw the forget set")
            }
        }
        let started = Date()
        let lm = try LanguageModel.load(path: spec.checkpoint)
        let context = min(spec.maxTokens ?? lm.config.maxPositions, lm.config.maxPositions)
        let retrainedModel = try spec.retrained.map { path -> LanguageModel in
            let ref = try LanguageModel.load(path: path)
            guard ref.config.vocabSize == lm.config.vocabSize else {
                throw InputError(path, "the retrained model's vocabulary (\(ref.config.vocabSize) tokens) differs from the checkpoint's (\(lm.config.vocabSize))")
            }
            return ref
        }
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
        func examples(_ texts: [String], _ path: String, _ model: LanguageModel? = nil) throws -> [Example] {
            do { return try TrainingData.examples(texts.map { (nil, $0) }, lm: model ?? lm, context: context, source: path).examples } catch let e as DatasetError {
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
        if let holdout { figures["privleak.auc.before"] = try minKAUC(lm, forget, holdout) }
        let verbBefore = VerbMem.measure(lm, forget)
        figures["verbmem.rougeL.before"] = verbBefore.f1; figures["verbmem.rougeL_recall.before"] = verbBefore.recall
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
            if spec.fila, let lora {
                let r = try wrap { try FILA.initialise(model: lm.model, lora: lora, forget: forget, retain: retain, batchSize: spec.options.batchSize) }
                log(String(format: "FILA: adapters initialised from the forget/retain Fisher importance (%.1f s; largest share of a weight moved %.3f)",
                           r.seconds, r.moved.values.max() ?? 0))
            }
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
        let verbAfter = VerbMem.measure(lm, forget)
        figures["verbmem.rougeL.after"] = verbAfter.f1; figures["verbmem.rougeL_recall.after"] = verbAfter.recall
        if let holdout {
            figures["privleak.auc.after"] = try minKAUC(lm, forget, holdout)
            figures["privleak.reference.auc"] = 0.5
        }

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
            // Did it really forget: relearn from half the forget set, measure the other half (the model in memory
            // is the unlearned one, already written; the check changes only this copy).
            let relearn = spec.relearn.steps > 0 && forget.count >= 2
            if spec.relearn.steps > 0 && !relearn { log("note: no relearning check: it needs at least 2 forget records (one half to train on, one to measure)") }
            if relearn {
                log("relearning check: \(spec.relearn.steps) steps on half the forget set")
                let o = try Relearn.run(lm, forget: forget, options: spec.relearn)
                figures.merge(o.figures("relearn")) { _, b in b }
                log(String(format: "relearning: held-half exact rate %.3f -> %.3f, approximate %.3f -> %.3f, loss %.3f -> %.3f",
                           o.before.exactRate, o.after.exactRate, o.before.approximateRate, o.after.approximateRate, o.before.loss, o.after.loss))
            }
            if let ref = retrainedModel, let path = spec.retrained {
                log("the retrained model (never saw the forget set): \(path)")
                if let holdout {
                    let refForget = try examples(forgetTexts, spec.forget, ref), refHoldout = try examples(holdoutTexts!, spec.holdout!, ref)
                    figures["privleak.reference.auc"] = try minKAUC(ref, refForget, refHoldout)
                }
                if relearn {
                    let o = try Relearn.run(ref, forget: try examples(forgetTexts, spec.forget, ref), options: spec.relearn)
                    figures.merge(o.figures("retrained.relearn")) { _, b in b }
                }
            }
            // MUSE's PrivLeak: (AUC_unlearned - AUC_retrained) / AUC_retrained * 100, AUC of -MinK40% forget vs held-out;
            // with no retrained model the reference AUC is 0.5 (chance), and the report says so.
            if let ref = figures["privleak.reference.auc"] {
                for side in ["before", "after"] {
                    if let a = figures["privleak.auc.\(side)"] { figures["privleak.\(side)"] = (a - ref) / ref * 100 }
                }
            }

            let checks = spec.thresholds.map { t -> CheckRecord in
                guard let v = figures[t.key] else {
                    return CheckRecord(expression: t.expression, metric: t.key, op: t.op, threshold: t.value, value: nil, lower: nil, upper: nil,
                                       passed: false, message: "\(t.expression): not measured (no such figure in this pair)")
                }
                let ok = t.holds(v)
                return CheckRecord(expression: t.expression, metric: t.key, op: t.op, threshold: t.value, value: v, lower: nil, upper: nil,
                                   passed: ok, message: String(format: "%@: %@ is %.4g", t.expression, ok ? "holds" : "breached", v))
            }
            // The report is rendered by the Report module (the CLI writes it here): one renderer for every report.
            let reportPath = (spec.out as NSString).appendingPathComponent("unlearning.md")
            let runID = try store.map { try record(spec, figures: figures, checks: checks, before: before?.run.id, after: after?.run.id,
                                                   stop: stop, lm: lm, retrained: retrainedModel, started: started, in: $0,
                                                   counts: (forget.count, retain.count, holdout?.count)) }
            var result = UnlearnResult(runID: runID, beforeRun: before?.run.id, afterRun: after?.run.id, figures: figures, checks: checks, stop: stop,
                                       report: reportPath)
            result.before = before; result.after = after
            result.generations = prompts.indices.map { i in
                let record = forget[i].tokens
                let truth = Array(record.dropFirst(prompts[i].count).prefix(24))
                return UnlearnGeneration(prefix: lm.tokenizer.decode(prompts[i]), truth: lm.tokenizer.decode(truth),
                                         before: lm.tokenizer.decode(generationsBefore[i]), after: lm.tokenizer.decode(generationsAfter[i]))
            }
            result.secrets = forgetTexts + (holdoutTexts ?? [])
            result.seconds = Date().timeIntervalSince(started); result.peakMemoryMiB = FineTune.peakRSSMiB()
            result.description = "Checkpoint `\(spec.checkpoint)` -> `\(spec.out)`; method **\(spec.algorithm.name)**"
                + (spec.lora.map { " (LoRA rank \($0.rank)\(spec.fila ? ", FILA initialisation" : ""))" } ?? (spec.algorithm.name == "kfac" || spec.algorithm.name == "ssd" ? "" : " (full)"))
                + "; forget \(forget.count), retain \(retain.count)" + (holdout.map { ", held-out \($0.count)" } ?? "") + " records"
                + (spec.retrained.map { "; retrained reference `\($0)`" } ?? "")
            return result
        } catch {
            try? FileManager.default.removeItem(atPath: spec.out)
            throw error
        }
    }

    /// ROC AUC of Min-K% (k 0.4, higher = member) with the forget set as members and the held-out set as non-members:
    /// the AUC of MUSE's PrivLeak.
    static func minKAUC(_ lm: LanguageModel, _ forget: [Example], _ holdout: [Example]) throws -> Double {
        func scores(_ ex: [Example]) throws -> [Double] {
            try lm.score(ex.map(\.tokens)).map { MIA.minK($0.logprobs, k: 0.4) }
        }
        return try Metrics.auc(members: try scores(forget), nonMembers: try scores(holdout))
    }

    /// Library errors of bad parameters become input errors (exit 2).
    static func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as UnlearningError { throw InputError("unlearn", e.description) }
    }

    /// The audit spec of one side: the forget set as members and extraction targets, the held-out set as non-members.
    static func audit(_ spec: UnlearnSpec, attacks: String, target: String, label: String, work: String, store: Store, dbPath: String,
                      log: @escaping (String) -> Void) throws -> RunReport {
        let path = (work as NSString).appendingPathComponent("\(label).yml")
        try auditYAML(spec, attacks: attacks, target: target, label: label).write(toFile: path, atomically: true, encoding: .utf8)
        let auditSpec = try loadAuditSpec(path)
        var runner = AuditRunner(spec: auditSpec, store: store, dbPath: dbPath)
        runner.log = log
        runner.handleSignals = false
        return try runner.run()
    }

    /// Every figure of the pair, as thresholds name them: the pair's own (the catalog's unlearn figures) and
    /// before.KEY / after.KEY for each figure the audit produces.
    public static func pairFigures(_ spec: UnlearnSpec) throws -> (own: [Figure], audit: [Figure]) {
        var audit: [Figure] = []
        if let attacks = spec.attacksYAML {
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("auditor-metrics-\(getpid())-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: work) }
            let path = (work as NSString).appendingPathComponent("audit.yml")
            try auditYAML(spec, attacks: attacks, target: spec.checkpoint, label: "before").write(toFile: path, atomically: true, encoding: .utf8)
            audit = try loadAuditSpec(path).producedFigures
        }
        return (Figure.UnlearnFigure.allCases.map { .unlearn($0) }, audit)
    }

    static func auditYAML(_ spec: UnlearnSpec, attacks: String, target: String, label: String) -> String {
        func q(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        func abs(_ p: String) -> String { p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p }
        var yaml = "version: 1\nname: \(q("\(spec.name): \(label) unlearning (\(spec.algorithm.name))"))\nseed: \(spec.options.seed)\n"
        yaml += "target:\n  checkpoint: \(q(abs(target)))\n"
        yaml += "datasets:\n  field: \(q(spec.field))\n  members: \(q(abs(spec.forget)))\n  extraction: \(q(abs(spec.forget)))\n"
        if let h = spec.holdout { yaml += "  nonmembers: \(q(abs(h)))\n" }
        yaml += "attacks:\n" + attacks.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") + "\n"
        return yaml
    }

    static func record(_ spec: UnlearnSpec, figures: [String: Double], checks: [CheckRecord], before: String?, after: String?, stop: String,
                       lm: LanguageModel, retrained: LanguageModel?, started: Date, in store: Store, counts: (Int, Int, Int?)) throws -> String {
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
        let metrics = figures.keys.sorted().compactMap { k -> MetricRecord? in
            guard let f = Figure.UnlearnFigure(rawValue: k), let v = figures[k], v.isFinite else { return nil }
            let method = k.hasSuffix("seconds") ? "wall clock" : k.hasPrefix("verbmem") ? "ROUGE-L over words, mean over the forget records"
                : k.hasPrefix("privleak") ? "Min-K% (k 0.4) scores, forget vs held-out" : k.contains(".rate.") ? "greedy extraction on the held half"
                : k.hasSuffix("records") ? "count" : "mean token loss over the set"
            return Figure.unlearn(f).record(v, lower: nil, upper: nil, n: 0, method: method)
        }
        var datasets = [try datasetRecord("forget", spec.forget, counts.0), try datasetRecord("retain", spec.retain, counts.1)]
        if let h = spec.holdout, let n = counts.2 { datasets.append(try datasetRecord("holdout", h, n)) }
        let unlearned = try LanguageModel.load(path: spec.out)
        try store.commitStep(runID: run.id, step: StepRecord(name: "unlearn", finishedAt: iso8601(Date()), seconds: figures["unlearn.seconds"] ?? 0),
                             checkpoints: [try checkpointRecord(lm, role: "base"), try checkpointRecord(unlearned, role: "output")]
                                + (try retrained.map { [try checkpointRecord($0, role: "retrained")] } ?? []),
                             datasets: datasets, metrics: metrics, checks: checks)
        let failing = checks.filter { !$0.passed }
        try store.finishRun(id: run.id, status: failing.isEmpty ? .passed : .breached,
                            verdict: "Unlearned with \(spec.algorithm.name): \(stop)" + (failing.isEmpty ? "" : "; \(failing.count) threshold(s) breached"),
                            finishedAt: iso8601(Date()), durationSeconds: Date().timeIntervalSince(started))
        return run.id
    }
}

// `auditor compare`: full fine-tuning, LoRA, DP-SGD and DP-LoRA on the same base, data and steps, several seeds,
// measured for privacy (sensitive-token recollection as in arXiv 2502.13313, canary exposure, LOSS MIA, the one-run
// empirical epsilon of Steinke, Nasr & Jagielski 2023), utility (held-out loss on non-sensitive tokens) and cost.
import Attacks
import Audit
import Foundation
import LM
import Model
import Stats
import Store
import Training
import Yams

public struct CompareVariant: Sendable {
    public var name: String
    public var method: FineTuneMethod
    public var loraTargets: [String]? = nil
    public var dp: DPSpec? = nil
    public var learningRate: Double? = nil
    public var steps: Int
}

public struct CompareCanaries: Sendable {
    public var format = "my PIN is {digits:6}"
    /// Repetition counts; the canaries repeated once also give the empirical epsilon.
    public var repetitions = [1, 4]
    /// Canaries per repetition count: one number for all, or one per count.
    public var perRepetition = [16]
    public var seed: UInt64 = 1
}

public struct CompareSpec: Sendable {
    public var path: String
    public var name: String
    public var checkpoint: String
    public var data: String, heldout: String
    public var field = "text"
    /// A field holding the record's sensitive spans (a string or a list of strings); nil: the PII detectors find them.
    public var sensitiveField: String? = nil
    public var canaries = CompareCanaries()
    public var seeds: [UInt64] = [1]
    public var batchSize = 4
    public var learningRate = 1e-3
    public var maxTokens: Int? = nil
    /// Matched utility instead of matched steps: each variant trains until its held-out loss (all tokens of the held-out
    /// records, evaluated every `evalEvery` steps) reaches this value, or until its `steps`, which are then the most it may take.
    public var utilityTarget: Double? = nil
    public var evalEvery: Int? = nil
    public var variants: [CompareVariant] = []
    /// Confidence 1 - beta of the empirical epsilon; delta for it (nil: 1 / (10 N)).
    public var beta = 0.05, delta: Double? = nil
    public var thresholds: [String] = []
    public var out: String
}

/// One variant trained with one seed, measured.
public struct CompareRun: Codable, Sendable {
    public var variant: String, seed: UInt64
    public var runID: String?
    /// What the run was trained with (variant, shared settings, data); a stored run is reused only when it matches.
    public var config: String
    /// metric key -> value (see `CompareSpec.metricKeys`).
    public var metrics: [String: Double]
    /// The one-run guesses behind epsilon.empirical: m canaries, r guesses, v correct.
    public var guesses: [String: Int]
}

public enum Compare {
    static let topKeys: Set<String> = ["name", "checkpoint", "data", "heldout", "field", "sensitive_field", "canaries", "seeds",
                                       "steps", "batch_size", "learning_rate", "max_tokens", "variants", "beta", "delta", "utility_target", "eval_every",
                                       "thresholds", "out"]
    static let variantKeys: Set<String> = ["name", "method", "rank", "alpha", "targets", "dp", "learning_rate", "steps"]
    static let dpKeys: Set<String> = ["epsilon", "noise", "delta", "clip"]
    static let canaryKeys: Set<String> = ["format", "repetitions", "per_repetition", "seed"]

    // MARK: spec

    /// Reads SPEC.yml; relative paths are taken from the spec's folder. Bad input throws InputError naming the key.
    public static func load(_ path: String, out: String? = nil) throws -> CompareSpec {
        let text = String(decoding: try readUserFile(path), as: UTF8.self)
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw InputError(path, "not valid YAML: \(error)") }
        guard let o = root as? [String: Any] else { throw InputError(path, "expected a mapping at the top level") }
        try unknown(o, topKeys, path, "the top level")
        let dir = (path as NSString).deletingLastPathComponent
        func file(_ k: String) throws -> String {
            guard let s = o[k] as? String, !s.isEmpty else { throw InputError(path, "'\(k)' is required (a path)") }
            return s.hasPrefix("/") || dir.isEmpty ? s : (dir as NSString).appendingPathComponent(s)
        }
        let checkpoint: String
        if let c = o["checkpoint"] as? String, !c.isEmpty {
            checkpoint = c.hasPrefix("/") || c.hasPrefix("~") || dir.isEmpty ? (c as NSString).expandingTildeInPath : (dir as NSString).appendingPathComponent(c)
        } else { throw InputError(path, "'checkpoint' is required (a GGUF file or a Hugging Face folder)") }
        let outDir = out ?? ((o["out"] as? String).map { $0.hasPrefix("/") || dir.isEmpty ? $0 : (dir as NSString).appendingPathComponent($0) }
            ?? "reports/compare")
        var s = CompareSpec(path: path, name: o["name"] as? String ?? "comparison", checkpoint: checkpoint, data: try file("data"),
                            heldout: try file("heldout"), out: outDir)
        if let f = o["field"] { guard let f = f as? String else { throw InputError(path, "'field' must be a string") }; s.field = f }
        if let f = o["sensitive_field"] { guard let f = f as? String else { throw InputError(path, "'sensitive_field' must be a string") }; s.sensitiveField = f }
        let steps = try int(o["steps"], path, "steps") ?? 50
        s.batchSize = try int(o["batch_size"], path, "batch_size") ?? 4
        guard s.batchSize >= 1 else { throw InputError(path, "'batch_size' must be >= 1") }
        s.learningRate = try double(o["learning_rate"], path, "learning_rate") ?? 1e-3
        s.maxTokens = try int(o["max_tokens"], path, "max_tokens")
        s.utilityTarget = try double(o["utility_target"], path, "utility_target")
        if let u = s.utilityTarget, !(u > 0 && u.isFinite) { throw InputError(path, "'utility_target' must be a held-out loss > 0 (nats per token); got \(u)") }
        s.evalEvery = try int(o["eval_every"], path, "eval_every")
        if let e = s.evalEvery {
            guard e >= 1 else { throw InputError(path, "'eval_every' must be >= 1 (steps between held-out evaluations); got \(e)") }
            guard s.utilityTarget != nil else { throw InputError(path, "'eval_every' is used only with 'utility_target'") }
        }
        s.beta = try double(o["beta"], path, "beta") ?? 0.05
        guard s.beta > 0 && s.beta < 1 else { throw InputError(path, "'beta' must lie in (0, 1); got \(s.beta)") }
        s.delta = try double(o["delta"], path, "delta")
        if let seeds = o["seeds"] {
            guard let a = seeds as? [Int], !a.isEmpty, a.allSatisfy({ $0 >= 0 }) else { throw InputError(path, "'seeds' must be a list of integers >= 0") }
            s.seeds = a.map { UInt64($0) }
        }
        if let c = o["canaries"] {
            guard let c = c as? [String: Any] else { throw InputError(path, "'canaries' must be a mapping") }
            try unknown(c, canaryKeys, path, "canaries")
            if let f = c["format"] { guard let f = f as? String else { throw InputError(path, "canaries.format must be a string") }; s.canaries.format = f }
            if let r = c["repetitions"] {
                guard let r = r as? [Int], !r.isEmpty, r.allSatisfy({ $0 >= 1 }) else { throw InputError(path, "canaries.repetitions must be a list of counts >= 1") }
                s.canaries.repetitions = r
            }
            if let p = c["per_repetition"] {
                if let n = p as? Int { s.canaries.perRepetition = [n] } else if let a = p as? [Int] { s.canaries.perRepetition = a } else {
                    throw InputError(path, "canaries.per_repetition must be a count or a list of counts, one per repetition count")
                }
            }
            guard s.canaries.perRepetition.allSatisfy({ $0 >= 1 }) else { throw InputError(path, "canaries.per_repetition must be >= 1") }
            if let seed = try int(c["seed"], path, "canaries.seed") { s.canaries.seed = UInt64(max(0, seed)) }
        }
        if let t = o["thresholds"] {
            guard let t = t as? [String] else { throw InputError(path, "'thresholds' must be a list of strings like 'lora_r8.canary.exposure.max <= dp_eps8.canary.exposure.max + 2'") }
            s.thresholds = t
        }
        if s.canaries.perRepetition.count == 1 { s.canaries.perRepetition = Array(repeating: s.canaries.perRepetition[0], count: s.canaries.repetitions.count) }
        guard s.canaries.perRepetition.count == s.canaries.repetitions.count else {
            throw InputError(path, "canaries.per_repetition has \(s.canaries.perRepetition.count) counts for \(s.canaries.repetitions.count) repetition counts")
        }
        guard let vs = o["variants"] as? [[String: Any]], !vs.isEmpty else { throw InputError(path, "'variants' is required: a list of mappings with name and method") }
        for (i, v) in vs.enumerated() {
            let at = "variants[\(i)]"
            try unknown(v, variantKeys, path, at)
            guard let name = v["name"] as? String, name.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression) != nil else {
                throw InputError(path, "\(at).name is required: letters, digits, '_' or '-'")
            }
            guard !s.variants.contains(where: { $0.name == name }) else { throw InputError(path, "\(at).name '\(name)' is used twice") }
            let vsteps = try int(v["steps"], path, "\(at).steps") ?? steps
            guard vsteps >= 1 else { throw InputError(path, "\(at) (\(name)): steps must be >= 1; got \(vsteps): a variant with no steps measures the base model") }
            var variant = CompareVariant(name: name, method: .full, steps: vsteps)
            switch v["method"] as? String ?? "full" {
            case "full": break
            case "lora":
                let rank = try int(v["rank"], path, "\(at).rank") ?? 8
                guard rank >= 1 else { throw InputError(path, "\(at).rank must be >= 1") }
                let alpha = try double(v["alpha"], path, "\(at).alpha") ?? Double(2 * rank)
                variant.method = .lora(LoRAConfig(rank: rank, alpha: alpha))
                if let t = v["targets"] as? String { variant.loraTargets = t.split(separator: ",").map { String($0) } }
            case let m: throw InputError(path, "\(at).method '\(m)': expected full or lora")
            }
            if v["method"] as? String != "lora" {
                for k in ["rank", "alpha", "targets"] where v[k] != nil { throw InputError(path, "\(at).\(k) is a LoRA option: set method: lora") }
            }
            variant.learningRate = try double(v["learning_rate"], path, "\(at).learning_rate")
            if let d = v["dp"] {
                guard let d = d as? [String: Any] else { throw InputError(path, "\(at).dp must be a mapping with epsilon or noise") }
                try unknown(d, dpKeys, path, "\(at).dp")
                var dp = DPSpec(epsilon: try double(d["epsilon"], path, "\(at).dp.epsilon"), noise: try double(d["noise"], path, "\(at).dp.noise"),
                                delta: try double(d["delta"], path, "\(at).dp.delta"))
                guard dp.epsilon != nil || dp.noise != nil else {
                    throw InputError(path, "\(at).dp (\(name)) needs epsilon (the noise is then solved for) or noise (the epsilon is then computed)")
                }
                if let e = dp.epsilon, !(e > 0 && e.isFinite) { throw InputError(path, "\(at).dp.epsilon must be a positive number") }
                if let n = dp.noise, !(n >= 0 && n.isFinite) { throw InputError(path, "\(at).dp.noise must be a number >= 0") }
                if let c = try double(d["clip"], path, "\(at).dp.clip") { guard c > 0 else { throw InputError(path, "\(at).dp.clip must be positive") }; dp.clip = c }
                variant.dp = dp
            }
            s.variants.append(variant)
        }
        return s
    }

    static func unknown(_ o: [String: Any], _ allowed: Set<String>, _ path: String, _ at: String) throws {
        for k in o.keys.sorted() where !allowed.contains(k) {
            throw InputError(path, "unknown key '\(k)' in \(at) (expected one of: \(allowed.sorted().joined(separator: ", ")))")
        }
    }
    static func int(_ v: Any?, _ path: String, _ key: String) throws -> Int? {
        guard let v else { return nil }
        guard let i = v as? Int else { throw InputError(path, "'\(key)' must be an integer") }
        return i
    }
    static func double(_ v: Any?, _ path: String, _ key: String) throws -> Double? {
        guard let v else { return nil }
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        throw InputError(path, "'\(key)' must be a number")
    }

    // MARK: data

    /// A record's text and the UTF-8 byte ranges of its sensitive spans.
    struct Record { var text: String; var sensitive: [Range<Int>] }

    static func records(_ path: String, _ spec: CompareSpec) throws -> [Record] {
        try readJSONLRecords(path, field: spec.field).map { r in
            let spans: [Range<Int>]
            if let f = spec.sensitiveField {
                let v = r.object?[f]
                let list: [String]
                if let s = v as? String { list = [s] } else if let a = v as? [String] { list = a } else if v == nil { list = [] } else {
                    throw InputError(path, "line \(r.lineNumber): '\(f)' must be a string or a list of strings")
                }
                spans = try list.filter { !$0.isEmpty }.map { s in
                    guard let range = r.text.range(of: s) else { throw InputError(path, "line \(r.lineNumber): sensitive span '\(s)' is not in the text") }
                    return byteRange(range, in: r.text)
                }
            } else {
                spans = PII.find(in: r.text).map { byteRange($0.range, in: r.text) }
            }
            return Record(text: r.text, sensitive: spans)
        }
    }

    static func byteRange(_ r: Range<String.Index>, in s: String) -> Range<Int> {
        s.utf8.distance(from: s.startIndex, to: r.lowerBound)..<s.utf8.distance(from: s.startIndex, to: r.upperBound)
    }

    /// Tokens of each record and whether each token (from the second on, aligned with SequenceScores.logprobs)
    /// overlaps a sensitive span; a token's bytes are found by decoding the growing prefix.
    struct Tokenised { var ids: [Int]; var sensitive: [Bool] }

    static func tokenise(_ records: [Record], _ lm: LanguageModel, context: Int) -> [Tokenised] {
        records.map { r in
            let ids = Array(lm.encode(r.text, addBos: nil).prefix(context))
            var ends: [Int] = []
            for i in 0..<ids.count { ends.append(lm.decode(Array(ids[...i]), skipSpecial: true).utf8.count) }
            var flags: [Bool] = []
            for t in 1..<max(ids.count, 1) {
                let span = ends[t - 1]..<max(ends[t], ends[t - 1] + 1)
                flags.append(r.sensitive.contains { $0.overlaps(span) })
            }
            return Tokenised(ids: ids, sensitive: flags)
        }
    }

    /// Greedy extraction of each record's first sensitive span from the text before it (the records with a sensitive
    /// token after the first): exact when the greedy continuation reproduces the span's tokens, approximate within a
    /// normalised edit distance of 0.1 (as `extract` and the audit). Run on training and held-out records alike: on
    /// held-out ones it measures what the format alone gives away.
    static func sensitiveExtraction(_ lm: any AuditableModel, _ seqs: [Tokenised]) throws -> (exact: Double, approximate: Double, n: Int) {
        var prompts: [[Int]] = [], targets: [[Int]] = []
        for t in seqs {
            // flag j is token j + 1; the span runs over the consecutive sensitive tokens from the first.
            guard let j = t.sensitive.firstIndex(of: true) else { continue }
            let start = j + 1
            var end = start
            while end < t.ids.count && t.sensitive[end - 1] { end += 1 }
            prompts.append(Array(t.ids[..<start])); targets.append(Array(t.ids[start..<end]))
        }
        guard let longest = targets.map(\.count).max() else { return (.nan, .nan, 0) }
        let out = try lm.generate(prompts: prompts, maxNewTokens: longest)
        var exact = 0, approximate = 0
        for (g, target) in zip(out, targets) {
            let got = Array(g.prefix(target.count))
            if got == target { exact += 1 }
            if Extraction.normalizedEditDistance(generated: got, target: target) <= 0.1 { approximate += 1 }
        }
        return (Double(exact) / Double(targets.count), Double(approximate) / Double(targets.count), targets.count)
    }

    /// Mean NLL over the tokens with flag `sensitive`, and per-record mean NLL over all tokens.
    static func losses(_ lm: LanguageModel, _ seqs: [Tokenised]) -> (sensitive: Double, plain: Double, perRecord: [Double]) {
        let scores = lm.score(seqs.map(\.ids), options: ScoreOptions(), progress: nil)
        var sens = 0.0, nsens = 0, plain = 0.0, nplain = 0, per: [Double] = []
        for (s, t) in zip(scores, seqs) {
            for (j, lp) in s.logprobs.enumerated() {
                if j < t.sensitive.count && t.sensitive[j] { sens -= Double(lp); nsens += 1 } else { plain -= Double(lp); nplain += 1 }
            }
            per.append(s.nll)
        }
        return (nsens > 0 ? sens / Double(nsens) : .nan, nplain > 0 ? plain / Double(nplain) : .nan, per)
    }

    // MARK: run

    /// Prepared inputs: the training set with the included canaries, the manifest of all canaries and which were inserted.
    struct Prepared {
        var trainPath: String
        var manifest: CanaryManifest
        var inserted: [Bool]
        var train: [Record], heldout: [Record]
        var examples: Int
    }

    static func prepare(_ spec: CompareSpec, _ base: LanguageModel) throws -> Prepared {
        let train = try records(spec.data, spec), heldout = try records(spec.heldout, spec)
        guard train.count >= 2, heldout.count >= 2 else { throw InputError(train.count < 2 ? spec.data : spec.heldout, "needs at least 2 records") }
        let format: CanaryFormat
        do { format = try CanaryFormat(spec.canaries.format) } catch let e as CanaryError { throw InputError(spec.path, "canaries.format: \(e.description)") }
        var manifest: CanaryManifest
        do {
            // One draw for all groups, so that texts are distinct across them; then the groups are cut to their sizes.
            let most = spec.canaries.perRepetition.max()!
            manifest = try Canaries.generate(format: format, formatString: spec.canaries.format, repetitions: spec.canaries.repetitions,
                                             perRepetition: most, seed: spec.canaries.seed)
            var kept: [Canary] = []
            for (g, (r, n)) in zip(spec.canaries.repetitions, spec.canaries.perRepetition).enumerated() {
                kept += manifest.canaries[(g * most)..<(g * most + n)].map { Canary(id: "canary-\(kept.count + 1)", format: $0.format, text: $0.text, repetitions: r) }
            }
            manifest.canaries = kept
        } catch let e as CanaryError { throw InputError(spec.path, "canaries: \(e.description)") }
        let context = min(spec.maxTokens ?? base.config.maxPositions, base.config.maxPositions)
        if let c = manifest.canaries.first {
            let n = base.encode(c.text, addBos: nil).count
            if n > context {
                throw InputError(spec.path, "canaries.format: a canary ('\(c.text)') has \(n) tokens, more than the context of \(context) tokens")
            }
        }
        // Each canary is inserted with probability 1/2, independently (the one-run audit's randomisation).
        var rng = SeededRNG(seed: spec.canaries.seed &+ 0x5EED)
        let inserted = manifest.canaries.map { _ in rng.uniform() < 0.5 }
        var included = manifest
        included.canaries = zip(manifest.canaries, inserted).filter(\.1).map(\.0)
        try FileManager.default.createDirectory(atPath: spec.out, withIntermediateDirectories: true)
        let lines = train.map { jsonLine([spec.field: $0.text]) }
        let all = Canaries.insert(included, into: lines, field: spec.field, seed: spec.canaries.seed &+ 1)
        let trainPath = (spec.out as NSString).appendingPathComponent("train.jsonl")
        try (all.joined(separator: "\n") + "\n").write(toFile: trainPath, atomically: true, encoding: .utf8)
        let manifestData = try JSONEncoder().encode(manifest)
        try manifestData.write(to: URL(fileURLWithPath: (spec.out as NSString).appendingPathComponent("canaries.json")))
        return Prepared(trainPath: trainPath, manifest: manifest, inserted: inserted, train: train, heldout: heldout, examples: all.count)
    }

    /// The result file of one variant and seed; present means done (resumability).
    static func resultPath(_ spec: CompareSpec, _ v: String, _ seed: UInt64) -> String {
        (spec.out as NSString).appendingPathComponent("runs/\(v)-seed\(seed).json")
    }

    /// Exposure of the inserted canaries: the largest, the mean, and the mean at each repetition count. References are
    /// drawn with a seed apart from the canaries' own.
    static func exposureFigures(_ spec: CompareSpec, _ inserted: CanaryManifest, _ lm: LanguageModel) throws -> [String: Double] {
        guard !inserted.canaries.isEmpty else { return [:] }
        let rows = try canaryExposures(inserted, lm, words: [], enumerateUpTo: 1_000, references: 1_000, seed: spec.canaries.seed &+ 0xE7,
                                       manifestPath: (spec.out as NSString).appendingPathComponent("canaries.json"))
        var m = ["canary.exposure.max": rows.map(\.exposure).max()!, "canary.exposure.mean": rows.map(\.exposure).reduce(0, +) / Double(rows.count)]
        for r in Set(rows.map(\.canary.repetitions)) {
            let e = rows.filter { $0.canary.repetitions == r }.map(\.exposure)
            m["canary.exposure.rep\(r)"] = e.reduce(0, +) / Double(e.count)
        }
        return m
    }

    static func extractionFigures(_ lm: LanguageModel, _ train: [Tokenised], _ heldout: [Tokenised]) throws -> [String: Double] {
        let tr = try sensitiveExtraction(lm, train), ho = try sensitiveExtraction(lm, heldout)
        return ["extraction.exact.rate": tr.exact, "extraction.approximate.rate": tr.approximate,
                "extraction.heldout.exact.rate": ho.exact, "extraction.heldout.approximate.rate": ho.approximate]
    }

    static func configString(_ spec: CompareSpec, _ v: CompareVariant, _ seed: UInt64) -> String {
        let data = (try? sha256(file: spec.data)) ?? spec.data, held = (try? sha256(file: spec.heldout)) ?? spec.heldout
        let dp = v.dp.map { "dp eps \($0.epsilon ?? -1) noise \($0.noise ?? -1) delta \($0.delta ?? -1) clip \($0.clip)" } ?? "no dp"
        return "\(CompareReport.describe(v)) \(v.loraTargets ?? []) steps \(v.steps) lr \(v.learningRate ?? spec.learningRate) batch \(spec.batchSize) "
            + "max_tokens \(spec.maxTokens ?? 0) seed \(seed) \(dp) checkpoint \(spec.checkpoint) data \(data) heldout \(held) "
            + "canaries \(spec.canaries.format) \(spec.canaries.repetitions) x\(spec.canaries.perRepetition) seed \(spec.canaries.seed) "
            + "sensitive \(spec.sensitiveField ?? "PII") beta \(spec.beta) delta \(spec.delta ?? -1) "
            // What each run measures: stored runs from before a change of the measured figures (2: extraction rates) are redone.
            + "utility target \(spec.utilityTarget ?? -1) every \(spec.evalEvery ?? 0) measures 2"
    }

    public struct Outcome: Sendable {
        public var runs: [CompareRun]
        public var table: [String: [String: Summary]]  // variant -> metric -> summary
        public var checks: [ThresholdCheck]
        public var reused: Int, trained: Int
        public var seconds: Double
    }

    /// Mean and 95% Student-t interval across seeds (no interval with one seed).
    public struct Summary: Sendable, Codable {
        public var mean: Double, lower: Double?, upper: Double?, n: Int
    }

    /// The range a figure can take; the Student-t interval is clipped to it (time, rates and AUCs cannot go below 0).
    public static func domain(_ key: String) -> ClosedRange<Double> {
        if key.hasPrefix("mia.") || key.hasPrefix("extraction.") { return 0...1 }
        if key.hasPrefix("sensitive.") && key.hasSuffix("gain") { return -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude }
        if key == "utility.ppl" { return 1...Double.greatestFiniteMagnitude }
        return 0...Double.greatestFiniteMagnitude
    }

    public static func summarise(_ xs: [Double], key: String) -> Summary {
        var s = summarise(xs)
        let d = domain(key)
        s.lower = s.lower.map { min(max($0, d.lowerBound), d.upperBound) }
        s.upper = s.upper.map { min(max($0, d.lowerBound), d.upperBound) }
        return s
    }

    public static func summarise(_ xs: [Double]) -> Summary {
        let v = xs.filter { $0.isFinite }
        guard !v.isEmpty else { return Summary(mean: .nan, lower: nil, upper: nil, n: 0) }
        let mean = v.reduce(0, +) / Double(v.count)
        guard v.count >= 2 else { return Summary(mean: mean, lower: nil, upper: nil, n: 1) }
        let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
        let t975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
        let t = v.count - 1 <= t975.count ? t975[v.count - 2] : 1.96
        let h = t * sd / Double(v.count).squareRoot()
        return Summary(mean: mean, lower: mean - h, upper: mean + h, n: v.count)
    }

    /// Trains and measures every variant and seed not already in SPEC.out/runs, then summarises and checks thresholds.
    public static func run(_ spec: CompareSpec, store: Store?, log: @escaping (String) -> Void) throws -> Outcome {
        let started = Date()
        let checks0 = try spec.thresholds.map { try ThresholdCheck.parse($0, spec: spec) }
        _ = checks0
        let base = try LanguageModel.load(path: spec.checkpoint)
        let context = min(spec.maxTokens ?? base.config.maxPositions, base.config.maxPositions)
        let prep = try prepare(spec, base)
        let trainTok = tokenise(prep.train, base, context: context), heldTok = tokenise(prep.heldout, base, context: context)
        let baseTrain = losses(base, trainTok), baseHeld = losses(base, heldTok)
        let rep1 = prep.manifest.canaries.indices.filter { prep.manifest.canaries[$0].repetitions == 1 }
        let baseCanaryBits = try Canaries.logPerplexityBits(base, rep1.map { prep.manifest.canaries[$0].text })
        let delta = spec.delta ?? 1 / (10 * Double(prep.examples))
        var inserted = prep.manifest
        inserted.canaries = zip(prep.manifest.canaries, prep.inserted).filter(\.1).map(\.0)
        // The base model's figures, the floor every variant is read against (exposure is not 0 before training).
        var baseFigures = try exposureFigures(spec, inserted, base)
        baseFigures["utility.nll"] = baseHeld.plain
        baseFigures["sensitive.nll"] = baseTrain.sensitive
        for (k, x) in try extractionFigures(base, trainTok, heldTok) { baseFigures[k] = x }
        let baseLabels = Metrics.labels(members: baseTrain.perRecord.count, nonMembers: baseHeld.perRecord.count)
        baseFigures["mia.auc"] = try Metrics.auc(scores: (baseTrain.perRecord + baseHeld.perRecord).map { -$0 }, labels: baseLabels)
        log(String(format: "base model: canary exposure max %.1f bits, LOSS MIA AUC %.3f, held-out loss %.3f", baseFigures["canary.exposure.max"] ?? .nan,
                   baseFigures["mia.auc"]!, baseHeld.plain))
        try FileManager.default.createDirectory(atPath: (spec.out as NSString).appendingPathComponent("runs"), withIntermediateDirectories: true)
        var runs: [CompareRun] = []
        // Seed-major: an interrupted comparison has every variant at the first seeds rather than every seed of the first variants.
        let jobs = spec.seeds.flatMap { seed in spec.variants.map { ($0, seed) } }
        var reused = 0, trained = 0, trainedSeconds = 0.0
        for (i, (v, seed)) in jobs.enumerated() {
            let rp = resultPath(spec, v.name, seed)
            let config = configString(spec, v, seed)
            if let d = FileManager.default.contents(atPath: rp), let r = try? JSONDecoder().decode(CompareRun.self, from: d), r.config == config {
                runs.append(r); reused += 1
                log("[\(i + 1)/\(jobs.count)] \(v.name) seed \(seed): stored, not rerun (\(rp))")
                continue
            }
            if FileManager.default.fileExists(atPath: rp) { log("[\(i + 1)/\(jobs.count)] \(v.name) seed \(seed): stored with other settings; training again") }
            let t0 = Date()
            let left = trained > 0 ? String(format: ", about %.0f s left", trainedSeconds / Double(trained) * Double(jobs.count - i)) : ""
            log("[\(i + 1)/\(jobs.count)] \(v.name) seed \(seed): training \(v.steps) steps\(left)")
            let modelDir = (spec.out as NSString).appendingPathComponent("models/\(v.name)-seed\(seed)")
            try? FileManager.default.removeItem(atPath: modelDir)
            try FileManager.default.createDirectory(atPath: (spec.out as NSString).appendingPathComponent("models"), withIntermediateDirectories: true)
            var ft = FineTuneSpec(checkpoint: spec.checkpoint, data: prep.trainPath, out: modelDir)
            ft.field = spec.field; ft.method = v.method; ft.loraTargets = v.loraTargets; ft.maxTokens = spec.maxTokens; ft.dp = v.dp
            var o = TrainingOptions()
            o.steps = v.steps; o.batchSize = spec.batchSize; o.learningRate = v.learningRate ?? spec.learningRate; o.seed = seed
            o.schedule = .constant
            if let target = spec.utilityTarget {
                ft.eval = spec.heldout
                o.evalEvery = spec.evalEvery ?? max(1, v.steps / 10)
                o.stopAtEvalLoss = target
            }
            ft.options = o
            let rss0 = FineTune.peakRSSMiB()
            let quarter = max(1, v.steps / 4)
            let result = try FineTune.run(ft, store: store, log: { log("  \(v.name): \($0)") }) { st in
                guard st.step % quarter == 0 || st.step == st.steps else { return }
                log(String(format: "  %@ seed %llu: step %ld/%ld, loss %.3f, %.0f s of training left", v.name, seed, st.step, st.steps, st.loss,
                           st.seconds / Double(st.step) * Double(st.steps - st.step)))
            }
            let lm = try LanguageModel.load(path: modelDir)
            var m: [String: Double] = [:]
            let tr = losses(lm, trainTok), ho = losses(lm, heldTok)
            m["sensitive.nll"] = tr.sensitive
            m["sensitive.gain"] = baseTrain.sensitive - tr.sensitive
            m["sensitive.heldout_gain"] = baseHeld.sensitive - ho.sensitive
            m["utility.nll"] = ho.plain
            m["utility.ppl"] = exp(ho.plain)
            m["utility.base_nll"] = baseHeld.plain
            let memberScores = tr.perRecord.map { -$0 }, nonScores = ho.perRecord.map { -$0 }
            let labels = Metrics.labels(members: memberScores.count, nonMembers: nonScores.count)
            m["mia.auc"] = try Metrics.auc(scores: memberScores + nonScores, labels: labels)
            m["mia.tpr_at_1pct_fpr"] = try Metrics.tprAtFPR(scores: memberScores + nonScores, labels: labels, maxFPR: 0.01)
            // Reference-calibrated: the loss drop against the base model.
            let refM = zip(baseTrain.perRecord, tr.perRecord).map { $0 - $1 }, refN = zip(baseHeld.perRecord, ho.perRecord).map { $0 - $1 }
            m["mia.ref_auc"] = try Metrics.auc(scores: refM + refN, labels: labels)
            for (k, x) in try extractionFigures(lm, trainTok, heldTok) { m[k] = x }
            // Exposure of the inserted canaries, by repetition count.
            for (k, x) in try exposureFigures(spec, inserted, lm) { m[k] = x }
            // One-run empirical epsilon over the canaries seen once: score = drop in log-perplexity against the base.
            var guesses: [String: Int] = [:]
            if rep1.count >= 2 {
                let bits = try Canaries.logPerplexityBits(lm, rep1.map { prep.manifest.canaries[$0].text })
                let scores = zip(baseCanaryBits, bits).map { $0 - $1 }
                // A DP variant is tested at its own delta; the others at the comparison's.
                let d = result.dp?.delta ?? delta
                let b = OneRunAudit.bound(scores: scores, inserted: rep1.map { prep.inserted[$0] }, delta: d, beta: spec.beta)
                m["epsilon.empirical_delta"] = d
                m["epsilon.empirical"] = b.epsilon
                guesses = ["m": b.guesses.m, "k_plus": b.guesses.kPlus, "k_minus": b.guesses.kMinus, "correct": b.guesses.correct]
            }
            if let dp = result.dp { m["epsilon.accountant"] = dp.epsilon; m["dp.noise"] = dp.noise }
            m["cost.seconds"] = result.summary.seconds
            m["cost.tokens_per_s"] = result.summary.tokensPerSecond
            m["cost.peak_rss_mib"] = max(rss0, FineTune.peakRSSMiB())
            m["train.final_loss"] = result.summary.finalLoss
            m["train.steps"] = Double(result.summary.steps)
            if let target = spec.utilityTarget {
                let reached = (result.summary.evalLossAfter ?? .infinity) <= target
                m["train.reached_target"] = reached ? 1 : 0
                if !reached {
                    log(String(format: "  %@ seed %llu: the held-out loss target %.3f was not reached in %ld steps (%.3f)", v.name, seed, target, v.steps,
                               result.summary.evalLossAfter ?? .nan))
                }
            }
            let run = CompareRun(variant: v.name, seed: seed, runID: result.runID, config: config, metrics: m, guesses: guesses)
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            try enc.encode(run).write(to: URL(fileURLWithPath: rp), options: .atomic)
            try? FileManager.default.removeItem(atPath: modelDir)   // the checkpoint is large; the run keeps its figures
            runs.append(run); trained += 1
            trainedSeconds += Date().timeIntervalSince(t0)
            log(String(format: "[%ld/%ld] %@ seed %llu: done in %.0f s: exposure max %.1f, MIA AUC %.3f, extracted %.3f (held-out %.3f), sensitive gain %.3f, utility loss %.3f, empirical eps %.2f",
                       i + 1, jobs.count, v.name, seed, Date().timeIntervalSince(t0), m["canary.exposure.max"] ?? .nan, m["mia.auc"] ?? .nan,
                       m["extraction.exact.rate"] ?? .nan, m["extraction.heldout.exact.rate"] ?? .nan, m["sensitive.gain"] ?? .nan, m["utility.nll"] ?? .nan, m["epsilon.empirical"] ?? .nan))
        }
        var table: [String: [String: Summary]] = [:]
        for v in spec.variants {
            let rs = runs.filter { $0.variant == v.name }
            let keys = Set(rs.flatMap { $0.metrics.keys })
            var row: [String: Summary] = [:]
            for k in keys { row[k] = summarise(rs.compactMap { $0.metrics[k] }, key: k) }
            table[v.name] = row
        }
        var checks = checks0
        for i in checks.indices { checks[i].evaluate(table) }
        let outcome = Outcome(runs: runs, table: table, checks: checks, reused: reused, trained: trained, seconds: Date().timeIntervalSince(started))
        try CompareReport.write(spec, outcome, delta: delta, base: baseFigures)
        if let store { try record(spec, outcome, started: started, in: store) }
        return outcome
    }

    /// The comparison as one stored run: every variant's figures as metrics ("variant.key", interval across seeds),
    /// and the fine-tuning runs it links in its options.
    static func record(_ spec: CompareSpec, _ o: Outcome, started: Date, in store: Store) throws {
        let text = (try? String(contentsOfFile: spec.path, encoding: .utf8)) ?? ""
        let options = jsonLine(["runs": o.runs.compactMap(\.runID), "variants": spec.variants.map(\.name), "seeds": spec.seeds.map { Int($0) }])
        let run = RunRecord(id: makeRunID(started), name: "compare: \(spec.name)", specPath: spec.path, specSHA256: sha256(data: Data(text.utf8)),
                            specText: text, seed: Int64(bitPattern: spec.canaries.seed), auditorVersion: auditorVersion, machine: machineDescription(),
                            host: hostName(), pid: getpid(), startedAt: iso8601(started), optionsJSON: options)
        try store.beginRun(run)
        var metrics: [MetricRecord] = []
        for v in spec.variants {
            for (k, s) in (o.table[v.name] ?? [:]).sorted(by: { $0.key < $1.key }) where s.mean.isFinite {
                metrics.append(MetricRecord(step: "compare", key: "\(v.name).\(k)", value: s.mean, lower: s.lower, upper: s.upper, n: s.n,
                                            method: s.n > 1 ? "mean, 95% t interval over \(s.n) seeds" : "one seed", label: "\(v.name): \(k)"))
            }
        }
        try store.commitStep(runID: run.id, step: StepRecord(name: "compare", finishedAt: iso8601(Date()), seconds: o.seconds), metrics: metrics)
        let failed = o.checks.filter { $0.passed == false }
        try store.finishRun(id: run.id, status: failed.isEmpty ? .passed : .breached,
                            verdict: failed.isEmpty ? "\(spec.variants.count) variants compared; every threshold holds."
                                : "threshold breached: " + failed.map(\.text).joined(separator: "; "),
                            finishedAt: iso8601(Date()), durationSeconds: o.seconds)
    }
}

/// A CI threshold between variants: `A.metric OP B.metric [+|- c]` or `A.metric OP number`, OP one of <=, <, >=, >.
public struct ThresholdCheck: Sendable {
    public var text: String
    var lhs: (variant: String, key: String)
    var op: String
    var rhs: (variant: String, key: String)?
    var constant: Double
    public var lhsValue: Double? = nil, rhsValue: Double? = nil
    public var passed: Bool? = nil

    static func parse(_ s: String, spec: CompareSpec) throws -> ThresholdCheck {
        let parts = s.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        func ref(_ t: String) throws -> (String, String) {
            guard let dot = t.firstIndex(of: "."), spec.variants.contains(where: { $0.name == t[..<dot] }) else {
                throw InputError(spec.path, "threshold '\(s)': '\(t)' must be VARIANT.metric with VARIANT one of \(spec.variants.map(\.name).joined(separator: ", "))")
            }
            return (String(t[..<dot]), String(t[t.index(after: dot)...]))
        }
        guard parts.count == 3 || parts.count == 5, ["<=", "<", ">=", ">"].contains(parts[1]) else {
            throw InputError(spec.path, "threshold '\(s)': expected 'A.metric <= B.metric + 2' or 'A.metric <= 3'")
        }
        let lhs = try ref(parts[0])
        var rhs: (String, String)? = nil, c = 0.0
        if let n = Double(parts[2]), parts.count == 3 { c = n } else {
            rhs = try ref(parts[2])
            if parts.count == 5 {
                guard let n = Double(parts[4]), ["+", "-"].contains(parts[3]) else { throw InputError(spec.path, "threshold '\(s)': expected '+ NUMBER' or '- NUMBER' at the end") }
                c = parts[3] == "+" ? n : -n
            }
        }
        return ThresholdCheck(text: s, lhs: lhs, op: parts[1], rhs: rhs, constant: c)
    }

    mutating func evaluate(_ table: [String: [String: Compare.Summary]]) {
        lhsValue = table[lhs.variant]?[lhs.key]?.mean
        rhsValue = rhs.map { table[$0.variant]?[$0.key]?.mean ?? .nan }.map { $0 + constant } ?? constant
        guard let a = lhsValue, let b = rhsValue, a.isFinite, b.isFinite else { passed = nil; return }
        switch op {
        case "<=": passed = a <= b
        case "<": passed = a < b
        case ">=": passed = a >= b
        default: passed = a > b
        }
    }
}

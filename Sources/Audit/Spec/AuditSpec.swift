// The audit spec (audits/*.yml): parsed with Yams, validated node by node so every error names file:line:column.
import Attacks
import Foundation
import Yams

/// A validated audit spec. Paths are resolved against the spec file's folder; `~` is expanded.
public struct AuditSpec: Sendable {
    public struct Threshold: Sendable {
        public var expression: String, figure: Figure, op: String, value: Double, line: Int, column: Int
        public var metric: String { figure.key }
    }
    public struct MIA: Sendable { public var attacks: [String], ks: [Double], resamples: Int, blindBaseline: Bool }
    public struct ExtractionSpec: Sendable {
        public var prefixes: [Int], suffix: Int, approxThreshold: Double
        public var temperature: Double, topK: Int, topP: Double, n: Int, p: Double
    }
    public struct CanarySpec: Sendable { public var enumerateUpTo: Int, references: Int, words: String? }
    public struct TrapsSpec: Sendable { public var resamples: Int }
    /// A model served behind an OpenAI-compatible API (`target: {endpoint: URL, model: NAME, ...}`).
    public struct Endpoint: Sendable, Equatable {
        public var url: String, model: String
        public var tokenizer: String?, apiKeyEnv: String?, concurrency: Int?
        public init(url: String, model: String, tokenizer: String? = nil, apiKeyEnv: String? = nil, concurrency: Int? = nil) {
            self.url = url; self.model = model; self.tokenizer = tokenizer; self.apiKeyEnv = apiKeyEnv; self.concurrency = concurrency
        }
    }

    public var path: String
    public var text: String
    public var name: String
    public var seed: UInt64
    /// The target checkpoint's path; for a served target, its endpoint URL.
    public var target: String
    public var targetIsDefault: Bool
    /// Set when the target is a served model; `target` is then its URL.
    public var targetEndpoint: Endpoint?
    public var reference: String?
    public var field: String
    public var members: String?, nonmembers: String?, extraction: String?, canaries: String?, traps: String?
    public var mia: MIA?
    public var extractionSpec: ExtractionSpec?
    public var canary: CanarySpec?
    public var trapsSpec: TrapsSpec?
    public var thresholds: [Threshold]
    public var title: String?
    public var histogramBins: Int
    /// "FILE:LINE:COLUMN: ..." for old spellings read as their new ones; commands print each as "auditor: warning: ...".
    public var warnings: [String] = []

    /// The figures this spec's steps produce, from the catalog: what a threshold may name. Per-repetition figures
    /// are left out; they depend on the manifests.
    public var producedFigures: [Figure] {
        var figures: [Figure] = []
        if let mia {
            for a in miaAttacks(mia) { figures += [.miaAUC(a), .miaTPR(a, .onePercent), .miaTPR(a, .tenthPercent)] }
            if mia.blindBaseline { figures.append(.blindBaselineAUC) }
        }
        if let e = extractionSpec {
            figures += Figure.ExtractionKind.allCases.map { .extractionRate($0, prefix: nil) }
            for p in e.prefixes { figures += Figure.ExtractionKind.allCases.map { .extractionRate($0, prefix: p) } }
        }
        if canary != nil { figures += [.canaryExposure(.max, repetitions: nil), .canaryExposure(.mean, repetitions: nil)] }
        if trapsSpec != nil { figures.append(.trapsAUC(repetitions: nil)) }
        return figures
    }

    /// The spec's attack families expanded to one attack per k.
    public func miaAttacks(_ m: MIA) -> [MIAAttack] { MIAAttack.expand(m.attacks, ks: m.ks) }
}

/// Reads and validates a spec. Throws SpecError (with a place) or InputError (unreadable file).
public func loadAuditSpec(_ path: String) throws -> AuditSpec {
    let data = try readUserFile(path, cannotRead: "cannot read the audit spec")
    guard let text = String(data: data, encoding: .utf8) else { throw InputError(path, "not valid UTF-8") }
    let node: Node
    do {
        guard let n = try Yams.compose(yaml: text) else { throw SpecError(file: path, line: 1, column: 1, message: "the spec is empty") }
        node = n
    } catch let e as YamlError {
        throw yamlError(e, path)
    }
    var v = SpecReader(file: path, dir: (path as NSString).deletingLastPathComponent)
    return try v.read(node, text: text)
}

private func yamlError(_ e: YamlError, _ file: String) -> SpecError {
    switch e {
    case let .scanner(ctx, problem, mark, _), let .parser(ctx, problem, mark, _), let .composer(ctx, problem, mark, _):
        let why = ctx.map { "\(problem) (\($0.text) at \($0.mark.line):\($0.mark.column))" } ?? problem
        return SpecError(file: file, line: mark.line, column: mark.column, message: "not valid YAML: \(why)")
    case let .duplicatedKeysInMapping(dups, ctx):
        return SpecError(file: file, line: ctx.mark.line, column: ctx.mark.column,
                         message: "duplicate key \(dups.map { "'\($0)'" }.joined(separator: ", "))")
    case let .reader(problem, _, _, _):
        return SpecError(file: file, line: 1, column: 1, message: "not readable YAML: \(problem)")
    default:
        return SpecError(file: file, line: 1, column: 1, message: "not valid YAML: \(e)")
    }
}

/// Walks the node tree. Every accessor checks the type and the allowed keys and throws at the node's mark.
private struct SpecReader {
    let file: String, dir: String

    func fail(_ n: Node?, _ msg: String) -> SpecError {
        let m = n?.mark
        return SpecError(file: file, line: m?.line ?? 1, column: m?.column ?? 1, message: msg)
    }

    /// "FILE:LINE:COLUMN: WHAT: 'old' is an old spelling of 'new'; read as 'new' (...)".
    func deprecated(_ n: Node, _ what: String, old: String, new: String) -> String {
        let m = n.mark
        return "\(file):\(m?.line ?? 1):\(m?.column ?? 1): \(what): '\(old)' is an old spelling of '\(new)'; "
            + "read as '\(new)' (write '\(new)': the old spelling may stop working)"
    }

    /// The mapping's pairs by key; unknown keys and duplicates are errors.
    func mapping(_ n: Node, _ what: String, allowed: [String]) throws -> [String: (key: Node, value: Node)] {
        guard case let .mapping(m) = n else { throw fail(n, "\(what): expected a mapping of \(allowed.joined(separator: ", "))") }
        var out: [String: (Node, Node)] = [:]
        for (k, v) in m {
            guard let s = k.scalar?.string else { throw fail(k, "\(what): keys must be plain strings") }
            guard allowed.contains(s) else {
                throw fail(k, "unknown key '\(s)' in \(what)\(didYouMean(suggestions(for: s, among: allowed))) (expected one of: \(allowed.joined(separator: ", ")))")
            }
            if out[s] != nil { throw fail(k, "duplicate key '\(s)' in \(what)") }
            out[s] = (k, v)
        }
        return out
    }

    func string(_ n: Node, _ what: String) throws -> String {
        guard case let .scalar(s) = n, n.null == nil || s.style != .plain else { throw fail(n, "\(what): expected a string") }
        return s.string
    }

    func int(_ n: Node, _ what: String, min lo: Int, max hi: Int = Int.max) throws -> Int {
        guard case .scalar = n, let v = n.int else { throw fail(n, "\(what): expected an integer") }
        guard v >= lo && v <= hi else {
            throw fail(n, "\(what): expected an integer \(hi == Int.max ? ">= \(lo)" : "in [\(lo), \(hi)]"), got \(v)")
        }
        return v
    }

    func double(_ n: Node, _ what: String, _ ok: (Double) -> Bool, _ expected: String) throws -> Double {
        guard case .scalar = n, let v = n.float, v.isFinite else { throw fail(n, "\(what): expected a number \(expected)") }
        guard ok(v) else { throw fail(n, "\(what): expected a number \(expected), got \(v)") }
        return v
    }

    func bool(_ n: Node, _ what: String) throws -> Bool {
        guard case .scalar = n, let b = n.bool else { throw fail(n, "\(what): expected true or false") }
        return b
    }

    /// A scalar or a list of scalars.
    func list(_ n: Node) -> [Node] {
        if case let .sequence(s) = n { return Array(s) }
        return [n]
    }

    /// A path relative to the spec's folder, which must exist.
    func existingPath(_ n: Node, _ what: String) throws -> String {
        let raw = try string(n, what)
        guard !raw.isEmpty else { throw fail(n, "\(what): expected a path, got an empty string") }
        let p = resolve(raw)
        guard FileManager.default.fileExists(atPath: p) else {
            throw fail(n, "\(what): no such file '\(raw)'\(p == raw ? "" : " (looked for \(p))")")
        }
        return p
    }

    func resolve(_ raw: String) -> String {
        let expanded = (raw as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return expanded }
        return dir.isEmpty ? expanded : (dir as NSString).appendingPathComponent(expanded)
    }

    mutating func read(_ root: Node, text: String) throws -> AuditSpec {
        var warnings: [String] = []
        let top = ["version", "name", "seed", "target", "reference", "datasets", "attacks", "thresholds", "report"]
        let m = try mapping(root, "the spec", allowed: top)
        guard let ver = m["version"] else { throw fail(root, "missing key 'version' (this build reads version: 1)") }
        guard try int(ver.value, "version", min: 1) == 1 else { throw fail(ver.value, "version: this build reads version 1 only") }
        guard let name = m["name"] else { throw fail(root, "missing key 'name' (a title for the audit)") }
        let seed = try m["seed"].map { UInt64(try int($0.value, "seed", min: 0)) } ?? 0

        // Checkpoints: `checkpoint: default` is the cached SmolLM2 that scripts/setup.sh fetches. The target may
        // instead be a served model: `endpoint` and `model`, with optional `tokenizer`, `api_key_env`, `concurrency`.
        let served = ["endpoint", "model", "tokenizer", "api_key_env", "concurrency"]
        func checkpoint(_ key: String, endpointAllowed: Bool) throws -> (String, Bool)? {
            guard let e = m[key] else { return nil }
            let c = try mapping(e.value, key, allowed: ["checkpoint"] + (endpointAllowed ? served : []))
            if c["checkpoint"] == nil && c["endpoint"] != nil { return nil }
            guard let p = c["checkpoint"] else {
                throw fail(e.value, "\(key): missing key 'checkpoint' (a GGUF file, a Hugging Face folder, or 'default')"
                           + (endpointAllowed ? " or 'endpoint' with 'model' (a served model)" : ""))
            }
            if let extra = served.first(where: { c[$0] != nil }) {
                throw fail(c[extra]!.key, "\(key).\(extra): goes with 'endpoint' (a served model), not with 'checkpoint'")
            }
            if try string(p.value, "\(key).checkpoint") == "default" {
                let d = defaultModelPath()
                guard FileManager.default.fileExists(atPath: d) else {
                    throw fail(p.value, "\(key).checkpoint: the default checkpoint is not cached at \(d): run scripts/setup.sh first")
                }
                return (d, true)
            }
            return (try existingPath(p.value, "\(key).checkpoint"), false)
        }
        func endpoint(_ key: String) throws -> AuditSpec.Endpoint? {
            guard let e = m[key], case .mapping = e.value else { return nil }
            let c = try mapping(e.value, key, allowed: ["checkpoint"] + served)
            guard let u = c["endpoint"] else { return nil }
            if let p = c["checkpoint"] {
                throw fail(p.key, "\(key): give either 'checkpoint' (a file on this machine) or 'endpoint' (a served model), not both")
            }
            let url = try string(u.value, "\(key).endpoint")
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw fail(u.value, "\(key).endpoint: expected an http(s) URL such as http://127.0.0.1:8000, got '\(url)'")
            }
            guard let name = c["model"] else {
                throw fail(e.value, "\(key): missing key 'model' (the served model's name, as the server's /v1/models lists it)")
            }
            var ep = AuditSpec.Endpoint(url: url, model: try string(name.value, "\(key).model"))
            if ep.model.isEmpty { throw fail(name.value, "\(key).model: expected a model name, got an empty string") }
            ep.tokenizer = try c["tokenizer"].map { try existingPath($0.value, "\(key).tokenizer") }
            if let k = c["api_key_env"] {
                let v = try string(k.value, "\(key).api_key_env")
                guard !v.isEmpty, v.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw fail(k.value, "\(key).api_key_env: expected the name of an environment variable (letters, digits, _), not the key itself")
                }
                ep.apiKeyEnv = v
            }
            ep.concurrency = try c["concurrency"].map { try int($0.value, "\(key).concurrency", min: 1, max: 256) }
            return ep
        }
        let targetEndpoint = try endpoint("target")
        let target: String, targetIsDefault: Bool
        if let targetEndpoint {
            (target, targetIsDefault) = (targetEndpoint.url, false)
        } else {
            guard let t = try checkpoint("target", endpointAllowed: true) else {
                throw fail(root, "missing key 'target' (target: {checkpoint: PATH or default} or {endpoint: URL, model: NAME})")
            }
            (target, targetIsDefault) = t
        }
        let reference = try checkpoint("reference", endpointAllowed: false)?.0

        var spec = AuditSpec(path: file, text: text, name: try string(name.value, "name"), seed: seed, target: target,
                             targetIsDefault: targetIsDefault, targetEndpoint: targetEndpoint, reference: reference, field: "text",
                             thresholds: [], histogramBins: 20)
        var datasetNodes: [String: Node] = [:]
        if let d = m["datasets"] {
            let dm = try mapping(d.value, "datasets", allowed: ["members", "nonmembers", "field", "extraction", "canaries", "traps"])
            if let f = dm["field"] { spec.field = try string(f.value, "datasets.field") }
            func path(_ k: String) throws -> String? {
                guard let e = dm[k] else { return nil }
                datasetNodes[k] = e.key
                return try existingPath(e.value, "datasets.\(k)")
            }
            spec.members = try path("members"); spec.nonmembers = try path("nonmembers")
            spec.extraction = try path("extraction"); spec.canaries = try path("canaries"); spec.traps = try path("traps")
        }

        guard let attacksEntry = m["attacks"] else { throw fail(root, "missing key 'attacks' (one or more of: mia, extraction, canary, traps)") }
        let am = try mapping(attacksEntry.value, "attacks", allowed: ["mia", "extraction", "canary", "traps"])
        if am.isEmpty { throw fail(attacksEntry.value, "attacks: expected at least one of mia, extraction, canary, traps") }
        func needs(_ attack: (key: Node, value: Node), _ datasets: [String]) throws {
            for d in datasets where datasetNodes[d] == nil {
                throw fail(attack.key, "attacks.\(attack.key.scalar?.string ?? ""): needs datasets.\(d)")
            }
        }
        func options(_ e: (key: Node, value: Node), _ what: String, _ allowed: [String]) throws -> [String: (key: Node, value: Node)] {
            if e.value.null != nil { return [:] }          // `mia:` with nothing after it: all defaults
            return try mapping(e.value, what, allowed: allowed)
        }
        if let e = am["mia"] {
            try needs(e, ["members", "nonmembers"])
            let o = try options(e, "attacks.mia", ["attacks", "k", "resamples", "blind_baseline"])
            var attacks = spec.reference == nil ? ["loss", "zlib", "mink", "minkpp"] : MIAAttack.families
            if let a = o["attacks"] {
                attacks = try list(a.value).map { n in
                    var s = try string(n, "attacks.mia.attacks")
                    if let new = DeprecatedSpelling.families[s] {
                        warnings.append(deprecated(n, "attacks.mia.attacks", old: s, new: new))
                        s = new
                    }
                    guard MIAAttack.families.contains(s) else {
                        throw fail(n, "attacks.mia.attacks: unknown attack '\(s)'\(didYouMean(suggestions(for: s, among: MIAAttack.families))) (expected: \(MIAAttack.families.joined(separator: ", ")))")
                    }
                    if s == "reference" && spec.reference == nil {
                        throw fail(n, "attacks.mia.attacks: 'reference' needs a reference checkpoint (reference: {checkpoint: PATH})")
                    }
                    return s
                }
                if attacks.isEmpty { throw fail(a.value, "attacks.mia.attacks: expected at least one attack") }
                if Set(attacks).count != attacks.count { throw fail(a.value, "attacks.mia.attacks: an attack is listed twice") }
            }
            var ks = [0.2]
            if let k = o["k"] {
                ks = try list(k.value).map { try double($0, "attacks.mia.k", { $0 > 0 && $0 <= 1 }, "in (0, 1]") }
                if ks.isEmpty || Set(ks).count != ks.count { throw fail(k.value, "attacks.mia.k: expected distinct values in (0, 1]") }
            }
            spec.mia = .init(attacks: attacks, ks: ks,
                             resamples: try o["resamples"].map { try int($0.value, "attacks.mia.resamples", min: 1, max: Limits.resamples) } ?? 1000,
                             blindBaseline: try o["blind_baseline"].map { try bool($0.value, "attacks.mia.blind_baseline") } ?? true)
        }
        if let e = am["extraction"] {
            try needs(e, ["extraction"])
            let o = try options(e, "attacks.extraction", ["prefix", "suffix", "approx_threshold", "temperature", "top_k", "top_p", "n", "p"])
            var prefixes = [32]
            if let p = o["prefix"] {
                prefixes = try list(p.value).map { try int($0, "attacks.extraction.prefix", min: 1, max: Limits.tokens) }
                if prefixes.isEmpty || Set(prefixes).count != prefixes.count {
                    throw fail(p.value, "attacks.extraction.prefix: expected distinct prefix lengths in tokens")
                }
            }
            let suffix = try o["suffix"].map { try int($0.value, "attacks.extraction.suffix", min: 1, max: Limits.tokens) } ?? 32
            let approx = try o["approx_threshold"].map {
                try double($0.value, "attacks.extraction.approx_threshold", { $0 >= 0 && $0 < 1 }, "in [0, 1)") } ?? 0.1
            let temperature = try o["temperature"].map {
                try double($0.value, "attacks.extraction.temperature", { $0 > 0 }, "> 0") } ?? 1.0
            let topK = try o["top_k"].map { try int($0.value, "attacks.extraction.top_k", min: 0, max: Limits.count) } ?? 40
            let topP = try o["top_p"].map {
                try double($0.value, "attacks.extraction.top_p", { $0 > 0 && $0 <= 1 }, "in (0, 1]") } ?? 1.0
            let n = try o["n"].map { try int($0.value, "attacks.extraction.n", min: 1, max: Limits.discoverabilityN) } ?? 100
            let p = try o["p"].map { try double($0.value, "attacks.extraction.p", { $0 > 0 && $0 < 1 }, "in (0, 1)") } ?? 0.5
            spec.extractionSpec = AuditSpec.ExtractionSpec(prefixes: prefixes.sorted(), suffix: suffix, approxThreshold: approx,
                                                           temperature: temperature, topK: topK, topP: topP, n: n, p: p)
        }
        if let e = am["canary"] {
            try needs(e, ["canaries"])
            let o = try options(e, "attacks.canary", ["enumerate_up_to", "references", "words"])
            spec.canary = .init(
                enumerateUpTo: try o["enumerate_up_to"].map { try int($0.value, "attacks.canary.enumerate_up_to", min: 0, max: Limits.candidates) } ?? 10_000,
                references: try o["references"].map { try int($0.value, "attacks.canary.references", min: 1, max: Limits.candidates) } ?? 1000,
                words: try o["words"].map { try existingPath($0.value, "attacks.canary.words") })
        }
        if let e = am["traps"] {
            try needs(e, ["traps"])
            let o = try options(e, "attacks.traps", ["resamples"])
            spec.trapsSpec = .init(resamples: try o["resamples"].map { try int($0.value, "attacks.traps.resamples", min: 1, max: Limits.resamples) } ?? 1000)
        }

        if let r = m["report"] {
            let rm = try mapping(r.value, "report", allowed: ["title", "histogram_bins"])
            spec.title = try rm["title"].map { try string($0.value, "report.title") }
            if let b = rm["histogram_bins"] { spec.histogramBins = try int(b.value, "report.histogram_bins", min: 2, max: 200) }
        }

        if let t = m["thresholds"] {
            guard case let .sequence(items) = t.value else {
                throw fail(t.value, "thresholds: expected a list like ['mia.loss.auc <= 0.60']")
            }
            let produced = spec.producedFigures
            for n in items {
                var s = try string(n, "thresholds")
                // An old attack name in the metric key: read with the new one, and say so.
                if let key = s.split(separator: " ", omittingEmptySubsequences: true).first.map(String.init),
                   let new = DeprecatedSpelling.metric(key) {
                    warnings.append(deprecated(n, "thresholds", old: key, new: new))
                    s = new + String(s.drop(while: { $0 == " " }).dropFirst(key.count))
                }
                spec.thresholds.append(try threshold(s, n, produced: produced))
            }
        }
        spec.warnings = warnings
        return spec
    }

    /// "METRIC OP NUMBER", OP one of <= < >= > ==.
    func threshold(_ s: String, _ n: Node, produced: [Figure]) throws -> AuditSpec.Threshold {
        let parts = s.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let ops = ["<=", "<", ">=", ">", "=="]
        guard parts.count == 3, ops.contains(parts[1]), let v = Double(parts[2]), v.isFinite else {
            throw fail(n, "thresholds: expected 'METRIC OP NUMBER' with OP one of \(ops.joined(separator: " ")), e.g. 'mia.loss.auc <= 0.60', got '\(s)'")
        }
        // Per-repetition figures depend on the manifests' repetition counts, known only when the run reads them;
        // one the run does not produce fails its check ("was not produced").
        let produced = produced.map(\.key)
        let figure = Figure(key: parts[0])
        let family = produced.contains(parts[0].hasPrefix("canary.") ? "canary.exposure.max" : "traps.auc")
        if let why = DeprecatedSpelling.intervalBound(parts[0]) { throw fail(n, "thresholds: \(why)") }
        guard let figure, produced.contains(parts[0]) || (figure.isPerRepetition && family) else {
            let shown = produced.prefix(12).joined(separator: ", ") + (produced.count > 12 ? ", ..." : "")
            throw fail(n, "thresholds: '\(parts[0])' is not a metric this spec produces\(didYouMean(suggestions(for: parts[0], among: produced))) (it produces: \(produced.isEmpty ? "none" : shown))")
        }
        let m = n.mark
        return .init(expression: s, figure: figure, op: parts[1], value: v, line: m?.line ?? 0, column: m?.column ?? 0)
    }
}

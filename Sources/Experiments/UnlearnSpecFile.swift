// The YAML form of `auditor unlearn SPEC.yml`: like an audit spec, with the forget / retain / held-out sets, the
// method and its parameters, the audit's `attacks` (run before and after), thresholds on the pair, and the output.
import Audit
import Foundation
import Model
import Training
import Unlearning
import Yams

public enum UnlearnSpecFile {
    static let top = ["version", "name", "seed", "target", "datasets", "method", "audit", "relearn", "thresholds", "out", "report"]
    static let methodKeys = ["name", "gamma", "alpha", "beta", "lora", "steps", "lr", "batch_size", "optimizer", "clip", "eval_every",
                             "forget_target", "max_retain_increase", "max_holdout_increase", "rho", "layers", "ssd_alpha", "ssd_lambda",
                             "max_tokens", "fila"]

    /// Reads and checks the spec; paths are relative to the spec file. Errors name the file, line and key.
    public static func load(_ path: String) throws -> UnlearnSpec {
        guard let text = String(data: try readUserFile(path, cannotRead: "cannot read the unlearning spec"), encoding: .utf8) else {
            throw InputError(path, "cannot read the unlearning spec")
        }
        let root: Node
        do { guard let n = try Yams.compose(yaml: text) else { throw InputError(path, "the spec is empty") }; root = n } catch let e as InputError {
            throw e
        } catch { throw InputError(path, "not valid YAML: \(error)") }
        func fail(_ n: Node?, _ msg: String) -> InputError {
            InputError(n?.mark.map { "\(path):\($0.line):\($0.column)" } ?? path, msg)
        }
        func mapping(_ n: Node, _ what: String, _ allowed: [String]) throws -> [String: Node] {
            guard let m = n.mapping else { throw fail(n, "\(what): expected a mapping of \(allowed.joined(separator: ", "))") }
            var out: [String: Node] = [:]
            for (k, v) in m {
                guard let s = k.string, allowed.contains(s) else {
                    throw fail(k, "unknown key '\(k.string ?? "?")' in \(what) (expected one of: \(allowed.joined(separator: ", ")))")
                }
                out[s] = v
            }
            return out
        }
        let base = (path as NSString).deletingLastPathComponent
        func file(_ n: Node?, _ what: String, mustExist: Bool = true) throws -> String? {
            guard let n else { return nil }
            guard let s = n.string, !s.isEmpty else { throw fail(n, "\(what): expected a path") }
            let p = s.hasPrefix("/") ? s : (base.isEmpty ? s : (base as NSString).appendingPathComponent(s))
            if mustExist && !FileManager.default.fileExists(atPath: p) { throw fail(n, "\(what): no such file '\(s)' (looked for \(p))") }
            return p
        }
        func number(_ n: Node?, _ what: String) throws -> Double? {
            guard let n else { return nil }
            guard let v = n.float, v.isFinite else { throw fail(n, "\(what): expected a number") }
            return v
        }
        func integer(_ n: Node?, _ what: String) throws -> Int? {
            guard let n else { return nil }
            guard let v = n.int else { throw fail(n, "\(what): expected an integer") }
            return v
        }
        let m = try mapping(root, "the spec", top)
        guard let v = m["version"], v.int == 1 else { throw fail(m["version"] ?? root, "version: this build reads version: 1") }
        guard let targetNode = m["target"] else { throw fail(root, "missing key 'target' (target: {checkpoint: PATH})") }
        let target = try mapping(targetNode, "target", ["checkpoint", "retrained"])
        guard let checkpoint = try file(target["checkpoint"], "target.checkpoint") else { throw fail(targetNode, "target: missing key 'checkpoint'") }
        guard let dsNode = m["datasets"] else { throw fail(root, "missing key 'datasets' (forget, retain, holdout)") }
        let ds = try mapping(dsNode, "datasets", ["forget", "retain", "holdout", "field"])
        guard let forget = try file(ds["forget"], "datasets.forget") else { throw fail(dsNode, "datasets: missing key 'forget'") }
        guard let retain = try file(ds["retain"], "datasets.retain") else { throw fail(dsNode, "datasets: missing key 'retain'") }
        guard let methodNode = m["method"] else { throw fail(root, "missing key 'method' (method: {name: \(UnlearnAlgorithm.names.joined(separator: " | "))})") }
        let mm = try mapping(methodNode, "method", methodKeys)
        guard let nameNode = mm["name"], let name = nameNode.string else { throw fail(methodNode, "method: missing key 'name'") }
        guard let out = try file(m["out"], "out", mustExist: false) else { throw fail(root, "missing key 'out' (the folder for the unlearned checkpoint)") }
        let algorithm: UnlearnAlgorithm
        if let method = UnlearningMethod(rawValue: name) {
            algorithm = .gradient(ObjectiveConfig(method: method, gamma: try number(mm["gamma"], "method.gamma") ?? 1,
                                                  alpha: try number(mm["alpha"], "method.alpha"), beta: try number(mm["beta"], "method.beta")))
        } else if name == "kfac" {
            let layers = try mm["layers"].map { n -> [String] in
                guard let s = n.sequence else { throw fail(n, "method.layers: expected a list like [blk.29.gate, blk.29.up]") }
                return try s.map { guard let x = $0.string else { throw fail($0, "method.layers: expected layer names") }; return x }
            }
            algorithm = .kfac(rho: try number(mm["rho"], "method.rho") ?? 0.8, layers: layers)
        } else if name == "ssd" {
            algorithm = .ssd(SSDConfig(alpha: try number(mm["ssd_alpha"], "method.ssd_alpha") ?? 10, lambda: try number(mm["ssd_lambda"], "method.ssd_lambda") ?? 1))
        } else {
            throw fail(nameNode, "method.name: unknown method '\(name)' (expected one of: \(UnlearnAlgorithm.names.joined(separator: ", ")))")
        }
        var spec = UnlearnSpec(checkpoint: checkpoint, forget: forget, retain: retain, algorithm: algorithm, out: out)
        spec.holdout = try file(ds["holdout"], "datasets.holdout")
        spec.retrained = try file(target["retrained"], "target.retrained")
        if let f = ds["field"] { guard let s = f.string else { throw fail(f, "datasets.field: expected a string") }; spec.field = s }
        if let n = m["name"] { spec.name = n.string ?? spec.name }
        spec.options.seed = UInt64(max(0, try integer(m["seed"], "seed") ?? 0))
        if let s = try integer(mm["steps"], "method.steps") { spec.options.steps = s }
        if let s = try number(mm["lr"], "method.lr") { spec.options.learningRate = s }
        if let s = try integer(mm["batch_size"], "method.batch_size") { spec.options.batchSize = s }
        if let s = try integer(mm["eval_every"], "method.eval_every") { spec.options.evalEvery = s }
        if let s = try number(mm["clip"], "method.clip") { spec.options.clip = s > 0 ? s : nil }
        if let n = mm["optimizer"] {
            guard let o = n.string.flatMap(OptimizerKind.init(rawValue:)) else { throw fail(n, "method.optimizer: expected adamw or sgd") }
            spec.options.optimizer = o
        }
        spec.options.forgetTarget = try number(mm["forget_target"], "method.forget_target")
        if let s = try number(mm["max_retain_increase"], "method.max_retain_increase") { spec.options.maxRetainIncrease = s }
        if let s = try number(mm["max_holdout_increase"], "method.max_holdout_increase") { spec.options.maxHoldoutIncrease = s }
        spec.maxTokens = try integer(mm["max_tokens"], "method.max_tokens")
        if let l = mm["lora"] {
            let lm = try mapping(l, "method.lora", ["rank", "alpha", "targets"])
            let rank = try integer(lm["rank"], "method.lora.rank") ?? 8
            guard rank >= 1 && rank <= 4096 else { throw fail(lm["rank"] ?? l, "method.lora.rank: expected 1...4096, got \(rank)") }
            spec.lora = LoRAConfig(rank: rank, alpha: try number(lm["alpha"], "method.lora.alpha") ?? Double(2 * rank))
            spec.loraTargets = try lm["targets"].map { n in
                guard let s = n.sequence else { throw fail(n, "method.lora.targets: expected a list like [q, v]") }
                return s.compactMap(\.string)
            }
        }
        if let f = mm["fila"] {
            guard let b = f.bool else { throw fail(f, "method.fila: expected true or false") }
            spec.fila = b
        }
        if let r = m["relearn"] {
            let rm = try mapping(r, "relearn", ["steps", "lr", "batch_size", "prefix", "suffix"])
            if let x = try integer(rm["steps"], "relearn.steps") { spec.relearn.steps = x }
            if let x = try number(rm["lr"], "relearn.lr") { spec.relearn.learningRate = x }
            if let x = try integer(rm["batch_size"], "relearn.batch_size") { spec.relearn.batchSize = x }
            if let x = try integer(rm["prefix"], "relearn.prefix") { spec.relearn.prefix = x }
            if let x = try integer(rm["suffix"], "relearn.suffix") { spec.relearn.suffix = x }
            do { try spec.relearn.validate() } catch let e as InputError { throw fail(r, e.description) }
        }
        // Every parameter's range now, naming the spec's line: bad input before any work.
        do {
            switch spec.algorithm {
            case .gradient(let c): try c.validate()
            case .ssd(let c): try c.validate()
            case .kfac(let rho, _): if !(rho > 0 && rho <= 1) { throw UnlearningError("rho must be in (0, 1], got \(rho)") }
            }
            try spec.options.validate()
        } catch let e as UnlearningError { throw fail(methodNode, "method: \(e.description)") }
        spec.relearn.seed = spec.options.seed
        if let a = m["audit"] {
            guard a.mapping != nil else { throw fail(a, "audit: expected the attacks mapping of an audit spec (mia, extraction, ...)") }
            spec.attacksYAML = try Yams.serialize(node: a)
        }
        if let t = m["thresholds"] {
            guard let s = t.sequence else { throw fail(t, "thresholds: expected a list like ['after.extraction.exact.rate <= 0.01']") }
            spec.thresholds = try s.map { n in
                guard let e = n.string else { throw fail(n, "thresholds: expected strings") }
                do { return try PairThreshold.parse(e) } catch let e as InputError {
                    throw fail(n, String(e.description.dropFirst("thresholds: ".count)))
                }
            }
        }
        spec.specPath = path; spec.specText = text
        return spec
    }
}

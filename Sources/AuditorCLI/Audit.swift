// `auditor audit SPEC`: runs a spec's attacks, commits each finished step to the store, checks thresholds, writes the report.
import ArgumentParser
import Attacks
import Foundation
import Model
import Report
import Store
import Tensor

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Run an audit spec (audits/*.yml): attacks, thresholds, a stored run and a report.",
        discussion: """
            Scores every member and non-member text once per checkpoint (LOSS, zlib, Min-K%, Min-K%++ and the \
            reference attack all come from those passes), then runs extraction, canary exposure and copyright-trap \
            tests as the spec asks. Each finished step is committed to the SQLite store in one transaction; a run \
            that stops early is marked interrupted. The report goes to REPORTS/<run-id>/: report.md, report.html \
            (self-contained, inline SVG charts), summary.json and junit.xml (one test case per threshold). \
            Exit status: 0 every threshold holds, 1 a threshold is breached, 2 bad input (spec, checkpoint, data). \
            Canaries, generated text and other secrets are redacted unless --show-secrets is given.
            """)

    @Argument(help: "The audit spec (YAML).") var spec: String
    @Option(help: "SQLite store of runs.") var db = "reports/auditor.sqlite"
    @Option(help: "Folder for reports; each run writes REPORTS/<run-id>/.") var reports = "reports"
    @Flag(help: "Include secrets (canaries, generated text) in the report.") var showSecrets = false
    @Option(help: "Threads for matrix products (default: all cores).") var threads: Int?

    func validate() throws {
        if let threads, threads < 1 || threads > Int(Int32.max) { throw ValidationError("--threads must be between 1 and \(Int32.max)") }
    }

    func run() throws {
        var breached = false
        try reportingErrors {
            let spec = try loadAuditSpec(self.spec)
            BLAS.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
            let store = try openStore(db)
            let runner = AuditRunner(spec: spec, store: store, dbPath: db)
            let report = try runner.run()
            let dir = (reports as NSString).appendingPathComponent(report.run.id)
            let options = ReportOptions(showSecrets: showSecrets, title: spec.title, histogramBins: spec.histogramBins)
            _ = try Report.write(report, to: dir, options: options)
            breached = report.run.status == .breached
            let failing = report.checks.filter { !$0.passed }
            print("\(report.run.status == .passed ? "PASS" : "BREACH"): \(report.run.verdict ?? "")")
            for c in failing { print("  breached: \(c.message)") }
            print("report: \((dir as NSString).appendingPathComponent("report.md"))")
            print("        \((dir as NSString).appendingPathComponent("report.html"))")
            print("run: \(report.run.id) (stored in \(db))")
        }
        if breached { throw ExitCode(1) }
    }
}

/// Opens (creating its folder) the store and marks runs whose process died as interrupted.
func openStore(_ path: String) throws -> Store {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw InputError(dir, "cannot create the folder for the store: \(error.localizedDescription)")
        }
    }
    let store = try Store(path: path)
    _ = try store.reapInterrupted(host: hostName())
    return store
}

func hostName() -> String { ProcessInfo.processInfo.hostName }

/// "Linux x86_64, 2 cores, 23.4 GiB, host NAME".
func machineDescription() -> String {
    var u = utsname()
    uname(&u)
    func str<T>(_ t: T) -> String { withUnsafeBytes(of: t) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
    let gib = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
    return "\(str(u.sysname)) \(str(u.machine)), \(ProcessInfo.processInfo.activeProcessorCount) cores, "
        + String(format: "%.1f GiB", gib) + ", host \(hostName())"
}

func iso8601(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: d)
}

/// The run id: UTC start time and 4 random hex digits, so two audits started in the same second differ.
func makeRunID(_ d: Date) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC"); f.dateFormat = "yyyyMMdd-HHmmss"
    return f.string(from: d) + "-" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
}

/// Marks the run interrupted on SIGINT/SIGTERM (on a connection of its own) and exits 130/143.
/// SIGKILL cannot be caught: the next command that opens the store sees the dead pid and marks the run then.
final class InterruptGuard {
    private var sources: [DispatchSourceSignal] = []
    init(runID: String, dbPath: String) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                if let st = try? Store(path: dbPath) { try? st.markInterrupted(id: runID) }
                FileHandle.standardError.write(Data("auditor: interrupted; run \(runID) marked interrupted in \(dbPath)\n".utf8))
                exit(128 + sig)
            }
            s.resume()
            sources.append(s)
        }
    }
    func cancel() { sources.forEach { $0.cancel() }; signal(SIGINT, SIG_DFL); signal(SIGTERM, SIG_DFL) }
}

/// Runs one spec against the store: inputs, mia, extraction, canary, traps, thresholds, each committed as it ends.
struct AuditRunner {
    let spec: AuditSpec
    let store: Store
    let dbPath: String

    func run() throws -> RunReport {
        let started = Date()
        var run = RunRecord(id: makeRunID(started), name: spec.name, specPath: spec.path,
                            specSHA256: sha256(data: Data(spec.text.utf8)), specText: spec.text, seed: Int64(bitPattern: spec.seed),
                            auditorVersion: AuditorCommand.version, machine: machineDescription(), host: hostName(),
                            pid: getpid(), startedAt: iso8601(started), optionsJSON: optionsJSON())
        // A clash of ids (same second, same 16 random bits) is retried with new random digits.
        var attempt = 0
        while true {
            do { try store.beginRun(run); break } catch {
                attempt += 1
                if attempt >= 5 { throw error }
                run.id = makeRunID(started)
            }
        }
        let guardian = InterruptGuard(runID: run.id, dbPath: dbPath)
        defer { guardian.cancel() }
        FileHandle.standardError.write(Data("audit: run \(run.id): \(spec.name)\n".utf8))
        do {
            let checks = try steps(run.id)
            let failing = checks.filter { !$0.passed }
            let verdict: String
            if checks.isEmpty {
                verdict = "No thresholds were set; the figures below are for information."
            } else if failing.isEmpty {
                verdict = "All \(checks.count) threshold\(checks.count == 1 ? "" : "s") hold."
            } else {
                verdict = "\(failing.count) of \(checks.count) threshold\(checks.count == 1 ? "" : "s") breached: "
                    + failing.map(\.message).joined(separator: "; ") + "."
            }
            let end = Date()
            try store.finishRun(id: run.id, status: failing.isEmpty ? .passed : .breached, verdict: verdict,
                                finishedAt: iso8601(end), durationSeconds: end.timeIntervalSince(started))
        } catch {
            let end = Date()
            try? store.finishRun(id: run.id, status: .failed, verdict: "The audit failed: \(error)",
                                 finishedAt: iso8601(end), durationSeconds: end.timeIntervalSince(started))
            throw error
        }
        return try store.load(runID: run.id)
    }

    /// The attacks' parameters as run, for the report's "how" section.
    func optionsJSON() -> String {
        var o: [String: Any] = ["seed": spec.seed, "field": spec.field]
        if let m = spec.mia {
            o["mia"] = ["attacks": spec.miaAttackNames(m), "k": m.ks, "resamples": m.resamples, "blind_baseline": m.blindBaseline]
        }
        if let e = spec.extractionSpec {
            o["extraction"] = ["prefix": e.prefixes, "suffix": e.suffix, "approx_threshold": e.approxThreshold,
                               "temperature": e.temperature, "top_k": e.topK, "top_p": e.topP, "n": e.n, "p": e.p]
        }
        if let c = spec.canary { o["canary"] = ["enumerate_up_to": c.enumerateUpTo, "references": c.references] }
        if let t = spec.trapsSpec { o["traps"] = ["resamples": t.resamples] }
        o["thresholds"] = spec.thresholds.map(\.expression)
        return jsonLine(o)
    }

    private func steps(_ id: String) throws -> [CheckRecord] {
        var metrics: [MetricRecord] = []
        func commit(_ name: String, since t0: Date, checkpoints: [CheckpointRecord] = [], datasets: [DatasetRecord] = [],
                    metrics m: [MetricRecord] = [], scores: [TextScoreRecord] = [], findings: [FindingRecord] = [],
                    checks: [CheckRecord] = []) throws {
            let now = Date()
            try store.commitStep(runID: id, step: StepRecord(name: name, finishedAt: iso8601(now), seconds: now.timeIntervalSince(t0)),
                                 checkpoints: checkpoints, datasets: datasets, metrics: m, scores: scores, findings: findings, checks: checks)
            metrics += m
            FileHandle.standardError.write(Data(String(format: "audit: %@ done (%.1f s)\n", name, now.timeIntervalSince(t0)).utf8))
        }

        // Inputs: load and hash everything first, so a bad file fails before any long computation.
        var t0 = Date()
        let target = try LanguageModel.load(path: spec.target)
        let reference = try spec.reference.map { try LanguageModel.load(path: $0) }
        var checkpoints = [try checkpointRecord(target, role: "target")]
        if let reference { checkpoints.append(try checkpointRecord(reference, role: "reference")) }
        var datasets: [DatasetRecord] = []
        var memberTexts: [String] = [], nonmemberTexts: [String] = [], extractionTexts: [(id: Any?, text: String)] = []
        if let p = spec.members { memberTexts = try readJSONLTexts(p, field: spec.field).map(\.text); datasets.append(try datasetRecord("members", p, memberTexts.count)) }
        if let p = spec.nonmembers { nonmemberTexts = try readJSONLTexts(p, field: spec.field).map(\.text); datasets.append(try datasetRecord("nonmembers", p, nonmemberTexts.count)) }
        if let p = spec.extraction { extractionTexts = try readJSONLTexts(p, field: spec.field); datasets.append(try datasetRecord("extraction", p, extractionTexts.count)) }
        var canaryManifest: CanaryManifest?
        if let p = spec.canaries {
            let m = try readManifest(p)
            if m.canaries.isEmpty { throw InputError(p, "the manifest lists no canaries") }
            canaryManifest = m; datasets.append(try datasetRecord("canaries", p, m.canaries.count))
            if let w = spec.canary?.words { datasets.append(try datasetRecord("canary-words", w, try readWordList(w).count)) }
        }
        var trapManifest: TrapManifest?
        if let p = spec.traps {
            let m = try readTrapManifest(p)
            if m.traps.isEmpty { throw InputError(p, "the manifest lists no traps") }
            trapManifest = m; datasets.append(try datasetRecord("traps", p, m.traps.count))
        }
        try commit("inputs", since: t0, checkpoints: checkpoints, datasets: datasets)

        if let mia = spec.mia {
            t0 = Date()
            let (m, s) = try membership(mia, target, reference, memberTexts, nonmemberTexts)
            try commit("mia", since: t0, metrics: m, scores: s)
        }
        if let e = spec.extractionSpec {
            t0 = Date()
            let (m, f) = try extraction(e, target, extractionTexts)
            try commit("extraction", since: t0, metrics: m, findings: f)
        }
        if let c = spec.canary, let manifest = canaryManifest {
            t0 = Date()
            let (m, f) = try canaries(c, target, manifest)
            try commit("canary", since: t0, metrics: m, findings: f)
        }
        if let t = spec.trapsSpec, let manifest = trapManifest {
            t0 = Date()
            let (m, f) = try traps(t, target, reference, manifest)
            try commit("traps", since: t0, metrics: m, findings: f)
        }
        t0 = Date()
        let checks = spec.thresholds.map { evaluate($0, metrics) }
        try commit("thresholds", since: t0, checks: checks)
        return checks
    }

    // MARK: steps

    private func membership(_ mia: AuditSpec.MIA, _ target: LanguageModel, _ reference: LanguageModel?,
                            _ members: [String], _ nonmembers: [String]) throws -> ([MetricRecord], [TextScoreRecord]) {
        let useRef = mia.attacks.contains("reference")
        let scorer = MIAScorer(target: target, reference: useRef ? reference : nil,
                               options: MIAOptions(ks: mia.ks, lowercase: false, recallPrefix: nil))
        func scored(_ texts: [String], _ file: String?) throws -> [MIAScores] {
            do { return try scorer.score(texts) } catch let e as MIAError { throw InputError(file ?? "datasets", oneBased(e).description) }
        }
        let ms = try scored(members, spec.members), ns = try scored(nonmembers, spec.nonmembers)
        func values(_ s: MIAScores, _ attack: String) -> Double {
            switch attack {
            case "loss": return s.loss
            case "zlib": return s.zlib
            case "reference": return s.referenceDifference!
            default:
                let k = Double(attack.split(separator: "_").last!)!
                return attack.hasPrefix("minkpp_") ? s.minKPlusPlus[k]! : s.minK[k]!
            }
        }
        let labels = Metrics.labels(members: ms.count, nonMembers: ns.count)
        var metrics: [MetricRecord] = [], scores: [TextScoreRecord] = []
        let names: [String: String] = ["loss": "LOSS", "zlib": "zlib", "reference": "reference model (NLL_ref - NLL_target)"]
        for attack in spec.miaAttackNames(mia) {
            let m = ms.map { values($0, attack) }, n = ns.map { values($0, attack) }
            for (i, v) in m.enumerated() { scores.append(TextScoreRecord(checkpoint: "target", dataset: "members", index: i, attack: attack, score: v)) }
            for (i, v) in n.enumerated() { scores.append(TextScoreRecord(checkpoint: "target", dataset: "nonmembers", index: i, attack: attack, score: v)) }
            let label = names[attack] ?? (attack.hasPrefix("minkpp_") ? "Min-K%++ at k = \(attack.dropFirst(7))" : "Min-K% at k = \(attack.dropFirst(5))")
            let all = m + n
            for (key, what, metric) in [("auc", "ROC AUC", { (s: [Double], l: [Int]) in try Metrics.auc(scores: s, labels: l) }),
                                        ("tpr_at_fpr_1pct", "TPR at 1% FPR", { try Metrics.tprAtFPR(scores: $0, labels: $1, maxFPR: 0.01) }),
                                        ("tpr_at_fpr_0.1pct", "TPR at 0.1% FPR", { try Metrics.tprAtFPR(scores: $0, labels: $1, maxFPR: 0.001) })] {
                let b = try Metrics.bootstrap(scores: all, labels: labels, metric: metric, resamples: mia.resamples, seed: spec.seed)
                metrics.append(MetricRecord(step: "mia", key: "mia.\(attack).\(key)", value: b.estimate, lower: b.lower, upper: b.upper,
                                            n: all.count, method: "bootstrap \(mia.resamples), 95%", label: "\(label), \(what)"))
            }
        }
        if mia.blindBaseline {
            let b = try Metrics.blindBaseline(memberTexts: members, nonMemberTexts: nonmembers, seed: spec.seed, resamples: mia.resamples)
            metrics.append(MetricRecord(step: "mia", key: "mia.blind_baseline.auc", value: b.auc, lower: b.lower, upper: b.upper,
                                        n: members.count + nonmembers.count, method: "bootstrap \(mia.resamples), 95%",
                                        label: "Blind baseline (no model; best of length and bag of words: \(b.feature)), ROC AUC"))
        }
        return (metrics, scores)
    }

    private func extraction(_ e: AuditSpec.ExtractionSpec, _ lm: LanguageModel, _ texts: [(id: Any?, text: String)])
        throws -> ([MetricRecord], [FindingRecord]) {
        let file = spec.extraction ?? "datasets.extraction"
        let need = e.prefixes.max()! + e.suffix
        guard need <= lm.config.maxPositions else {
            throw InputError(spec.path, "attacks.extraction: prefix + suffix (\(need)) exceeds the model's context (\(lm.config.maxPositions))")
        }
        let samples = texts.map { lm.tokenizer.encode($0.text) }
        for (i, s) in samples.enumerated() where s.count < need {
            throw InputError(file, "text \(i + 1) has \(s.count) tokens, fewer than the longest prefix + suffix = \(need)")
        }
        let scheme = SamplingParams(temperature: e.temperature, topK: e.topK, topP: e.topP)
        var metrics: [MetricRecord] = [], findings: [FindingRecord] = []
        var anyExact = Array(repeating: false, count: samples.count), anyApprox = anyExact, anyNP = anyExact
        let progress = Progress(total: samples.count * e.prefixes.count, unit: "samples")
        for (pi, prefix) in e.prefixes.enumerated() {
            // Every sample is cut at the same place whatever the prefix: the suffix is tokens [P_max, P_max + S),
            // so rates at different prefix lengths test the same target text.
            let cut = samples.map { Array($0[(e.prefixes.max()! - prefix)..<need]) }
            let rows = extractionResults(lm, samples: cut, prefix: prefix, suffix: e.suffix, approxThreshold: e.approxThreshold,
                                         scheme: scheme, n: e.n, p: e.p) { progress.update(done: pi * samples.count + $0, work: pi * samples.count + $0) }
            for (i, r) in rows.enumerated() {
                anyExact[i] = anyExact[i] || r.exact; anyApprox[i] = anyApprox[i] || r.approximate; anyNP[i] = anyNP[i] || r.np
                let id = texts[i].id.map { "\($0)" }
                findings.append(FindingRecord(step: "extraction", kind: "extraction", dataset: "extraction", index: i, itemID: id,
                                              secret: lm.tokenizer.decode(r.generated),
                                              numbers: ["prefix": Double(prefix), "exact": r.exact ? 1 : 0, "approximate": r.approximate ? 1 : 0,
                                                        "log10_pz": r.log10Pz, "np": r.np ? 1 : 0,
                                                        "exact_memorization": r.exactMemorization]))
            }
            for (kind, flags, what) in [("exact", rows.map(\.exact), "exact (greedy reproduces the suffix)"),
                                        ("approximate", rows.map(\.approximate), "approximate (edit distance <= \(e.approxThreshold))"),
                                        ("np", rows.map(\.np), "(\(e.n), \(e.p))-discoverable")] {
                metrics.append(try rate("extraction", "extraction.prefix_\(prefix).\(kind).rate", flags,
                                        "Extraction rate at a \(prefix)-token prefix, \(what)"))
            }
        }
        metrics.append(try rate("extraction", "extraction.exact.rate", anyExact, "Extraction rate, exact at any tested prefix length"))
        metrics.append(try rate("extraction", "extraction.approximate.rate", anyApprox, "Extraction rate, approximate at any tested prefix length"))
        metrics.append(try rate("extraction", "extraction.np.rate", anyNP, "Extraction rate, (\(e.n), \(e.p))-discoverable at any tested prefix length"))
        return (metrics, findings)
    }

    private func rate(_ step: String, _ key: String, _ flags: [Bool], _ label: String) throws -> MetricRecord {
        let k = flags.filter { $0 }.count
        let ci = try Metrics.clopperPearson(successes: k, trials: flags.count)
        return MetricRecord(step: step, key: key, value: Double(k) / Double(flags.count), lower: ci.lower, upper: ci.upper,
                            n: flags.count, method: "Clopper-Pearson 95%", label: label)
    }

    private func canaries(_ c: AuditSpec.CanarySpec, _ lm: LanguageModel, _ m: CanaryManifest) throws -> ([MetricRecord], [FindingRecord]) {
        let words = try c.words.map { try readWordList($0) } ?? []
        let progress = Progress(total: m.canaries.count, unit: "canaries")
        let rows = try canaryExposures(m, lm, words: words, enumerateUpTo: c.enumerateUpTo, references: c.references,
                                       seed: spec.seed, manifestPath: spec.canaries!) { progress.update(done: $0, work: $0) }
        let findings = rows.enumerated().map { i, r in
            FindingRecord(step: "canary", kind: "canary", dataset: "canaries", index: i, itemID: r.canary.id, secret: r.canary.text,
                          numbers: ["repetitions": Double(r.canary.repetitions), "exposure": r.exposure,
                                    "exposure_extrapolated": r.extrapolated, "max_exposure": r.maxExposure,
                                    "exposure_lower": r.lower, "exposure_upper": r.upper,
                                    "exact": r.exact ? 1 : 0, "references": Double(r.references)])
        }
        let e = rows.map(\.exposure)
        let sampled = rows.contains { !$0.exact }
        let methods = Set(rows.map { $0.exact ? "ranked among all candidates" : "ranked among \($0.references) sampled candidates" })
            .sorted().joined(separator: "; ")
        // Interval of the max (mean): the max (mean) of the canaries' own intervals, which holds when theirs all do.
        let how = sampled ? "; interval from each canary's Clopper-Pearson 95% interval on its sampled rank" : "; exact, no sampling"
        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
        var metrics = [
            MetricRecord(step: "canary", key: "canary.exposure.max", value: e.max()!, lower: rows.map(\.lower).max(),
                         upper: rows.map(\.upper).max(), n: e.count, method: "max over \(e.count) canaries (\(methods))\(how)",
                         label: "Canary exposure, maximum (bits)"),
            MetricRecord(step: "canary", key: "canary.exposure.mean", value: mean(e), lower: mean(rows.map(\.lower)),
                         upper: mean(rows.map(\.upper)), n: e.count, method: "mean over \(e.count) canaries (\(methods))\(how)",
                         label: "Canary exposure, mean (bits)"),
        ]
        for r in Set(rows.map(\.canary.repetitions)).sorted() {
            let g = rows.filter { $0.canary.repetitions == r }
            metrics.append(MetricRecord(step: "canary", key: "canary.rep_\(r).exposure.mean", value: mean(g.map(\.exposure)),
                                        lower: mean(g.map(\.lower)), upper: mean(g.map(\.upper)), n: g.count,
                                        method: "mean over \(g.count) canaries\(how)",
                                        label: "Canary exposure of canaries inserted \(r) time\(r == 1 ? "" : "s"), mean (bits)"))
            metrics.append(MetricRecord(step: "canary", key: "canary.rep_\(r).exposure.max", value: g.map(\.exposure).max()!,
                                        lower: g.map(\.lower).max(), upper: g.map(\.upper).max(), n: g.count,
                                        method: "max over \(g.count) canaries\(how)",
                                        label: "Canary exposure of canaries inserted \(r) time\(r == 1 ? "" : "s"), maximum (bits)"))
        }
        return (metrics, findings)
    }

    private func traps(_ t: AuditSpec.TrapsSpec, _ lm: LanguageModel, _ reference: LanguageModel?, _ m: TrapManifest)
        throws -> ([MetricRecord], [FindingRecord]) {
        let d: TrapDetection
        do { d = try Traps.detect(target: lm, reference: reference, manifest: m, resamples: t.resamples, seed: spec.seed) }
        catch let e as TrapsError { throw InputError(spec.traps!, e.description) }
        let findings = d.scores.enumerated().map { i, s in
            FindingRecord(step: "traps", kind: "trap", dataset: "traps", index: i, itemID: s.id, secret: nil,
                          numbers: ["repetitions": Double(s.repetitions), "score": s.score, "injected": s.injected ? 1 : 0,
                                    "perplexity_target": s.perplexityTarget])
        }
        var metrics = [MetricRecord(step: "traps", key: "traps.auc", value: d.overall.auc, lower: d.overall.lower, upper: d.overall.upper,
                                    n: d.overall.injected + d.overall.controls, method: "bootstrap \(t.resamples), 95%",
                                    label: "Copyright traps, injected vs never-injected, ROC AUC (score \(d.statistic))")]
        for a in d.byRepetition {
            guard let r = a.repetitions else { continue }
            metrics.append(MetricRecord(step: "traps", key: "traps.rep_\(r).auc", value: a.auc, lower: a.lower, upper: a.upper,
                                        n: a.injected + a.controls, method: "bootstrap \(t.resamples), 95%",
                                        label: "Copyright traps injected \(r) times vs controls, ROC AUC"))
        }
        return (metrics, findings)
    }

    // MARK: records

    private func checkpointRecord(_ lm: LanguageModel, role: String) throws -> CheckpointRecord {
        let files = try lm.files.map { f -> FileHash in
            let bytes = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? NSNumber)?.int64Value ?? 0
            return FileHash(path: f, sha256: try sha256(file: f), bytes: bytes)
        }
        let combined = files.count == 1 ? files[0].sha256
            : sha256(data: Data(files.map { "\($0.sha256)  \(($0.path as NSString).lastPathComponent)\n" }.sorted().joined().utf8))
        return CheckpointRecord(role: role, path: lm.path, format: lm.format.rawValue, sha256: combined, files: files,
                                tokenizerSHA256: try tokenizerSHA256(lm), architecture: lm.config.architecture.rawValue,
                                parameters: Int64(lm.model.params.count), contextLength: lm.config.maxPositions)
    }

    private func datasetRecord(_ role: String, _ path: String, _ n: Int) throws -> DatasetRecord {
        DatasetRecord(role: role, path: path, sha256: try sha256(file: path), texts: n)
    }

    /// "metric op threshold" with the value and its interval; a metric that was not produced fails the check.
    func evaluate(_ t: AuditSpec.Threshold, _ metrics: [MetricRecord]) -> CheckRecord {
        guard let m = metrics.first(where: { $0.key == t.metric }) else {
            return CheckRecord(expression: t.expression, metric: t.metric, op: t.op, threshold: t.value, value: nil, lower: nil,
                               upper: nil, passed: false, message: "\(t.metric) was not produced")
        }
        let v = m.value
        let ok: Bool
        switch t.op {
        case "<=": ok = v <= t.value
        case "<": ok = v < t.value
        case ">=": ok = v >= t.value
        case ">": ok = v > t.value
        default: ok = v == t.value
        }
        let ci = m.lower.map { l in " [\(fmt(l)), \(fmt(m.upper!))]" } ?? ""
        let message = ok ? "\(t.metric) = \(fmt(v))\(ci) \(t.op) \(fmt(t.value)) holds"
            : "\(t.metric) = \(fmt(v))\(ci) breaks \(t.op) \(fmt(t.value)) by \(fmt(abs(v - t.value)))"
        return CheckRecord(expression: t.expression, metric: t.metric, op: t.op, threshold: t.value, value: v, lower: m.lower,
                           upper: m.upper, passed: ok, message: message)
    }
}

private func fmt(_ x: Double) -> String { String(format: "%.3f", x) }
private func fmt1(_ x: Double) -> String { String(format: "%.1f", x) }

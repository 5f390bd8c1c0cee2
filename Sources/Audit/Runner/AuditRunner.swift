// The audit runner: one spec against one store. Steps (one file each) run in order, inputs, mia, extraction, canary,
// traps, thresholds, and each is committed in one transaction as it ends, so an interrupted run keeps what it finished.
import Attacks
import Foundation
import LM
import Model
import Remote
import Store

/// A model the runner audits, with the provenance record stored for it.
public struct AuditedModel {
    public let model: any AuditableModel
    public let record: CheckpointRecord
    public init(model: any AuditableModel, record: CheckpointRecord) { self.model = model; self.record = record }

    /// A checkpoint on this machine (GGUF file or Hugging Face folder), hashed file by file.
    public static func local(path: String, role: String) throws -> AuditedModel {
        let lm = try loadCheckpoint(path)
        return AuditedModel(model: lm, record: try checkpointRecord(lm, role: role))
    }

    /// A model served behind an OpenAI-compatible API; its weights cannot be hashed from here.
    public static func remote(_ e: AuditSpec.Endpoint, role: String) throws -> AuditedModel {
        var http = HTTPSettings()
        if let c = e.concurrency { http.concurrency = c }
        let m = try RemoteModel(RemoteConfig(endpoint: e.url, model: e.model, tokenizer: e.tokenizer, apiKeyEnv: e.apiKeyEnv, http: http))
        return AuditedModel(model: m, record: try checkpointRecord(m, role: role))
    }
}

public struct AuditRunner {
    public let spec: AuditSpec
    public let store: Store
    public let dbPath: String
    /// Opens the checkpoint at a spec path in a role ("target", "reference"); a test or another backend replaces it.
    public var loadModel: (_ path: String, _ role: String) throws -> AuditedModel = AuditedModel.local
    /// Opens a served target (`target: {endpoint: ...}`).
    public var loadEndpoint: (_ endpoint: AuditSpec.Endpoint, _ role: String) throws -> AuditedModel = AuditedModel.remote
    /// Where progress lines go ("audit: mia done (4.9 s)").
    public var log: (String) -> Void = { FileHandle.standardError.write(Data((consoleSafe($0) + "\n").utf8)) }
    /// No progress bars or lines (`audit --quiet`); the step lines of `log` still go out.
    public var quietProgress = false
    /// Whether SIGINT/SIGTERM mark the run interrupted and end the process (the command line wants this; a test not).
    public var handleSignals = true

    public init(spec: AuditSpec, store: Store, dbPath: String) {
        self.spec = spec; self.store = store; self.dbPath = dbPath
    }

    /// The progress display of one step, silent when `quietProgress`.
    func progress(_ step: String, total: Int, unit: String) -> Progress {
        Progress(total: total, unit: unit, label: "audit: \(step)", quiet: quietProgress)
    }

    /// Runs every step and returns the run as stored. A step that throws marks the run failed and rethrows.
    public func run() throws -> RunReport {
        let started = Date()
        // Every data file is read and checked before the run is stored: bad input leaves no failed run behind.
        let data = try readDataInputs()
        var run = RunRecord(id: makeRunID(started), name: spec.name, specPath: spec.path,
                            specSHA256: sha256(data: Data(spec.text.utf8)), specText: spec.text, seed: Int64(bitPattern: spec.seed),
                            auditorVersion: auditorVersion, machine: machineDescription(), host: hostName(),
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
        let guardian = handleSignals ? InterruptGuard(runID: run.id, dbPath: dbPath) : nil
        defer { guardian?.cancel() }
        log("audit: run \(run.id): \(spec.name)")
        do {
            let checks = try steps(StepRecorder(runner: self, runID: run.id), data)
            let failing = checks.filter { !$0.passed }
            let end = Date()
            try store.finishRun(id: run.id, status: failing.isEmpty ? .passed : .breached, verdict: verdict(checks),
                                finishedAt: iso8601(end), durationSeconds: end.timeIntervalSince(started))
        } catch {
            let end = Date()
            // A served model that stopped answering interrupts the run (its finished steps are kept); anything else fails it.
            let lost = (error as? RemoteError)?.unreachable == true
            try? store.finishRun(id: run.id, status: lost ? .interrupted : .failed,
                                 verdict: lost ? "The audit was interrupted: the server stopped answering: \(error)" : "The audit failed: \(error)",
                                 finishedAt: iso8601(end), durationSeconds: end.timeIntervalSince(started))
            throw error
        }
        return try store.load(runID: run.id)
    }

    private func steps(_ recorder: StepRecorder, _ data: (AuditInputs.DataFiles, StepOutput)) throws -> [CheckRecord] {
        let inputs = try recorder.step("inputs") { try loadInputs(data) }
        if let mia = spec.mia { try recorder.step("mia") { try membership(mia, inputs) } }
        if let e = spec.extractionSpec { try recorder.step("extraction") { try extraction(e, inputs) } }
        if let c = spec.canary, let manifest = inputs.canaryManifest { try recorder.step("canary") { try canaries(c, inputs.target.model, manifest) } }
        if let t = spec.trapsSpec, let manifest = inputs.trapManifest { try recorder.step("traps") { try traps(t, inputs, manifest) } }
        return try recorder.step("thresholds") { StepOutput(checks: spec.thresholds.map { evaluate($0, recorder.metrics, unavailable: recorder.unavailable) }) }.checks
    }

    /// The attacks' parameters as run, for the report's "how" section.
    func optionsJSON() -> String {
        var o: [String: Any] = ["seed": spec.seed, "field": spec.field]
        if let m = spec.mia {
            o["mia"] = ["attacks": spec.miaAttacks(m).map(\.key), "k": m.ks, "resamples": m.resamples, "blind_baseline": m.blindBaseline]
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
}

/// What one step produced, committed together.
struct StepOutput {
    var checkpoints: [CheckpointRecord] = [], datasets: [DatasetRecord] = [], metrics: [MetricRecord] = []
    var scores: [TextScoreRecord] = [], findings: [FindingRecord] = [], checks: [CheckRecord] = []
    /// Figures the backend could not compute (metric key prefix such as "mia.minkpp_0.2." -> why): thresholds on them fail and say so.
    var unavailable: [String: String] = [:]
}

/// Times each step, commits its output in one transaction, logs it, and keeps the metrics for the thresholds.
final class StepRecorder {
    let runner: AuditRunner, runID: String
    private(set) var metrics: [MetricRecord] = []
    private(set) var unavailable: [String: String] = [:]
    init(runner: AuditRunner, runID: String) { self.runner = runner; self.runID = runID }

    @discardableResult
    func step(_ name: String, _ body: () throws -> StepOutput) throws -> StepOutput {
        let t0 = Date()
        let out = try body()
        try commit(name, since: t0, out)
        return out
    }

    /// A step whose result the later steps need (the inputs).
    func step<T>(_ name: String, _ body: () throws -> (T, StepOutput)) throws -> T {
        let t0 = Date()
        let (value, out) = try body()
        try commit(name, since: t0, out)
        return value
    }

    private func commit(_ name: String, since t0: Date, _ o: StepOutput) throws {
        let now = Date()
        try runner.store.commitStep(runID: runID, step: StepRecord(name: name, finishedAt: iso8601(now), seconds: now.timeIntervalSince(t0)),
                                    checkpoints: o.checkpoints, datasets: o.datasets, metrics: o.metrics, scores: o.scores,
                                    findings: o.findings, checks: o.checks)
        metrics += o.metrics
        unavailable.merge(o.unavailable) { a, _ in a }
        runner.log(String(format: "audit: %@ done (%.1f s)", name, now.timeIntervalSince(t0)))
    }
}

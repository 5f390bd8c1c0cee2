// The records of one audit run as the store keeps them and the report reads them: plain values, no SQL.
import Foundation

/// How a run ended. `running` while the process works; a run still `running` whose process is gone is `interrupted`.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case running, passed, breached, interrupted, failed
}

/// One audit run: what was asked, by which binary, on which machine, and how it ended.
public struct RunRecord: Codable, Equatable, Sendable {
    public var id: String                 // "20261122-153012-7f3a": UTC start time + 4 random hex digits
    public var name: String               // the spec's `name`
    public var specPath: String
    public var specSHA256: String
    public var specText: String           // the spec as read, so `auditor report` can show it again
    public var seed: Int64
    public var auditorVersion: String
    public var machine: String            // "Linux x86_64, 2 cores, 24.0 GiB, host NAME"
    public var host: String               // hostname, with pid to tell a dead run from a live one
    public var pid: Int32
    public var startedAt: String          // ISO 8601, UTC, seconds
    public var finishedAt: String?
    public var durationSeconds: Double?
    public var status: RunStatus
    public var verdict: String?           // one plain-English sentence, set when the run finishes
    public var optionsJSON: String        // attacks and their parameters as run, JSON object, sorted keys

    public init(id: String, name: String, specPath: String, specSHA256: String, specText: String, seed: Int64,
                auditorVersion: String, machine: String, host: String, pid: Int32, startedAt: String,
                finishedAt: String? = nil, durationSeconds: Double? = nil, status: RunStatus = .running,
                verdict: String? = nil, optionsJSON: String = "{}") {
        self.id = id; self.name = name; self.specPath = specPath; self.specSHA256 = specSHA256; self.specText = specText
        self.seed = seed; self.auditorVersion = auditorVersion; self.machine = machine; self.host = host; self.pid = pid
        self.startedAt = startedAt; self.finishedAt = finishedAt; self.durationSeconds = durationSeconds
        self.status = status; self.verdict = verdict; self.optionsJSON = optionsJSON
    }
}

public struct FileHash: Codable, Equatable, Sendable {
    public var path: String
    public var sha256: String
    public var bytes: Int64
    public init(path: String, sha256: String, bytes: Int64) { self.path = path; self.sha256 = sha256; self.bytes = bytes }
}

/// A checkpoint as audited: `role` is "target" or "reference".
public struct CheckpointRecord: Codable, Equatable, Sendable {
    public var role: String
    public var path: String
    public var format: String             // "gguf" or "safetensors"
    public var sha256: String             // of the single file, or of the sorted "sha256  name" lines of all files
    public var files: [FileHash]
    public var tokenizerSHA256: String    // tokenizer.json's, or the GGUF tokenizer metadata's
    public var architecture: String
    public var parameters: Int64
    public var contextLength: Int
    public init(role: String, path: String, format: String, sha256: String, files: [FileHash], tokenizerSHA256: String,
                architecture: String, parameters: Int64, contextLength: Int) {
        self.role = role; self.path = path; self.format = format; self.sha256 = sha256; self.files = files
        self.tokenizerSHA256 = tokenizerSHA256; self.architecture = architecture; self.parameters = parameters
        self.contextLength = contextLength
    }
}

/// A dataset file: `role` is "members", "nonmembers", "extraction", "canaries" (manifest) or "traps" (manifest).
public struct DatasetRecord: Codable, Equatable, Sendable {
    public var role: String
    public var path: String
    public var sha256: String
    public var texts: Int                 // texts, canaries or traps in it
    public init(role: String, path: String, sha256: String, texts: Int) {
        self.role = role; self.path = path; self.sha256 = sha256; self.texts = texts
    }
}

/// One figure. `key` is what thresholds name: "mia.loss.auc", "mia.minkpp_0.2.tpr_at_fpr_1pct",
/// "extraction.exact.rate", "extraction.prefix_32.exact.rate", "canary.exposure.max", "traps.auc", ...
/// `lower`/`upper`: the 95% interval (bootstrap or Clopper-Pearson), nil where none exists (say so in `method`).
public struct MetricRecord: Codable, Equatable, Sendable {
    public var step: String               // "mia", "extraction", "canary", "traps"
    public var key: String
    public var value: Double
    public var lower: Double?
    public var upper: Double?
    public var n: Int?                    // sample size behind the figure
    public var method: String             // "bootstrap 1000", "Clopper-Pearson", "max over 15 canaries", ...
    public var label: String              // plain English: "LOSS attack, ROC AUC"
    public init(step: String, key: String, value: Double, lower: Double?, upper: Double?, n: Int?, method: String, label: String) {
        self.step = step; self.key = key; self.value = value; self.lower = lower; self.upper = upper; self.n = n
        self.method = method; self.label = label
    }
}

/// One text's score under one attack. Higher = more likely a member. `dataset` is "members" or "nonmembers".
public struct TextScoreRecord: Codable, Equatable, Sendable {
    public var checkpoint: String         // "target" (reference-model attacks are scored as the target's)
    public var dataset: String
    public var index: Int                 // 0-based position in the dataset file
    public var attack: String             // "loss", "zlib", "mink_0.2", "minkpp_0.2", "reference"
    public var score: Double
    public init(checkpoint: String, dataset: String, index: Int, attack: String, score: Double) {
        self.checkpoint = checkpoint; self.dataset = dataset; self.index = index; self.attack = attack; self.score = score
    }
}

/// One per-item result of extraction, canary or trap tests. `secret` is the sensitive text (the canary, the
/// generated suffix); reports redact it unless asked. `numbers` holds the figures the charts and tables need:
/// extraction: "prefix", "exact" (0/1), "approximate" (0/1), "log10_pz", "np" (0/1);
/// canary: "repetitions", "exposure", "max_exposure"; traps: "repetitions", "score", "injected" (0/1).
public struct FindingRecord: Codable, Equatable, Sendable {
    public var step: String
    public var kind: String               // "extraction", "canary", "trap"
    public var dataset: String
    public var index: Int
    public var itemID: String?            // the item's own id (canary id, JSONL "id")
    public var secret: String?
    public var numbers: [String: Double]
    public init(step: String, kind: String, dataset: String, index: Int, itemID: String?, secret: String?, numbers: [String: Double]) {
        self.step = step; self.kind = kind; self.dataset = dataset; self.index = index; self.itemID = itemID
        self.secret = secret; self.numbers = numbers
    }
}

/// One threshold of the spec, evaluated. `value` nil: the metric was not produced (a failed check).
public struct CheckRecord: Codable, Equatable, Sendable {
    public var expression: String         // as written: "mia.loss.auc <= 0.60"
    public var metric: String
    public var op: String                 // "<=", "<", ">=", ">", "=="
    public var threshold: Double
    public var value: Double?
    public var lower: Double?
    public var upper: Double?
    public var passed: Bool
    public var message: String            // "0.734 > 0.60 by 0.134" or "holds: 0.52 <= 0.60"
    public init(expression: String, metric: String, op: String, threshold: Double, value: Double?, lower: Double?,
                upper: Double?, passed: Bool, message: String) {
        self.expression = expression; self.metric = metric; self.op = op; self.threshold = threshold; self.value = value
        self.lower = lower; self.upper = upper; self.passed = passed; self.message = message
    }
}

/// A finished step: its rows were committed together.
public struct StepRecord: Codable, Equatable, Sendable {
    public var name: String
    public var finishedAt: String
    public var seconds: Double
    public init(name: String, finishedAt: String, seconds: Double) { self.name = name; self.finishedAt = finishedAt; self.seconds = seconds }
}

/// Everything the store holds about one run: what a report is rendered from.
public struct RunReport: Codable, Equatable, Sendable {
    public var run: RunRecord
    public var checkpoints: [CheckpointRecord]
    public var datasets: [DatasetRecord]
    public var steps: [StepRecord]
    public var metrics: [MetricRecord]
    public var scores: [TextScoreRecord]
    public var findings: [FindingRecord]
    public var checks: [CheckRecord]
    public init(run: RunRecord, checkpoints: [CheckpointRecord] = [], datasets: [DatasetRecord] = [], steps: [StepRecord] = [],
                metrics: [MetricRecord] = [], scores: [TextScoreRecord] = [], findings: [FindingRecord] = [], checks: [CheckRecord] = []) {
        self.run = run; self.checkpoints = checkpoints; self.datasets = datasets; self.steps = steps; self.metrics = metrics
        self.scores = scores; self.findings = findings; self.checks = checks
    }
}

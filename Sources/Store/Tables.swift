// Each table's record type and its columns: the only place in Swift that names a column of a table.

extension RunStatus: SQLBindable {
    var sqlValue: SQLValue { .text(rawValue) }
    init?(sqlValue: SQLValue) {
        guard let text = String(sqlValue: sqlValue) else { return nil }
        self.init(rawValue: text)
    }
}

extension RunRecord: TableRecord {
    static let table = "runs"
    static let columns = ["id", "name", "spec_path", "spec_sha256", "spec_text", "seed", "auditor_version", "machine", "host",
                          "pid", "started_at", "finished_at", "duration_seconds", "status", "verdict", "options_json"]

    init(row: Row) throws {
        try self.init(id: row["id"], name: row["name"], specPath: row["spec_path"], specSHA256: row["spec_sha256"],
                      specText: row["spec_text"], seed: row["seed"], auditorVersion: row["auditor_version"],
                      machine: row["machine"], host: row["host"], pid: row["pid"], startedAt: row["started_at"],
                      finishedAt: row["finished_at"], durationSeconds: row["duration_seconds"], status: row["status"],
                      verdict: row["verdict"], optionsJSON: row["options_json"])
    }

    func encode(to c: inout Columns) {
        c.set("id", id); c.set("name", name); c.set("spec_path", specPath); c.set("spec_sha256", specSHA256)
        c.set("spec_text", specText); c.set("seed", seed); c.set("auditor_version", auditorVersion)
        c.set("machine", machine); c.set("host", host); c.set("pid", pid); c.set("started_at", startedAt)
        c.set("finished_at", finishedAt); c.set("duration_seconds", durationSeconds); c.set("status", status)
        c.set("verdict", verdict); c.set("options_json", optionsJSON)
    }
}

extension CheckpointRecord: RunChildRecord {
    static let table = "checkpoints"
    static let columns = ["role", "path", "format", "sha256", "files_json", "tokenizer_sha256", "architecture", "parameters",
                          "context_length"]

    init(row: Row) throws {
        try self.init(role: row["role"], path: row["path"], format: row["format"], sha256: row["sha256"],
                      files: row.json("files_json"), tokenizerSHA256: row["tokenizer_sha256"],
                      architecture: row["architecture"], parameters: row["parameters"], contextLength: row["context_length"])
    }

    func encode(to c: inout Columns) throws {
        c.set("role", role); c.set("path", path); c.set("format", format); c.set("sha256", sha256)
        try c.setJSON("files_json", files); c.set("tokenizer_sha256", tokenizerSHA256)
        c.set("architecture", architecture); c.set("parameters", parameters); c.set("context_length", contextLength)
    }
}

extension DatasetRecord: RunChildRecord {
    static let table = "datasets"
    static let columns = ["role", "path", "sha256", "texts"]

    init(row: Row) throws {
        try self.init(role: row["role"], path: row["path"], sha256: row["sha256"], texts: row["texts"])
    }

    func encode(to c: inout Columns) {
        c.set("role", role); c.set("path", path); c.set("sha256", sha256); c.set("texts", texts)
    }
}

extension StepRecord: RunChildRecord {
    static let table = "steps"
    static let columns = ["name", "finished_at", "seconds"]

    init(row: Row) throws {
        try self.init(name: row["name"], finishedAt: row["finished_at"], seconds: row["seconds"])
    }

    func encode(to c: inout Columns) {
        c.set("name", name); c.set("finished_at", finishedAt); c.set("seconds", seconds)
    }
}

extension MetricRecord: RunChildRecord {
    static let table = "metrics"
    static let columns = ["step", "key", "value", "lower", "upper", "n", "method", "label"]

    init(row: Row) throws {
        try self.init(step: row["step"], key: row["key"], value: row["value"], lower: row["lower"], upper: row["upper"],
                      n: row["n"], method: row["method"], label: row["label"])
    }

    func encode(to c: inout Columns) {
        c.set("step", step); c.set("key", key); c.set("value", value); c.set("lower", lower); c.set("upper", upper)
        c.set("n", n); c.set("method", method); c.set("label", label)
    }
}

extension TextScoreRecord: RunChildRecord {
    static let table = "scores"
    static let columns = ["checkpoint", "dataset", "text_index", "attack", "score"]

    init(row: Row) throws {
        try self.init(checkpoint: row["checkpoint"], dataset: row["dataset"], index: row["text_index"],
                      attack: row["attack"], score: row["score"])
    }

    func encode(to c: inout Columns) {
        c.set("checkpoint", checkpoint); c.set("dataset", dataset); c.set("text_index", index); c.set("attack", attack)
        c.set("score", score)
    }
}

extension FindingRecord: RunChildRecord {
    static let table = "findings"
    static let columns = ["step", "kind", "dataset", "item_index", "item_id", "secret", "numbers_json"]

    init(row: Row) throws {
        try self.init(step: row["step"], kind: row["kind"], dataset: row["dataset"], index: row["item_index"],
                      itemID: row["item_id"], secret: row["secret"], numbers: row.json("numbers_json"))
    }

    func encode(to c: inout Columns) throws {
        c.set("step", step); c.set("kind", kind); c.set("dataset", dataset); c.set("item_index", index)
        c.set("item_id", itemID); c.set("secret", secret); try c.setJSON("numbers_json", numbers)
    }
}

extension CheckRecord: RunChildRecord {
    static let table = "checks"
    static let columns = ["expression", "metric", "op", "threshold", "value", "lower", "upper", "passed", "message"]

    init(row: Row) throws {
        try self.init(expression: row["expression"], metric: row["metric"], op: row["op"], threshold: row["threshold"],
                      value: row["value"], lower: row["lower"], upper: row["upper"], passed: row["passed"],
                      message: row["message"])
    }

    func encode(to c: inout Columns) {
        c.set("expression", expression); c.set("metric", metric); c.set("op", op); c.set("threshold", threshold)
        c.set("value", value); c.set("lower", lower); c.set("upper", upper); c.set("passed", passed)
        c.set("message", message)
    }
}

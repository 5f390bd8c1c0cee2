// The audit database: runs and their step-by-step results in one SQLite file, written atomically per step.
import CSQLite
import Foundation

/// One SQLite database of audit runs. Safe to share between threads (calls are serialised); separate processes and
/// separate `Store`s on one file coordinate through SQLite's locks, waiting up to a minute for a busy writer.
public final class Store: @unchecked Sendable {
    /// The schema this build writes; a database with a higher `user_version` came from a newer auditor.
    public static let schemaVersion = migrations.count

    public let path: String
    private let db: Connection
    private let lock = NSLock()
    private let encoder = JSONEncoder()
    private let decoder = JSONDecoder()

    /// Opens `path`, creating the file and its schema if needed. The parent directory must already exist.
    public init(path: String) throws {
        self.path = path
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StoreError(path: path, message: "directory '\(parent)' does not exist; create it first")
        }
        db = try Connection(path: path)
        // Infinity survives a JSON round trip as a string; findings may carry it (an exposure or log-probability with no finite value).
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

        // The timeout comes first so that every later statement waits for another writer rather than failing.
        try db.setBusyTimeout(milliseconds: 60_000)
        // Read the version before changing anything, so a newer database is refused untouched.
        try refuseNewer(Int(db.integer("PRAGMA user_version")))
        // Switching a new file to WAL needs an exclusive lock and SQLite does not wait for it through the busy
        // handler: two audits creating the same store at once would see "database is locked". Retry for the
        // same minute the busy timeout allows. (Once the file is in WAL mode, this takes no lock.)
        try retryingWhileBusy(seconds: 60) { try db.execute("PRAGMA journal_mode = WAL", "switching to WAL") }
        try db.execute("PRAGMA foreign_keys = ON", "enabling foreign keys")
        try db.execute("PRAGMA synchronous = NORMAL", "setting synchronous")
        try migrate()
    }

    private func retryingWhileBusy(seconds: Double, _ body: () throws -> Void) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            do { return try body() } catch let e as StoreError {
                let code = (e.sqliteCode ?? 0) & 0xff
                guard code == SQLITE_BUSY || code == SQLITE_LOCKED, Date() < deadline else { throw e }
                usleep(useconds_t(Int.random(in: 5_000...25_000)))
            }
        }
    }

    private func refuseNewer(_ version: Int) throws {
        guard version <= Store.schemaVersion else {
            throw StoreError(path: path, message: "written by a newer auditor (schema \(version), this build knows \(Store.schemaVersion))")
        }
    }

    /// Applies the missing migrations one transaction each. The version is re-read under the write lock because
    /// another process may have migrated the same file while we waited.
    private func migrate() throws {
        guard try db.integer("PRAGMA user_version") < Store.schemaVersion else { return }
        var upToDate = false
        while !upToDate {
            upToDate = try db.transaction("upgrading the schema") {
                let version = Int(try db.integer("PRAGMA user_version"))
                try refuseNewer(version)
                guard version < Store.schemaVersion else { return true }
                try db.execute(migrations[version])
                try db.execute("PRAGMA user_version = \(version + 1)")
                return false
            }
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func fail(_ message: String) -> StoreError { StoreError(path: path, message: message) }

    /// The schema as SQLite holds it, sorted by type then name, each statement ending ";\n": what the snapshot test compares.
    public func schemaSQL() throws -> String {
        try locked {
            try db.query("""
                SELECT sql FROM sqlite_master
                WHERE type IN ('table', 'index') AND sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                ORDER BY type, name
                """, row: { $0.text(0) + ";\n" }).joined()
        }
    }

    /// "ok" when SQLite finds nothing wrong, otherwise its findings one per line.
    public func integrityCheck() throws -> String {
        try locked { try db.query("PRAGMA integrity_check", row: { $0.text(0) }).joined(separator: "\n") }
    }

    // MARK: Writing a run

    /// Records a run as started: status 'running' whatever `run.status` says, so a crash leaves it reapable.
    public func beginRun(_ run: RunRecord) throws {
        try locked {
            try db.transaction("starting run '\(run.id)'") {
                _ = try db.run("""
                    INSERT INTO runs (id, name, spec_path, spec_sha256, spec_text, seed, auditor_version, machine, host, pid,
                                      started_at, finished_at, duration_seconds, status, verdict, options_json)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)
                    """, [run.id, run.name, run.specPath, run.specSHA256, run.specText, run.seed, run.auditorVersion,
                          run.machine, run.host, run.pid, run.startedAt, run.finishedAt, run.durationSeconds,
                          run.verdict, run.optionsJSON])
            }
        }
    }

    /// Stores a finished step and everything it produced in one transaction: afterwards either all of it is in the
    /// database or none of it is, so an interrupted run shows exactly its completed steps.
    public func commitStep(runID: String, step: StepRecord, checkpoints: [CheckpointRecord] = [],
                           datasets: [DatasetRecord] = [], metrics: [MetricRecord] = [], scores: [TextScoreRecord] = [],
                           findings: [FindingRecord] = [], checks: [CheckRecord] = []) throws {
        // SQLite cannot store NaN and the report cannot chart infinity: refuse before writing anything.
        for metric in metrics {
            for (part, value) in [("value", metric.value), ("lower", metric.lower), ("upper", metric.upper)] {
                if let value, !value.isFinite {
                    throw fail("metric '\(metric.key)' of step '\(step.name)' has \(part) \(value); only finite numbers can be stored")
                }
            }
        }
        for score in scores where !score.score.isFinite {
            throw fail("score of \(score.dataset) text \(score.index) under attack '\(score.attack)' in step '\(step.name)' "
                + "is \(score.score); only finite numbers can be stored")
        }
        try locked {
            let files = try checkpoints.map { try json($0.files) }
            let numbers = try findings.map { try json($0.numbers) }
            do {
                try db.transaction("committing step '\(step.name)' of run '\(runID)'") {
                    // The step row goes first: for an unknown run its foreign key fails before any other row is tried.
                    try db.run("INSERT INTO steps (run_id, name, finished_at, seconds) VALUES (?, ?, ?, ?)",
                               [runID, step.name, step.finishedAt, step.seconds])
                    try insert("""
                        INSERT INTO checkpoints (run_id, role, path, format, sha256, files_json, tokenizer_sha256,
                                                 architecture, parameters, context_length)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, Array(zip(checkpoints, files))) { c, files in
                        [runID, c.role, c.path, c.format, c.sha256, files, c.tokenizerSHA256, c.architecture, c.parameters,
                         c.contextLength]
                    }
                    try insert("INSERT INTO datasets (run_id, role, path, sha256, texts) VALUES (?, ?, ?, ?, ?)", datasets) {
                        [runID, $0.role, $0.path, $0.sha256, $0.texts]
                    }
                    try insert("""
                        INSERT INTO metrics (run_id, step, key, value, lower, upper, n, method, label)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, metrics) { [runID, $0.step, $0.key, $0.value, $0.lower, $0.upper, $0.n, $0.method, $0.label] }
                    try insert("""
                        INSERT INTO scores (run_id, checkpoint, dataset, text_index, attack, score) VALUES (?, ?, ?, ?, ?, ?)
                        """, scores) { [runID, $0.checkpoint, $0.dataset, $0.index, $0.attack, $0.score] }
                    try insert("""
                        INSERT INTO findings (run_id, step, kind, dataset, item_index, item_id, secret, numbers_json)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, Array(zip(findings, numbers))) { f, numbers in
                        [runID, f.step, f.kind, f.dataset, f.index, f.itemID, f.secret, numbers]
                    }
                    try insert("""
                        INSERT INTO checks (run_id, expression, metric, op, threshold, value, lower, upper, passed, message)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, checks) {
                        [runID, $0.expression, $0.metric, $0.op, $0.threshold, $0.value, $0.lower, $0.upper, $0.passed,
                         $0.message]
                    }
                }
            } catch let error as StoreError where error.sqliteCode == sqliteForeignKeyViolation {
                throw fail("no run '\(runID)' to commit step '\(step.name)' to")
            }
        }
    }

    /// One prepared statement reused for every row: a step can carry thousands of scores.
    private func insert<T>(_ sql: String, _ rows: [T], _ values: (T) -> [any SQLBindable]) throws {
        guard !rows.isEmpty else { return }
        try db.withStatement(sql) { statement in
            for row in rows { try statement.run(values(row)) }
        }
    }

    /// Records how a running run ended. A run already marked interrupted (a signal arrived first) keeps that status.
    public func finishRun(id: String, status: RunStatus, verdict: String, finishedAt: String, durationSeconds: Double) throws {
        try locked {
            let changed = try db.run("""
                UPDATE runs SET status = ?, verdict = ?, finished_at = ?, duration_seconds = ? WHERE id = ? AND status = 'running'
                """, [status.rawValue, verdict, finishedAt, durationSeconds, id])
            guard changed == 1 else {
                let exists = try db.query("SELECT status FROM runs WHERE id = ?", [id]) { $0.text(0) }
                throw fail(exists.isEmpty ? "no run '\(id)' to finish" : "run '\(id)' is no longer running (\(exists[0]))")
            }
        }
    }

    /// Marks a run interrupted unless it already ended: a late signal handler must not overwrite a verdict.
    public func markInterrupted(id: String) throws {
        try locked {
            _ = try db.run("UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'", [id])
        }
    }

    /// Runs still 'running' on `host` whose process is gone crashed or were killed: marks them interrupted and
    /// returns their ids. Runs of other hosts are left alone, since their pids mean nothing here.
    @discardableResult
    public func reapInterrupted(host: String, isAlive: (Int32) -> Bool = Store.processIsAlive) throws -> [String] {
        try locked {
            try db.transaction("marking dead runs of host '\(host)' interrupted") {
                let running = try db.query("SELECT id, pid FROM runs WHERE status = 'running' AND host = ? ORDER BY id",
                                           [host]) { ($0.text(0), Int32(truncatingIfNeeded: $0.int64(1))) }
                let dead = running.filter { !isAlive($0.1) }.map(\.0)
                for id in dead {
                    try db.run("UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'", [id])
                }
                return dead
            }
        }
    }

    /// Whether a process with this pid exists; EPERM means it does but belongs to someone else.
    public static func processIsAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }  // 0 and negatives address process groups, not one process
        return kill(pid, 0) == 0 || errno == EPERM
    }

    // MARK: Reading

    private static let runColumns = """
        id, name, spec_path, spec_sha256, spec_text, seed, auditor_version, machine, host, pid, started_at, finished_at,
        duration_seconds, status, verdict, options_json
        """

    private func runRecord(_ s: Statement) throws -> RunRecord {
        guard let status = RunStatus(rawValue: s.text(13)) else {
            throw fail("run '\(s.text(0))' has unknown status '\(s.text(13))'")
        }
        return RunRecord(id: s.text(0), name: s.text(1), specPath: s.text(2), specSHA256: s.text(3), specText: s.text(4),
                         seed: s.int64(5), auditorVersion: s.text(6), machine: s.text(7), host: s.text(8),
                         pid: Int32(truncatingIfNeeded: s.int64(9)), startedAt: s.text(10), finishedAt: s.optionalText(11),
                         durationSeconds: s.optionalDouble(12), status: status, verdict: s.optionalText(14),
                         optionsJSON: s.text(15))
    }

    /// Runs newest first; ties on the start second fall back to the id, which sorts the same way.
    public func runs(limit: Int? = nil) throws -> [RunRecord] {
        precondition((limit ?? 0) >= 0, "negative run limit")
        return try locked {
            try db.query("SELECT \(Store.runColumns) FROM runs ORDER BY started_at DESC, id DESC LIMIT ?",
                         [limit ?? -1], row: runRecord)
        }
    }

    /// The id a user means by `ref`: an exact id, "latest", or a prefix that only one run has.
    public func resolveRun(_ ref: String) throws -> String {
        try locked {
            guard !ref.isEmpty else { throw fail("an empty run reference matches no run") }
            if try !db.query("SELECT id FROM runs WHERE id = ?", [ref], row: { $0.text(0) }).isEmpty { return ref }
            let newestFirst = "ORDER BY started_at DESC, id DESC"
            if ref == "latest" {
                guard let id = try db.query("SELECT id FROM runs \(newestFirst) LIMIT 1", row: { $0.text(0) }).first else {
                    throw fail("no runs yet, so 'latest' matches nothing")
                }
                return id
            }
            // substr rather than LIKE: run ids may hold '_', and LIKE ignores case.
            let matches = try db.query("SELECT id FROM runs WHERE substr(id, 1, length(?1)) = ?1 \(newestFirst)", [ref]) {
                $0.text(0)
            }
            switch matches.count {
            case 0: throw fail("no run matches '\(ref)'")
            case 1: return matches[0]
            default:
                let shown = matches.prefix(5).joined(separator: ", ") + (matches.count > 5 ? ", …" : "")
                throw fail("'\(ref)' matches \(matches.count) runs: \(shown); give more of the id")
            }
        }
    }

    /// Everything about one run, read in one transaction so a concurrent step commit is seen whole or not at all.
    public func load(runID: String) throws -> RunReport {
        try locked {
            try db.transaction("loading run '\(runID)'", immediate: false) {
                guard let run = try db.query("SELECT \(Store.runColumns) FROM runs WHERE id = ?", [runID], row: runRecord).first
                else { throw fail("no run with id '\(runID)'") }
                let id = [runID]
                let checkpoints = try db.query("""
                    SELECT role, path, format, sha256, files_json, tokenizer_sha256, architecture, parameters, context_length
                    FROM checkpoints WHERE run_id = ? ORDER BY role
                    """, id) { s in
                    CheckpointRecord(role: s.text(0), path: s.text(1), format: s.text(2), sha256: s.text(3),
                                     files: try decode([FileHash].self, s.text(4), what: "files of checkpoint '\(s.text(0))'"),
                                     tokenizerSHA256: s.text(5), architecture: s.text(6), parameters: s.int64(7),
                                     contextLength: s.int(8))
                }
                let datasets = try db.query("SELECT role, path, sha256, texts FROM datasets WHERE run_id = ? ORDER BY role", id) {
                    DatasetRecord(role: $0.text(0), path: $0.text(1), sha256: $0.text(2), texts: $0.int(3))
                }
                let steps = try db.query("""
                    SELECT name, finished_at, seconds FROM steps WHERE run_id = ? ORDER BY finished_at, rowid
                    """, id) { StepRecord(name: $0.text(0), finishedAt: $0.text(1), seconds: $0.double(2)) }
                let metrics = try db.query("""
                    SELECT step, key, value, lower, upper, n, method, label FROM metrics WHERE run_id = ? ORDER BY rowid
                    """, id) {
                    MetricRecord(step: $0.text(0), key: $0.text(1), value: $0.double(2), lower: $0.optionalDouble(3),
                                 upper: $0.optionalDouble(4), n: $0.optionalInt(5), method: $0.text(6), label: $0.text(7))
                }
                let scores = try db.query("""
                    SELECT checkpoint, dataset, text_index, attack, score FROM scores WHERE run_id = ?
                    ORDER BY checkpoint, dataset, text_index, attack
                    """, id) {
                    TextScoreRecord(checkpoint: $0.text(0), dataset: $0.text(1), index: $0.int(2), attack: $0.text(3),
                                    score: $0.double(4))
                }
                let findings = try db.query("""
                    SELECT step, kind, dataset, item_index, item_id, secret, numbers_json FROM findings
                    WHERE run_id = ? ORDER BY rowid
                    """, id) { s in
                    FindingRecord(step: s.text(0), kind: s.text(1), dataset: s.text(2), index: s.int(3),
                                  itemID: s.optionalText(4), secret: s.optionalText(5),
                                  numbers: try decode([String: Double].self, s.text(6),
                                                      what: "numbers of \(s.text(1)) finding \(s.int(3))"))
                }
                let checks = try db.query("""
                    SELECT expression, metric, op, threshold, value, lower, upper, passed, message FROM checks
                    WHERE run_id = ? ORDER BY rowid
                    """, id) {
                    CheckRecord(expression: $0.text(0), metric: $0.text(1), op: $0.text(2), threshold: $0.double(3),
                                value: $0.optionalDouble(4), lower: $0.optionalDouble(5), upper: $0.optionalDouble(6),
                                passed: $0.int64(7) != 0, message: $0.text(8))
                }
                return RunReport(run: run, checkpoints: checkpoints, datasets: datasets, steps: steps, metrics: metrics,
                                 scores: scores, findings: findings, checks: checks)
            }
        }
    }

    // MARK: JSON columns

    private func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ text: String, what: String) throws -> T {
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw fail("unreadable \(what) in the database: \(error)")
        }
    }
}

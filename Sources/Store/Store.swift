// The audit database: runs and their step-by-step results in one SQLite file, written atomically per step.
import CSQLite
import Foundation

/// One SQLite database of audit runs. Safe to share between threads (calls are serialised); separate processes and
/// separate `Store`s on one file coordinate through SQLite's locks, waiting up to a minute for a busy writer.
/// Unchecked, and safe because `db` (not thread-safe) is used only by `init` and inside `locked`, which every
/// public method takes; the other stored properties are immutable.
public final class Store: @unchecked Sendable {
    /// The schema this build writes; a database with a higher `user_version` came from a newer auditor.
    public static let schemaVersion = migrations.count

    public let path: String
    private let db: Connection
    private let lock = NSLock()

    /// Opens `path`, creating the file and its schema if needed. The parent directory must already exist.
    public init(path: String) throws {
        self.path = path
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StoreError(path: path, message: "directory '\(parent)' does not exist; create it first")
        }
        db = try Connection(path: path)
        readOnly = nil

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

    /// Opens an existing store for reading only: nothing is created or written (no WAL switch, no migration, no
    /// marking of dead runs), so a store in a read-only file or on a read-only mount can be read. Runs of `host` still
    /// marked running whose process is gone are reported as interrupted, as a writable open would have recorded them.
    /// A store of an older schema is refused with the way to upgrade it.
    public init(readingOnly path: String, host: String, isAlive: @escaping @Sendable (Int32) -> Bool = Store.processIsAlive) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(path: path, message: "no such store")
        }
        // On a read-only file system SQLite cannot create the -shm file a WAL database needs: open it immutable there.
        var fs = statvfs()
        let readOnlyFS = statvfs(path, &fs) == 0 && (fs.f_flag & UInt(ST_RDONLY)) != 0
        db = try Connection(path: path, mode: readOnlyFS ? .immutable : .readOnly)
        readOnly = (host, isAlive)
        try db.setBusyTimeout(milliseconds: 60_000)
        let version = Int(try db.integer("PRAGMA user_version"))
        try refuseNewer(version)
        guard version == Store.schemaVersion else {
            throw StoreError(path: path, message: "has schema \(version), older than this build's \(Store.schemaVersion); "
                             + "run an audit into it once (from a writable copy if it is read-only) to upgrade it",
                             isOlderSchema: true)
        }
    }

    /// Set for a store opened read-only: dead runs of this host are shown interrupted without being written.
    private let readOnly: (host: String, isAlive: @Sendable (Int32) -> Bool)?

    /// `run` as a reader should see it: on a read-only store, a run of this host still 'running' whose process is gone.
    private func shown(_ run: RunRecord) -> RunRecord {
        guard let readOnly, run.status == .running, run.host == readOnly.host, !readOnly.isAlive(run.pid) else { return run }
        var run = run
        run.status = .interrupted
        return run
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
            var run = run
            run.status = .running
            try db.transaction("starting run '\(run.id)'") { try db.insert([run]) }
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
            do {
                try db.transaction("committing step '\(step.name)' of run '\(runID)'") {
                    // The step row goes first: for an unknown run its foreign key fails before any other row is tried.
                    try db.insert([step], runID: runID)
                    try db.insert(checkpoints, runID: runID)
                    try db.insert(datasets, runID: runID)
                    try db.insert(metrics, runID: runID)
                    try db.insert(scores, runID: runID)
                    try db.insert(findings, runID: runID)
                    try db.insert(checks, runID: runID)
                }
            } catch let error as StoreError where error.sqliteCode == sqliteForeignKeyViolation {
                throw fail("no run '\(runID)' to commit step '\(step.name)' to")
            }
        }
    }

    /// Records how a running run ended. A run already marked interrupted (a signal arrived first) keeps that status.
    public func finishRun(id: String, status: RunStatus, verdict: String, finishedAt: String, durationSeconds: Double) throws {
        try locked {
            let changed = try db.run("""
                UPDATE runs SET status = ?, verdict = ?, finished_at = ?, duration_seconds = ? WHERE id = ? AND status = 'running'
                """, [status.rawValue, verdict, finishedAt, durationSeconds, id])
            guard changed == 1 else {
                guard let run = try db.select(RunRecord.self, "WHERE id = ?", [id]).first else {
                    throw fail("no run '\(id)' to finish")
                }
                throw fail("run '\(id)' is no longer running (\(run.status.rawValue))")
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
                let running = try db.select(RunRecord.self, "WHERE status = 'running' AND host = ? ORDER BY id", [host])
                let dead = running.filter { !isAlive($0.pid) }.map(\.id)
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

    /// Runs newest first; ties on the start second fall back to the id, which sorts the same way.
    public func runs(limit: Int? = nil) throws -> [RunRecord] {
        precondition((limit ?? 0) >= 0, "negative run limit")
        return try locked {
            try db.select(RunRecord.self, "ORDER BY started_at DESC, id DESC LIMIT ?", [limit ?? -1]).map(shown)
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
                guard let run = try db.select(RunRecord.self, "WHERE id = ?", [runID]).first else {
                    throw fail("no run with id '\(runID)'")
                }
                return RunReport(
                    run: shown(run),
                    checkpoints: try db.select(CheckpointRecord.self, runID: runID, orderBy: "role"),
                    datasets: try db.select(DatasetRecord.self, runID: runID, orderBy: "role"),
                    steps: try db.select(StepRecord.self, runID: runID, orderBy: "finished_at, rowid"),
                    metrics: try db.select(MetricRecord.self, runID: runID, orderBy: "rowid"),
                    scores: try db.select(TextScoreRecord.self, runID: runID, orderBy: "checkpoint, dataset, text_index, attack"),
                    findings: try db.select(FindingRecord.self, runID: runID, orderBy: "rowid"),
                    checks: try db.select(CheckRecord.self, runID: runID, orderBy: "rowid"))
            }
        }
    }
}

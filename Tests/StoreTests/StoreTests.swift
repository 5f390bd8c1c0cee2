// Tests of the audit database: schema snapshot, exact round trips, migrations, atomic steps, concurrent writers.
import Foundation
import XCTest
@testable import Store

final class StoreTests: XCTestCase {
    private var directory: URL!
    private var path: String { directory.appendingPathComponent("auditor.sqlite").path }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("StoreTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    private func makeRun(_ id: String, startedAt: String = "2026-11-22T10:00:00Z", host: String = "host-a",
                         pid: Int32 = 4242) -> RunRecord {
        RunRecord(id: id, name: "smoke", specPath: "audits/smoke.yaml", specSHA256: String(repeating: "ab", count: 32),
                  specText: "name: smoke\nseed: 7\n", seed: 7, auditorVersion: "0.1.0",
                  machine: "Linux x86_64, 2 cores, 24.0 GiB, host \(host)", host: host, pid: pid, startedAt: startedAt)
    }

    private func error(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> StoreError? {
        do {
            try body()
            XCTFail("expected a StoreError", file: file, line: line)
        } catch let error as StoreError {
            return error
        } catch {
            XCTFail("expected a StoreError, got \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: Schema

    func testSchemaMatchesSnapshot() throws {
        let schema = try Store(path: path).schemaSQL()
        let snapshot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Snapshots").appendingPathComponent("schema.sql")
        if ProcessInfo.processInfo.environment["AUDITOR_UPDATE_SNAPSHOTS"] == "1" {
            try schema.write(to: snapshot, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: snapshot, encoding: .utf8) else {
            return XCTFail("no snapshot at \(snapshot.path); record it with AUDITOR_UPDATE_SNAPSHOTS=1 and review it")
        }
        guard schema != expected else { return }
        let got = schema.components(separatedBy: "\n"), want = expected.components(separatedBy: "\n")
        let line = (0..<min(got.count, want.count)).first { got[$0] != want[$0] } ?? min(got.count, want.count)
        XCTFail("""
            schema differs from \(snapshot.path) at line \(line + 1):
              snapshot: \(line < want.count ? want[line] : "<end>")
              database: \(line < got.count ? got[line] : "<end>")
            A schema change needs a new migration; then rerun with AUDITOR_UPDATE_SNAPSHOTS=1 and review the diff.
            """)
    }

    // MARK: Round trip

    func testFullReportRoundTripsExactly() throws {
        let store = try Store(path: path)
        var run = makeRun("20261122-100000-7f3a")
        run.seed = Int64.min + 1
        run.specText = "name: \"Ünïcødé ✓\"\nnotes: |\n  tabs\tand 🔑\n"
        run.optionsJSON = #"{"mia":{"k":[0.1,0.2]}}"#
        try store.beginRun(run)

        // Built in the order load() returns them: checkpoints and datasets by role, scores by their key.
        let checkpoints = [
            CheckpointRecord(role: "reference", path: "/models/ref", format: "safetensors", sha256: "11",
                             files: [FileHash(path: "model.safetensors", sha256: "22", bytes: 5_000_000_000),
                                     FileHash(path: "tokenizer.json", sha256: "33", bytes: 2_100)],
                             tokenizerSHA256: "33", architecture: "llama", parameters: 135_000_000, contextLength: 8192),
            CheckpointRecord(role: "target", path: "/models/target.gguf", format: "gguf", sha256: "44", files: [],
                             tokenizerSHA256: "55", architecture: "gpt2", parameters: 1_700_000_000_000, contextLength: 1024),
        ]
        let datasets = [
            DatasetRecord(role: "canaries", path: "data/canaries.json", sha256: "66", texts: 15),
            DatasetRecord(role: "members", path: "data/members.jsonl", sha256: "77", texts: 500),
            DatasetRecord(role: "nonmembers", path: "data/nonmembers.jsonl", sha256: "88", texts: 500),
        ]
        let miaMetrics = [
            MetricRecord(step: "mia", key: "mia.loss.auc", value: 0.7341, lower: 0.70, upper: 0.77, n: 1000,
                         method: "bootstrap 1000", label: "LOSS attack, ROC AUC"),
            MetricRecord(step: "mia", key: "mia.loss.tpr_at_fpr_1pct", value: 1e-300, lower: nil, upper: nil, n: nil,
                         method: "none", label: "TPR at 1% FPR"),
        ]
        let scores = (0..<3).flatMap { index in
            ["loss", "zlib"].flatMap { attack in
                ["members", "nonmembers"].map { dataset in
                    TextScoreRecord(checkpoint: "target", dataset: dataset, index: index, attack: attack,
                                    score: -Double(index) / 3 + (attack == "zlib" ? 0.1 : 0))
                }
            }
        }
        let sortedScores = scores.sorted {
            ($0.checkpoint, $0.dataset, $0.index, $0.attack) < ($1.checkpoint, $1.dataset, $1.index, $1.attack)
        }
        let canaryMetric = MetricRecord(step: "canary", key: "canary.exposure.max", value: 12.5, lower: nil, upper: nil,
                                        n: 15, method: "max over 15 canaries", label: "largest canary exposure")
        let findings = [
            FindingRecord(step: "canary", kind: "canary", dataset: "canaries", index: 0, itemID: "c-0",
                          secret: "Ünïcødé 🔑 秘密 with a \u{0} NUL and \"quotes\"",
                          numbers: ["exposure": .infinity, "log10_pz": -.infinity, "repetitions": 8, "tiny": .leastNonzeroMagnitude,
                                    "ratio": 0.1]),
            FindingRecord(step: "canary", kind: "canary", dataset: "canaries", index: 1, itemID: nil, secret: nil, numbers: [:]),
        ]
        let checks = [
            CheckRecord(expression: "mia.loss.auc <= 0.60", metric: "mia.loss.auc", op: "<=", threshold: 0.6, value: 0.7341,
                        lower: 0.70, upper: 0.77, passed: false, message: "0.734 > 0.60 by 0.134"),
            CheckRecord(expression: "traps.auc < 0.5", metric: "traps.auc", op: "<", threshold: 0.5, value: nil, lower: nil,
                        upper: nil, passed: false, message: "traps.auc was not produced"),
        ]
        let steps = [
            StepRecord(name: "load", finishedAt: "2026-11-22T10:00:05Z", seconds: 5.25),
            StepRecord(name: "mia", finishedAt: "2026-11-22T10:03:00Z", seconds: 175),
            StepRecord(name: "canary", finishedAt: "2026-11-22T10:04:00Z", seconds: 60.5),
            StepRecord(name: "verdict", finishedAt: "2026-11-22T10:04:00Z", seconds: 0),
        ]
        try store.commitStep(runID: run.id, step: steps[0], checkpoints: checkpoints.reversed(), datasets: datasets.reversed())
        try store.commitStep(runID: run.id, step: steps[1], metrics: miaMetrics, scores: scores.reversed())
        try store.commitStep(runID: run.id, step: steps[2], metrics: [canaryMetric], findings: findings)
        try store.commitStep(runID: run.id, step: steps[3], checks: checks)
        try store.finishRun(id: run.id, status: .breached, verdict: "The target leaks membership: AUC 0.73 > 0.60.",
                            finishedAt: "2026-11-22T10:04:00Z", durationSeconds: 240.125)

        run.status = .breached
        run.verdict = "The target leaks membership: AUC 0.73 > 0.60."
        run.finishedAt = "2026-11-22T10:04:00Z"
        run.durationSeconds = 240.125
        let expected = RunReport(run: run, checkpoints: checkpoints, datasets: datasets, steps: steps,
                                 metrics: miaMetrics + [canaryMetric], scores: sortedScores, findings: findings, checks: checks)
        let loaded = try store.load(runID: run.id)
        XCTAssertEqual(loaded.run, expected.run)
        XCTAssertEqual(loaded.checkpoints, expected.checkpoints)
        XCTAssertEqual(loaded.datasets, expected.datasets)
        XCTAssertEqual(loaded.steps, expected.steps)
        XCTAssertEqual(loaded.metrics, expected.metrics)
        XCTAssertEqual(loaded.scores, expected.scores)
        XCTAssertEqual(loaded.findings, expected.findings)
        XCTAssertEqual(loaded.checks, expected.checks)
        XCTAssertEqual(loaded, expected)
        // A second Store sees the same bytes: nothing was cached in the first.
        XCTAssertEqual(try Store(path: path).load(runID: run.id), expected)
    }

    func testEveryStatusIsAllowedBySchema() throws {
        let store = try Store(path: path)
        for (i, status) in RunStatus.allCases.enumerated() {
            try store.beginRun(makeRun("run-\(i)"))
            try store.finishRun(id: "run-\(i)", status: status, verdict: "v", finishedAt: "2026-11-22T10:00:01Z",
                                durationSeconds: 1)
            XCTAssertEqual(try store.load(runID: "run-\(i)").run.status, status)
        }
        XCTAssertEqual(error { try store.finishRun(id: "nope", status: .passed, verdict: "", finishedAt: "", durationSeconds: 0) }?
            .description, "\(path): no run 'nope' to finish")
    }

    // MARK: Opening

    func testReopenIsIdempotent() throws {
        let first = try Store(path: path)
        try first.beginRun(makeRun("r1"))
        let schema = try first.schemaSQL()
        let second = try Store(path: path)
        XCTAssertEqual(Store.schemaVersion, 1)
        XCTAssertEqual(try Connection(path: path).integer("PRAGMA user_version"), 1)
        XCTAssertEqual(try second.schemaSQL(), schema)
        XCTAssertEqual(try second.runs().map(\.id), ["r1"])
        XCTAssertEqual(try second.integrityCheck(), "ok")
    }

    func testNewerSchemaIsRefused() throws {
        _ = try Store(path: path)
        try Connection(path: path).execute("PRAGMA user_version = 99")
        XCTAssertEqual(error { _ = try Store(path: path) }?.description,
                       "\(path): written by a newer auditor (schema 99, this build knows 1)")
    }

    func testNonDatabaseFileIsRefused() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15  // xorshift64: the same "random" file every run
        let bytes = (0..<4096).map { _ -> UInt8 in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(error { _ = try Store(path: path) }?.description, "\(path): not an SQLite database")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(bytes), "a refused file must not be touched")
    }

    func testMissingDirectoryIsNamed() throws {
        let missing = directory.appendingPathComponent("no-such-dir/auditor.sqlite").path
        let message = error { _ = try Store(path: missing) }?.description ?? ""
        XCTAssertTrue(message.hasPrefix("\(missing): directory '"), message)
        XCTAssertTrue(message.contains("does not exist"), message)
    }

    // MARK: Integrity

    func testCommitStepForUnknownRunThrows() throws {
        let store = try Store(path: path)
        let step = StepRecord(name: "mia", finishedAt: "2026-11-22T10:00:00Z", seconds: 1)
        let failure = error {
            try store.commitStep(runID: "ghost", step: step,
                                 scores: [TextScoreRecord(checkpoint: "target", dataset: "members", index: 0, attack: "loss", score: 1)])
        }
        XCTAssertEqual(failure?.description, "\(path): no run 'ghost' to commit step 'mia' to")
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    func testFailedStepLeavesNothingBehind() throws {
        let store = try Store(path: path)
        try store.beginRun(makeRun("r1"))
        let good = MetricRecord(step: "mia", key: "mia.loss.auc", value: 0.5, lower: nil, upper: nil, n: 10, method: "m", label: "l")
        try store.commitStep(runID: "r1", step: StepRecord(name: "mia", finishedAt: "2026-11-22T10:01:00Z", seconds: 1),
                             metrics: [good])
        let before = try store.load(runID: "r1")

        let duplicate = MetricRecord(step: "canary", key: "canary.exposure.max", value: 3, lower: nil, upper: nil, n: nil,
                                     method: "m", label: "l")
        let failure = error {
            try store.commitStep(
                runID: "r1", step: StepRecord(name: "canary", finishedAt: "2026-11-22T10:02:00Z", seconds: 1),
                datasets: [DatasetRecord(role: "canaries", path: "c.json", sha256: "00", texts: 2)],
                metrics: [duplicate, duplicate],
                scores: (0..<5).map { TextScoreRecord(checkpoint: "target", dataset: "members", index: $0, attack: "loss", score: 1) },
                findings: [FindingRecord(step: "canary", kind: "canary", dataset: "canaries", index: 0, itemID: nil,
                                         secret: "s", numbers: [:])])
        }
        XCTAssertTrue(failure?.description.hasPrefix("\(path): UNIQUE constraint failed: metrics.run_id, metrics.key") ?? false,
                      failure?.description ?? "")
        XCTAssertTrue(failure?.description.hasSuffix("(committing step 'canary' of run 'r1')") ?? false)
        XCTAssertEqual(try store.load(runID: "r1"), before)

        // Non-finite figures are refused before anything is written.
        let nanStep = StepRecord(name: "traps", finishedAt: "2026-11-22T10:03:00Z", seconds: 1)
        let nan = MetricRecord(step: "traps", key: "traps.auc", value: .nan, lower: nil, upper: nil, n: nil, method: "m", label: "l")
        XCTAssertTrue(error { try store.commitStep(runID: "r1", step: nanStep, metrics: [nan]) }?.message
            .hasPrefix("metric 'traps.auc' of step 'traps' has value nan") ?? false)
        let infiniteScore = TextScoreRecord(checkpoint: "target", dataset: "members", index: 0, attack: "loss", score: -.infinity)
        XCTAssertNotNil(error { try store.commitStep(runID: "r1", step: nanStep, scores: [infiniteScore]) })
        let nanCheck = CheckRecord(expression: "x < 1", metric: "x", op: "<", threshold: .nan, value: nil, lower: nil, upper: nil,
                                   passed: false, message: "")
        XCTAssertEqual(error { try store.commitStep(runID: "r1", step: nanStep, checks: [nanCheck]) }?.message,
                       "refusing to store NaN, which SQLite would keep as NULL (committing step 'traps' of run 'r1')")
        XCTAssertEqual(try store.load(runID: "r1"), before)
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    // MARK: Concurrency

    func testTwoStoresWriteOneFileConcurrently() throws {
        let failures = NSLock()
        var errors: [String] = []
        // Both open a file that does not exist yet, so they also race on creating the schema.
        DispatchQueue.concurrentPerform(iterations: 2) { writer in
            do {
                let store = try Store(path: path)
                let id = "writer-\(writer)"
                try store.beginRun(makeRun(id))
                for step in 0..<50 {
                    let scores = (0..<20).map {
                        TextScoreRecord(checkpoint: "target", dataset: "members", index: step * 20 + $0, attack: "loss",
                                        score: Double($0) / 7)
                    }
                    try store.commitStep(runID: id, step: StepRecord(name: "step-\(step)", finishedAt: "t", seconds: 0),
                                         scores: scores)
                }
            } catch {
                failures.lock(); errors.append("\(error)"); failures.unlock()
            }
        }
        XCTAssertEqual(errors, [])
        let store = try Store(path: path)
        for writer in 0..<2 {
            let report = try store.load(runID: "writer-\(writer)")
            XCTAssertEqual(report.steps.map(\.name), (0..<50).map { "step-\($0)" })
            XCTAssertEqual(report.scores.count, 1000)
            XCTAssertEqual(report.scores.map(\.index), Array(0..<1000))
        }
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    // MARK: Interrupted runs

    func testReapInterruptedMarksOnlyDeadRunsOfThisHost() throws {
        let store = try Store(path: path)
        try store.beginRun(makeRun("dead", pid: 111))
        try store.beginRun(makeRun("alive", pid: 222))
        try store.beginRun(makeRun("finished", pid: 111))
        try store.finishRun(id: "finished", status: .passed, verdict: "ok", finishedAt: "t", durationSeconds: 1)
        try store.beginRun(makeRun("elsewhere", host: "host-b", pid: 111))

        XCTAssertEqual(try store.reapInterrupted(host: "host-a", isAlive: { $0 == 222 }), ["dead"])
        let status = Dictionary(uniqueKeysWithValues: try store.runs().map { ($0.id, $0.status) })
        XCTAssertEqual(status, ["dead": .interrupted, "alive": .running, "finished": .passed, "elsewhere": .running])
        XCTAssertEqual(try store.reapInterrupted(host: "host-a", isAlive: { $0 == 222 }), [])

        try store.markInterrupted(id: "finished")
        XCTAssertEqual(try store.load(runID: "finished").run.status, .passed)
        try store.markInterrupted(id: "alive")
        XCTAssertEqual(try store.load(runID: "alive").run.status, .interrupted)
    }

    func testProcessIsAlive() {
        XCTAssertTrue(Store.processIsAlive(getpid()))
        XCTAssertFalse(Store.processIsAlive(0))
        XCTAssertFalse(Store.processIsAlive(Int32.max))  // above Linux's and macOS's pid limits
    }

    // MARK: Finding runs

    func testResolveRunAndOrdering() throws {
        let store = try Store(path: path)
        XCTAssertEqual(error { _ = try store.resolveRun("latest") }?.description, "\(path): no runs yet, so 'latest' matches nothing")
        try store.beginRun(makeRun("20261122-100000-aaaa", startedAt: "2026-11-22T10:00:00Z"))
        try store.beginRun(makeRun("20261123-090000-bbbb", startedAt: "2026-11-23T09:00:00Z"))
        try store.beginRun(makeRun("20261122-100000-aaab", startedAt: "2026-11-22T10:00:00Z"))

        XCTAssertEqual(try store.runs().map(\.id), ["20261123-090000-bbbb", "20261122-100000-aaab", "20261122-100000-aaaa"])
        XCTAssertEqual(try store.runs(limit: 1).map(\.id), ["20261123-090000-bbbb"])
        XCTAssertEqual(try store.resolveRun("20261122-100000-aaaa"), "20261122-100000-aaaa")
        XCTAssertEqual(try store.resolveRun("latest"), "20261123-090000-bbbb")
        XCTAssertEqual(try store.resolveRun("20261123"), "20261123-090000-bbbb")
        XCTAssertEqual(try store.resolveRun("20261122-100000-aaab"), "20261122-100000-aaab")
        XCTAssertEqual(error { _ = try store.resolveRun("20261122") }?.description,
                       "\(path): '20261122' matches 2 runs: 20261122-100000-aaab, 20261122-100000-aaaa; give more of the id")
        XCTAssertEqual(error { _ = try store.resolveRun("2025") }?.description, "\(path): no run matches '2025'")
        XCTAssertEqual(error { _ = try store.resolveRun("2026112_") }?.description, "\(path): no run matches '2026112_'")
        XCTAssertEqual(error { _ = try store.load(runID: "2025") }?.description, "\(path): no run with id '2025'")
    }
}

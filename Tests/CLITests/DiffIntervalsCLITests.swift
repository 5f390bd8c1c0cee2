// `auditor diff` on two stored runs: a figure whose 95% intervals do not overlap is flagged "yes" under EXCEEDS CI,
// overlapping intervals "no", a figure without intervals "n/a"; the change is b - a, in the table and in --json.
import Foundation
import Store
import XCTest

final class DiffIntervalsCLITests: XCTestCase {
    /// A finished run with the given metrics (key, value, lower, upper), written the way the runner writes one.
    private func storeRun(_ store: Store, id: String, metrics: [(String, Double, Double?, Double?)]) throws {
        try store.beginRun(RunRecord(id: id, name: "diff test", specPath: "spec.yml", specSHA256: String(repeating: "0", count: 64),
                                     specText: "name: diff test\n", seed: 0, auditorVersion: "test", machine: "test", host: "test",
                                     pid: 1, startedAt: "2026-11-30T12:00:00Z"))
        try store.commitStep(runID: id, step: StepRecord(name: "mia", finishedAt: "2026-11-30T12:00:01Z", seconds: 1),
                             metrics: metrics.map { MetricRecord(step: "mia", key: $0.0, value: $0.1, lower: $0.2, upper: $0.3, n: 40,
                                                                 method: "bootstrap 1000", label: $0.0) })
        try store.finishRun(id: id, status: .passed, verdict: "ok", finishedAt: "2026-11-30T12:00:02Z", durationSeconds: 2)
    }

    func testChangeBeyondTheIntervalsIsFlagged() throws {
        let dir = scratchDirectory(), db = dir.appendingPathComponent("runs.sqlite").path
        let store = try Store(path: db)
        // loss: [0.50, 0.60] then [0.75, 0.85], apart; zlib: [0.50, 0.60] then [0.58, 0.68], overlapping;
        // minkpp: the interval of b lies below a's; runtime: no interval.
        try storeRun(store, id: "20261130-120000-aaaa", metrics: [("mia.loss.auc", 0.55, 0.50, 0.60), ("mia.zlib.auc", 0.55, 0.50, 0.60),
                                                                  ("mia.minkpp.auc", 0.90, 0.85, 0.95), ("mia.seconds", 3, nil, nil)])
        try storeRun(store, id: "20261130-130000-bbbb", metrics: [("mia.loss.auc", 0.80, 0.75, 0.85), ("mia.zlib.auc", 0.63, 0.58, 0.68),
                                                                  ("mia.minkpp.auc", 0.60, 0.55, 0.65), ("mia.seconds", 4, nil, nil)])
        let j = run(["diff", "20261130-120000-aaaa", "20261130-130000-bbbb", "--db", db, "--json"])
        XCTAssertEqual(j.code, 0, j.err)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any], j.out)
        let rows = try XCTUnwrap(obj["metrics"] as? [[String: Any]])
        var flag: [String: String] = [:], change: [String: Double] = [:]
        for r in rows { flag[r["metric"] as! String] = r["exceeds_intervals"] as? String; change[r["metric"] as! String] = r["change"] as? Double }
        XCTAssertEqual(flag, ["mia.loss.auc": "yes", "mia.zlib.auc": "no", "mia.minkpp.auc": "yes", "mia.seconds": "n/a"])
        XCTAssertEqual(change["mia.loss.auc"]!, 0.25, accuracy: 1e-12)
        XCTAssertEqual(change["mia.minkpp.auc"]!, -0.30, accuracy: 1e-12)

        let t = run(["diff", "20261130-120000-aaaa", "20261130-130000-bbbb", "--db", db])
        XCTAssertEqual(t.code, 0, t.err)
        XCTAssertTrue(t.out.contains("EXCEEDS CI"), t.out)
        let line = { (key: String) in t.out.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map(String.init) ?? "" }
        XCTAssertTrue(line("mia.loss.auc").hasSuffix("yes"), t.out)
        XCTAssertTrue(line("mia.loss.auc").contains("+0.250"), t.out)
        XCTAssertTrue(line("mia.zlib.auc").hasSuffix("no"), t.out)
        XCTAssertTrue(line("mia.minkpp.auc").hasSuffix("yes"), t.out)
        XCTAssertTrue(line("mia.seconds").hasSuffix("n/a"), t.out)
    }

    /// Intervals that only touch overlap: the flag is conservative.
    func testTouchingIntervalsAreNotFlagged() throws {
        let dir = scratchDirectory(), db = dir.appendingPathComponent("runs.sqlite").path
        let store = try Store(path: db)
        try storeRun(store, id: "20261130-120000-cccc", metrics: [("mia.loss.auc", 0.55, 0.50, 0.60)])
        try storeRun(store, id: "20261130-130000-dddd", metrics: [("mia.loss.auc", 0.65, 0.60, 0.70)])
        let j = run(["diff", "20261130-120000-cccc", "20261130-130000-dddd", "--db", db, "--json"])
        XCTAssertEqual(j.code, 0, j.err)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any], j.out)
        XCTAssertEqual((obj["metrics"] as? [[String: Any]])?.first?["exceeds_intervals"] as? String, "no")
    }
}

// `auditor metrics SPEC`: every figure key the spec produces (per-repetition ones from the manifests), one a line.
import Foundation
import XCTest

final class MetricsCLITests: XCTestCase {
    func testMetricsListsEveryFigureTheSpecProduces() throws {
        let dir = scratchDirectory()
        let texts = ["The quick brown fox jumps over the lazy dog.", "A stitch in time saves nine, they say."]
        _ = try writeLines(texts.map { #"{"text": "\#($0)"}"# }, to: dir.appendingPathComponent("m.jsonl"))
        let manifest: [String: Any] = ["seed": 1, "canaries": [
            ["id": "c1", "format": "my PIN is {digits:6}", "text": "my PIN is 493817", "repetitions": 10],
            ["id": "c2", "format": "my PIN is {digits:6}", "text": "my PIN is 220571", "repetitions": 1],
        ]]
        try JSONSerialization.data(withJSONObject: manifest).write(to: dir.appendingPathComponent("canaries.json"))
        let spec = dir.appendingPathComponent("audit.yml")
        try Data("""
            version: 1
            name: metrics
            target: {checkpoint: \(fixture("tiny/llama"))}
            datasets: {members: m.jsonl, nonmembers: m.jsonl, extraction: m.jsonl, canaries: canaries.json}
            attacks:
              mia: {attacks: [loss, mink], k: [0.2, 0.5]}
              extraction: {prefix: [4], suffix: 4}
              canary: {references: 10}

            """.utf8).write(to: spec)
        let r = run(["metrics", spec.path])
        XCTAssertEqual(r.code, 0, r.err)
        let keys = r.out.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
        var expected: [String] = []
        for a in ["loss", "mink_0.2", "mink_0.5"] {
            expected += ["mia.\(a).auc", "mia.\(a).tpr_at_fpr_1pct", "mia.\(a).tpr_at_fpr_0.1pct"]
        }
        expected.append("mia.blind_baseline.auc")
        for p in [nil, 4] as [Int?] {
            for k in ["exact", "approximate", "np"] { expected.append(p.map { "extraction.prefix_\($0).\(k).rate" } ?? "extraction.\(k).rate") }
        }
        expected += ["canary.exposure.max", "canary.exposure.mean", "canary.rep_1.exposure.max", "canary.rep_1.exposure.mean",
                     "canary.rep_10.exposure.max", "canary.rep_10.exposure.mean"]
        XCTAssertEqual(keys, expected, r.out)
        XCTAssertTrue(r.out.contains("mia.loss.auc") && r.out.contains("LOSS, ROC AUC (higher means more leakage; 95% interval: stratified percentile bootstrap)"), r.out)
        // A bad spec is bad input, as for `audit`.
        assertBadInput(["metrics", dir.path], file: dir.path, problem: "is a directory")
    }
}

// The audit's figures equal the stand-alone commands' (`mia`, `traps detect`) on the same inputs, seed and resamples;
// a reference checkpoint equal to the target gives the hand-known AUC of exactly 1/2.
import Foundation
import Store
import XCTest

final class AuditAttacksCLITests: XCTestCase {
    let llama = fixture("tiny/llama")
    let gpt2 = fixture("tiny/gpt2")   // same tokenizer as tiny/llama

    let texts = [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "A stitch in time saves nine, as the old saying goes in every village.",
        "Water boils at one hundred degrees at sea level under normal pressure.",
        "The library opens at nine and closes at five on every weekday.",
        "Seven lanterns hung from the bridge while the boats drifted past.",
        "He tuned the old piano before the concert started in the hall.",
        "The train to the coast leaves twice a day from the north platform.",
        "Bread rises faster in a warm kitchen than in a cold cellar.",
    ]

    private func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> RunResult {
        let r = run(args, file: file, line: line)
        assertNoCrash(r, "auditor " + args.joined(separator: " "), file: file, line: line)
        XCTAssertEqual(r.code, 0, "auditor \(args.joined(separator: " "))\nstderr:\n\(r.err)", file: file, line: line)
        return r
    }

    private func jsonl(_ texts: [String], _ url: URL) throws -> String {
        try writeLines(texts.map { String(decoding: try! JSONSerialization.data(withJSONObject: ["text": $0]), as: UTF8.self) }, to: url)
    }

    /// Runs the spec and returns the stored run.
    private func audit(_ spec: String, dir: URL, file: StaticString = #filePath, line: UInt = #line) throws -> RunReport {
        let specPath = dir.appendingPathComponent("audit.yml").path
        try Data(spec.utf8).write(to: URL(fileURLWithPath: specPath))
        let db = dir.appendingPathComponent("runs.sqlite").path
        let r = ok(["audit", specPath, "--db", db, "--reports", dir.appendingPathComponent("reports").path], file: file, line: line)
        _ = r
        let store = try Store(path: db)
        return try store.load(runID: try store.resolveRun("latest"))
    }

    private func metric(_ r: RunReport, _ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> MetricRecord {
        try XCTUnwrap(r.metrics.first { $0.key == key }, "no metric \(key)", file: file, line: line)
    }

    func testMIAFiguresEqualTheMIACommandAndReferenceEqualTargetIsChance() throws {
        let dir = scratchDirectory()
        let mem = try jsonl(Array(texts[0..<4]), dir.appendingPathComponent("m.jsonl"))
        let non = try jsonl(Array(texts[4...]), dir.appendingPathComponent("n.jsonl"))
        let run = try audit("""
            version: 1
            name: reference run
            seed: 11
            target: {checkpoint: \(llama)}
            reference: {checkpoint: \(llama)}
            datasets: {members: m.jsonl, nonmembers: n.jsonl}
            attacks:
              mia: {k: [0.2], resamples: 300}
            """, dir: dir)
        // NLL_ref - NLL_target is 0 for every text when the reference is the target: AUC exactly 1/2.
        XCTAssertTrue(run.scores.filter { $0.attack == "reference" }.allSatisfy { $0.score == 0 })
        XCTAssertEqual(try metric(run, "mia.reference.auc").value, 0.5)
        XCTAssertEqual(run.checkpoints.map(\.role), ["reference", "target"])

        // Same inputs, seed and resamples through `auditor mia`: the same AUCs and intervals.
        let m = ok(["mia", llama, "--members", mem, "--nonmembers", non, "--k", "0.2", "--resamples", "300", "--seed", "11", "--no-lowercase"])
        let out = try XCTUnwrap(jsonObjects(m.out).first)
        let attacks = try XCTUnwrap(out["attacks"] as? [[String: Any]])
        // One vocabulary: `mia` names each attack as the audit's metric keys do.
        let names = ["loss", "zlib", "mink_0.2", "minkpp_0.2"]
        for a in attacks {
            guard let key = a["attack"] as? String, names.contains(key) else { continue }
            let auc = try XCTUnwrap(a["auc"] as? [String: Any])
            let ci = try XCTUnwrap(auc["ci95"] as? [Double])
            let stored = try metric(run, "mia.\(key).auc")
            XCTAssertEqual(stored.value, try XCTUnwrap(auc["value"] as? Double), accuracy: 1e-12, key)
            XCTAssertEqual(stored.lower!, ci[0], accuracy: 1e-12, key)
            XCTAssertEqual(stored.upper!, ci[1], accuracy: 1e-12, key)
        }
        XCTAssertEqual(Set(attacks.compactMap { $0["attack"] as? String }).intersection(names).count, 4)
        let blind = try XCTUnwrap(out["blind_baseline"] as? [String: Any])
        XCTAssertEqual(try metric(run, "mia.blind_baseline.auc").value, try XCTUnwrap((blind["auc"] as? [String: Any])?["value"] as? Double), accuracy: 1e-12)
    }

    func testTrapFiguresEqualTheTrapsDetectCommand() throws {
        let dir = scratchDirectory()
        let manifest = dir.appendingPathComponent("traps.json").path
        ok(["traps", "generate", llama, "--count", "5", "--lengths", "10", "--perplexity", "1:100000", "--seed", "2", "-o", manifest])
        let docs = try jsonl(texts, dir.appendingPathComponent("docs.jsonl"))
        let injected = dir.appendingPathComponent("docs-traps.jsonl").path
        ok(["traps", "inject", "--manifest", manifest, "--dataset", docs, "-o", injected, "--repetitions", "1,2,3", "--seed", "4"])
        let run = try audit("""
            version: 1
            name: traps run
            seed: 5
            target: {checkpoint: \(llama)}
            reference: {checkpoint: \(gpt2)}
            datasets: {traps: docs-traps.jsonl.manifest.json}
            attacks:
              traps: {resamples: 200}
            thresholds: ["traps.auc <= 1.0"]
            """, dir: dir)
        let d = ok(["traps", "detect", llama, "--reference", gpt2, "--manifest", injected + ".manifest.json", "--resamples", "200", "--seed", "5"])
        let out = try XCTUnwrap(jsonObjects(d.out).first)
        let overall = try XCTUnwrap(out["overall"] as? [String: Any])
        let auc = try metric(run, "traps.auc")
        // One interval shape, as summary.json writes it: {"value": v, "ci95": [lower, upper]}.
        let detected = try XCTUnwrap(overall["auc"] as? [String: Any]), ci = try XCTUnwrap(detected["ci95"] as? [Double])
        XCTAssertEqual(auc.value, try XCTUnwrap(detected["value"] as? Double), accuracy: 1e-12)
        XCTAssertEqual(auc.lower!, ci[0], accuracy: 1e-12)
        XCTAssertEqual(auc.upper!, ci[1], accuracy: 1e-12)
        XCTAssertEqual(run.findings.filter { $0.kind == "trap" }.count, 5)
        XCTAssertEqual(run.checks.map(\.passed), [true])
        XCTAssertEqual(run.run.status, .passed)
    }
}

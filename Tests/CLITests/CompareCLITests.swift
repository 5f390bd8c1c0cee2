// `auditor compare` end to end on the tiny Llama: every variant and seed trained and measured, summary.json, report.md
// and the SVG written, the comparison stored; a rerun reuses the stored variants; a breached threshold exits 1; bad
// specs (no steps, DP without epsilon or noise, canaries longer than the context, unknown keys) exit 2 naming the file.
import Foundation
import Store
import XCTest

final class CompareCLITests: XCTestCase {
    let llama = fixture("tiny/llama")

    /// 24 training and 12 held-out records, each with a marked sensitive span.
    func writeData(_ dir: URL) throws {
        let names = ["Alice", "Bruno", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana"]
        func rec(_ i: Int) -> String {
            let n = names[i % names.count], phone = String(format: "555-%04d", (i * 7919) % 10000)
            return "{\"text\": \"Patient \(n) number \(i) called from \(phone) about the visit.\", \"sensitive\": [\"\(phone)\"]}"
        }
        _ = try writeLines((0..<24).map(rec), to: dir.appendingPathComponent("train.jsonl"))
        _ = try writeLines((100..<112).map(rec), to: dir.appendingPathComponent("heldout.jsonl"))
    }

    func spec(_ dir: URL, thresholds: [String] = [], extra: String = "", variants: String? = nil, name: String = "spec.yml") throws -> String {
        let v = variants ?? """
            variants:
              - {name: full, method: full}
              - {name: lora_r4, method: lora, rank: 4}
              - {name: dp_eps8, method: full, dp: {epsilon: 8}}
            """
        let text = """
            name: tiny comparison
            checkpoint: \(llama)
            data: train.jsonl
            heldout: heldout.jsonl
            sensitive_field: sensitive
            canaries: {format: "my PIN is {digits:3}", repetitions: [1, 2], per_repetition: 6, seed: 3}
            steps: 3
            batch_size: 4
            learning_rate: 0.01
            seeds: [1, 2]
            out: out
            \(extra)
            \(v)
            thresholds: [\(thresholds.map { "\"\($0)\"" }.joined(separator: ", "))]
            """
        let p = dir.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testCompareRunsStoresReportsAndResumes() throws {
        let dir = scratchDirectory()
        try writeData(dir)
        let db = dir.appendingPathComponent("runs.sqlite").path
        let s = try spec(dir, thresholds: ["lora_r4.canary.exposure.max <= full.canary.exposure.max + 100"])
        let r = run(["compare", s, "--db", db])
        assertNoCrash(r, "compare")
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("compared 3 variants x 2 seeds (6 trained, 0 reused)"), r.out)
        XCTAssertTrue(r.out.contains("threshold lora_r4.canary.exposure.max <= full.canary.exposure.max + 100: holds"), r.out)
        XCTAssertTrue(r.err.contains("[4/6] full seed 2: training 3 steps, about"), r.err)
        XCTAssertTrue(r.err.contains("lora_r4 seed 1: step 3/3, loss"), r.err)
        let out = dir.appendingPathComponent("out")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as! [String: Any]
        let variants = summary["variants"] as! [String: [String: Any]]
        XCTAssertEqual(Set(variants.keys), ["full", "lora_r4", "dp_eps8"])
        for (name, row) in variants {
            for k in ["mia.auc", "sensitive.gain", "utility.nll", "epsilon.empirical", "canary.exposure.max", "cost.seconds",
                      "extraction.exact.rate", "extraction.heldout.exact.rate", "train.steps"] {
                let e = row[k] as? [String: Any]
                XCTAssertNotNil(e, "\(name) \(k)")
                XCTAssertEqual(e?["n"] as? Int, 2, "\(name) \(k)")
                let ci = e?["ci95"] as? [Double]
                let mean = e?["value"] as? Double ?? .nan, lo = ci?.first ?? .nan, hi = ci?.last ?? .nan
                XCTAssertTrue(lo <= mean && mean <= hi, "\(name) \(k): \(lo) \(mean) \(hi)")
            }
            let auc = (row["mia.auc"] as! [String: Any])["value"] as! Double
            XCTAssertTrue(auc >= 0 && auc <= 1)
        }
        // DP variants carry the accountant's epsilon (the target), the others do not.
        XCTAssertEqual(((variants["dp_eps8"]!["epsilon.accountant"] as! [String: Any])["value"] as! Double), 8, accuracy: 0.05)
        XCTAssertNil(variants["full"]!["epsilon.accountant"])
        // Utility: the base's held-out loss is the same for every variant (a hand check of the bookkeeping).
        let baseFull = (variants["full"]!["utility.base_nll"] as! [String: Any])["value"] as! Double
        let baseDP = (variants["dp_eps8"]!["utility.base_nll"] as! [String: Any])["value"] as! Double
        XCTAssertEqual(baseFull, baseDP, accuracy: 1e-9)
        let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("| dp_eps8 | full, DP eps 8 | 3 |"), md)
        XCTAssertTrue(md.contains("none (not private)"), md)
        let svg = try String(contentsOf: out.appendingPathComponent("privacy-utility-cost.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("lora_r4"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("runs").path).count, 6)
        // Stored: six fine-tuning runs and one comparison whose metrics are VARIANT.figure.
        let store = try Store(path: db)
        let runs = try store.runs()
        XCTAssertEqual(runs.count, 7)
        let cmp = runs.first { $0.name == "compare: tiny comparison" }!
        let loaded = try store.load(runID: cmp.id)
        XCTAssertNotNil(loaded.metrics.first { $0.key == "lora_r4.mia.auc" })

        // Resume: nothing is trained again, and the figures are the same.
        let again = run(["compare", s, "--db", db])
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertTrue(again.out.contains("(0 trained, 6 reused)"), again.out)
        XCTAssertFalse(again.err.contains("training 3 steps"), again.err)
        let summary2 = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as! [String: Any]
        XCTAssertEqual(NSDictionary(dictionary: summary2["variants"] as! [String: Any]), NSDictionary(dictionary: variants))

        // A breached threshold: exit 1, on the stored variants (a new spec name, same out folder and settings).
        let breach = try spec(dir, thresholds: ["full.mia.auc < 0"], name: "breach.yml")
        let b = run(["compare", breach, "--db", db])
        XCTAssertEqual(b.code, 1, b.err)
        XCTAssertTrue(b.out.contains("(0 trained, 6 reused)"), b.out)
        XCTAssertTrue(b.out.contains("threshold full.mia.auc < 0: BREACHED"), b.out)

        // A change of settings for one variant trains that variant again, and only it.
        let changed = try spec(dir, variants: """
            variants:
              - {name: full, method: full}
              - {name: lora_r4, method: lora, rank: 4}
              - {name: dp_eps8, method: full, dp: {epsilon: 4}}
            """, name: "changed.yml")
        let c = run(["compare", changed, "--db", db])
        XCTAssertEqual(c.code, 0, c.err)
        XCTAssertTrue(c.out.contains("(2 trained, 4 reused)"), c.out)
    }

    func testMatchedUtilityStopsEachVariantAtTheTarget() throws {
        let dir = scratchDirectory()
        try writeData(dir)
        // A target every evaluation meets: each variant stops after its first evaluation (step 1), DP included.
        let s = try spec(dir, extra: "utility_target: 1000000\neval_every: 1", variants: """
            variants:
              - {name: full, method: full}
              - {name: dp_eps8, method: full, dp: {epsilon: 8}}
            """)
        let r = run(["compare", s, "--db", dir.appendingPathComponent("runs.sqlite").path])
        XCTAssertEqual(r.code, 0, r.err)
        let out = dir.appendingPathComponent("out")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as! [String: Any]
        let variants = summary["variants"] as! [String: [String: Any]]
        for name in ["full", "dp_eps8"] {
            XCTAssertEqual((variants[name]!["train.steps"] as! [String: Any])["value"] as! Double, 1, name)
            XCTAssertEqual((variants[name]!["train.reached_target"] as! [String: Any])["value"] as! Double, 1, name)
        }
        // One step of DP-SGD spends far less than the 8 the noise was calibrated for over 3 steps.
        XCTAssertLessThan((variants["dp_eps8"]!["epsilon.accountant"] as! [String: Any])["value"] as! Double, 8)
        let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("Matched utility"), md)
        XCTAssertTrue(md.contains("| full | full | 1 of 3 |"), md)
        // eval_every alone is a spec error.
        let bad = try spec(dir, extra: "eval_every: 2", name: "bad.yml")
        assertBadInput(["compare", bad, "--db", dir.appendingPathComponent("r.sqlite").path], file: bad, problem: "'eval_every' is used only with 'utility_target'")
    }

    func testBadSpecsExit2NamingTheFile() throws {
        let dir = scratchDirectory()
        try writeData(dir)
        let zero = try spec(dir, variants: "variants:\n  - {name: full, method: full, steps: 0}", name: "zero.yml")
        assertBadInput(["compare", zero, "--db", dir.appendingPathComponent("r.sqlite").path], file: zero, problem: "variants[0] (full): steps must be >= 1; got 0")
        let noEps = try spec(dir, variants: "variants:\n  - {name: dp, method: lora, dp: {clip: 1}}", name: "noeps.yml")
        assertBadInput(["compare", noEps, "--db", dir.appendingPathComponent("r.sqlite").path], file: noEps, problem: "variants[0].dp (dp) needs epsilon")
        let long = try spec(dir, extra: "max_tokens: 4", name: "long.yml")
        assertBadInput(["compare", long, "--db", dir.appendingPathComponent("r.sqlite").path], file: long, problem: "more than the context of 4 tokens")
        let unknown = try spec(dir, extra: "stepz: 3", name: "unknown.yml")
        assertBadInput(["compare", unknown, "--db", dir.appendingPathComponent("r.sqlite").path], file: unknown, problem: "unknown key 'stepz' in the top level")
        let unknownVariant = try spec(dir, variants: "variants:\n  - {name: full, methd: full}", name: "uv.yml")
        assertBadInput(["compare", unknownVariant, "--db", dir.appendingPathComponent("r.sqlite").path], file: unknownVariant, problem: "unknown key 'methd' in variants[0]")
        let badThreshold = try spec(dir, thresholds: ["nope.mia.auc <= 1"], name: "bt.yml")
        assertBadInput(["compare", badThreshold, "--db", dir.appendingPathComponent("r.sqlite").path], file: badThreshold, problem: "'nope.mia.auc' must be VARIANT.metric")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path), "nothing written")
    }
}

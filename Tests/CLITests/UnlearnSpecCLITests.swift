// `auditor unlearn` with the relearning check, a retrained reference, FILA, the before/after report in Markdown and
// HTML, `auditor metrics` on an unlearning spec, and the spec form's bad input (exit 2, naming the spec's line).
import Foundation
import Store
import XCTest

final class UnlearnSpecCLITests: XCTestCase {
    let llama = fixture("tiny/llama")
    let records = repoRoot.appendingPathComponent("audits/records").path

    /// IHL with FILA-initialised LoRA, a retrained reference (the tiny Llama's GGUF twin stands in: it never saw the
    /// records either), the relearning check on both; the report and the stored figures carry them.
    func testRelearningRetrainedAndReport() throws {
        let dir = scratchDirectory(), db = dir.appendingPathComponent("runs.sqlite").path, out = dir.appendingPathComponent("u").path
        let r = run(["unlearn", llama, "--forget", records + "/forget.jsonl", "--retain", records + "/retain.jsonl",
                     "--holdout", records + "/holdout.jsonl", "--method", "ihl", "--lora-rank", "2", "--fila", "--steps", "2",
                     "--eval-every", "2", "--lr", "1e-3", "--audit-samples", "2", "--relearn-steps", "3", "--relearn-lr", "1e-3",
                     "--retrained", fixture("tiny/llama-gguf/model.gguf"), "--out", out, "--db", db,
                     "--threshold", "relearn.exact.rate.after <= 1", "--threshold", "privleak.after < 1000"])
        assertNoCrash(r, "ihl fila")
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("FILA: adapters initialised"), r.err)
        XCTAssertTrue(r.out.contains("relearning check (held half)") && r.out.contains("retrained model"), r.out)
        let md = try String(contentsOfFile: out + "/unlearning.md", encoding: .utf8)
        for s in ["## Forget-set extraction", "## Verbatim memorisation (VerbMem)", "## Membership inference (PrivLeak)",
                  "The reference is the retrained model's AUC", "## Canary exposure", "## Utility", "## Relearning check",
                  "| retrained model, after relearning |", "FILA initialisation", "## Greedy continuations"] {
            XCTAssertTrue(md.contains(s), s)
        }
        // Redacted by default: no record text in either file.
        let forget = try String(contentsOfFile: records + "/forget.jsonl", encoding: .utf8).split(separator: "\n")
        let first = try JSONSerialization.jsonObject(with: Data(forget[0].utf8)) as! [String: Any]
        let account = String((first["text"] as! String).suffix(14))
        let html = try String(contentsOfFile: out + "/unlearning.html", encoding: .utf8)
        XCTAssertFalse(md.contains(account) || html.contains(account), "a secret leaked")
        XCTAssertFalse(html.lowercased().contains("<script"))
        // The pair's figures are stored under the catalog's keys.
        let store = try Store(path: db)
        let u = try XCTUnwrap(try store.runs().first { $0.name.hasPrefix("unlearn (ihl)") })
        let keys = Set(try store.load(runID: u.id).metrics.map(\.key))
        for k in ["unlearn.relearn.exact.rate.after", "unlearn.retrained.relearn.loss.after", "unlearn.privleak.after",
                  "unlearn.privleak.reference.auc", "unlearn.verbmem.rougeL.after"] {
            XCTAssertTrue(keys.contains(k), k)
        }
        XCTAssertEqual(try store.load(runID: u.id).checks.map(\.passed), [true, true])
    }

    func spec(_ dir: URL, method: String, extra: String = "", forget: String? = nil) throws -> String {
        let url = dir.appendingPathComponent("u-\(UUID().uuidString.prefix(6)).yml")
        try """
        version: 1
        target: {checkpoint: \(llama)}
        datasets: {forget: \(forget ?? records + "/forget.jsonl"), retain: \(records)/retain.jsonl, holdout: \(records)/holdout.jsonl}
        method: \(method)
        \(extra)
        out: out
        """.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testSpecFormBadInputIsExit2NamingTheSpec() throws {
        let dir = scratchDirectory(), db = dir.appendingPathComponent("runs.sqlite").path
        let empty = try writeLines([], to: dir.appendingPathComponent("empty.jsonl"))
        let cases: [(String, String)] = [
            (try spec(dir, method: "{name: npo, beta: -1}"), "method: beta must be > 0"),
            (try spec(dir, method: "{name: graddiff, alpha: -2}"), "method: alpha (the retain weight) must be >= 0"),
            (try spec(dir, method: "{name: ga, lr: 0}"), "method: learning rate must be > 0"),
            (try spec(dir, method: "{name: kfac, rho: 1.5}"), "method: rho must be in (0, 1]"),
            (try spec(dir, method: "{name: ssd, ssd_alpha: 0}"), "method: SSD alpha must be > 0"),
            (try spec(dir, method: "{name: kfac, layers: [blk.9.up]}"), "block 9 does not exist"),
            (try spec(dir, method: "{name: kfac, layers: [blk.0.attn]}"), "no linear layer 'attn'"),
            (try spec(dir, method: "{name: ga}", forget: empty), "no texts"),
            (try spec(dir, method: "{name: ihl}", extra: "relearn: {steps: -1}"), "relearn.steps: must be in 0...100000"),
            (try spec(dir, method: "{name: npo, fila: true, lora: {rank: 2}}"), "compares with the original model"),
            (try spec(dir, method: "{name: ihl, fila: true}"), "LoKU's Fisher-weighted initialisation is for LoRA adapters"),
            (try spec(dir, method: "{name: ihl}", extra: "relearn: {steps: 1}\ntarget2: x"), "unknown key 'target2'"),
        ]
        for (path, message) in cases {
            let r = run(["unlearn", path, "--db", db])
            assertNoCrash(r, message)
            XCTAssertEqual(r.code, 2, "\(message): \(r.err)")
            XCTAssertTrue(r.err.contains(message), "\(message): \(r.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path), "\(message): nothing written")
        }
        // The range errors name the spec file and line.
        let bad = try spec(dir, method: "{name: npo, beta: -1}")
        XCTAssertTrue(run(["unlearn", bad, "--db", db]).err.contains(bad + ":"), "names the spec")
        // A retrained model that does not exist: exit 2 naming it.
        let missing = dir.appendingPathComponent("nowhere").path
        let m = run(["unlearn", llama, "--forget", records + "/forget.jsonl", "--retain", records + "/retain.jsonl", "--method", "ga",
                     "--retrained", missing, "--no-audit", "--out", dir.appendingPathComponent("o2").path, "--db", db])
        XCTAssertEqual(m.code, 2, m.err)
        XCTAssertTrue(m.err.contains("\(missing): no such checkpoint"), m.err)
    }

    /// `auditor metrics` on an unlearning spec lists the catalog's pair figures and before./after. audit figures.
    func testMetricsOnAnUnlearningSpec() throws {
        let dir = scratchDirectory()
        let path = try spec(dir, method: "{name: ihl}", extra: "audit: {extraction: {prefix: [8], suffix: 8, n: 2}}")
        let r = run(["metrics", path])
        XCTAssertEqual(r.code, 0, r.err)
        for s in ["retain.perplexity.increase", "relearn.exact.rate.after", "privleak.after", "verbmem.rougeL.after",
                  "before.extraction.exact.rate", "after.extraction.prefix_8.np.rate"] {
            XCTAssertTrue(r.out.contains(s + " "), "\(s): \(r.out)")
        }
    }
}

// `auditor unlearn` end to end on the tiny Llama with the synthetic records (audits/records): the flag form and the
// spec form write the checkpoint, the report and three linked runs; thresholds on the pair gate the exit status;
// bad input is one clear error, exit 2, nothing written.
import Foundation
import Store
import XCTest

final class UnlearnCLITests: XCTestCase {
    let llama = fixture("tiny/llama")
    let records = repoRoot.appendingPathComponent("audits/records").path

    func testFlagFormWritesThePairAndThresholdsGate() throws {
        let dir = scratchDirectory(), db = dir.appendingPathComponent("runs.sqlite").path
        let out = dir.appendingPathComponent("unlearned").path
        let before = try sha256sum(llama + "/model.safetensors")
        let r = run(["unlearn", llama, "--forget", records + "/forget.jsonl", "--retain", records + "/retain.jsonl",
                     "--holdout", records + "/holdout.jsonl", "--method", "graddiff", "--steps", "4", "--eval-every", "2", "--lr", "1e-4",
                     "--audit-samples", "2", "--out", out, "--db", db, "--threshold", "retain.perplexity.increase <= 50%"])
        assertNoCrash(r, "graddiff")
        XCTAssertEqual(r.code, 0, r.err)
        for f in ["config.json", "model.safetensors", "tokenizer.json", "unlearning.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f)
        }
        XCTAssertEqual(try sha256sum(llama + "/model.safetensors"), before, "the input is never written")
        let md = try String(contentsOfFile: out + "/unlearning.md", encoding: .utf8)
        for s in ["| retain perplexity |", "| held-out perplexity |", "Extraction rate", "LOSS, ROC AUC", "compared with 0.5",
                  "`retain.perplexity.increase <= 50%` |", "holds", "## Greedy continuations"] {
            XCTAssertTrue(md.contains(s), s)
        }
        // Three runs: the two audits and the unlearn run naming them.
        let store = try Store(path: db)
        let runs = try store.runs()
        XCTAssertEqual(runs.count, 3)
        let u = try XCTUnwrap(runs.first { $0.name.hasPrefix("unlearn (graddiff)") })
        let o = try JSONSerialization.jsonObject(with: Data(u.optionsJSON.utf8)) as! [String: Any]
        let linked = Set([o["before_run"] as! String, o["after_run"] as! String])
        XCTAssertEqual(linked, Set(runs.map(\.id)).subtracting([u.id]))
        XCTAssertEqual(try store.load(runID: u.id).checks.map(\.passed), [true])
        // A threshold that cannot hold: exit 1, the output still written.
        let out2 = dir.appendingPathComponent("unlearned2").path
        let b = run(["unlearn", llama, "--forget", records + "/forget.jsonl", "--retain", records + "/retain.jsonl",
                     "--method", "ga", "--steps", "2", "--no-audit", "--out", out2, "--db", db,
                     "--threshold", "forget.loss.after < 0"])
        XCTAssertEqual(b.code, 1, b.err)
        XCTAssertTrue(b.out.contains("breached: forget.loss.after < 0"), b.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out2 + "/model.safetensors"))
    }

    func testSpecFormWithKFAC() throws {
        let dir = scratchDirectory()
        let spec = dir.appendingPathComponent("unlearn.yml")
        try """
        version: 1
        name: tiny k-fac
        seed: 3
        target:
          checkpoint: \(llama)
        datasets:
          forget: \(records)/forget.jsonl
          retain: \(records)/retain.jsonl
          holdout: \(records)/holdout.jsonl
        method:
          name: kfac
          rho: 0.9
          layers: [blk.1.gate, model.layers.1.mlp.down_proj]
        audit:
          extraction:
            prefix: [8]
            suffix: 8
            n: 2
        thresholds:
          - after.extraction.exact.rate <= 0.01
          - holdout.perplexity.increase <= 1000%
        out: out
        """.write(to: spec, atomically: true, encoding: .utf8)
        let r = run(["unlearn", spec.path, "--db", dir.appendingPathComponent("runs.sqlite").path])
        assertNoCrash(r, "kfac spec")
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("K-FAC edit of blk.1.gate, blk.1.down at rho 0.9"), r.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/model.safetensors").path))
    }

    /// Bad files exit 2; a value out of range on the command line names its option (`--beta: ...`, `--rho: ...`,
    /// `--method: ...`) and is a usage error under the CLI's one rule, exit 64 (issue 15: --beta=-1, --alpha=-2 and
    /// --lr 0 exited 2).
    func testBadInputIsExit2AndWritesNothing() throws {
        let dir = scratchDirectory(), db = dir.appendingPathComponent("runs.sqlite").path
        let empty = try writeLines([], to: dir.appendingPathComponent("empty.jsonl"))
        let f = records + "/forget.jsonl", rt = records + "/retain.jsonl"
        let cases: [([String], String)] = [
            (["--forget", empty, "--retain", rt, "--method", "ga"], "no texts"),
            (["--forget", f, "--retain", rt, "--method", "npo", "--beta=-1"], "--beta: must be > 0, got -1.0"),
            (["--forget", f, "--retain", rt, "--method", "graddiff", "--alpha=-2"], "--alpha: must be >= 0, got -2.0"),
            (["--forget", f, "--retain", rt, "--method", "kfac", "--rho", "1.5"], "--rho: must be in (0, 1]"),
            (["--forget", f, "--retain", rt, "--method", "kfac", "--layers", "blk.7.gate"], "block 7 does not exist"),
            (["--forget", f, "--retain", rt, "--method", "kfac", "--layers", "blk.1.mlp"], "no linear layer 'mlp'"),
            (["--forget", f, "--retain", rt, "--method", "forget-it"], "unknown method 'forget-it'"),
            (["--forget", f, "--retain", rt, "--method", "ga", "--lr", "0"], "--lr: must be > 0, got 0.0"),
        ]
        for (args, message) in cases {
            let out = dir.appendingPathComponent("out").path
            let r = run(["unlearn", llama] + args + ["--out", out, "--db", db, "--no-audit"])
            assertNoCrash(r, message)
            XCTAssertEqual(r.code, message.hasPrefix("--") || message.hasPrefix("unknown method") ? 64 : 2, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains(message), "\(args): \(r.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(args): nothing written")
        }
        // Never over the input.
        let same = run(["unlearn", llama, "--forget", f, "--retain", rt, "--method", "ga", "--out", llama, "--db", db])
        XCTAssertEqual(same.code, 2)
        XCTAssertTrue(same.err.contains("is the input checkpoint"), same.err)
        // Overlap is a warning with the count, not an error.
        let w = run(["unlearn", llama, "--forget", f, "--retain", f, "--method", "graddiff", "--steps", "1", "--no-audit",
                     "--out", dir.appendingPathComponent("overlap").path, "--db", db])
        XCTAssertEqual(w.code, 0, w.err)
        XCTAssertTrue(w.err.contains("warning: 40 texts of the forget set are also in the retain set"), w.err)
    }
}

// `auditor finetune` end to end on the tiny Llama: LoRA and full runs write a loadable checkpoint (and a PEFT
// adapter), lower the loss on their data, show up in `history`; bad input is one line, exit 2, nothing written.
import Foundation
import Store
import XCTest

final class FinetuneCLITests: XCTestCase {
    let llama = fixture("tiny/llama")

    func data(_ dir: URL, _ texts: [String], name: String = "train.jsonl") throws -> String {
        try writeLines(texts.map { "{\"text\": \"\($0)\"}" }, to: dir.appendingPathComponent(name))
    }

    let texts = ["The quick brown fox jumps over the lazy dog near the river bank.",
                 "A stitch in time saves nine, as the old saying goes in every village.",
                 "Water boils at one hundred degrees at sea level under normal pressure."]

    func testLoRAAndFullRunsWriteWhatTheySay() throws {
        let dir = scratchDirectory()
        let train = try data(dir, texts), db = dir.appendingPathComponent("runs.sqlite").path
        let before = try sha256sum(llama + "/model.safetensors")
        for method in ["lora", "full"] {
            let out = dir.appendingPathComponent(method).path
            let r = run(["finetune", llama, "--data", train, "--eval", train, "--method", method, "--steps", "12", "--batch-size", "3",
                         "--lr", method == "lora" ? "0.01" : "0.002", "--targets", "all-linear", "--out", out, "--db", db])
            assertNoCrash(r, method)
            XCTAssertEqual(r.code, 0, "\(method): \(r.err)")
            XCTAssertTrue(r.err.contains("step 12/12: loss"), r.err)
            for f in ["config.json", "model.safetensors", "tokenizer.json", "training.json"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), "\(method): \(f)")
            }
            XCTAssertEqual(FileManager.default.fileExists(atPath: out + "/adapter/adapter_config.json"), method == "lora")
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/training.json"))) as! [String: Any]
            let b = summary["eval_loss_before"] as! Double, a = summary["eval_loss_after"] as! Double
            XCTAssertLessThan(a, b - 0.1, "\(method): the held-out (here: the same) texts got more likely")
            // The written model scores the texts as the trainer last saw them.
            let s = run(["score", out, "--input", train])
            XCTAssertEqual(s.code, 0, s.err)
            let nll = jsonObjects(s.out).map { $0["nll"] as! Double }
            // Measured here: 4.1e-3 (lora), 2.1e-3 (full); bar 0.05 (12x).
            XCTAssertEqual(nll.reduce(0, +) / 3, a, accuracy: 0.05)
        }
        XCTAssertEqual(try sha256sum(llama + "/model.safetensors"), before, "the input checkpoint is untouched")
        let h = run(["history", "--db", db])
        XCTAssertEqual(h.code, 0)
        XCTAssertTrue(h.out.contains("finetune (lora): train.jsonl") && h.out.contains("finetune (full): train.jsonl"), h.out)
        let runs = try Store(path: db).runs()
        XCTAssertEqual(runs.map(\.status), [.passed, .passed])
        let stored = try Store(path: db).load(runID: runs[0].id)
        XCTAssertEqual(Set(stored.metrics.map(\.key)), ["train.loss.first", "train.loss.final", "train.tokens_per_second",
                                                         "eval.loss.before", "eval.loss.after"])
        XCTAssertEqual(stored.checkpoints.map(\.role), ["base", "output"])
    }

    func testBadInputIsOneLineAndWritesNothing() throws {
        let dir = scratchDirectory()
        let out = dir.appendingPathComponent("out").path
        let empty = try writeLines([], to: dir.appendingPathComponent("empty.jsonl"))
        assertBadInput(["finetune", llama, "--data", empty, "--out", out], file: empty, problem: "no texts")
        let tiny = try data(dir, ["a"], name: "tiny.jsonl")
        assertBadInput(["finetune", llama, "--data", tiny, "--out", out], file: tiny, problem: "no example has a token to learn")
        let masked = try writeLines(["{\"prompt\": \"The quick brown fox\", \"text\": \"\"}"], to: dir.appendingPathComponent("masked.jsonl"))
        assertBadInput(["finetune", llama, "--data", masked, "--prompt-field", "prompt", "--out", out], file: masked,
                       problem: "every token is masked")
        let train = try data(dir, texts)
        assertBadInput(["finetune", llama, "--data", train, "--out", llama], file: llama, problem: "is the input checkpoint")
        assertUsageError(["finetune", llama, "--data", train, "--method", "lora", "--targets", "q,c_attn", "--out", out],
                       option: "--targets", problem: "unknown target module 'c_attn'")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written")
        let r = run(["finetune", llama, "--data", train, "--method", "dora", "--out", out])
        XCTAssertEqual(r.code, 64, r.err)
    }
}

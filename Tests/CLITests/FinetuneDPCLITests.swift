// `auditor finetune --dp` end to end on the tiny Llama: the epsilon spent is printed as training goes, the noise is
// solved for a target epsilon and recorded (training.json, the checkpoint's metadata, the stored run); bad DP input
// is one line, exit 2, nothing written.
import Checkpoint
import Foundation
import Store
import XCTest

final class FinetuneDPCLITests: XCTestCase {
    let llama = fixture("tiny/llama")

    func trainingData(_ dir: URL, count: Int) throws -> String {
        let words = ["river", "stone", "lamp", "garden", "winter", "copper", "violin", "harbour", "meadow", "lantern"]
        let lines = (0..<count).map { i in "{\"text\": \"The \(words[i % 10]) and the \(words[(i * 3 + 1) % 10]) met at dawn number \(i).\"}" }
        return try writeLines(lines, to: dir.appendingPathComponent("train.jsonl"))
    }

    func testEpsilonTargetIsSolvedPrintedAndRecorded() throws {
        let dir = scratchDirectory()
        let train = try trainingData(dir, count: 40), db = dir.appendingPathComponent("runs.sqlite").path
        for method in ["full", "lora"] {
            let out = dir.appendingPathComponent(method).path
            let r = run(["finetune", llama, "--data", train, "--method", method, "--steps", "10", "--batch-size", "4", "--lr", "0.01",
                         "--dp", "--epsilon", "8", "--clip", "0.5", "--out", out, "--db", db])
            assertNoCrash(r, method)
            XCTAssertEqual(r.code, 0, "\(method): \(r.err)")
            // q = 4 / 40; delta 1 / (10 N) = 0.0025; the noise that spends epsilon 8 in 10 steps.
            XCTAssertTrue(r.err.contains("DP-SGD: epsilon 8 at delta 0.0025 (PLD accountant)"), r.err)
            XCTAssertTrue(r.err.contains("sampling rate q 0.1 (expected batch 4.0 of 40 examples), 10 steps"), r.err)
            XCTAssertTrue(r.err.contains("step 10/10: loss") && r.err.contains("epsilon spent 8.0"), r.err)
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/training.json"))) as! [String: Any]
            let dp = summary["dp"] as! [String: Any]
            XCTAssertEqual(dp["epsilon"] as! Double, 8, accuracy: 0.01)
            XCTAssertEqual(dp["sample_rate"] as! Double, 0.1)
            XCTAssertEqual(dp["poisson_sampling"] as! Bool, true)
            let noise = dp["noise_multiplier"] as! Double
            // The accountant's own command agrees with what the run recorded.
            let e = run(["dp", "epsilon", "--q", "0.1", "--noise", String(noise), "--steps", "10", "--delta", "0.0025", "--accountant", "pld"])
            XCTAssertEqual(e.code, 0, e.err)
            XCTAssertTrue(e.out.hasPrefix("pld: epsilon 7.99") || e.out.hasPrefix("pld: epsilon 8"), e.out)
            let meta = try SafetensorsFile(path: out + "/model.safetensors").metadata
            XCTAssertEqual(meta["auditor.dp.accountant"], "pld")
            XCTAssertEqual(Double(meta["auditor.dp.noise_multiplier"]!)!, noise)
        }
        let runs = try Store(path: db).runs()
        let stored = try Store(path: db).load(runID: runs[0].id)
        let eps = stored.metrics.first { $0.key == "train.dp.epsilon" }
        XCTAssertEqual(eps?.value ?? 0, 8, accuracy: 0.01)
        XCTAssertTrue(runs[0].verdict?.contains("DP-SGD: epsilon 8") ?? false, runs[0].verdict ?? "")
    }

    func testBadDPInputIsOneLineAndWritesNothing() throws {
        let dir = scratchDirectory()
        let out = dir.appendingPathComponent("out").path
        let train = try trainingData(dir, count: 6)
        let base = ["finetune", llama, "--data", train, "--steps", "2", "--out", out]
        assertUsageError(base + ["--dp", "--epsilon", "8", "--delta", "1"], option: "--delta", problem: "must be in (0, 1); got 1.0")
        assertUsageError(base + ["--dp", "--epsilon", "0"], option: "--epsilon", problem: "must be a positive number; got 0.0")
        assertBadInput(base + ["--dp", "--epsilon", "8", "--batch-size", "8"], file: train,
                       problem: "6 examples is smaller than the expected batch of 8")
        assertUsageError(base + ["--dp", "--batch-size", "2"], option: "--dp", problem: "needs --epsilon")
        assertUsageError(base + ["--dp", "--noise", "0.3", "--epsilon", "1", "--batch-size", "2"], option: "--noise",
                       problem: "more than --epsilon 1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written")
        // A delta at or above 1/N is allowed, with a warning.
        let r = run(base + ["--dp", "--noise", "1", "--delta", "0.5", "--batch-size", "2", "--db", dir.appendingPathComponent("r.sqlite").path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("warning: delta 0.5 is not below 1/N = 0.167"), r.err)
        // DP options without --dp are a usage error.
        XCTAssertEqual(run(base + ["--epsilon", "8"]).code, 64)
    }
}

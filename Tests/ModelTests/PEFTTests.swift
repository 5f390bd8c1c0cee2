// LoRA adapters in PEFT's format: PEFT's own adapter gives PEFT's log-probs here, ours gives PEFT the log-probs we
// compute (scripts/fixtures/peft_fixtures.py), round trips through a GGUF-layout model, and bad adapters are refused.
import Foundation
import LM
import Stats
import XCTest
@testable import Model

final class PEFTTests: XCTestCase {
    struct LogprobFixture: Decodable { let ids: [[Int]]; let logprobs: [[Double]] }

    func logprobs(_ lm: LanguageModel, _ ids: [[Int]]) -> [[Double]] { lm.model.score(ids).map { $0.logprobs.map(Double.init) } }

    /// Our deterministic test adapter: rank 4, alpha 8, every linear layer, B drawn non-zero.
    func ourAdapter(_ c: ModelConfig) throws -> LoRA {
        let lora = LoRA(modelConfig: c, config: LoRAConfig(rank: 4, alpha: 8, targets: try LoRAConfig.targets(["all-linear"], config: c)), seed: 11)
        var rng = SeededRNG(seed: 12)
        for r in lora.params.refs where r.name.hasSuffix("lora_B") {
            for i in 0..<r.count { lora.params.ptr(r)[i] = Float(rng.uniform() * 0.1 - 0.05) }
        }
        return lora
    }

    func testPEFTsAdapterGivesPEFTsLogprobs() throws {
        let lm = try LanguageModel.load(path: fixture("tiny/llama"))
        let fx = try JSONDecoder().decode(LogprobFixture.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("peft/theirs_logprobs.json"))))
        let lora = try LoRA.readPEFT(fixture("peft/theirs"), modelConfig: lm.config)
        XCTAssertEqual(lora.config.rank, 4); XCTAssertEqual(lora.config.targets.count, 7)
        lora.merge(into: lm.model)
        var worst = 0.0
        for (a, b) in zip(logprobs(lm, fx.ids).joined(), fx.logprobs.joined()) { worst = max(worst, abs(a - b)) }
        print("PEFT's adapter: worst log-prob difference \(worst)")
        // float32 against PEFT's float32 (log-softmax in float64): measured max 5.0e-6; allowed 5e-5.
        XCTAssertLessThan(worst, 5e-5)
    }

    func testOurAdapterGivesPEFTTheSameLogprobs() throws {
        let lm = try LanguageModel.load(path: fixture("tiny/llama"))
        let lora = try ourAdapter(lm.config)
        let committed = fixture("peft/ours")
        if ProcessInfo.processInfo.environment["AUDITOR_UPDATE_SNAPSHOTS"] == "1" {
            try lora.writePEFT(to: committed, baseModel: "Fixtures/tiny/llama")
        }
        // The committed adapter (which PEFT read) is what this code writes now.
        let back = try LoRA.readPEFT(committed, modelConfig: lm.config)
        XCTAssertEqual(back.params.storage.array, lora.params.storage.array)
        let fx = try JSONDecoder().decode(LogprobFixture.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("peft/ours_logprobs.json"))))
        lora.merge(into: lm.model)
        var worst = 0.0
        for (a, b) in zip(logprobs(lm, fx.ids).joined(), fx.logprobs.joined()) { worst = max(worst, abs(a - b)) }
        print("our adapter in PEFT: worst log-prob difference \(worst)")
        XCTAssertLessThan(worst, 1e-4)   // measured max 1.1e-5
    }

    /// A GGUF Llama keeps Q and K rows interleaved: the adapter's B rows are re-ordered on the way out and back in,
    /// and the merged model scores the same after the round trip.
    func testRoundTripThroughAGGUFLayoutModel() throws {
        let lm = try LanguageModel.load(path: fixture("tiny/llama-gguf/model.gguf"))
        let lora = try ourAdapter(lm.config)
        let dir = tempDir().appendingPathComponent("adapter").path
        try lora.writePEFT(to: dir, baseModel: "x")
        let back = try LoRA.readPEFT(dir, modelConfig: lm.config)
        XCTAssertEqual(back.params.storage.array, lora.params.storage.array)
        XCTAssertEqual(back.config, lora.config)
    }

    func testBadAdaptersAreRefusedWithTheFileAndTheProblem() throws {
        let lm = try LanguageModel.load(path: fixture("tiny/llama"))
        let dir = tempDir().appendingPathComponent("bad").path
        try ourAdapter(lm.config).writePEFT(to: dir, baseModel: "x")
        let other = try LanguageModel.load(path: fixture("tiny/llama-tied-sharded"))   // 4 key/value heads, not 2
        XCTAssertThrowsError(try LoRA.readPEFT(dir, modelConfig: other.config)) { e in
            XCTAssertTrue("\(e)".contains("adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight' has shape"), "\(e)")
        }
        let cfg = dir + "/adapter_config.json"
        var j = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cfg))) as! [String: Any]
        j["target_modules"] = ["q_proj", "c_attn"]
        try JSONSerialization.data(withJSONObject: j).write(to: URL(fileURLWithPath: cfg))
        XCTAssertThrowsError(try LoRA.readPEFT(dir, modelConfig: lm.config)) { e in
            XCTAssertTrue("\(e)".hasPrefix(cfg + ": unknown target module 'c_attn'"), "\(e)")
        }
        // A key twice: refused with its line and key, not the last value taken.
        try Data("{\n\"peft_type\": \"LORA\",\n\"r\": 4,\n\"r\": 8}".utf8).write(to: URL(fileURLWithPath: cfg))
        XCTAssertThrowsError(try LoRA.readPEFT(dir, modelConfig: lm.config)) { e in
            XCTAssertEqual("\(e)", cfg + ": line 4: duplicate key \"r\" (a JSON object may hold each key once)")
        }
        // A FIFO: refused at once instead of blocking for ever.
        try FileManager.default.removeItem(atPath: cfg)
        XCTAssertEqual(mkfifo(cfg, 0o644), 0)
        XCTAssertThrowsError(try LoRA.readPEFT(dir, modelConfig: lm.config)) { e in
            XCTAssertTrue("\(e)".hasPrefix(cfg + ": not a regular file"), "\(e)")
        }
        let gpt2 = try LanguageModel.load(path: fixture("tiny/gpt2"))
        XCTAssertThrowsError(try ourAdapter(gpt2.config).writePEFT(to: dir + "2", baseModel: "x"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "2"), "nothing half-written")
    }
}

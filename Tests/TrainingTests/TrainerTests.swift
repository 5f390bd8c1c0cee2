// The training loop: a resumed run continues bit for bit, a non-finite loss stops before the update (the model keeps
// the last good step), examples split and masked as documented, data order seeded.
import Foundation
import XCTest
@testable import Model
@testable import Training

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private func tinyLlama() throws -> LanguageModel { try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/llama").path) }

final class TrainerTests: XCTestCase {
    let texts: [(prompt: String?, text: String)] = [
        (nil, "The quick brown fox jumps over the lazy dog near the river bank."),
        (nil, "A stitch in time saves nine, as the old saying goes in every village."),
        ("Q: where does water boil? A:", " at one hundred degrees at sea level."),
        (nil, "She planted tomatoes, beans and squash along the southern fence."),
    ]

    func options() -> TrainingOptions {
        var o = TrainingOptions()
        o.steps = 6; o.batchSize = 3; o.learningRate = 3e-3; o.schedule = .cosine; o.warmup = 2; o.seed = 9
        return o
    }

    func testResumedRunContinuesBitForBit() throws {
        for lora in [false, true] {
            let a = try tinyLlama(), b = try tinyLlama()
            let ex = try TrainingData.examples(texts, lm: a, context: 64, source: "t").examples
            func adapters(_ lm: LanguageModel) -> LoRA? { lora ? LoRA(modelConfig: lm.config, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0.1), seed: 5) : nil }
            let whole = Trainer(model: a.model, lora: adapters(a), options: options())
            _ = try whole.run(train: ex)
            // Three steps, saved; a new trainer restored from the file runs the other three.
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString).safetensors").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            var first = options(); first.steps = 6
            let part = Trainer(model: b.model, lora: adapters(b), options: first)
            var stopped = 0
            do {
                _ = try part.run(train: ex, checkpoint: { step in
                    if step == 3 { try part.saveState(to: path, step: step); stopped = step; throw CancellationError() }
                })
            } catch is CancellationError {}
            XCTAssertEqual(stopped, 3)
            let c = try tinyLlama()
            let resumed = Trainer(model: c.model, lora: adapters(c), options: options())
            let from = try resumed.restoreState(from: path)
            XCTAssertEqual(from, 3)
            let summary = try resumed.run(train: ex, from: from)
            XCTAssertEqual(summary.steps, 3)
            XCTAssertEqual(resumed.pass.trainable.storage.array, whole.pass.trainable.storage.array, "lora: \(lora)")
            if !lora { XCTAssertEqual(c.model.params.storage.array, a.model.params.storage.array) }
            // A state from another seed is refused: its data order would differ.
            var other = options(); other.seed = 1
            XCTAssertThrowsError(try Trainer(model: c.model, lora: adapters(c), options: other).restoreState(from: path)) { e in
                XCTAssertTrue("\(e)".contains("saved with seed 9, not 1"), "\(e)")
            }
        }
    }

    func testNonFiniteLossStopsBeforeTheUpdate() throws {
        let lm = try tinyLlama()
        let ex = try TrainingData.examples(texts, lm: lm, context: 64, source: "t").examples
        var o = options()
        // A step so large that the first update leaves weights near 1e30: the next forward overflows.
        o.optimizer = .sgd; o.learningRate = 1e30; o.clip = nil; o.steps = 20; o.schedule = .constant; o.warmup = 0
        let t = Trainer(model: lm.model, options: o)
        var last: [Float] = [], lastStep = 0
        XCTAssertThrowsError(try t.run(train: ex, onStep: { s in last = lm.model.params.storage.array; lastStep = s.step })) { e in
            XCTAssertTrue("\(e)".hasPrefix("step \(lastStep + 1): the loss is"), "\(e)")
            XCTAssertTrue("\(e)".contains("keeps the parameters of step \(lastStep)"), "\(e)")
        }
        XCTAssertEqual(lm.model.params.storage.array, last, "the failing step changed nothing")
        XCTAssertTrue(last.allSatisfy(\.isFinite))
    }

    func testExamplesAreSplitAndMasked() throws {
        let lm = try tinyLlama()
        let long = (0..<40).map { "word\($0)" }.joined(separator: " ")
        let (ex, split) = try TrainingData.examples([(nil, long), ("Q: a prompt", " the answer")], lm: lm, context: 16, source: "t")
        XCTAssertEqual(split, 1)
        let all = lm.tokenizer.encode(long)
        // Windows of at most 16 tokens overlapping by one: every prediction made exactly once.
        let windows = ex.dropLast()
        XCTAssertTrue(windows.allSatisfy { $0.tokens.count <= 16 })
        XCTAssertEqual(windows.reduce(0) { $0 + $1.weights.count }, all.count - 1)
        XCTAssertEqual(Array(windows.map(\.tokens).joined()).count, all.count + windows.count - 1)
        let qa = ex.last!
        let promptTokens = lm.tokenizer.encode("Q: a prompt").count
        XCTAssertEqual(qa.weights.prefix(promptTokens - 1), ArraySlice(repeating: 0, count: promptTokens - 1))
        XCTAssertTrue(qa.weights.suffix(from: promptTokens - 1).allSatisfy { $0 == 1 })
        XCTAssertThrowsError(try TrainingData.examples([("only a prompt", "")], lm: lm, context: 16, source: "f.jsonl")) { e in
            XCTAssertTrue("\(e)".hasPrefix("f.jsonl: no example has a token to learn"), "\(e)")
        }
        XCTAssertEqual(TrainingData.order(10, seed: 3, epoch: 1), TrainingData.order(10, seed: 3, epoch: 1))
        XCTAssertNotEqual(TrainingData.order(10, seed: 3, epoch: 1), TrainingData.order(10, seed: 3, epoch: 2))
        XCTAssertEqual(TrainingData.order(10, seed: 3, epoch: 0).sorted(), Array(0..<10))
    }
}

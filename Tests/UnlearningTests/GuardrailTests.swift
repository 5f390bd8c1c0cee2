// The unlearning loop's guardrails: plain GA with an aggressive learning rate wrecks the model and the loop rolls
// back to the best evaluated step, saying why; a gentle GradDiff run stops at the forget target; degenerate
// generations are recognised.
import Foundation
import XCTest
@testable import Model
import Stats
import Training
@testable import Unlearning

final class GuardrailTests: XCTestCase {
    func examples(_ seqs: [[Int]]) -> [Example] { seqs.map { Example(tokens: $0, weights: [Float](repeating: 1, count: $0.count - 1)) } }

    func testAggressiveGradientAscentIsRolledBack() throws {
        let lm = try tinyLlama(), V = lm.config.vocabSize
        let forget = examples(randomSequences(6, vocab: V, seed: 1)), retain = examples(randomSequences(6, vocab: V, seed: 2))
        let holdout = examples(randomSequences(4, vocab: V, seed: 3))
        var o = UnlearningOptions()
        o.steps = 40; o.batchSize = 3; o.learningRate = 2e-3; o.evalEvery = 1; o.clip = nil
        o.forgetTarget = 1000   // never met: only the guardrails can stop it
        let u = try Unlearner(model: lm.model, config: ObjectiveConfig(method: .ga), options: o)
        var snapshots: [Int: [Float]] = [:]
        let prompts = [[1, 2, 3], [7, 8, 9, 10]]
        let summary = try u.run(forget: forget, retain: retain, holdout: holdout,
                                generate: { lm.model.generate(prompts: prompts, maxNewTokens: 12) },
                                onEval: { e in snapshots[e.step] = lm.model.params.storage.array })
        print("guardrail: \(summary.reason); evaluations \(summary.evaluations.map { ($0.step, $0.forget, $0.retain) })")
        XCTAssertTrue(summary.reason.rolledBack, "\(summary.reason)")
        XCTAssertTrue(summary.reason.description.contains("rolled back to step \(summary.finalStep)"), "\(summary.reason)")
        XCTAssertLessThan(summary.steps, o.steps, "stopped early")
        // GA pushed retain or held-out perplexity past its bound...
        let last = summary.evaluations.last!, first = summary.evaluations.first!
        XCTAssertTrue(exp(last.retain) > 1.25 * exp(first.retain) || exp(last.holdout!) > 1.25 * exp(first.holdout!))
        XCTAssertGreaterThan(last.forget, first.forget + 3, "the forget loss rose fast: an aggressive rate")
        // ...and the model has exactly the parameters of the step it rolled back to, whose retain loss was in bounds.
        XCTAssertEqual(lm.model.params.storage.array, snapshots[summary.finalStep]!)
        let kept = summary.evaluations.first { $0.step == summary.finalStep }!
        XCTAssertLessThanOrEqual(exp(kept.retain), 1.25 * exp(first.retain))
        XCTAssertLessThanOrEqual(exp(kept.holdout!), 1.25 * exp(first.holdout!))
    }

    func testForgetTargetStopsWithoutRollBack() throws {
        let lm = try tinyLlama(), V = lm.config.vocabSize
        let forget = examples(randomSequences(4, vocab: V, seed: 4)), retain = examples(randomSequences(4, vocab: V, seed: 5))
        let pass = TrainingPass(model: lm.model)
        var o = UnlearningOptions()
        o.steps = 60; o.batchSize = 4; o.learningRate = 3e-3; o.evalEvery = 1
        let u = try Unlearner(model: lm.model, config: ObjectiveConfig(method: .graddiff), options: o)
        let base = u.evaluate(forget)
        _ = pass
        o.forgetTarget = base + 0.05
        let v = try Unlearner(model: lm.model, config: ObjectiveConfig(method: .graddiff), options: o)
        let summary = try v.run(forget: forget, retain: retain)
        print("forget target: \(summary.reason)")
        guard case .forgetTargetMet(let step, let loss, _) = summary.reason else { return XCTFail("\(summary.reason)") }
        XCTAssertEqual(step, summary.finalStep)
        XCTAssertGreaterThanOrEqual(loss, base + 0.05)
        XCTAssertEqual(v.evaluate(forget), loss, accuracy: 1e-9)
    }

    func testDegenerateGenerationsRollBack() throws {
        let lm = try tinyLlama(), V = lm.config.vocabSize
        let forget = examples(randomSequences(4, vocab: V, seed: 6)), retain = examples(randomSequences(4, vocab: V, seed: 7))
        var o = UnlearningOptions()
        o.steps = 10; o.batchSize = 2; o.learningRate = 1e-4; o.evalEvery = 2; o.forgetTarget = 1000
        let u = try Unlearner(model: lm.model, config: ObjectiveConfig(method: .graddiff), options: o)
        // Sound outputs until the third evaluation (step 4), then one token over and over.
        var calls = 0
        var snapshots: [Int: [Float]] = [:]
        let summary = try u.run(forget: forget, retain: retain, generate: {
            calls += 1
            return calls >= 3 ? [[9, 9, 9, 9, 9, 9, 9, 9, 9, 9]] : [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]
        }, onEval: { e in snapshots[e.step] = lm.model.params.storage.array })
        XCTAssertEqual(summary.reason, .degenerate(step: 4, why: "1 of 1 generations repeat a short loop", rolledBackTo: 2))
        XCTAssertEqual(summary.reason.description, "step 4: generations degenerate (1 of 1 generations repeat a short loop); rolled back to step 2")
        XCTAssertEqual(lm.model.params.storage.array, snapshots[2]!)
    }

    func testDegeneration() {
        XCTAssertNil(Degeneration.check([[1, 2, 3, 4, 5, 6, 7, 8, 9], [4, 5]]))
        XCTAssertEqual(Degeneration.check([[], [], [3]]), "2 of 3 generations empty")
        XCTAssertEqual(Degeneration.check([[5, 5, 5, 5, 5, 5, 5, 5, 5, 5], [1, 2, 1, 2, 1, 2, 1, 2, 1, 2]]),
                       "2 of 2 generations repeat a short loop")
    }

    func testEmptyForgetSetAndBadOptions() throws {
        let lm = try tinyLlama()
        let u = try Unlearner(model: lm.model, config: ObjectiveConfig(method: .ga), options: UnlearningOptions())
        XCTAssertThrowsError(try u.run(forget: [], retain: [])) { XCTAssertTrue("\($0)".contains("forget set is empty")) }
        var o = UnlearningOptions(); o.learningRate = -1
        XCTAssertThrowsError(try Unlearner(model: lm.model, config: ObjectiveConfig(method: .ga), options: o)) {
            XCTAssertTrue("\($0)".contains("learning rate"))
        }
    }
}

// The relearning check and VerbMem of `auditor unlearn`, on the tiny Llama: the relearning steps are the training
// engine's Trainer on one half of the forget set only (the same weights as a Trainer run by hand on that half, and
// unchanged when the other half's texts change), and the figures are computed on the other half (the same as the
// attacks' discoverable extraction and the engine's mean loss run by hand on it). ROUGE-L against hand values.
import Attacks
import Experiments
import Foundation
import Model
import Stats
import Training
import XCTest

final class UnlearnRelearnTests: XCTestCase {
    func tiny() throws -> LanguageModel { try LanguageModel.load(path: fixture("tiny/llama")) }

    /// Records the tiny model partly recites: 8 random tokens, then its own 8 greedy tokens, then 4 random ones.
    func records(_ lm: LanguageModel, count: Int, seed: UInt64) -> [Example] {
        var rng = SeededRNG(seed: seed)
        let V = UInt64(lm.config.vocabSize)
        let prefixes = (0..<count).map { _ in (0..<8).map { _ in Int(rng.next() % V) } }
        let greedy = lm.model.generate(prompts: prefixes, maxNewTokens: 8)
        return zip(prefixes, greedy).map { p, g in
            let t = p + g + (0..<4).map { _ in Int(rng.next() % V) }
            return Example(tokens: t, weights: [Float](repeating: 1, count: t.count - 1))
        }
    }

    func testSplitIsSeededDisjointAndCovers() {
        for n in [2, 7, 40] {
            let (a, b) = Relearn.split(n, seed: 3)
            XCTAssertEqual(a.count, (n + 1) / 2); XCTAssertEqual(b.count, n / 2)
            XCTAssertEqual(Set(a).union(b), Set(0..<n)); XCTAssertTrue(Set(a).isDisjoint(with: b))
            XCTAssertEqual(Relearn.split(n, seed: 3).train, a, "seeded")
        }
    }

    func testRelearningTrainsOnOneHalfAndMeasuresTheOther() throws {
        var o = RelearnOptions()
        o.steps = 6; o.learningRate = 3e-3; o.batchSize = 2; o.prefix = 8; o.suffix = 8; o.seed = 5
        let lm = try tiny()
        let forget = records(lm, count: 8, seed: 9)
        let outcome = try Relearn.run(lm, forget: forget, options: o)
        XCTAssertEqual(outcome.trainIndices.count, 4); XCTAssertEqual(outcome.heldIndices.count, 4)
        print("relearn: before \(outcome.before), after \(outcome.after)")

        // By hand: a fresh model, the Trainer on the training half only, then extraction and loss on the held half.
        let byHand = try tiny()
        let held = outcome.heldIndices.map { forget[$0] }
        func direct(_ m: LanguageModel) throws -> RelearnPoint {
            let d = try Extraction.discoverable(m, samples: held.map(\.tokens), prefixLength: 8, suffixLength: 8, approximateThreshold: 0.1)
            return RelearnPoint(exact: d.filter(\.exact).count, approximate: d.filter(\.approximate).count, evaluated: d.count,
                                loss: TrainingPass(model: m.model).meanLoss(held, batchSize: 2))
        }
        XCTAssertEqual(try direct(byHand), outcome.before)
        XCTAssertEqual(outcome.before.exact, 4, "the held records' suffixes are the model's own greedy output")
        _ = try Trainer(model: byHand.model, options: Relearn.trainingOptions(o)).run(train: outcome.trainIndices.map { forget[$0] })
        XCTAssertEqual(byHand.model.params.storage.array, lm.model.params.storage.array, "the same Trainer on the same half")
        XCTAssertEqual(try direct(byHand), outcome.after)
        XCTAssertNotEqual(outcome.after.loss, outcome.before.loss)

        // The held half is never trained on: other texts there leave the relearned weights unchanged.
        let other = try tiny()
        var changed = forget
        var rng = SeededRNG(seed: 77)
        for i in outcome.heldIndices { changed[i].tokens = changed[i].tokens.map { _ in Int(rng.next() % UInt64(other.config.vocabSize)) } }
        _ = try Relearn.run(other, forget: changed, options: o)
        XCTAssertEqual(other.model.params.storage.array, lm.model.params.storage.array)
    }

    func testRelearnNeedsTwoRecords() throws {
        let lm = try tiny()
        XCTAssertThrowsError(try Relearn.run(lm, forget: records(lm, count: 1, seed: 1), options: RelearnOptions()))
    }

    /// ROUGE-L by hand: "the cat sat on the mat" against "the cat is on the mat": LCS 5 of 6 words each, F1 = recall
    /// = 5/6; "a b c d" against "b d e": LCS 2, precision 1/2, recall 2/3, F1 4/7.
    func testRougeLByHand() {
        let a = VerbMem.rougeL(candidate: "The cat sat on the mat.", reference: "the cat is on the mat")
        XCTAssertEqual(a.f1, 5.0 / 6.0, accuracy: 1e-15); XCTAssertEqual(a.recall, 5.0 / 6.0, accuracy: 1e-15)
        let b = VerbMem.rougeL(candidate: "a b c d", reference: "b d e")
        XCTAssertEqual(b.f1, 4.0 / 7.0, accuracy: 1e-15); XCTAssertEqual(b.recall, 2.0 / 3.0, accuracy: 1e-15)
        XCTAssertEqual(VerbMem.rougeL(candidate: "", reference: "x").f1, 0)
    }

    /// The pair's own figures are the catalog's, one list: thresholds accept each, and the store key parses back.
    func testPairFiguresAreTheCatalogs() throws {
        for k in PairFigures.own {
            XCTAssertNoThrow(try PairThreshold.parse("\(k) <= 1"), k)
        }
        XCTAssertTrue(PairFigures.own.contains("relearn.exact.rate.after"))
        XCTAssertTrue(PairFigures.own.contains("privleak.after"))
        XCTAssertThrowsError(try PairThreshold.parse("relearn.nonsense <= 1"))
    }
}

// Selective synaptic dampening against a direct computation: per-example gradients from separate passes, squared
// and averaged in Double, and the dampening rule applied parameter by parameter.
import Foundation
import XCTest
@testable import Model
import Stats
import Training
@testable import Unlearning

final class SSDTests: XCTestCase {
    func testDampeningMatchesDirectComputation() throws {
        let lm = try tinyLlama(), direct = try tinyLlama()
        let seqs = randomSequences(7, vocab: lm.config.vocabSize, seed: 11)
        let ex = seqs.map { Example(tokens: $0, weights: [Float](repeating: 1, count: $0.count - 1)) }
        let forget = Array(ex[0..<3]), retain = Array(ex[3...])
        let config = SSDConfig(alpha: 1.5, lambda: 0.8, batchSize: 1)
        let report = try SSD.apply(model: lm.model, forget: forget, retain: retain, config: config)

        // Direct: the gradient of each example alone, its square, the means; then the rule.
        func meanSquared(_ set: [Example]) -> [Double] {
            var acc = [Double](repeating: 0, count: direct.model.params.storage.count)
            for e in set {
                let pass = TrainingPass(model: direct.model)
                pass.forwardBackward(TrainingBatch(sequences: [e.tokens]))
                let g = pass.grads.storage.array
                for i in 0..<g.count { acc[i] += Double(g[i]) * Double(g[i]) }
            }
            return acc.map { $0 / Double(set.count) }
        }
        let If = meanSquared(forget), Id = meanSquared(forget + retain)
        let theta = direct.model.params.storage.array
        var expected = theta, changed = 0
        for i in 0..<theta.count where If[i] > config.alpha * Id[i] {
            expected[i] = Float(Double(theta[i]) * min(config.lambda * Id[i] / If[i], 1)); changed += 1
        }
        XCTAssertEqual(report.dampened, changed)
        XCTAssertGreaterThan(changed, 0)
        XCTAssertLessThan(changed, theta.count / 2)
        let got = lm.model.params.storage.array
        var worst: Float = 0
        for i in 0..<got.count { worst = max(worst, abs(got[i] - expected[i])) }
        XCTAssertLessThan(worst, 1e-7)
        print("ssd: \(changed) of \(lm.model.params.count) parameters dampened; worst difference \(worst)")
    }

    func testBadParameters() {
        XCTAssertThrowsError(try SSDConfig(alpha: 0).validate()) { XCTAssertTrue("\($0)".contains("alpha")) }
        XCTAssertThrowsError(try SSDConfig(lambda: -1).validate()) { XCTAssertTrue("\($0)".contains("lambda")) }
    }
}

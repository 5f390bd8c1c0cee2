// LoKU's Fisher-weighted LoRA initialisation (FILA): the factors against numpy's SVD of the same weighted matrix
// (scripts/fila_reference.py), the importance against central differences of the batch losses, and the model's
// function unchanged by the initialisation (residual base + adapters = the original weights).
import Foundation
import XCTest
@testable import Model
import Stats
import Tensor
import Training
@testable import Unlearning

final class FILATests: XCTestCase {
    func examples(_ seqs: [[Int]]) -> [Example] { seqs.map { Example(tokens: $0, weights: [Float](repeating: 1, count: $0.count - 1)) } }

    /// Both Gram branches (OUT <= IN and OUT > IN) against numpy. Measured agreement: 2.6e-15 and 1.6e-15 on B A
    /// relative to its largest entry; tolerance 3e-14 (the row weights, sums of the same terms, to 1e-13 relative).
    func testFactorsAgainstNumpy() throws {
        let url = fixtureRoot.appendingPathComponent("Fixtures/unlearning/fila.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        for c in json["cases"] as! [[String: Any]] {
            let OUT = c["outputs"] as! Int, IN = c["inputs"] as! Int, k = c["rank"] as! Int, s = c["scaling"] as! Double
            let W = c["W"] as! [Double], rows = c["rows"] as! [Double], BA = c["BA"] as! [Double], residual = c["residual"] as! [Double]
            let r = FILA.rowWeights(forget: c["forget"] as! [Double], retain: c["retain"] as! [Double], outputs: OUT, inputs: IN)
            for i in 0..<OUT { XCTAssertEqual(r[i], rows[i], accuracy: 1e-13 * rows[i]) }
            let (A, B) = FILA.factors(W: W, rows: r, outputs: OUT, inputs: IN, rank: k, scaling: s)
            let scale = BA.map(abs).max()!
            var worst = 0.0
            for i in 0..<OUT {
                for j in 0..<IN {
                    var p = 0.0
                    for q in 0..<k { p += B[i * k + q] * A[q * IN + j] }
                    worst = max(worst, abs(p - BA[i * IN + j]) / scale)
                    XCTAssertEqual(W[i * IN + j] - s * p, residual[i * IN + j], accuracy: 3e-14 * max(1, s * scale))
                }
            }
            print("FILA \(OUT)x\(IN) rank \(k): largest |BA - numpy| / max|BA| = \(worst)")
            XCTAssertLessThan(worst, 3e-14)
        }
    }

    /// The importance of a few weights against central differences of each batch's mean loss (Double sums of Float
    /// forwards): I = sum_b n_b g_b^2 / sum_b n_b. Measured agreement 1.2e-4 to 3.2e-4 relative (Float forward, step
    /// 1e-2); tolerance 3e-3.
    func testImportanceAgainstFiniteDifferences() throws {
        let lm = try tinyLlama(), V = lm.config.vocabSize
        let ex = examples(randomSequences(5, vocab: V, seed: 21))
        let name = "blk.1.q.weight"
        let imp = FILA.importance(model: lm.model, examples: ex, names: [name], batchSize: 2)[name]!
        let w = lm.model.params.ptr(name)
        let pass = UnlearningObjective.evaluationPass(lm.model)
        // The entries of largest importance (where the difference quotient is far above rounding).
        let picks = imp.indices.sorted { imp[$0] > imp[$1] }.prefix(3)
        for idx in picks {
            var num = 0.0, tokens = 0.0
            for start in stride(from: 0, to: ex.count, by: 2) {
                let b = TrainingData.batch(ex, Array(start..<min(ex.count, start + 2))[...])
                let h: Float = 1e-2, w0 = w[idx]
                w[idx] = w0 + h; let up = pass.loss(b)
                w[idx] = w0 - h; let down = pass.loss(b)
                w[idx] = w0
                let g = (up.loss - down.loss) / Double(2 * h)
                num += up.weight * g * g; tokens += up.weight
            }
            let fd = num / tokens
            print("FILA importance[\(idx)]: \(imp[idx]) against finite differences \(fd)")
            XCTAssertEqual(imp[idx], fd, accuracy: 3e-3 * fd)
        }
    }

    /// After the initialisation the model with its adapters computes what the original did (measured: losses equal
    /// to 5.8e-9 relative, Float rounding of the residual; tolerance 1e-7), and the adapters are not zero: they hold the weighted
    /// rank-k part of each weight.
    func testInitialisationKeepsTheFunction() throws {
        let lm = try tinyLlama(), V = lm.config.vocabSize
        let forget = examples(randomSequences(4, vocab: V, seed: 31)), retain = examples(randomSequences(4, vocab: V, seed: 32))
        let probe = TrainingData.batch(forget + retain, Array(0..<8)[...])
        let before = UnlearningObjective.evaluationPass(lm.model).loss(probe).loss
        let original = lm.model.params.values("blk.0.v.weight")
        let lora = LoRA(modelConfig: lm.config, config: LoRAConfig(rank: 2, alpha: 4, targets: [.q, .v]), seed: 0)
        let report = try FILA.initialise(model: lm.model, lora: lora, forget: forget, retain: retain, batchSize: 2)
        let after = TrainingPass(model: lm.model, lora: lora).loss(probe).loss
        print("FILA: loss \(before) -> \(after) (adapters included); moved \(report.moved.sorted { $0.key < $1.key }.prefix(3))")
        XCTAssertEqual(after, before, accuracy: 1e-7 * abs(before))
        XCTAssertNotEqual(lm.model.params.values("blk.0.v.weight"), original, "the base weight is now the residual")
        XCTAssertGreaterThan(report.moved["blk.0.v"]!, 0)
        // Merging the adapters back restores the weights (to Float rounding).
        lora.merge(into: lm.model)
        let merged = lm.model.params.values("blk.0.v.weight")
        for i in original.indices { XCTAssertEqual(merged[i], original[i], accuracy: 1e-5 * max(1, abs(original[i]))) }
        // Bad input: no retain set.
        XCTAssertThrowsError(try FILA.initialise(model: lm.model, lora: lora, forget: forget, retain: [], batchSize: 2))
    }
}

// Full fine-tuning against transformers + torch.optim.AdamW (scripts/fixtures/training_fixtures.py): from the same
// weights and the same 20 batches, the loss and the gradient norm at every step.
import Foundation
import XCTest
@testable import Model
@testable import Training

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private struct TrainingFixture: Decodable {
    let model: String, lr: Double, weight_decay: Double
    let batches: [[[Int]]]
    let losses: [Double], grad_norms: [Double]
}

final class ParityTests: XCTestCase {
    func testFullFineTuningFollowsPyTorch() throws {
        for name in ["llama", "gpt2", "neox"] {
            let fx = try JSONDecoder().decode(TrainingFixture.self, from: Data(contentsOf: root.appendingPathComponent("Fixtures/training/full_\(name).json")))
            let lm = try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/\(name)").path)
            var options = TrainingOptions()
            options.learningRate = fx.lr; options.weightDecay = fx.weight_decay; options.clip = nil; options.schedule = .constant
            let trainer = Trainer(model: lm.model, options: options)
            var worstLoss = 0.0, worstNorm = 0.0
            for (step, ids) in fx.batches.enumerated() {
                trainer.pass.zeroGradients()
                let loss = trainer.pass.forwardBackward(TrainingBatch(sequences: ids)).loss
                let norm = Clipping.norm(trainer.pass.grads.storage.ptr, trainer.groups)
                trainer.optimizer.step(lm.model.params.storage.ptr, trainer.pass.grads.storage.ptr, lr: fx.lr)
                let dl = abs(loss - fx.losses[step]) / fx.losses[step], dn = abs(norm - fx.grad_norms[step]) / fx.grad_norms[step]
                worstLoss = max(worstLoss, dl); worstNorm = max(worstNorm, dn)
                // The bar is 1e-3 relative at every step. Measured worst over the three models: loss 1.5e-6,
                // gradient norm 1.4e-5 (GPT-2); allowed about 10x that.
                XCTAssertLessThan(dl, 2e-5, "\(name) step \(step + 1): loss \(loss) vs PyTorch \(fx.losses[step])")
                XCTAssertLessThan(dn, 2e-4, "\(name) step \(step + 1): gradient norm \(norm) vs PyTorch \(fx.grad_norms[step])")
            }
            print("training parity \(name): worst relative loss difference \(worstLoss), gradient norm \(worstNorm)")
        }
    }
}

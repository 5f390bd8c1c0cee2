// DP-SGD's clipped pass against explicit per-example backward passes (a batch of one each, the ordinary backward):
// every example's gradient norm, and the sum of individually clipped gradients, on every tiny architecture, in full
// fine-tuning and LoRA. The kernels' ghost and materialised forms against their slow Double twins.
import Foundation
import XCTest
@testable import Model
import Stats
import Tensor
@testable import Training

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

final class PerExampleClippingTests: XCTestCase {
    /// Lengths chosen so both the ghost and the materialised forms run (tiny models: C 64, F 128): the linear
    /// layers switch at T = 32 (64 x 64) and about 43 (64 x 128), the head at 64 weighted rows.
    func batch(vocab: Int, seed: UInt64) -> TrainingBatch {
        var rng = SeededRNG(seed: seed)
        let lengths = [9, 20, 38, 70, 5]
        let seqs = lengths.map { n in (0..<n).map { _ in Int(rng.next() % UInt64(vocab)) } }
        // Example 2 learns only its second half (a prompt mask); example 4 repeats a token (embedding rows add up).
        var weights = seqs.map { [Float](repeating: 1, count: $0.count - 1) }
        for i in 0..<(weights[2].count / 2) { weights[2][i] = 0 }
        var s = seqs
        s[4] = [7, 7, 3, 7, 7]
        return TrainingBatch(sequences: s, weights: weights)
    }

    func check(_ name: String, lora: Bool) throws {
        let lm = try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/\(name)").path)
        let adapters = lora ? LoRA(modelConfig: lm.config, config: LoRAConfig(rank: 4, alpha: 8, dropout: 0, targets: [.q, .v, .o, .up, .down]), seed: 3) : nil
        if let adapters {   // B starts at zero; give it values so that A's gradients are not zero either
            var rng = SeededRNG(seed: 11)
            for i in 0..<adapters.params.storage.count { adapters.params.storage.ptr[i] = Float(rng.uniform() - 0.5) * 0.2 }
        }
        let pass = TrainingPass(model: lm.model, lora: adapters)
        let b = batch(vocab: lm.config.vocabSize, seed: 5)
        let P = pass.grads.storage.count
        // Reference: each example alone through the ordinary backward (its loss is its own weighted mean).
        var perExample: [[Double]] = [], norms: [Double] = []
        for (i, seq) in b.sequences.enumerated() {
            pass.zeroGradients()
            pass.forwardBackward(TrainingBatch(sequences: [seq], weights: [b.weights![i]]))
            let g = (0..<P).map { Double(pass.grads.storage.ptr[$0]) }
            perExample.append(g)
            norms.append(g.reduce(0) { $0 + $1 * $1 }.squareRoot())
        }
        // A bound between the norms, so that some examples are clipped and some are not.
        let clip = norms.sorted()[norms.count / 2]
        pass.zeroGradients()
        let clipped = pass.forwardBackwardClipped(b, clip: clip)
        var worstNorm = 0.0
        for i in 0..<norms.count {
            let rel = abs(clipped.norms[i] - norms[i]) / norms[i]
            worstNorm = max(worstNorm, rel)
            // The issue asks 1e-5 relative; measured worst 8.9e-7 over the architectures (Llama).
            XCTAssertLessThan(rel, 1e-5, "\(name) lora \(lora) example \(i): norm \(clipped.norms[i]) vs \(norms[i])")
        }
        XCTAssertTrue(clipped.factors.contains { $0 < 1 } && clipped.factors.contains { $0 == 1 })
        var expected = [Double](repeating: 0, count: P)
        for (i, g) in perExample.enumerated() {
            let f = min(1, clip / (norms[i] + 1e-6))
            for j in 0..<P { expected[j] += f * g[j] }
        }
        let scale = expected.map(abs).max()!
        var worst = 0.0
        for j in 0..<P { worst = max(worst, abs(Double(pass.grads.storage.ptr[j]) - expected[j]) / scale) }
        // Measured worst 3.4e-6 of the largest entry (tied Llama).
        XCTAssertLessThan(worst, 3e-5, "\(name) lora \(lora): clipped sum differs from the sum of clipped per-example gradients")
        print("per-example clipping \(name) lora \(lora): worst norm rel \(worstNorm), clipped sum \(worst)")
    }

    func testClippedPassEqualsPerExampleBackwardPasses() throws {
        for name in ["llama", "llama-tied-sharded", "gpt2", "neox", "neox-seq"] { try check(name, lora: false) }
        for name in ["llama", "gpt2"] { try check(name, lora: true) }
    }

    func testNoClippingEqualsTheSumOfPerExampleGradients() throws {
        // With a huge bound every factor is 1: the clipped pass is the plain gradient of sum_n L_n.
        let lm = try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/llama").path)
        let pass = TrainingPass(model: lm.model)
        let b = batch(vocab: lm.config.vocabSize, seed: 8)
        pass.zeroGradients()
        let c = pass.forwardBackwardClipped(b, clip: 1e30)
        XCTAssertEqual(c.factors, [Double](repeating: 1, count: b.sequences.count))
        let clipped = pass.grads.storage.array
        pass.zeroGradients()
        for (i, s) in b.sequences.enumerated() { pass.forwardBackward(TrainingBatch(sequences: [s], weights: [b.weights![i]])) }
        let plain = pass.grads.storage.array
        let scale = plain.map(abs).max()!
        for j in 0..<plain.count { XCTAssertLessThan(abs(clipped[j] - plain[j]) / scale, 1e-5) }
    }

    // MARK: kernels against their twins

    func randoms(_ n: Int, _ rng: inout SeededRNG) -> [Float] { (0..<n).map { _ in Float(rng.uniform() * 2 - 1) } }

    func testLinearNormKernelBothForms() {
        var rng = SeededRNG(seed: 1)
        let IN = 24, OUT = 40, segs = [(start: 0, count: 3), (start: 3, count: 30), (start: 33, count: 1)]
        let N = 34, g = randoms(N * OUT, &rng), a = randoms(N * IN, &rng)
        var ref = [Double](repeating: 0, count: 3)
        Kernels.linearGradNormSquaredNaive(&ref, dout: g, inp: a, segments: segs, IN: IN, OUT: OUT, bias: true)
        for method in [GradNormMethod.ghost, .materialise, .auto] {
            var sq = [Double](repeating: 0, count: 3)
            Kernels.linearGradNormSquared(&sq, dout: g, inp: a, segments: segs, IN: IN, OUT: OUT, bias: true, scratch: Scratch(), method: method)
            for n in 0..<3 { XCTAssertEqual(sq[n], ref[n], accuracy: 1e-5 * ref[n], "\(method) example \(n)") }
        }
    }

    func testHeadNormKernelBothForms() {
        var rng = SeededRNG(seed: 2)
        let C = 16, V = 50, N = 12, segs = [(start: 0, count: 5), (start: 5, count: 7)]
        let x = randoms(N * C, &rng), head = randoms(V * C, &rng)
        let targets = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        let tokens = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        var weights = [Float](repeating: 1, count: N); weights[4] = 0; weights[6] = 0.5
        // Reference: each segment's head gradient H_n = sum_t dlogits_t x_t^T, explicitly (the naive kernel, one segment at a time).
        var refSq: [Double] = [], refRows = [Float](repeating: 0, count: N * C)
        for s in segs {
            var h = [Float](repeating: 0, count: V * C)
            var w = [Float](repeating: 0, count: N)
            for i in s.start..<(s.start + s.count) { w[i] = weights[i] }
            _ = Kernels.crossEntropyNaive(nil, &h, x, head, targets, w, N: N, C: C, V: V, gradScale: 1)
            refSq.append(h.reduce(0.0) { $0 + Double($1) * Double($1) })
            for t in s.start..<(s.start + s.count) { for c in 0..<C { refRows[t * C + c] = h[Int(tokens[t]) * C + c] } }
        }
        var refDx = [Float](repeating: 0, count: N * C)
        let refLoss = Kernels.crossEntropyNaive(&refDx, nil, x, head, targets, weights, N: N, C: C, V: V, gradScale: 1)
        for method in [GradNormMethod.ghost, .materialise] {
            var sq = [Double](repeating: 0, count: 2), rows = [Float](repeating: 0, count: N * C), dx = [Float](repeating: 0, count: N * C)
            let loss = Kernels.crossEntropyPerExample(&dx, headSq: &sq, headRows: &rows, tokens: tokens, x, head, targets, weights,
                                                      segments: segs, C: C, V: V, gradScale: 1, scratch: Scratch(), maxGhostRows: 4,
                                                      method: method)
            XCTAssertEqual(loss, refLoss, accuracy: 1e-5 * refLoss)
            for n in 0..<2 { XCTAssertEqual(sq[n], refSq[n], accuracy: 1e-5 * refSq[n], "\(method)") }
            for i in 0..<(N * C) {
                XCTAssertEqual(rows[i], refRows[i], accuracy: 1e-5, "\(method) head row value \(i)")
                XCTAssertEqual(dx[i], refDx[i], accuracy: 1e-5)
            }
        }
    }
}

/// The DP-SGD step: noise off and no clipping give the plain step; with noise, the update's per-coordinate variance
/// over repeated seeded steps is (sigma C / (q N))^2; Poisson batches have the right size distribution.
final class DPSGDTests: XCTestCase {
    let texts: [(prompt: String?, text: String)] = [
        (nil, "The quick brown fox jumps over the lazy dog near the river bank."),
        (nil, "A stitch in time saves nine, as the old saying goes in every village."),
        ("Q: where does water boil? A:", " at one hundred degrees at sea level."),
        (nil, "She planted tomatoes, beans and squash along the southern fence."),
        (nil, "Rain fell on the tin roof all night long, and nobody slept."),
    ]
    func tiny() throws -> LanguageModel { try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/llama").path) }

    func testNoNoiseNoClipIsThePlainStepOfThePerExampleMean() throws {
        // sigma 0, C infinite, q 1: every example each step; the DP gradient is sum_n grad L_n / N, which is what an
        // ordinary step over the same batch computes when every example has the same number of weighted tokens.
        let lm = try tiny()
        let ex = (0..<4).map { i in Example(tokens: (0..<10).map { ($0 * 7 + i * 13) % 600 }, weights: [Float](repeating: 1, count: 9)) }
        var o = TrainingOptions(); o.steps = 1; o.batchSize = 3; o.learningRate = 0.1; o.optimizer = .sgd; o.clip = nil
        o.dp = DPOptions(noiseMultiplier: 0, clip: .infinity, sampleRate: 1, noiseSeed: 1)
        let a = try tiny()
        _ = try Trainer(model: lm.model, options: o).run(train: ex)
        var plain = o; plain.dp = nil; plain.batchSize = 4
        _ = try Trainer(model: a.model, options: plain).run(train: ex)
        let x = lm.model.params.storage.array, y = a.model.params.storage.array
        var worst: Float = 0
        for i in 0..<x.count { worst = max(worst, abs(x[i] - y[i])) }
        XCTAssertLessThan(worst, 1e-6)
    }

    func testNoiseHasTheStatedVariance() throws {
        // Zero learning signal aside, the noise part of the gradient is N(0, (sigma C / (q N))^2) per coordinate:
        // with the examples' clipped gradients fixed (same seed for sampling), the spread over noise seeds is the noise.
        let lm = try tiny()
        let ex = try TrainingData.examples(texts, lm: lm, context: 64, source: "t").examples
        var o = TrainingOptions(); o.steps = 1; o.batchSize = 8; o.optimizer = .sgd
        let sigma = 1.3, clip = 0.5, q = 0.6
        let trainer = Trainer(model: lm.model, options: o)
        var samples: [[Float]] = []
        for seed in 0..<40 {
            let dp = DPOptions(noiseMultiplier: sigma, clip: clip, sampleRate: q, noiseSeed: UInt64(seed))
            _ = trainer.dpStep(dp, step: 0, train: ex, noiseSeed: UInt64(seed))
            samples.append(Array(UnsafeBufferPointer(start: trainer.pass.grads.storage.ptr, count: 4000)))
        }
        // Per-coordinate variance across the 40 draws, pooled over 4000 coordinates (the clipped sum is the same in every draw).
        var total = 0.0
        for j in 0..<4000 {
            let v = samples.map { Double($0[j]) }, m = v.reduce(0, +) / 40
            total += v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / 39
        }
        let measured = total / 4000, expected = pow(sigma * clip / (q * Double(ex.count)), 2)
        // 4000 x 39 degrees of freedom: the pooled estimate's relative standard error is about 0.4%.
        XCTAssertEqual(measured / expected, 1, accuracy: 0.03, "variance \(measured) vs (sigma C / qN)^2 = \(expected)")
    }

    func testPoissonBatchSizes() {
        var sizes: [Int] = []
        for step in 0..<2000 { sizes.append(DPSampling.batch(step: step, n: 100, q: 0.05, poisson: true, seed: 3).count) }
        let mean = Double(sizes.reduce(0, +)) / 2000
        let variance = sizes.reduce(0.0) { $0 + pow(Double($1) - mean, 2) } / 1999
        XCTAssertEqual(mean, 5, accuracy: 0.2)        // q N
        XCTAssertEqual(variance, 4.75, accuracy: 0.5)  // N q (1 - q)
        XCTAssertTrue(sizes.contains(0), "Poisson batches are sometimes empty")
        XCTAssertEqual(DPSampling.batch(step: 7, n: 100, q: 0.05, poisson: true, seed: 3), DPSampling.batch(step: 7, n: 100, q: 0.05, poisson: true, seed: 3))
        XCTAssertEqual(DPSampling.batch(step: 0, n: 100, q: 0.05, poisson: false, seed: 3).count, 5)
    }

    func testGaussianNoiseMoments() {
        let n = 200_000
        let x = FloatBuffer(count: n)
        GaussianNoise.add(x.ptr, ranges: [0..<n], std: 2, seed: 5)
        let v = x.array.map(Double.init)
        let mean = v.reduce(0, +) / Double(n), variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(variance, 4, accuracy: 0.05)
        let fourth = v.reduce(0) { $0 + pow($1 - mean, 4) } / Double(n) / (variance * variance)
        XCTAssertEqual(fourth, 3, accuracy: 0.1)      // a normal's kurtosis
    }
}

/// The clipped pass against Opacus's per-sample gradients (scripts/fixtures/opacus_fixtures.py): same tiny models,
/// same batch, each example's loss its mean token loss.
final class OpacusParityTests: XCTestCase {
    struct Fixture: Decodable { let sequences: [[Int]], norms: [Double], clip: Double, clipped_sum_norm: Double }

    func testPerExampleNormsMatchOpacus() throws {
        for name in ["llama", "gpt2", "neox"] {
            let fx = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: root.appendingPathComponent("Fixtures/dp/opacus_\(name).json")))
            let lm = try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/\(name)").path)
            let pass = TrainingPass(model: lm.model)
            pass.zeroGradients()
            let r = pass.forwardBackwardClipped(TrainingBatch(sequences: fx.sequences), clip: fx.clip)
            var worst = 0.0
            for (i, n) in fx.norms.enumerated() { worst = max(worst, abs(r.norms[i] - n) / n) }
            let sum = pass.grads.storage.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let sumRel = abs(sum - fx.clipped_sum_norm) / fx.clipped_sum_norm
            print("opacus parity \(name): worst per-example norm rel \(worst), clipped sum norm rel \(sumRel)")
            // The issue asks 1e-5 relative; measured worst 1.0e-6 (norms, Llama) and 1.7e-7 (clipped sum, GPT-2).
            XCTAssertLessThan(worst, 1e-5, "\(name): per-example norms \(r.norms) vs Opacus \(fx.norms)")
            XCTAssertLessThan(sumRel, 2e-6, "\(name): clipped sum norm \(sum) vs Opacus \(fx.clipped_sum_norm)")
        }
    }
}

/// The ziggurat against the normal distribution: Kolmogorov-Smirnov distance over a million draws, and tail masses
/// beyond 2, 3 and 4 standard deviations (where a DP guarantee lives) against their exact values.
final class ZigguratTests: XCTestCase {
    func testDistribution() {
        var rng = SeededRNG(seed: 12)
        let n = 1_000_000
        var v = (0..<n).map { _ in Ziggurat.shared.sample(&rng) }
        v.sort()
        func phi(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
        var d = 0.0
        for (i, x) in v.enumerated() { let c = phi(x); d = max(d, abs(c - Double(i) / Double(n)), abs(c - Double(i + 1) / Double(n))) }
        // The 0.1% critical value of the KS distance at n = 1e6 is 1.95 / sqrt(n) = 0.00195.
        XCTAssertLessThan(d, 0.00195, "KS distance \(d)")
        for t in [2.0, 3.0, 4.0] {
            let count = Double(v.filter { abs($0) > t }.count), p = erfc(t / 2.0.squareRoot())
            let sd = (Double(n) * p * (1 - p)).squareRoot()
            XCTAssertEqual(count, Double(n) * p, accuracy: 4.5 * sd, "mass beyond \(t) sigma")
        }
    }
}

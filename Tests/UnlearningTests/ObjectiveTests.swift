// Every unlearning objective against a hand computation in Double from the inference forward (an independent code
// path), and its gradient against central finite differences of its value, in full and LoRA parametrisation.
import Foundation
import XCTest
@testable import Model
import Stats
import Tensor
import Training
@testable import Unlearning

let fixtureRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
func tinyLlama() throws -> LanguageModel { try LanguageModel.load(path: fixtureRoot.appendingPathComponent("Fixtures/tiny/llama").path) }

/// log p(seq[i + 1] | seq[...i]) rows in Double: [T - 1][V] log-softmax, from the inference forward.
func logSoftmaxRows(_ model: TransformerModel, _ seq: [Int]) -> [[Double]] {
    let c = model.config, C = c.dModel, V = c.vocabSize, T = seq.count
    let scratch = Scratch()   // owns xf: kept alive to the end of this function
    let xf = model.forward(tokens: seq.map { Int32($0) }, segments: [Segment(start: 0, count: T, pos0: 0, cache: nil)], scratch: scratch)
    let rows = (0..<(T - 1)).map { i -> [Double] in
        var l = [Double](repeating: 0, count: V)
        for v in 0..<V { var s = 0.0; for k in 0..<C { s += Double(xf[i * C + k]) * Double(model.head[v * C + k]) }; l[v] = s }
        let m = l.max()!, lse = m + log(l.reduce(0) { $0 + exp($1 - m) })
        return l.map { $0 - lse }
    }
    withExtendedLifetime(scratch) {}
    return rows
}

/// The objective computed by hand from the definitions in shared/REFERENCES.md section 6.
func handObjective(_ cfg: ObjectiveConfig, theta: TransformerModel, ref: TransformerModel, forget: TrainingBatch, retain: TrainingBatch) -> ObjectiveLoss {
    func w(_ b: TrainingBatch, _ s: Int, _ i: Int) -> Double { Double(b.weights?[s][i] ?? 1) }
    /// NLL = weighted mean token loss.
    func nll(_ b: TrainingBatch) -> Double {
        var sum = 0.0, weight = 0.0
        for (s, seq) in b.sequences.enumerated() {
            let lp = logSoftmaxRows(theta, seq)
            for i in 0..<(seq.count - 1) { sum += w(b, s, i) * -lp[i][seq[i + 1]]; weight += w(b, s, i) }
        }
        return sum / weight
    }
    func seqSum(_ m: TransformerModel, _ b: TrainingBatch, _ s: Int) -> (Double, Double) {
        let seq = b.sequences[s], lp = logSoftmaxRows(m, seq)
        var l = 0.0, n = 0.0
        for i in 0..<(seq.count - 1) { l += w(b, s, i) * -lp[i][seq[i + 1]]; n += w(b, s, i) }
        return (l, n)
    }
    func logsig(_ x: Double) -> Double { -log(1 + exp(-x)) }
    let S = Double(forget.sequences.count), beta = cfg.beta
    var lf = 0.0
    switch cfg.method {
    case .ga, .graddiff, .gakl: lf = -nll(forget)
    case .npo:
        for s in 0..<forget.sequences.count { lf += -(2 / beta) * logsig(beta * (seqSum(theta, forget, s).0 - seqSum(ref, forget, s).0)) / S }
    case .simnpo:
        for s in 0..<forget.sequences.count { let (l, n) = seqSum(theta, forget, s); lf += -(2 / beta) * logsig(beta * l / n) / S }
    case .ihl:
        var sum = 0.0, weight = 0.0
        for (s, seq) in forget.sequences.enumerated() {
            let lp = logSoftmaxRows(theta, seq)
            for i in 0..<(seq.count - 1) {
                let p = lp[i].map { exp($0) }, y = seq[i + 1]
                let runnerUp = p.enumerated().filter { $0.offset != y }.map(\.element).max()!
                sum += w(forget, s, i) * (1 + p[y] - runnerUp); weight += w(forget, s, i)
            }
        }
        lf = sum / weight
    }
    var lr = 0.0
    if cfg.alpha > 0 {
        if cfg.method == .gakl {
            var sum = 0.0, weight = 0.0
            for (s, seq) in retain.sequences.enumerated() {
                let lt = logSoftmaxRows(theta, seq), lref = logSoftmaxRows(ref, seq)
                for i in 0..<(seq.count - 1) {
                    var kl = 0.0
                    for v in 0..<lt[i].count { kl += exp(lref[i][v]) * (lref[i][v] - lt[i][v]) }
                    sum += w(retain, s, i) * kl; weight += w(retain, s, i)
                }
            }
            lr = sum / weight
        } else {
            lr = nll(retain)
        }
    }
    return ObjectiveLoss(total: cfg.gamma * lf + cfg.alpha * lr, forget: lf, retain: lr)
}

/// Random token sequences (seeded); the first forget sequence masks its first two predictions (a prompt).
func batches(vocab: Int, seed: UInt64) -> (forget: TrainingBatch, retain: TrainingBatch) {
    var rng = SeededRNG(seed: seed)
    func seq(_ n: Int) -> [Int] { (0..<n).map { _ in Int(rng.next() % UInt64(vocab - 1)) + 1 } }
    let f = [seq(9), seq(7), seq(12)], r = [seq(10), seq(8)]
    var fw = f.map { [Float](repeating: 1, count: $0.count - 1) }
    fw[0][0] = 0; fw[0][1] = 0
    return (TrainingBatch(sequences: f, weights: fw), TrainingBatch(sequences: r))
}

/// Adds N(0, std^2) noise to every value of `p` (seeded).
func perturb(_ p: Parameters, std: Double, seed: UInt64) {
    var rng = SeededRNG(seed: seed)
    for i in 0..<p.storage.count { p.storage.ptr[i] += Float(std * normal(&rng)) }
}
func normal(_ rng: inout SeededRNG) -> Double {
    let u1 = max(rng.uniform(), 1e-300), u2 = rng.uniform()
    return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
}

final class ObjectiveTests: XCTestCase {
    let methods: [ObjectiveConfig] = [
        ObjectiveConfig(method: .ga),
        ObjectiveConfig(method: .graddiff, gamma: 0.7, alpha: 1.3),
        ObjectiveConfig(method: .gakl, alpha: 2),
        ObjectiveConfig(method: .npo),
        ObjectiveConfig(method: .npo, beta: 0.7),
        ObjectiveConfig(method: .simnpo),
        ObjectiveConfig(method: .ihl, alpha: 0.5),
    ]

    func testValuesMatchHandComputation() throws {
        for cfg in methods {
            let lm = try tinyLlama(), original = try tinyLlama()
            let pass = TrainingPass(model: lm.model)
            let objective = UnlearningObjective(config: cfg, pass: pass, reference: UnlearningObjective.frozenReference(of: pass))
            // Move theta away from the reference, so that NPO's log-ratio and GA+KL's KL are not zero.
            perturb(lm.model.params, std: 0.02, seed: 3)
            let (f, r) = batches(vocab: lm.config.vocabSize, seed: 1)
            let got = objective.loss(forget: f, retain: r)
            let want = handObjective(cfg, theta: lm.model, ref: original.model, forget: f, retain: r)
            // Measured agreement: at worst 5.4e-6 relative (NPO's forget term, beta 0.7: a difference of two sums of
            // Float token losses); the rest 1e-6 or better. Allowed 5e-5.
            for (g, w, what) in [(got.total, want.total, "total"), (got.forget, want.forget, "forget"), (got.retain, want.retain, "retain")] {
                XCTAssertEqual(g, w, accuracy: 5e-5 * max(1, abs(w)), "\(cfg.method.label) \(what)")
            }
            if cfg.method == .gakl { XCTAssertGreaterThan(want.retain, 1e-4, "the KL is not trivially zero") }
            print("objective \(cfg.method.label) beta \(cfg.beta): total \(got.total) vs hand \(want.total)")
        }
    }

    func testGradientsMatchFiniteDifferences() throws {
        for lora in [false, true] {
            for cfg in methods {
                let lm = try tinyLlama()
                let adapters = lora ? LoRA(modelConfig: lm.config, config: LoRAConfig(rank: 2, alpha: 4, targets: [.q, .v, .down]), seed: 4) : nil
                let pass = TrainingPass(model: lm.model, lora: adapters)
                let objective = UnlearningObjective(config: cfg, pass: pass, reference: UnlearningObjective.frozenReference(of: pass))
                // theta away from the reference (LoRA: B no longer 0).
                perturb(pass.trainable, std: lora ? 0.05 : 0.02, seed: 3)
                let (f, r) = batches(vocab: lm.config.vocabSize, seed: 2)
                pass.zeroGradients()
                objective.forwardBackward(forget: f, retain: r)
                let theta = pass.trainable.storage, n = theta.count
                var worst = 0.0
                for k in 0..<3 {
                    var rng = SeededRNG(seed: 100 + UInt64(k))
                    let d = (0..<n).map { _ in Float(normal(&rng)) }
                    var analytic = 0.0
                    for i in 0..<n { analytic += Double(pass.grads.storage.ptr[i]) * Double(d[i]) }
                    let h: Float = lora ? 1e-3 : 1e-4   // the adapters' gradients are smaller: a larger step above Float noise
                    let saved = theta.array
                    for i in 0..<n { theta.ptr[i] = saved[i] + h * d[i] }
                    let plus = objective.loss(forget: f, retain: r).total
                    for i in 0..<n { theta.ptr[i] = saved[i] - h * d[i] }
                    let minus = objective.loss(forget: f, retain: r).total
                    for i in 0..<n { theta.ptr[i] = saved[i] }
                    let numeric = (plus - minus) / (2 * Double(h))
                    let rel = abs(numeric - analytic) / max(abs(analytic), 1e-3)
                    worst = max(worst, rel)
                    XCTAssertLessThan(rel, 2e-2, "\(cfg.method.label) lora \(lora) direction \(k): analytic \(analytic), numeric \(numeric)")
                }
                print("gradient \(cfg.method.label) beta \(cfg.beta) lora \(lora): worst relative difference \(worst)")
            }
        }
    }

    func testRangesAreChecked() {
        XCTAssertThrowsError(try ObjectiveConfig(method: .npo, beta: 0).validate()) { XCTAssertTrue("\($0)".contains("beta")) }
        XCTAssertThrowsError(try ObjectiveConfig(method: .graddiff, alpha: -1).validate()) { XCTAssertTrue("\($0)".contains("alpha")) }
        XCTAssertThrowsError(try ObjectiveConfig(method: .ga, gamma: 0).validate()) { XCTAssertTrue("\($0)".contains("gamma")) }
        XCTAssertNoThrow(try ObjectiveConfig(method: .simnpo).validate())
    }
}

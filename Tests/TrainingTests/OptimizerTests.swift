// Optimisers, schedules and clipping against the formulas written out in Double (PyTorch's update rules), and
// hand-computed cases: AdamW's first step moves each weight by lr in the gradient's sign; decay touches only its group.
import Foundation
import Stats
import XCTest
@testable import Training

final class OptimizerTests: XCTestCase {
    /// AdamW over 6 steps on random parameters and gradients, against torch.optim.AdamW's rule in Double.
    func testAdamWMatchesTheUpdateRuleInDouble() {
        var rng = SeededRNG(seed: 3)
        let n = 40
        var p = (0..<n).map { _ in Float(rng.uniform() * 2 - 1) }
        let groups = ParameterGroups([(0..<10, true), (10..<25, false), (30..<40, true)])   // 25..<30 frozen
        let opt = AdamW(groups: groups, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        var ref = p.map(Double.init), m = [Double](repeating: 0, count: n), v = m
        let frozen = Array(p[25..<30])
        for t in 1...6 {
            let g = (0..<n).map { _ in Float(rng.uniform() * 2 - 1) }
            let lr = 1e-2 * Double(t)
            p.withUnsafeMutableBufferPointer { pb in g.withUnsafeBufferPointer { opt.step(pb.baseAddress!, $0.baseAddress!, lr: lr) } }
            for (range, decay) in groups.ranges {
                for i in range {
                    if decay { ref[i] *= 1 - lr * 0.1 }
                    m[i] = 0.9 * m[i] + 0.1 * Double(g[i]); v[i] = 0.95 * v[i] + 0.05 * Double(g[i]) * Double(g[i])
                    let mhat = m[i] / (1 - Foundation.pow(0.9, Double(t))), vhat = v[i] / (1 - Foundation.pow(0.95, Double(t)))
                    ref[i] -= lr * mhat / (vhat.squareRoot() + 1e-8)
                }
            }
        }
        // Float32 moments against Double: measured max |diff| ~3e-8; allowed 1e-6.
        for i in 0..<n where !(25..<30).contains(i) { XCTAssertEqual(Double(p[i]), ref[i], accuracy: 1e-6, "p[\(i)]") }
        XCTAssertEqual(Array(p[25..<30]), frozen, "outside every group: untouched")
        XCTAssertEqual(opt.steps, 6)
    }

    func testAdamWFirstStepIsLrTimesTheSignAndResumes() throws {
        let groups = ParameterGroups([(0..<3, false)])
        let a = AdamW(groups: groups, weightDecay: 0)
        var p: [Float] = [1, 1, 1]
        let g: [Float] = [0.5, -2, 1e-3]
        a.step(&p, g, lr: 0.1)
        // m_hat = g, v_hat = g^2: the step is lr * g / (|g| + eps).
        for i in 0..<3 { XCTAssertEqual(Double(p[i]), 1 - 0.1 * Double(g[i]) / (abs(Double(g[i])) + 1e-8), accuracy: 1e-6) }
        // A second optimiser restored from the first's state continues identically.
        let b = AdamW(groups: groups, weightDecay: 0)
        try b.restore(a.state(), steps: a.steps)
        var p2 = p
        a.step(&p, g, lr: 0.1); b.step(&p2, g, lr: 0.1)
        XCTAssertEqual(p, p2)
        XCTAssertThrowsError(try AdamW(groups: ParameterGroups([(0..<4, false)])).restore(a.state(), steps: 1))
    }

    func testSGDWithMomentumAndDecay() {
        let s = SGD(groups: ParameterGroups([(0..<2, true)]), momentum: 0.9, weightDecay: 0.5)
        var p: [Float] = [1, -2]
        s.step(&p, [0.1, 0.2], lr: 0.1)   // g' = g + 0.5 p = [0.6, -0.8]; b = g'; p -= 0.1 b
        XCTAssertEqual(p[0], 0.94, accuracy: 1e-6); XCTAssertEqual(p[1], -1.92, accuracy: 1e-6)
        s.step(&p, [0.1, 0.2], lr: 0.1)   // g' = [0.57, -0.76]; b = 0.9 [0.6, -0.8] + g' = [1.11, -1.48]
        XCTAssertEqual(p[0], 0.94 - 0.111, accuracy: 1e-6); XCTAssertEqual(p[1], -1.92 + 0.148, accuracy: 1e-6)
    }

    func testSchedulesAndClipping() {
        XCTAssertEqual(Schedule.linear.rate(peak: 1, step: 5, total: 20, warmup: 10), 0.5)
        XCTAssertEqual(Schedule.linear.rate(peak: 1, step: 15, total: 20, warmup: 10), 0.5)
        XCTAssertEqual(Schedule.cosine.rate(peak: 2, step: 15, total: 20, warmup: 10), 1, accuracy: 1e-12)
        XCTAssertEqual(Schedule.cosine.rate(peak: 2, step: 20, total: 20, warmup: 10), 0, accuracy: 1e-12)
        XCTAssertEqual(Schedule.constant.rate(peak: 3, step: 19, total: 20, warmup: 0), 3)
        var g: [Float] = [3, 4, 100]
        let groups = ParameterGroups([(0..<2, false)])
        let n = g.withUnsafeMutableBufferPointer { Clipping.clip($0.baseAddress!, groups, maxNorm: 1) }
        XCTAssertEqual(n, 5, accuracy: 1e-12)
        XCTAssertEqual(g[0], Float(3 / (5 + 1e-6)), accuracy: 1e-7); XCTAssertEqual(g[1], Float(4 / (5 + 1e-6)), accuracy: 1e-7)
        XCTAssertEqual(g[2], 100, "outside the groups: untouched")
        XCTAssertEqual(g.withUnsafeMutableBufferPointer { Clipping.clip($0.baseAddress!, groups, maxNorm: 10) }, 1, accuracy: 1e-6)
        XCTAssertEqual(g[0], Float(3 / (5 + 1e-6)), accuracy: 1e-7, "below the bound: unchanged")
    }
}

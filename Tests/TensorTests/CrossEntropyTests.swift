// Fused LM-head cross-entropy: loss and gradients against a Double forward written here (finite differences) and the
// slow twin; masked rows, chunks, accumulation, nil gradients.
import Foundation
import XCTest
@testable import Tensor

final class CrossEntropyTests: XCTestCase {
    /// sum_n w_n (logsumexp(x_n · head^T) - logit of the target) in Double.
    private func loss(_ x: [Double], _ head: [Double], _ targets: [Int32], _ weights: [Float], N: Int, C: Int, V: Int) -> Double {
        var total = 0.0
        for n in 0..<N where weights[n] > 0 {
            let l = (0..<V).map { v in (0..<C).reduce(0.0) { $0 + x[n * C + $1] * head[v * C + $1] } }
            let m = l.max()!
            total += Double(weights[n]) * (m + log(l.map { exp($0 - m) }.reduce(0, +)) - l[Int(targets[n])])
        }
        return total
    }

    private struct Case { let N, C, V, chunk: Int; let weights: [Float] }

    func testCrossEntropyForwardBackward() {
        BLAS.setThreads(2)
        let gradScale: Float = 0.7
        var lossErr = 0.0, fd = 0.0, twin = 0.0, accumulate = 0.0, skipped = 0.0
        var big = (0..<150).map { Float(1 + $0 % 3) / 2 }
        for n in stride(from: 0, to: 150, by: 7) { big[n] = 0 }
        let cases = [Case(N: 5, C: 8, V: 11, chunk: 64, weights: [1, 0, 0.5, 2, 1]),
                     Case(N: 4, C: 12, V: 11, chunk: 2, weights: [0, 1, 1, 0.25]),
                     Case(N: 3, C: 9, V: 11, chunk: 1, weights: [1, 1, 1]),
                     Case(N: 150, C: 32, V: 1000, chunk: 64, weights: big)]
        let scratch = Scratch()
        for (i, c) in cases.enumerated() {
            let (N, C, V) = (c.N, c.C, c.V)
            let seed = UInt64(3 * i + 1)
            let x = seededFloats(N * C, seed: seed, scale: 2), head = seededFloats(V * C, seed: seed + 1)
            let targets = seededFloats(N, seed: seed + 2).map { Int32(Float(V) * ($0 + 1) / 2) % Int32(V) }
            var dx = zeros(N * C), dh = zeros(V * C)
            let L = Kernels.crossEntropyForwardBackward(&dx, &dh, x, head, targets, c.weights, N: N, C: C, V: V,
                                                        gradScale: gradScale, scratch: scratch, chunk: c.chunk)
            let ref = loss(doubles(x), doubles(head), targets, c.weights, N: N, C: C, V: V)
            lossErr = max(lossErr, abs(L - ref) / abs(ref))
            for n in 0..<N where c.weights[n] == 0 {
                XCTAssertTrue(dx[n * C..<(n + 1) * C].allSatisfy { $0 == 0 }, "masked row \(n) got a gradient")
            }
            if N < 10 {
                // dx, dhead = gradScale * d loss
                let num = finiteDifferences([doubles(x), doubles(head)]) { p in
                    Double(gradScale) * loss(p[0], p[1], targets, c.weights, N: N, C: C, V: V)
                }
                fd = max(fd, relativeError(dx, num[0]), relativeError(dh, num[1]))
            }
            var nx = zeros(N * C), nh = zeros(V * C)
            let nL = Kernels.crossEntropyNaive(&nx, &nh, x, head, targets, c.weights, N: N, C: C, V: V, gradScale: gradScale)
            lossErr = max(lossErr, abs(L - nL) / abs(nL))
            twin = max(twin, relativeError(dx, nx), relativeError(dh, nh))
            let (dx1, dh1) = (dx, dh)
            _ = Kernels.crossEntropyForwardBackward(&dx, &dh, x, head, targets, c.weights, N: N, C: C, V: V,
                                                    gradScale: gradScale, scratch: scratch, chunk: c.chunk)
            accumulate = max(accumulate, relativeError(dx, dx1.map { 2 * $0 }), relativeError(dh, dh1.map { 2 * $0 }))
            var ox = zeros(N * C), oh = zeros(V * C)
            let L1 = Kernels.crossEntropyForwardBackward(&ox, nil, x, head, targets, c.weights, N: N, C: C, V: V,
                                                         gradScale: gradScale, scratch: scratch, chunk: c.chunk)
            let L2 = Kernels.crossEntropyForwardBackward(nil, &oh, x, head, targets, c.weights, N: N, C: C, V: V,
                                                         gradScale: gradScale, scratch: scratch, chunk: c.chunk)
            let L3 = Kernels.crossEntropyForwardBackward(nil, nil, x, head, targets, c.weights, N: N, C: C, V: V,
                                                         gradScale: gradScale, scratch: scratch, chunk: c.chunk)
            skipped = max(skipped, relativeError(ox, dx1), relativeError(oh, dh1))
            XCTAssertEqual(L1, L); XCTAssertEqual(L2, L); XCTAssertEqual(L3, L)
        }
        assertWithin("cross-entropy loss", lossErr, 1.8e-7)   // measured 1.8e-08, tolerance about 10x
        assertWithin("cross-entropy fd", fd, 1.7e-6)   // measured 1.7e-07, tolerance about 10x
        assertWithin("cross-entropy twin", twin, 7.8e-6)   // measured 7.7e-07, tolerance about 10x
        assertWithin("cross-entropy accumulate", accumulate, 9.1e-7)   // measured 9e-08, tolerance about 10x
        assertWithin("cross-entropy nil", skipped, 0)   // measured 0: exact by construction
    }

    /// Every row masked: zero loss and no gradient at all.
    func testAllRowsMasked() {
        let N = 3, C = 4, V = 5
        var dx = zeros(N * C), dh = zeros(V * C)
        let L = Kernels.crossEntropyForwardBackward(&dx, &dh, seededFloats(N * C, seed: 1), seededFloats(V * C, seed: 2),
                                                    [0, 1, 2], [0, 0, 0], N: N, C: C, V: V, gradScale: 1, scratch: Scratch())
        XCTAssertEqual(L, 0)
        XCTAssertTrue(dx.allSatisfy { $0 == 0 } && dh.allSatisfy { $0 == 0 })
    }
}

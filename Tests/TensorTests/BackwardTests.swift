// Backward kernels of matmul, norms, activations, embeddings and RoPE against central finite differences of Double
// forwards written here, and against their slow twins; accumulation and nil gradients.
import Foundation
import XCTest
@testable import Tensor

final class BackwardTests: XCTestCase {
    // MARK: matmul

    func testMatmulBackward() {
        var fd = 0.0, twin = 0.0, accumulate = 0.0, skipped = 0.0
        for (N, IC, OC, seed) in [(3, 8, 5, 1), (5, 12, 7, 2), (4, 9, 11, 3), (37, 64, 33, 4)] as [(Int, Int, Int, UInt64)] {
            let x = seededFloats(N * IC, seed: seed), w = seededFloats(OC * IC, seed: seed + 10)
            let b = seededFloats(OC, seed: seed + 20), dout = seededFloats(N * OC, seed: seed + 30)
            var dx = zeros(N * IC), dw = zeros(OC * IC), db = zeros(OC)
            Kernels.matmulBackward(&dx, &dw, &db, dout, x, w, N: N, IC: IC, OC: OC)
            if N < 10 {
                // L = sum(dout ⊙ (x · w^T + b))
                let num = finiteDifferences([doubles(x), doubles(w), doubles(b)]) { p in
                    var L = 0.0
                    for n in 0..<N { for o in 0..<OC {
                        var s = p[2][o]
                        for i in 0..<IC { s += p[0][n * IC + i] * p[1][o * IC + i] }
                        L += Double(dout[n * OC + o]) * s
                    } }
                    return L
                }
                fd = max(fd, relativeError(dx, num[0]), relativeError(dw, num[1]), relativeError(db, num[2]))
            }
            var nx = zeros(N * IC), nw = zeros(OC * IC), nb = zeros(OC)
            Kernels.matmulBackwardNaive(&nx, &nw, &nb, dout, x, w, N: N, IC: IC, OC: OC)
            twin = max(twin, relativeError(dx, nx), relativeError(dw, nw), relativeError(db, nb))
            let (dx1, dw1, db1) = (dx, dw, db)
            Kernels.matmulBackward(&dx, &dw, &db, dout, x, w, N: N, IC: IC, OC: OC)
            accumulate = max(accumulate, relativeError(dx, dx1.map { 2 * $0 }), relativeError(dw, dw1.map { 2 * $0 }),
                             relativeError(db, db1.map { 2 * $0 }))
            var ox = zeros(N * IC), ow = zeros(OC * IC), ob = zeros(OC)
            Kernels.matmulBackward(&ox, nil, nil, dout, x, w, N: N, IC: IC, OC: OC)
            Kernels.matmulBackward(nil, &ow, nil, dout, x, w, N: N, IC: IC, OC: OC)
            Kernels.matmulBackward(nil, nil, &ob, dout, x, w, N: N, IC: IC, OC: OC)
            skipped = max(skipped, relativeError(ox, dx1), relativeError(ow, dw1), relativeError(ob, db1))
        }
        assertWithin("matmul fd", fd, 1.1e-6)   // measured 1.1e-07, tolerance about 10x
        assertWithin("matmul twin", twin, 2.9e-6)   // measured 2.9e-07, tolerance about 10x
        assertWithin("matmul accumulate", accumulate, 2.2e-6)   // measured 2.1e-07, tolerance about 10x
        assertWithin("matmul nil", skipped, 0)   // measured 0: exact by construction
    }

    // MARK: norms

    func testRMSNormForwardAndBackward() {
        BLAS.setThreads(2)
        let eps: Float = 1e-5
        var fwd = 0.0, fd = 0.0, twin = 0.0, accumulate = 0.0, skipped = 0.0
        for (N, C, seed) in [(3, 8, 1), (5, 12, 2), (4, 10, 3), (130, 300, 4)] as [(Int, Int, UInt64)] {
            let x = seededFloats(N * C, seed: seed, scale: 3), w = seededFloats(C, seed: seed + 10)
            let dout = seededFloats(N * C, seed: seed + 20)
            var out = zeros(N * C), rstd = zeros(N), nout = zeros(N * C), nrstd = zeros(N), inference = zeros(N * C)
            Kernels.rmsnormForward(&out, &rstd, x, w, N: N, C: C, eps: eps)
            Kernels.rmsnormForwardNaive(&nout, &nrstd, x, w, N: N, C: C, eps: eps)
            Kernels.rmsnormForward(&inference, x, w, N: N, C: C, eps: eps)
            fwd = max(fwd, relativeError(out, nout), relativeError(rstd, nrstd), relativeError(out, inference))
            var dx = zeros(N * C), dw = zeros(C)
            Kernels.rmsnormBackward(&dx, &dw, dout, x, w, rstd, N: N, C: C)
            if N < 10 {
                let num = finiteDifferences([doubles(x), doubles(w)]) { p in
                    var L = 0.0
                    for n in 0..<N {
                        var ss = 0.0
                        for c in 0..<C { ss += p[0][n * C + c] * p[0][n * C + c] }
                        let r = 1 / (ss / Double(C) + Double(eps)).squareRoot()
                        for c in 0..<C { L += Double(dout[n * C + c]) * p[0][n * C + c] * r * p[1][c] }
                    }
                    return L
                }
                fd = max(fd, relativeError(dx, num[0]), relativeError(dw, num[1]))
            }
            var nx = zeros(N * C), nw = zeros(C)
            Kernels.rmsnormBackwardNaive(&nx, &nw, dout, x, w, rstd, N: N, C: C)
            twin = max(twin, relativeError(dx, nx), relativeError(dw, nw))
            let (dx1, dw1) = (dx, dw)
            Kernels.rmsnormBackward(&dx, &dw, dout, x, w, rstd, N: N, C: C)
            accumulate = max(accumulate, relativeError(dx, dx1.map { 2 * $0 }), relativeError(dw, dw1.map { 2 * $0 }))
            var ox = zeros(N * C)
            Kernels.rmsnormBackward(&ox, nil, dout, x, w, rstd, N: N, C: C)
            skipped = max(skipped, relativeError(ox, dx1))
        }
        assertWithin("rmsnorm forward", fwd, 4.1e-6)   // measured 4e-07, tolerance about 10x
        assertWithin("rmsnorm fd", fd, 1.2e-6)   // measured 1.1e-07, tolerance about 10x
        assertWithin("rmsnorm twin", twin, 3.9e-6)   // measured 3.8e-07, tolerance about 10x
        assertWithin("rmsnorm accumulate", accumulate, 5e-6)   // measured 4.9e-07, tolerance about 10x
        assertWithin("rmsnorm nil", skipped, 0)   // measured 0: exact by construction
    }

    func testLayerNormForwardAndBackward() {
        BLAS.setThreads(2)
        let eps: Float = 1e-5
        var fwd = 0.0, fd = 0.0, twin = 0.0, accumulate = 0.0, skipped = 0.0
        for (N, C, seed, withBias) in [(3, 8, 1, true), (5, 12, 2, false), (4, 10, 3, true), (130, 300, 4, true)] as [(Int, Int, UInt64, Bool)] {
            let x = seededFloats(N * C, seed: seed, scale: 3).enumerated().map { $1 + Float($0 % 3) }  // rows off zero mean
            let w = seededFloats(C, seed: seed + 10), b = withBias ? seededFloats(C, seed: seed + 30) : zeros(C)
            let dout = seededFloats(N * C, seed: seed + 20)
            let biasBuffer = withBias ? FloatBuffer(b) : nil
            let bias = biasBuffer.map { UnsafePointer($0.ptr) }   // [C] or nil
            var out = zeros(N * C), mean = zeros(N), rstd = zeros(N)
            var nout = zeros(N * C), nmean = zeros(N), nrstd = zeros(N), inference = zeros(N * C)
            Kernels.layernormForward(&out, &mean, &rstd, x, w, bias, N: N, C: C, eps: eps)
            Kernels.layernormForwardNaive(&nout, &nmean, &nrstd, x, w, bias, N: N, C: C, eps: eps)
            Kernels.layernormForward(&inference, x, w, bias, N: N, C: C, eps: eps)
            fwd = max(fwd, relativeError(out, nout), relativeError(mean, nmean), relativeError(rstd, nrstd),
                      relativeError(out, inference))
            var dx = zeros(N * C), dw = zeros(C), db = zeros(C)
            Kernels.layernormBackward(&dx, &dw, &db, dout, x, w, mean, rstd, N: N, C: C)
            if N < 10 {
                let num = finiteDifferences([doubles(x), doubles(w), doubles(b)]) { p in
                    var L = 0.0
                    for n in 0..<N {
                        let row = p[0][n * C..<(n + 1) * C]
                        let m = row.reduce(0, +) / Double(C)
                        let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(C)
                        let r = 1 / (v + Double(eps)).squareRoot()
                        for c in 0..<C { L += Double(dout[n * C + c]) * ((p[0][n * C + c] - m) * r * p[1][c] + p[2][c]) }
                    }
                    return L
                }
                fd = max(fd, relativeError(dx, num[0]), relativeError(dw, num[1]), relativeError(db, num[2]))
            }
            var nx = zeros(N * C), nw = zeros(C), nb = zeros(C)
            Kernels.layernormBackwardNaive(&nx, &nw, &nb, dout, x, w, mean, rstd, N: N, C: C)
            twin = max(twin, relativeError(dx, nx), relativeError(dw, nw), relativeError(db, nb))
            let (dx1, dw1, db1) = (dx, dw, db)
            Kernels.layernormBackward(&dx, &dw, &db, dout, x, w, mean, rstd, N: N, C: C)
            accumulate = max(accumulate, relativeError(dx, dx1.map { 2 * $0 }), relativeError(dw, dw1.map { 2 * $0 }),
                             relativeError(db, db1.map { 2 * $0 }))
            var ox = zeros(N * C), ow = zeros(C), ob = zeros(C), oy = zeros(N * C)
            Kernels.layernormBackward(&ox, nil, nil, dout, x, w, mean, rstd, N: N, C: C)
            Kernels.layernormBackward(&oy, &ow, nil, dout, x, w, mean, rstd, N: N, C: C)
            Kernels.layernormBackward(&oy, nil, &ob, dout, x, w, mean, rstd, N: N, C: C)
            skipped = max(skipped, relativeError(ox, dx1), relativeError(ow, dw1), relativeError(ob, db1))
        }
        assertWithin("layernorm forward", fwd, 5.6e-6)   // measured 5.6e-07, tolerance about 10x
        assertWithin("layernorm fd", fd, 1.7e-6)   // measured 1.6e-07, tolerance about 10x
        assertWithin("layernorm twin", twin, 2e-6)   // measured 1.9e-07, tolerance about 10x
        assertWithin("layernorm accumulate", accumulate, 4.6e-6)   // measured 4.5e-07, tolerance about 10x
        assertWithin("layernorm nil", skipped, 0)   // measured 0: exact by construction
    }

    // MARK: activations

    /// Inputs over the range that matters, the SIMD body and its scalar tail (count not a multiple of 8), and a
    /// large count that splits across threads.
    private let activationCounts = [13, 40_003]
    private func activationInput(_ n: Int, seed: UInt64) -> [Float] {
        var x = seededFloats(n, seed: seed, scale: 5)
        for (i, v) in [-12, -9, -3.1, -1e-3, 0, 1e-3, 0.7, 9, 12].enumerated() where i < n { x[i] = Float(v) }
        return x
    }

    func testSwiGLU() {
        BLAS.setThreads(2)
        var fwd = 0.0, fd = 0.0, twin = 0.0, accumulate = 0.0
        for (k, n) in activationCounts.enumerated() {
            let g = activationInput(n, seed: UInt64(k + 1)), u = seededFloats(n, seed: UInt64(k + 11), scale: 2)
            let dout = seededFloats(n, seed: UInt64(k + 21))
            var out = zeros(n), nout = zeros(n)
            Kernels.swigluForward(&out, g, u, n)
            Kernels.swigluForwardNaive(&nout, g, u, n)
            var inference = g
            Kernels.swigluForward(&inference, u, n)
            fwd = max(fwd, relativeError(out, nout), relativeError(out, inference))
            var dg = zeros(n), du = zeros(n)
            Kernels.swigluBackward(&dg, &du, dout, g, u, n)
            if n < 100 {
                let num = finiteDifferences([doubles(g), doubles(u)]) { p in
                    var L = 0.0
                    for i in 0..<n { L += Double(dout[i]) * p[0][i] / (1 + exp(-p[0][i])) * p[1][i] }
                    return L
                }
                fd = max(fd, relativeError(dg, num[0]), relativeError(du, num[1]))
            }
            var ng = zeros(n), nu = zeros(n)
            Kernels.swigluBackwardNaive(&ng, &nu, dout, g, u, n)
            twin = max(twin, relativeError(dg, ng), relativeError(du, nu))
            let (dg1, du1) = (dg, du)
            Kernels.swigluBackward(&dg, &du, dout, g, u, n)
            accumulate = max(accumulate, relativeError(dg, dg1.map { 2 * $0 }), relativeError(du, du1.map { 2 * $0 }))
        }
        assertWithin("swiglu forward", fwd, 1.2e-6)   // measured 1.1e-07, tolerance about 10x
        assertWithin("swiglu fd", fd, 1.1e-6)   // measured 1e-07, tolerance about 10x
        assertWithin("swiglu twin", twin, 1.8e-6)   // measured 1.8e-07, tolerance about 10x
        assertWithin("swiglu accumulate", accumulate, 0)   // measured 0: exact by construction
    }

    func testGeLUTanh() {
        BLAS.setThreads(2)
        var fwd = 0.0, fd = 0.0, twin = 0.0, accumulate = 0.0
        let k = (2 / Double.pi).squareRoot()
        for (s, n) in activationCounts.enumerated() {
            let x = activationInput(n, seed: UInt64(s + 3)), dout = seededFloats(n, seed: UInt64(s + 23))
            var out = zeros(n), nout = zeros(n)
            Kernels.geluTanhForward(&out, x, n)
            Kernels.geluTanhForwardNaive(&nout, x, n)
            var inference = x
            Kernels.geluTanhForward(&inference, n)
            fwd = max(fwd, relativeError(out, nout), relativeError(out, inference))
            var dx = zeros(n)
            Kernels.geluTanhBackward(&dx, dout, x, n)
            if n < 100 {
                let num = finiteDifferences([doubles(x)]) { p in
                    var L = 0.0
                    for i in 0..<n { let v = p[0][i]; L += Double(dout[i]) * 0.5 * v * (1 + tanh(k * (v + 0.044715 * v * v * v))) }
                    return L
                }
                fd = max(fd, relativeError(dx, num[0]))
            }
            var nx = zeros(n)
            Kernels.geluTanhBackwardNaive(&nx, dout, x, n)
            twin = max(twin, relativeError(dx, nx))
            let dx1 = dx
            Kernels.geluTanhBackward(&dx, dout, x, n)
            accumulate = max(accumulate, relativeError(dx, dx1.map { 2 * $0 }))
        }
        assertWithin("gelu tanh forward", fwd, 4e-7)   // measured 4e-08, tolerance about 10x
        assertWithin("gelu tanh fd", fd, 1.2e-6)   // measured 1.2e-07, tolerance about 10x
        assertWithin("gelu tanh twin", twin, 2.2e-6)   // measured 2.1e-07, tolerance about 10x
        assertWithin("gelu tanh accumulate", accumulate, 0)   // measured 0: exact by construction
    }

    func testGeLUErf() {
        BLAS.setThreads(2)
        var fwd = 0.0, fd = 0.0, twin = 0.0, accumulate = 0.0
        for (s, n) in activationCounts.enumerated() {
            let x = activationInput(n, seed: UInt64(s + 5)), dout = seededFloats(n, seed: UInt64(s + 25))
            var out = zeros(n), nout = zeros(n)
            Kernels.geluErfForward(&out, x, n)
            Kernels.geluErfForwardNaive(&nout, x, n)
            var inference = x
            Kernels.geluErfForward(&inference, n)
            fwd = max(fwd, relativeError(out, nout), relativeError(out, inference))
            var dx = zeros(n)
            Kernels.geluErfBackward(&dx, dout, x, n)
            if n < 100 {
                let num = finiteDifferences([doubles(x)]) { p in
                    var L = 0.0
                    for i in 0..<n { let v = p[0][i]; L += Double(dout[i]) * 0.5 * v * (1 + erf(v / 2.0.squareRoot())) }
                    return L
                }
                fd = max(fd, relativeError(dx, num[0]))
            }
            var nx = zeros(n)
            Kernels.geluErfBackwardNaive(&nx, dout, x, n)
            twin = max(twin, relativeError(dx, nx))
            let dx1 = dx
            Kernels.geluErfBackward(&dx, dout, x, n)
            accumulate = max(accumulate, relativeError(dx, dx1.map { 2 * $0 }))
        }
        assertWithin("gelu erf forward", fwd, 4e-7)   // measured 4e-08, tolerance about 10x
        assertWithin("gelu erf fd", fd, 2.9e-7)   // measured 2.9e-08, tolerance about 10x
        assertWithin("gelu erf twin", twin, 1.1e-6)   // measured 1.1e-07, tolerance about 10x
        assertWithin("gelu erf accumulate", accumulate, 0)   // measured 0: exact by construction
    }

    // MARK: embedding

    func testEmbeddingBackward() {
        let V = 7, C = 9, N = 5
        let rows: [Int32] = [3, 0, 3, 6, 3]   // repeated rows add up
        let table = seededFloats(V * C, seed: 1), dout = seededFloats(N * C, seed: 2)
        var dw = zeros(V * C)
        Kernels.embeddingBackward(&dw, dout, rows, N: N, C: C)
        let num = finiteDifferences([doubles(table)]) { p in
            var L = 0.0
            for n in 0..<N { for c in 0..<C { L += Double(dout[n * C + c]) * p[0][Int(rows[n]) * C + c] } }
            return L
        }
        let dw1 = dw
        Kernels.embeddingBackward(&dw, dout, rows, N: N, C: C)
        assertWithin("embedding fd", relativeError(dw1, num[0]), 2.5e-10)   // measured 2.4e-11, tolerance about 10x
        assertWithin("embedding accumulate", relativeError(dw, dw1.map { 2 * $0 }), 0)   // measured 0: exact by construction
        XCTAssertEqual(dw1[C..<3 * C].allSatisfy { $0 == 0 }, true, "rows never looked up get no gradient")
    }

    // MARK: RoPE

    func testRoPEBackward() {
        let N = 5, NH = 3
        let positions: [Int32] = [0, 3, 1, 17, 250]
        var fd = 0.0, inverse = 0.0
        for style in [RoPEStyle.halves, .interleaved] {
            for (HD, rd) in [(8, 8), (8, 4), (6, 2)] {
                let theta = 10000.0
                let table = RoPETable(rotaryDims: rd, theta: theta, style: style)
                let x = seededFloats(N * NH * HD, seed: UInt64(HD + rd)), dout = seededFloats(N * NH * HD, seed: UInt64(HD * rd))
                var dx = dout
                table.applyBackward(&dx, N: N, nHeads: NH, headDim: HD, positions: positions)
                let num = finiteDifferences([doubles(x)]) { p in
                    var y = p[0]
                    for n in 0..<N { for h in 0..<NH { for i in 0..<rd / 2 {
                        let a = Double(positions[n]) * pow(theta, -Double(2 * i) / Double(rd))
                        let base = n * NH * HD + h * HD
                        let (ia, ib) = style == .halves ? (base + i, base + i + rd / 2) : (base + 2 * i, base + 2 * i + 1)
                        let (u, v) = (p[0][ia], p[0][ib])
                        y[ia] = u * cos(a) - v * sin(a); y[ib] = v * cos(a) + u * sin(a)
                    } } }
                    return zip(y, dout).map { $0 * Double($1) }.reduce(0, +)
                }
                fd = max(fd, relativeError(dx, num[0]))
                // The inverse rotation undoes the forward one.
                var back = x
                table.apply(&back, N: N, nHeads: NH, headDim: HD, positions: positions)
                table.applyBackward(&back, N: N, nHeads: NH, headDim: HD, positions: positions)
                inverse = max(inverse, relativeError(back, x))
            }
        }
        assertWithin("rope fd", fd, 9e-7)   // measured 9e-08, tolerance about 10x
        assertWithin("rope inverse", inverse, 1.3e-6)   // measured 1.2e-07, tolerance about 10x
    }
}

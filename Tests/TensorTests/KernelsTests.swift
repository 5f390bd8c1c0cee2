// Kernels against obvious Double references: BLAS matmul vs the triple loop, SIMD exp vs libm, norms, moments, top-k.
import Foundation
import XCTest
@testable import Tensor

final class KernelsTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()
    func randoms(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var x = seed
        return (0..<n).map { _ in
            x = x &* 6364136223846793005 &+ 1442695040888963407
            return (Float(x >> 40) / Float(1 << 24) - 0.5) * 2 * scale
        }
    }

    func testMatmulMatchesNaive() {
        for (N, IC, OC) in [(1, 7, 5), (3, 16, 9), (37, 64, 33)] {
            let x = FloatBuffer(randoms(N * IC, seed: 1)), w = FloatBuffer(randoms(OC * IC, seed: 2)), b = FloatBuffer(randoms(OC, seed: 3))
            let fast = FloatBuffer(count: N * OC), slow = FloatBuffer(count: N * OC)
            Kernels.matmulForward(fast.ptr, x.ptr, w.ptr, b.ptr, N: N, IC: IC, OC: OC)
            Kernels.matmulNaive(slow.ptr, x.ptr, w.ptr, b.ptr, N: N, IC: IC, OC: OC)
            // Measured here: worst 2.9e-6; bar 1e-5 (3.5x: float32 sums of 64 products in another order).
            for i in 0..<N * OC { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-5, "N=\(N) i=\(i)") }
        }
    }

    /// The few-rows kernel (generation steps) against the triple loop, for every N it takes and threads 1 and 2.
    func testSmallNMatmulMatchesNaive() {
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            for N in 1...8 {
                let IC = 24, OC = 130
                let x = FloatBuffer(randoms(N * IC, seed: UInt64(N))), w = FloatBuffer(randoms(OC * IC, seed: 20)), b = FloatBuffer(randoms(OC, seed: 21))
                let fast = FloatBuffer(count: N * OC), slow = FloatBuffer(count: N * OC)
                Kernels.matmulSmallN(fast.ptr, x.ptr, w.ptr, b.ptr, N: N, IC: IC, OC: OC)
                Kernels.matmulNaive(slow.ptr, x.ptr, w.ptr, b.ptr, N: N, IC: IC, OC: OC)
                // Measured here: worst 1.2e-6; bar 1e-5 (8x).
                for i in 0..<N * OC { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-5, "N=\(N) threads=\(threads) i=\(i)") }
            }
        }
    }

    func testExpMatchesLibm() {
        let xs = randoms(4099, seed: 4, scale: 80) + [-87, -50, -1e-7, 0, 1e-7, 1, 88]
        let buf = FloatBuffer(xs)
        let s = Kernels.expShiftSum(buf.ptr, xs.count, shift: 0)
        var ref = 0.0
        for (i, x) in xs.enumerated() {
            let e = Foundation.exp(Double(x)); ref += e
            XCTAssertEqual(Double(buf[i]), e, accuracy: e * 3e-7 + 1e-37, "x=\(x)")
        }
        XCTAssertEqual(s, ref, accuracy: ref * 1e-6)
    }

    func testRMSNormAndLayerNorm() {
        let N = 3, C = 10
        let x = randoms(N * C, seed: 5, scale: 3), w = randoms(C, seed: 6), b = randoms(C, seed: 7)
        let out = FloatBuffer(count: N * C)
        Kernels.rmsnormForward(out.ptr, x, w, N: N, C: C, eps: 1e-5)
        for n in 0..<N {
            let row = x[n * C..<(n + 1) * C].map(Double.init)
            let r = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(C) + 1e-5).squareRoot()
            // Measured here: worst 7.9e-8 (RMSNorm), 1.2e-7 (LayerNorm) against Double; bar 1e-6 (13x, 8x; was 1e-5).
            for c in 0..<C { XCTAssertEqual(Double(out[n * C + c]), row[c] * r * Double(w[c]), accuracy: 1e-6) }
        }
        Kernels.layernormForward(out.ptr, x, w, b, N: N, C: C, eps: 1e-5)
        for n in 0..<N {
            let row = x[n * C..<(n + 1) * C].map(Double.init)
            let mean = row.reduce(0, +) / Double(C)
            let v = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(C)
            for c in 0..<C {
                XCTAssertEqual(Double(out[n * C + c]), (row[c] - mean) / (v + 1e-5).squareRoot() * Double(w[c]) + Double(b[c]), accuracy: 1e-6)
            }
        }
    }

    func testActivations() {
        // Measured here against Double (inputs up to 6, so float32 ulps of ~5e-7): SwiGLU 2.7e-7, GELU tanh 3.1e-7,
        // GELU erf 3.3e-7. Bar 3e-6, about 10x (was 1e-5).
        let g = randoms(100, seed: 8, scale: 6), u = randoms(100, seed: 9)
        let gb = FloatBuffer(g)
        Kernels.swigluForward(gb.ptr, u, 100)
        for i in 0..<100 {
            let x = Double(g[i])
            XCTAssertEqual(Double(gb[i]), x / (1 + exp(-x)) * Double(u[i]), accuracy: 3e-6)
        }
        let t = FloatBuffer(g); Kernels.geluTanhForward(t.ptr, 100)
        let e = FloatBuffer(g); Kernels.geluErfForward(e.ptr, 100)
        for i in 0..<100 {
            let x = Double(g[i])
            XCTAssertEqual(Double(t[i]), 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))), accuracy: 3e-6)
            XCTAssertEqual(Double(e[i]), 0.5 * x * (1 + erf(x / 2.0.squareRoot())), accuracy: 3e-6)
        }
    }

    func testLogSoftmaxStatisticsMatchDouble() {
        for V in [5, 1000, 49152] {
            let l = randoms(V, seed: UInt64(V), scale: 12)
            let tmp = FloatBuffer(count: V)
            let lse = l.withUnsafeBufferPointer { LogSoftmax.logSumExp($0.baseAddress!, V, tmp: tmp.ptr) }
            let m = Double(l.max()!)
            let refLse = m + log(l.map { exp(Double($0) - m) }.reduce(0, +))
            // Measured here (V up to 49152, logits up to 12): |d lse| 1.5e-7, mean 1.1e-7 and variance 6.1e-8 relative.
            // Bars 2e-6, 1e-6, 1e-6 (13x, 9x, 16x; were 1e-5, 1e-4, 1e-4).
            XCTAssertEqual(lse, refLse, accuracy: 2e-6)
            let mo = l.withUnsafeBufferPointer { LogSoftmax.moments($0.baseAddress!, tmp.ptr, V, lse: lse) }
            let lp = l.map { Double($0) - refLse }
            let mu = lp.map { exp($0) * $0 }.reduce(0, +)
            let va = lp.map { exp($0) * ($0 - mu) * ($0 - mu) }.reduce(0, +)
            XCTAssertEqual(mo.mean, mu, accuracy: 1e-6 * max(1, abs(mu)))
            XCTAssertEqual(mo.variance, va, accuracy: 1e-6 * max(1, va))
            let top = l.withUnsafeBufferPointer { LogSoftmax.topK($0.baseAddress!, V, k: 4) }
            let ref = l.enumerated().sorted { $0.element > $1.element || ($0.element == $1.element && $0.offset < $1.offset) }.prefix(4)
            XCTAssertEqual(top.map(\.0), ref.map(\.offset))
        }
    }

    /// The two RoPE layouts agree once the head's dimensions are permuted the way llama.cpp's converter does.
    func testRoPELayoutsAgreeUnderPermutation() {
        let NH = 2, HD = 8, N = 5
        let x = randoms(N * NH * HD, seed: 11)
        // GGUF row 2j + t holds Hugging Face row t * HD/2 + j.
        var perm = [Float](repeating: 0, count: x.count)
        for n in 0..<N { for h in 0..<NH { for j in 0..<HD / 2 { for t in 0..<2 {
            perm[n * NH * HD + h * HD + 2 * j + t] = x[n * NH * HD + h * HD + t * HD / 2 + j]
        } } } }
        let positions: [Int32] = [0, 1, 7, 100, 3000]
        let a = FloatBuffer(x), b = FloatBuffer(perm)
        RoPETable(rotaryDims: HD, theta: 10000, style: .halves).apply(a.ptr, N: N, nHeads: NH, headDim: HD, positions: positions)
        RoPETable(rotaryDims: HD, theta: 10000, style: .interleaved).apply(b.ptr, N: N, nHeads: NH, headDim: HD, positions: positions)
        for n in 0..<N { for h in 0..<NH { for j in 0..<HD / 2 { for t in 0..<2 {
            XCTAssertEqual(b[n * NH * HD + h * HD + 2 * j + t], a[n * NH * HD + h * HD + t * HD / 2 + j], accuracy: 1e-5)
        } } } }
        // Hand-computed: position 1, first pair rotates by 1 radian.
        let one = FloatBuffer([1, 0]); let pos: [Int32] = [1]
        RoPETable(rotaryDims: 2, theta: 10000, style: .interleaved).apply(one.ptr, N: 1, nHeads: 1, headDim: 2, positions: pos)
        XCTAssertEqual(one[0], Float(cos(1.0)), accuracy: 1e-6); XCTAssertEqual(one[1], Float(sin(1.0)), accuracy: 1e-6)
    }
}

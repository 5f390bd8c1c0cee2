// Causal grouped-query attention for training: forward (out and log-sum-exp) and backward against a Double forward
// written here (finite differences) and the slow twins; NKV = NH, 2, 1; T = 1; several query blocks; accumulation.
import Foundation
import XCTest
@testable import Tensor

final class AttentionTests: XCTestCase {
    /// sum(dout ⊙ attention(q, k, v)) in Double: the loss whose gradient the backward returns.
    private func loss(_ q: [Double], _ k: [Double], _ v: [Double], _ dout: [Float], T: Int, NH: Int, NKV: Int, HD: Int) -> Double {
        let QD = NH * HD, KVD = NKV * HD, group = NH / NKV, scale = 1 / Double(HD).squareRoot()
        var L = 0.0
        for h in 0..<NH {
            let kvh = h / group
            for t in 0..<T {
                var s = [Double](repeating: 0, count: t + 1)
                for j in 0...t { for d in 0..<HD { s[j] += q[t * QD + h * HD + d] * k[j * KVD + kvh * HD + d] }; s[j] *= scale }
                let m = s.max()!
                let e = s.map { exp($0 - m) }, z = e.reduce(0, +)
                for d in 0..<HD {
                    var o = 0.0
                    for j in 0...t { o += e[j] / z * v[j * KVD + kvh * HD + d] }
                    L += Double(dout[t * QD + h * HD + d]) * o
                }
            }
        }
        return L
    }

    private struct Case { let T, NH, NKV, HD, block: Int }

    func testAttentionForwardAndBackward() {
        BLAS.setThreads(2)
        var fwd = 0.0, lseErr = 0.0, fd = 0.0, twin = 0.0, accumulate = 0.0
        let cases = [Case(T: 5, NH: 4, NKV: 4, HD: 4, block: 128), Case(T: 6, NH: 4, NKV: 2, HD: 4, block: 128),
                     Case(T: 7, NH: 4, NKV: 1, HD: 4, block: 128), Case(T: 7, NH: 4, NKV: 2, HD: 4, block: 3),
                     Case(T: 6, NH: 4, NKV: 1, HD: 4, block: 1), Case(T: 1, NH: 4, NKV: 2, HD: 4, block: 128),
                     Case(T: 1, NH: 4, NKV: 4, HD: 4, block: 128), Case(T: 300, NH: 4, NKV: 2, HD: 16, block: 128)]
        let scratch = Scratch()   // shared across cases: buffers are reused as they would be in training
        for (i, c) in cases.enumerated() {
            let (T, NH, NKV, HD) = (c.T, c.NH, c.NKV, c.HD)
            let seed = UInt64(i * 4 + 1)
            let q = seededFloats(T * NH * HD, seed: seed, scale: 1.5), k = seededFloats(T * NKV * HD, seed: seed + 1, scale: 1.5)
            let v = seededFloats(T * NKV * HD, seed: seed + 2), dout = seededFloats(T * NH * HD, seed: seed + 3)
            var out = zeros(T * NH * HD), lse = zeros(NH * T), nout = zeros(T * NH * HD), nlse = zeros(NH * T)
            Kernels.attentionForward(&out, &lse, q, k, v, T: T, NH: NH, NKV: NKV, HD: HD, scratch: scratch, block: c.block)
            Kernels.attentionForwardNaive(&nout, &nlse, q, k, v, T: T, NH: NH, NKV: NKV, HD: HD)
            fwd = max(fwd, relativeError(out, nout))
            lseErr = max(lseErr, relativeError(lse, nlse))
            var dq = zeros(T * NH * HD), dk = zeros(T * NKV * HD), dv = zeros(T * NKV * HD)
            Kernels.attentionBackward(&dq, &dk, &dv, dout, q, k, v, out, lse, T: T, NH: NH, NKV: NKV, HD: HD,
                                      scratch: scratch, block: c.block)
            if T < 10 {
                let num = finiteDifferences([doubles(q), doubles(k), doubles(v)]) { p in
                    loss(p[0], p[1], p[2], dout, T: T, NH: NH, NKV: NKV, HD: HD)
                }
                fd = max(fd, relativeError(dq, num[0]), relativeError(dk, num[1]), relativeError(dv, num[2]))
            }
            var nq = zeros(T * NH * HD), nk = zeros(T * NKV * HD), nv = zeros(T * NKV * HD)
            Kernels.attentionBackwardNaive(&nq, &nk, &nv, dout, q, k, v, T: T, NH: NH, NKV: NKV, HD: HD)
            twin = max(twin, relativeError(dq, nq), relativeError(dk, nk), relativeError(dv, nv))
            let (dq1, dk1, dv1) = (dq, dk, dv)
            Kernels.attentionBackward(&dq, &dk, &dv, dout, q, k, v, out, lse, T: T, NH: NH, NKV: NKV, HD: HD,
                                      scratch: scratch, block: c.block)
            accumulate = max(accumulate, relativeError(dq, dq1.map { 2 * $0 }), relativeError(dk, dk1.map { 2 * $0 }),
                             relativeError(dv, dv1.map { 2 * $0 }))
            if T == 1 {
                // One token attends to itself only: out = v of its key/value head, no gradient reaches q or k.
                for h in 0..<NH { for d in 0..<HD { XCTAssertEqual(out[h * HD + d], v[(h / (NH / NKV)) * HD + d], accuracy: 1e-6) } }
                XCTAssertTrue(dq1.allSatisfy { abs($0) < 1e-6 } && dk1.allSatisfy { abs($0) < 1e-6 })
            }
        }
        assertWithin("attention forward", fwd, 1.3e-6)   // measured 1.2e-07, tolerance about 10x
        assertWithin("attention lse", lseErr, 7.8e-7)   // measured 7.8e-08, tolerance about 10x
        assertWithin("attention fd", fd, 3e-6)   // measured 3e-07, tolerance about 10x
        assertWithin("attention twin", twin, 5.8e-6)   // measured 5.8e-07, tolerance about 10x
        assertWithin("attention accumulate", accumulate, 1.1e-6)   // measured 1e-07, tolerance about 10x
    }
}

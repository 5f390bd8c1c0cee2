// Matrix products with few rows (generation steps): one pass over the weights, split across threads.
// BLAS packs the whole weight matrix for every call, which costs more than the product when N is small.
import Dispatch

/// Hands a closure or buffers to the workers of `concurrentPerform`. Unchecked, and safe because each worker
/// writes only its own disjoint range of the output, reads shared inputs that nobody writes meanwhile, and
/// concurrentPerform returns only after every worker has finished.
struct DisjointWork<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension Kernels {
    /// Splits 0..<count into `threads` contiguous ranges run concurrently (serially when count is small).
    public static func parallelRanges(_ count: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = Swift.max(1, Swift.min(threads, count / Swift.max(1, minPerThread)))
        if workers == 1 { body(0..<count); return }
        let per = (count + workers - 1) / workers
        withoutActuallyEscaping(body) { body in
            let shared = DisjointWork(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = w * per, hi = Swift.min(count, lo + per)
                if lo < hi { shared.value(lo..<hi) }
            }
        }
    }

    /// Threads used by the small-N kernels: OpenBLAS's own setting (`BLAS.setThreads`), so that one number, kept by
    /// the library that needs it anyway, governs every kernel; no second copy to drift or race.
    public static var threads: Int { BLAS.threads }

    /// out[N, OC] = inp[N, IC] · weight[OC, IC]^T + bias, for N <= 8 and IC a multiple of 8: each weight row is
    /// read once and dotted with every input row; output rows are split across `threads` workers.
    public static func matmulSmallN(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                    _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                    N: Int, IC: Int, OC: Int) {
        precondition(N >= 1 && N <= 8 && IC % 8 == 0)
        let workers = Swift.max(1, Swift.min(threads, OC / 64))
        let per = (OC + workers - 1) / workers
        let p = DisjointWork((out, inp, weight, bias))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let o0 = w * per, o1 = Swift.min(OC, o0 + per)
            if o0 < o1 { smallNRange(p.value.0, p.value.1, p.value.2, p.value.3, N: N, IC: IC, OC: OC, o0: o0, o1: o1) }
        }
    }

    @inline(__always)
    private static func smallNRange(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                    _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                    N: Int, IC: Int, OC: Int, o0: Int, o1: Int) {
        // Rows past N alias row 0; their sums are discarded.
        let xr = (0..<8).map { UnsafeRawPointer(inp + (($0 < N ? $0 : 0) * IC)) }
        let x0 = xr[0], x1 = xr[1], x2 = xr[2], x3 = xr[3], x4 = xr[4], x5 = xr[5], x6 = xr[6], x7 = xr[7]
        for o in o0..<o1 {
            let wr = UnsafeRawPointer(weight + o * IC)
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var i = 0
            while i < IC {
                let b = i * 4
                let wv = wr.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                a0 += wv * x0.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                a1 += wv * x1.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                a2 += wv * x2.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                a3 += wv * x3.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                a4 += wv * x4.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                a5 += wv * x5.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                a6 += wv * x6.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                a7 += wv * x7.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                i += 8
            }
            let b = bias?[o] ?? 0
            let o = out + o
            o[0] = a0.sum() + b
            if N > 1 { o[OC] = a1.sum() + b }
            if N > 2 { o[2 * OC] = a2.sum() + b }
            if N > 3 { o[3 * OC] = a3.sum() + b }
            if N > 4 { o[4 * OC] = a4.sum() + b }
            if N > 5 { o[5 * OC] = a5.sum() + b }
            if N > 6 { o[6 * OC] = a6.sum() + b }
            if N > 7 { o[7 * OC] = a7.sum() + b }
        }
    }
}

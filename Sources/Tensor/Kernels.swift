// Elementwise and row kernels of the transformer forward pass (llm.c style: xForward(out, inp, ..., shapes)).
import Foundation

public enum Kernels {
    // MARK: exp

    /// exp(x) for 8 lanes: Cephes-style range reduction x = n ln2 + r (n rounded to nearest) and a degree-6
    /// polynomial (about 2 ulp). Rounding and 2^n use the 1.5 * 2^23 trick: Swift's generic SIMD float-to-int
    /// conversion is element-wise and slow.
    @inline(__always)
    public static func exp8(_ x0: SIMD8<Float>) -> SIMD8<Float> {
        var x = x0
        let lo = SIMD8<Float>(repeating: -87.33654), hi = SIMD8<Float>(repeating: 88.37626)
        x.replace(with: lo, where: x .< lo)
        x.replace(with: hi, where: x .> hi)
        let magic = SIMD8<Float>(repeating: 12582912)          // 1.5 * 2^23
        let shifted = x * 1.44269504088896341 + magic          // low mantissa bits hold round(x / ln2)
        let n = shifted - magic
        var r = x - n * 0.693359375
        r = r + n * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        let bits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000   // n as an integer
        return p * unsafeBitCast((bits &+ 127) &<< 23, to: SIMD8<Float>.self)
    }

    /// In place x[i] = exp(x[i] - shift); returns the sum of the results (accumulated per lane, then in Double).
    @discardableResult
    public static func expShiftSum(_ x: UnsafeMutablePointer<Float>, _ count: Int, shift: Float) -> Double {
        var acc = SIMD8<Float>(repeating: 0)
        var total = 0.0
        var i = 0
        let s = SIMD8<Float>(repeating: shift)
        let raw = UnsafeMutableRawPointer(x)
        while i + 8 <= count {
            let v = exp8(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - s)
            raw.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
            acc += v
            i += 8
            if i & 1023 == 0 { total += Double(acc.sum()); acc = .zero }
        }
        total += Double(acc.sum())
        while i < count { let v = Foundation.exp(x[i] - shift); x[i] = v; total += Double(v); i += 1 }
        return total
    }

    /// Maximum of x[0..<count] (count > 0).
    public static func max(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var m = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        let raw = UnsafeRawPointer(x)
        while i + 8 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            m.replace(with: v, where: v .> m)
            i += 8
        }
        var r = m.max()
        while i < count { r = Swift.max(r, x[i]); i += 1 }
        return r
    }

    // MARK: norms

    /// out[N, C] = inp / sqrt(mean(inp^2) + eps) * weight[C]   (Llama RMSNorm, float32 like transformers)
    public static func rmsnormForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                      _ weight: UnsafePointer<Float>, N: Int, C: Int, eps: Float) {
        for n in 0..<N {
            let x = inp + n * C, o = out + n * C
            var ss: Float = 0
            for c in 0..<C { ss += x[c] * x[c] }
            let rstd = 1 / (ss / Float(C) + eps).squareRoot()
            for c in 0..<C { o[c] = weight[c] * (x[c] * rstd) }
        }
    }

    /// out[N, C] = (inp - mean) / sqrt(var + eps) * weight + bias   (LayerNorm, biased variance)
    public static func layernormForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                        _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                        N: Int, C: Int, eps: Float) {
        for n in 0..<N {
            let x = inp + n * C, o = out + n * C
            var s: Float = 0
            for c in 0..<C { s += x[c] }
            let mean = s / Float(C)
            var v: Float = 0
            for c in 0..<C { let d = x[c] - mean; v += d * d }
            let rstd = 1 / (v / Float(C) + eps).squareRoot()
            if let bias {
                for c in 0..<C { o[c] = (x[c] - mean) * rstd * weight[c] + bias[c] }
            } else {
                for c in 0..<C { o[c] = (x[c] - mean) * rstd * weight[c] }
            }
        }
    }

    // MARK: activations

    /// gate[count] = silu(gate) * up   (SwiGLU, written into gate)
    public static func swigluForward(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ count: Int) {
        parallelRanges(count, minPerThread: 1 << 16) { r in
            let raw = UnsafeMutableRawPointer(gate), uraw = UnsafeRawPointer(up)
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let g = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                let u = uraw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                let s = g / (1 + exp8(-g))
                raw.storeBytes(of: s * u, toByteOffset: i * 4, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound { let g = gate[i]; gate[i] = g / (1 + Foundation.exp(-g)) * up[i]; i += 1 }
        }
    }

    /// x = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (GPT-2 "gelu_new"), in place
    public static func geluTanhForward(_ x: UnsafeMutablePointer<Float>, _ count: Int) {
        let k: Float = 0.7978845608028654
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + Foundation.tanh(k * (v + 0.044715 * v * v * v)))
        }
    }

    /// x = 0.5 x (1 + erf(x / sqrt 2))   (exact GELU, GPT-NeoX "gelu"), in place
    public static func geluErfForward(_ x: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + Foundation.erf(v * 0.70710678118654752))
        }
    }

    /// sum_i a[i] b[i]
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD8<Float>(), i = 0
        let ar = UnsafeRawPointer(a), br = UnsafeRawPointer(b)
        while i + 8 <= count {
            acc += ar.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * br.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < count { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y[count] += alpha * x
    @inline(__always)
    public static func axpy(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ alpha: Float, _ count: Int) {
        for i in 0..<count { y[i] += alpha * x[i] }
    }

    /// a[count] += b
    public static func addInPlace(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) {
        for i in 0..<count { a[i] += b[i] }
    }

    /// out[N, C] += bias[C] for every row
    public static func addBias(_ out: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, N: Int, C: Int) {
        for n in 0..<N { let o = out + n * C; for c in 0..<C { o[c] += bias[c] } }
    }

    // MARK: matmul

    /// out[N, OC] = inp[N, IC] · weight[OC, IC]^T + bias[OC]   (weights stored out-major, as in both file formats)
    public static func matmulForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                     _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                     N: Int, IC: Int, OC: Int) {
        if N <= 8 && IC % 8 == 0 {
            matmulSmallN(out, inp, weight, bias, N: N, IC: IC, OC: OC)
            return
        }
        BLAS.sgemm(transB: true, m: N, n: OC, k: IC, a: inp, lda: IC, b: weight, ldb: IC, c: out, ldc: OC)
        if let bias { addBias(out, bias, N: N, C: OC) }
    }

    /// The obvious triple loop in Double, kept beside the BLAS path for tests.
    public static func matmulNaive(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                   _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                   N: Int, IC: Int, OC: Int) {
        for n in 0..<N {
            for o in 0..<OC {
                var s = Double(bias?[o] ?? 0)
                for i in 0..<IC { s += Double(inp[n * IC + i]) * Double(weight[o * IC + i]) }
                out[n * OC + o] = Float(s)
            }
        }
    }
}

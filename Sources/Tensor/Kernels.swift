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

    // MARK: norms for training (statistics kept for the backward)

    /// out[N, C] = inp * rstd * weight[C], with rstd[N] = 1 / sqrt(mean(inp^2) + eps) kept for the backward.
    public static func rmsnormForward(_ out: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                                      _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, N: Int, C: Int, eps: Float) {
        parallelRanges(N, minPerThread: rowsPerThread(C)) { rows in
            for n in rows {
                let x = inp + n * C, o = out + n * C
                let r = 1 / (dot(x, x, C) / Float(C) + eps).squareRoot()
                rstd[n] = r
                for c in 0..<C { o[c] = weight[c] * (x[c] * r) }
            }
        }
    }

    /// With g = dout, r = rstd[n]: dinp[N, C] += r w g - r^3 / C * x * sum_c(g w x); dweight[C] += sum_n g x r.
    public static func rmsnormBackward(_ dinp: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                                       _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                       _ rstd: UnsafePointer<Float>, N: Int, C: Int) {
        parallelRanges(N, minPerThread: rowsPerThread(C)) { rows in
            for n in rows {
                let x = inp + n * C, g = dout + n * C, dx = dinp + n * C, r = rstd[n]
                var s: Float = 0
                for c in 0..<C { s += g[c] * weight[c] * x[c] }
                let k = r * r * r * s / Float(C)
                for c in 0..<C { dx[c] += r * weight[c] * g[c] - k * x[c] }
            }
        }
        // Column ranges per worker: each owns its slice of dweight[C].
        if let dweight {
            parallelRanges(C, minPerThread: Swift.max(64, 16384 / Swift.max(N, 1))) { cols in
                for n in 0..<N {
                    let x = inp + n * C, g = dout + n * C, r = rstd[n]
                    for c in cols { dweight[c] += g[c] * x[c] * r }
                }
            }
        }
    }

    /// Slow twin of the training rmsnormForward, in Double.
    public static func rmsnormForwardNaive(_ out: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                                           _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, N: Int, C: Int, eps: Float) {
        for n in 0..<N {
            var ss = 0.0
            for c in 0..<C { ss += Double(inp[n * C + c]) * Double(inp[n * C + c]) }
            let r = 1 / (ss / Double(C) + Double(eps)).squareRoot()
            rstd[n] = Float(r)
            for c in 0..<C { out[n * C + c] = Float(Double(inp[n * C + c]) * r * Double(weight[c])) }
        }
    }

    /// Slow twin of rmsnormBackward, in Double (same formula, written element by element).
    public static func rmsnormBackwardNaive(_ dinp: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                                            _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                            _ rstd: UnsafePointer<Float>, N: Int, C: Int) {
        for n in 0..<N {
            let r = Double(rstd[n])
            // d out_c / d x_i = w_c (r [c == i] - r^3 x_c x_i / C)
            for i in 0..<C {
                var s = 0.0
                for c in 0..<C {
                    let j = (c == i ? r : 0) - r * r * r * Double(inp[n * C + c]) * Double(inp[n * C + i]) / Double(C)
                    s += Double(dout[n * C + c]) * Double(weight[c]) * j
                }
                dinp[n * C + i] += Float(s)
            }
        }
        if let dweight {
            for c in 0..<C {
                var s = 0.0
                for n in 0..<N { s += Double(dout[n * C + c]) * Double(inp[n * C + c]) * Double(rstd[n]) }
                dweight[c] += Float(s)
            }
        }
    }

    /// out[N, C] = (inp - mean) * rstd * weight + bias, with mean[N] and rstd[N] = 1 / sqrt(var + eps) kept
    /// (biased variance, as torch.nn.LayerNorm).
    public static func layernormForward(_ out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>,
                                        _ rstd: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                        _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, N: Int, C: Int, eps: Float) {
        parallelRanges(N, minPerThread: rowsPerThread(C)) { rows in
            for n in rows {
                let x = inp + n * C, o = out + n * C
                var s: Float = 0
                for c in 0..<C { s += x[c] }
                let m = s / Float(C)
                var v: Float = 0
                for c in 0..<C { let d = x[c] - m; v += d * d }
                let r = 1 / (v / Float(C) + eps).squareRoot()
                mean[n] = m; rstd[n] = r
                if let bias {
                    for c in 0..<C { o[c] = (x[c] - m) * r * weight[c] + bias[c] }
                } else {
                    for c in 0..<C { o[c] = (x[c] - m) * r * weight[c] }
                }
            }
        }
    }

    /// With xhat = (x - mean) rstd and dnorm = dout * weight:
    /// dinp[N, C] += rstd (dnorm - mean_c(dnorm) - xhat mean_c(dnorm xhat)); dweight[C] += sum_n dout xhat; dbias[C] += sum_n dout.
    public static func layernormBackward(_ dinp: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                                         _ dbias: UnsafeMutablePointer<Float>?, _ dout: UnsafePointer<Float>,
                                         _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                         _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, N: Int, C: Int) {
        parallelRanges(N, minPerThread: rowsPerThread(C)) { rows in
            for n in rows {
                let x = inp + n * C, g = dout + n * C, dx = dinp + n * C, m = mean[n], r = rstd[n]
                var sd: Float = 0, sdx: Float = 0
                for c in 0..<C {
                    let dn = g[c] * weight[c]
                    sd += dn; sdx += dn * (x[c] - m) * r
                }
                sd /= Float(C); sdx /= Float(C)
                for c in 0..<C { dx[c] += r * (g[c] * weight[c] - sd - (x[c] - m) * r * sdx) }
            }
        }
        if dweight == nil && dbias == nil { return }
        parallelRanges(C, minPerThread: Swift.max(64, 16384 / Swift.max(N, 1))) { cols in
            for n in 0..<N {
                let x = inp + n * C, g = dout + n * C, m = mean[n], r = rstd[n]
                if let dweight { for c in cols { dweight[c] += g[c] * (x[c] - m) * r } }
                if let dbias { for c in cols { dbias[c] += g[c] } }
            }
        }
    }

    /// Slow twin of the training layernormForward, in Double.
    public static func layernormForwardNaive(_ out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>,
                                             _ rstd: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                             _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, N: Int, C: Int, eps: Float) {
        for n in 0..<N {
            var s = 0.0
            for c in 0..<C { s += Double(inp[n * C + c]) }
            let m = s / Double(C)
            var v = 0.0
            for c in 0..<C { let d = Double(inp[n * C + c]) - m; v += d * d }
            let r = 1 / (v / Double(C) + Double(eps)).squareRoot()
            mean[n] = Float(m); rstd[n] = Float(r)
            for c in 0..<C { out[n * C + c] = Float((Double(inp[n * C + c]) - m) * r * Double(weight[c]) + Double(bias?[c] ?? 0)) }
        }
    }

    /// Slow twin of layernormBackward, in Double, through the full Jacobian of each row.
    public static func layernormBackwardNaive(_ dinp: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                                              _ dbias: UnsafeMutablePointer<Float>?, _ dout: UnsafePointer<Float>,
                                              _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                              _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, N: Int, C: Int) {
        for n in 0..<N {
            let m = Double(mean[n]), r = Double(rstd[n])
            let xhat = (0..<C).map { (Double(inp[n * C + $0]) - m) * r }
            // d xhat_c / d x_i = r ([c == i] - 1/C - xhat_c xhat_i / C)
            for i in 0..<C {
                var s = 0.0
                for c in 0..<C {
                    let j = r * ((c == i ? 1 : 0) - 1 / Double(C) - xhat[c] * xhat[i] / Double(C))
                    s += Double(dout[n * C + c]) * Double(weight[c]) * j
                }
                dinp[n * C + i] += Float(s)
            }
            for c in 0..<C {
                dweight?[c] += Float(Double(dout[n * C + c]) * xhat[c])
                dbias?[c] += dout[n * C + c]
            }
        }
    }

    /// Rows per worker so that each gets at least ~16k elements of a [rows, C] pass.
    @inline(__always)
    static func rowsPerThread(_ C: Int) -> Int { Swift.max(1, 16384 / Swift.max(C, 1)) }

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

    // MARK: activations for training (out of place, inputs kept for the backward)

    /// out[count] = silu(gate) * up = gate * sigmoid(gate) * up; gate and up untouched.
    public static func swigluForward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>,
                                     _ up: UnsafePointer<Float>, _ count: Int) {
        parallelRanges(count, minPerThread: 1 << 14) { r in
            let oraw = UnsafeMutableRawPointer(out), graw = UnsafeRawPointer(gate), uraw = UnsafeRawPointer(up)
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let g = graw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                let u = uraw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                oraw.storeBytes(of: g / (1 + exp8(-g)) * u, toByteOffset: i * 4, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound { let g = gate[i]; out[i] = g / (1 + Foundation.exp(-g)) * up[i]; i += 1 }
        }
    }

    /// With s = sigmoid(gate), e = exp(-gate): dgate[count] += dout * up * (s + gate * e * s^2)  (s (1 - s) = e s^2,
    /// no cancellation); dup[count] += dout * gate * s.
    public static func swigluBackward(_ dgate: UnsafeMutablePointer<Float>, _ dup: UnsafeMutablePointer<Float>,
                                      _ dout: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                                      _ count: Int) {
        parallelRanges(count, minPerThread: 1 << 14) { r in
            let dgraw = UnsafeMutableRawPointer(dgate), duraw = UnsafeMutableRawPointer(dup)
            let draw = UnsafeRawPointer(dout), graw = UnsafeRawPointer(gate), uraw = UnsafeRawPointer(up)
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let b = i * 4
                let g = graw.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                let u = uraw.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                let d = draw.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                let e = exp8(-g), s = 1 / (1 + e)
                let dg = dgraw.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self) + d * u * (s + g * (e * s) * s)
                let du = duraw.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self) + d * g * s
                dgraw.storeBytes(of: dg, toByteOffset: b, as: SIMD8<Float>.self)
                duraw.storeBytes(of: du, toByteOffset: b, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound {
                let g = gate[i], e = Foundation.exp(-g), s = 1 / (1 + e)
                dgate[i] += dout[i] * up[i] * (s + g * (e * s) * s)
                dup[i] += dout[i] * g * s
                i += 1
            }
        }
    }

    /// Slow twin of the out-of-place swigluForward, in Double.
    public static func swigluForwardNaive(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>,
                                          _ up: UnsafePointer<Float>, _ count: Int) {
        for i in 0..<count { let g = Double(gate[i]); out[i] = Float(g / (1 + Foundation.exp(-g)) * Double(up[i])) }
    }

    /// Slow twin of swigluBackward, in Double.
    public static func swigluBackwardNaive(_ dgate: UnsafeMutablePointer<Float>, _ dup: UnsafeMutablePointer<Float>,
                                           _ dout: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                                           _ count: Int) {
        for i in 0..<count {
            let g = Double(gate[i]), s = 1 / (1 + Foundation.exp(-g)), d = Double(dout[i])
            dgate[i] += Float(d * Double(up[i]) * (s + g * s * (1 - s)))
            dup[i] += Float(d * g * s)
        }
    }

    /// sqrt(2/pi) and 0.044715, the constants of the tanh GELU.
    static let geluK: Float = 0.7978845608028654, geluC: Float = 0.044715

    /// out[count] = 0.5 x (1 + tanh(z)), z = sqrt(2/pi) (x + 0.044715 x^3)  (GPT-2 "gelu_new"), computed as
    /// x * sigmoid(2z), the same function without tanh's cancellation.
    public static func geluTanhForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ count: Int) {
        parallelRanges(count, minPerThread: 1 << 14) { r in
            let oraw = UnsafeMutableRawPointer(out), xraw = UnsafeRawPointer(inp)
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let x = xraw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                let z2 = 2 * geluK * (x + geluC * x * x * x)
                oraw.storeBytes(of: x / (1 + exp8(-z2)), toByteOffset: i * 4, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound {
                let x = inp[i]
                out[i] = x / (1 + Foundation.exp(-2 * geluK * (x + geluC * x * x * x))); i += 1
            }
        }
    }

    /// With s = sigmoid(2z), e = exp(-2z): dinp[count] += dout * (s + x * 2 z'(x) * e s^2),
    /// z'(x) = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    public static func geluTanhBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                        _ inp: UnsafePointer<Float>, _ count: Int) {
        parallelRanges(count, minPerThread: 1 << 14) { r in
            let dxraw = UnsafeMutableRawPointer(dinp), draw = UnsafeRawPointer(dout), xraw = UnsafeRawPointer(inp)
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let b = i * 4
                let x = xraw.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
                let x2 = x * x
                let e = exp8(-2 * geluK * (x + geluC * x2 * x)), s = 1 / (1 + e)
                let dz2 = 2 * geluK * (1 + 3 * geluC * x2)
                let d = draw.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self) * (s + x * dz2 * (e * s) * s)
                dxraw.storeBytes(of: dxraw.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self) + d, toByteOffset: b, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound {
                let x = inp[i], x2 = x * x
                let e = Foundation.exp(-2 * geluK * (x + geluC * x2 * x)), s = 1 / (1 + e)
                dinp[i] += dout[i] * (s + x * 2 * geluK * (1 + 3 * geluC * x2) * (e * s) * s)
                i += 1
            }
        }
    }

    /// Slow twin of the out-of-place geluTanhForward: the textbook tanh formula in Double.
    public static func geluTanhForwardNaive(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ count: Int) {
        let k = (2 / Double.pi).squareRoot()
        for i in 0..<count { let x = Double(inp[i]); out[i] = Float(0.5 * x * (1 + Foundation.tanh(k * (x + 0.044715 * x * x * x)))) }
    }

    /// Slow twin of geluTanhBackward: d/dx of the tanh formula, in Double.
    public static func geluTanhBackwardNaive(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                             _ inp: UnsafePointer<Float>, _ count: Int) {
        let k = (2 / Double.pi).squareRoot()
        for i in 0..<count {
            let x = Double(inp[i]), t = Foundation.tanh(k * (x + 0.044715 * x * x * x))
            let d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
            dinp[i] += Float(Double(dout[i]) * d)
        }
    }

    /// out[count] = 0.5 x (1 + erf(x / sqrt 2))   (exact GELU, GPT-NeoX "gelu")
    public static func geluErfForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ count: Int) {
        parallelRanges(count, minPerThread: 1 << 14) { r in
            for i in r { let x = inp[i]; out[i] = 0.5 * x * (1 + Foundation.erf(x * 0.70710678118654752)) }
        }
    }

    /// dinp[count] += dout * (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))
    public static func geluErfBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                       _ inp: UnsafePointer<Float>, _ count: Int) {
        parallelRanges(count, minPerThread: 1 << 14) { r in
            for i in r {
                let x = inp[i]
                let d = 0.5 * (1 + Foundation.erf(x * 0.70710678118654752)) + x * Foundation.exp(-0.5 * x * x) * 0.3989422804014327
                dinp[i] += dout[i] * d
            }
        }
    }

    /// Slow twin of the out-of-place geluErfForward, in Double.
    public static func geluErfForwardNaive(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ count: Int) {
        for i in 0..<count { let x = Double(inp[i]); out[i] = Float(0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))) }
    }

    /// Slow twin of geluErfBackward, in Double.
    public static func geluErfBackwardNaive(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                            _ inp: UnsafePointer<Float>, _ count: Int) {
        for i in 0..<count {
            let x = Double(inp[i])
            let d = 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) + x * Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
            dinp[i] += Float(Double(dout[i]) * d)
        }
    }

    // MARK: embedding

    /// dweight[row(n), C] += dout[n, C] for n in 0..<N (token and learned position embeddings). Serial: rows repeat.
    public static func embeddingBackward(_ dweight: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                         _ rows: UnsafePointer<Int32>, N: Int, C: Int) {
        for n in 0..<N {
            let r = Int(rows[n])
            precondition(r >= 0, "embedding row \(r) < 0")
            addInPlace(dweight + r * C, dout + n * C, C)
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

    /// Gradients of matmulForward: dinp[N, IC] += dout[N, OC] · weight[OC, IC]; dweight[OC, IC] += dout^T · inp[N, IC];
    /// dbias[OC] += sum_n dout[n]. Nil gradients are skipped.
    public static func matmulBackward(_ dinp: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?,
                                      _ dbias: UnsafeMutablePointer<Float>?, _ dout: UnsafePointer<Float>,
                                      _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, N: Int, IC: Int, OC: Int) {
        if N == 0 { return }
        if let dinp {
            BLAS.sgemm(m: N, n: IC, k: OC, a: dout, lda: OC, b: weight, ldb: IC, beta: 1, c: dinp, ldc: IC)
        }
        if let dweight {
            BLAS.sgemm(transA: true, m: OC, n: IC, k: N, a: dout, lda: OC, b: inp, ldb: IC, beta: 1, c: dweight, ldc: IC)
        }
        if let dbias {
            // Column ranges per worker: each owns its slice of dbias[OC].
            parallelRanges(OC, minPerThread: Swift.max(64, 16384 / N)) { cols in
                for n in 0..<N { let g = dout + n * OC; for o in cols { dbias[o] += g[o] } }
            }
        }
    }

    /// Slow twin of matmulBackward: the obvious loops in Double.
    public static func matmulBackwardNaive(_ dinp: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?,
                                           _ dbias: UnsafeMutablePointer<Float>?, _ dout: UnsafePointer<Float>,
                                           _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, N: Int, IC: Int, OC: Int) {
        if let dinp {
            for n in 0..<N {
                for i in 0..<IC {
                    var s = 0.0
                    for o in 0..<OC { s += Double(dout[n * OC + o]) * Double(weight[o * IC + i]) }
                    dinp[n * IC + i] += Float(s)
                }
            }
        }
        if let dweight {
            for o in 0..<OC {
                for i in 0..<IC {
                    var s = 0.0
                    for n in 0..<N { s += Double(dout[n * OC + o]) * Double(inp[n * IC + i]) }
                    dweight[o * IC + i] += Float(s)
                }
            }
        }
        if let dbias {
            for o in 0..<OC {
                var s = 0.0
                for n in 0..<N { s += Double(dout[n * OC + o]) }
                dbias[o] += Float(s)
            }
        }
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

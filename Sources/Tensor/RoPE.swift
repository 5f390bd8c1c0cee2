// Rotary position embedding (Su et al. 2021) in both layouts found in checkpoints.
import Foundation

/// Which dimensions of a head form a rotating pair.
public enum RoPEStyle: String, Sendable {
    /// Pairs (i, i + rd/2): Hugging Face Llama and GPT-NeoX ("rotate half").
    case halves
    /// Pairs (2i, 2i + 1): GGUF files, whose converter permuted the rows of Q and K (GPT-J layout).
    case interleaved
}

/// cos/sin tables for positions 0..<capacity and frequencies theta^(-2i/rd), grown on demand.
/// Unchecked, and safe because the tables are grown and read only under `lock`; `apply` then rotates with
/// its own copy-on-write snapshot of them, which later growth never touches.
public final class RoPETable: @unchecked Sendable {
    public let rotaryDims: Int
    public let theta: Double
    public let style: RoPEStyle
    private(set) var capacity = 0
    private var cosT: [Float] = []   // [capacity, rd/2]
    private var sinT: [Float] = []   // [capacity, rd/2]
    private let lock = NSLock()

    public init(rotaryDims: Int, theta: Double, style: RoPEStyle) {
        precondition(rotaryDims % 2 == 0)
        self.rotaryDims = rotaryDims; self.theta = theta; self.style = style
    }

    /// The tables, covering at least positions 0..<n.
    private func tables(_ n: Int) -> (cos: [Float], sin: [Float]) {
        lock.lock(); defer { lock.unlock() }
        if n <= capacity { return (cosT, sinT) }
        let newCap = Swift.max(n, capacity * 2, 256)
        let half = rotaryDims / 2
        var c = [Float](repeating: 0, count: newCap * half), s = c
        for p in 0..<newCap {
            for i in 0..<half {
                let invFreq = 1.0 / Foundation.pow(theta, Double(2 * i) / Double(rotaryDims))
                let a = Double(p) * invFreq
                c[p * half + i] = Float(Foundation.cos(a)); s[p * half + i] = Float(Foundation.sin(a))
            }
        }
        cosT = c; sinT = s; capacity = newCap
        return (c, s)
    }

    /// Rotates x[N, nHeads * headDim] in place; row n sits at position positions[n]. Only the first
    /// `rotaryDims` dimensions of each head rotate (partial rotary, GPT-NeoX).
    public func apply(_ x: UnsafeMutablePointer<Float>, N: Int, nHeads: Int, headDim: Int, positions: UnsafePointer<Int32>) {
        rotate(x, N: N, nHeads: nHeads, headDim: headDim, positions: positions, sign: 1)
    }

    /// The gradient of `apply`: each pair's rotation by +angle is orthogonal, so its transpose, the rotation by
    /// -angle, maps dout to dinp. Rotates dx[N, nHeads * headDim] in place (not accumulated).
    public func applyBackward(_ dx: UnsafeMutablePointer<Float>, N: Int, nHeads: Int, headDim: Int, positions: UnsafePointer<Int32>) {
        rotate(dx, N: N, nHeads: nHeads, headDim: headDim, positions: positions, sign: -1)
    }

    /// Rotates each rotating pair by sign * angle: pairs (i, i + rd/2) for .halves, (2i, 2i + 1) for .interleaved.
    private func rotate(_ x: UnsafeMutablePointer<Float>, N: Int, nHeads: Int, headDim: Int, positions: UnsafePointer<Int32>,
                        sign: Float) {
        var maxPos = 0
        for n in 0..<N { maxPos = Swift.max(maxPos, Int(positions[n])) }
        let (cosT, sinT) = tables(maxPos + 1)
        let half = rotaryDims / 2
        let stride = style == .halves ? 1 : 2, offset = style == .halves ? half : 1
        cosT.withUnsafeBufferPointer { cb in
            sinT.withUnsafeBufferPointer { sb in
                for n in 0..<N {
                    let cp = cb.baseAddress! + Int(positions[n]) * half, sp = sb.baseAddress! + Int(positions[n]) * half
                    for h in 0..<nHeads {
                        let v = x + n * nHeads * headDim + h * headDim
                        for i in 0..<half {
                            let ia = i * stride, ib = ia + offset, s = sign * sp[i]
                            let a = v[ia], b = v[ib]
                            v[ia] = a * cp[i] - b * s
                            v[ib] = b * cp[i] + a * s
                        }
                    }
                }
            }
        }
    }
}

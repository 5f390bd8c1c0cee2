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
        var maxPos = 0
        for n in 0..<N { maxPos = Swift.max(maxPos, Int(positions[n])) }
        let (cosT, sinT) = tables(maxPos + 1)
        let half = rotaryDims / 2
        cosT.withUnsafeBufferPointer { cb in
            sinT.withUnsafeBufferPointer { sb in
                for n in 0..<N {
                    let cp = cb.baseAddress! + Int(positions[n]) * half, sp = sb.baseAddress! + Int(positions[n]) * half
                    for h in 0..<nHeads {
                        let v = x + n * nHeads * headDim + h * headDim
                        switch style {
                        case .halves:
                            for i in 0..<half {
                                let a = v[i], b = v[i + half]
                                v[i] = a * cp[i] - b * sp[i]
                                v[i + half] = b * cp[i] + a * sp[i]
                            }
                        case .interleaved:
                            for i in 0..<half {
                                let a = v[2 * i], b = v[2 * i + 1]
                                v[2 * i] = a * cp[i] - b * sp[i]
                                v[2 * i + 1] = b * cp[i] + a * sp[i]
                            }
                        }
                    }
                }
            }
        }
    }
}

extension RoPETable {
    /// The gradient of `apply`: each pair's rotation by +angle is orthogonal, so its transpose, the rotation by
    /// -angle, maps dout to dinp. Rotates dx[N, nHeads * headDim] in place (not accumulated).
    public func applyBackward(_ dx: UnsafeMutablePointer<Float>, N: Int, nHeads: Int, headDim: Int, positions: UnsafePointer<Int32>) {
        var maxPos = 0
        for n in 0..<N { maxPos = Swift.max(maxPos, Int(positions[n])) }
        let (cosT, sinT) = tables(maxPos + 1)
        let half = rotaryDims / 2
        cosT.withUnsafeBufferPointer { cb in
            sinT.withUnsafeBufferPointer { sb in
                for n in 0..<N {
                    let cp = cb.baseAddress! + Int(positions[n]) * half, sp = sb.baseAddress! + Int(positions[n]) * half
                    for h in 0..<nHeads {
                        let v = dx + n * nHeads * headDim + h * headDim
                        // (i, j) is a rotating pair: halves (i, i + rd/2) or interleaved (2i, 2i + 1)
                        let stride = style == .halves ? 1 : 2, offset = style == .halves ? half : 1
                        for i in 0..<half {
                            let ia = i * stride, ib = ia + offset
                            let a = v[ia], b = v[ib]
                            v[ia] = a * cp[i] + b * sp[i]
                            v[ib] = b * cp[i] - a * sp[i]
                        }
                    }
                }
            }
        }
    }
}

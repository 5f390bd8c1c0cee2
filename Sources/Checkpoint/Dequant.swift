// Float16/BFloat16 widening and GGML block dequantisation to Float32 (ggml-common.h, ggml-quants.c dequantize_row_*).
// All reads are unaligned little-endian loads: safetensors data need not be aligned.

/// IEEE binary16 bits to Float, exact for every input (subnormals, infinities, NaN payloads).
@inline(__always)
public func float16ToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let magnitude = UInt32(h & 0x7FFF)
    if magnitude >= 0x7C00 {  // inf or NaN: max exponent, payload moved to the top of the f32 mantissa
        return Float(bitPattern: sign | 0x7F80_0000 | ((magnitude & 0x3FF) << 13))
    }
    if magnitude >= 0x0400 {  // normal: rebias the exponent from 15 to 127
        return Float(bitPattern: sign | ((magnitude << 13) &+ 0x3800_0000))
    }
    // zero or subnormal: m * 2^-24, exact in Float since m < 2^10
    let v = Float(magnitude) * 0x1p-24
    return sign == 0 ? v : -v
}

/// bfloat16 bits to Float: the top half of a binary32, so exact.
@inline(__always)
public func bfloat16ToFloat(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

public enum Dequant {
    /// Converts `count` elements (a multiple of the type's block size) of type `type` at `src` to Float32.
    /// Callers check `type.isFloatConvertible` and bounds; violating either is a programming error.
    public static func dequantize(_ src: UnsafeRawPointer, type: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(type.isFloatConvertible, "\(type.rawValue) does not convert to Float32")
        precondition(count >= 0 && count % type.blockSize == 0, "\(count) is not a multiple of the \(type.rawValue) block size")
        let blocks = count / type.blockSize
        switch type {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16: for i in 0..<count { dst[i] = float16ToFloat(u16(src, 2 * i)) }
        case .bf16: for i in 0..<count { dst[i] = bfloat16ToFloat(u16(src, 2 * i)) }
        case .f64:
            for i in 0..<count {
                dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        case .q4_0: q4_0(src, blocks, dst)
        case .q4_1: q4_1(src, blocks, dst)
        case .q5_0: q5_0(src, blocks, dst)
        case .q5_1: q5_1(src, blocks, dst)
        case .q8_0: q8_0(src, blocks, dst)
        case .q4_k: q4_k(src, blocks, dst)
        case .q6_k: q6_k(src, blocks, dst)
        case .i8, .i16, .i32, .i64, .u8, .bool: preconditionFailure("unreachable")
        }
    }

    @inline(__always) static func u8(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }
    @inline(__always) static func u16(_ p: UnsafeRawPointer, _ i: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt16.self))
    }
    @inline(__always) static func half(_ p: UnsafeRawPointer, _ i: Int) -> Float { float16ToFloat(u16(p, i)) }

    // Legacy quants: 32 weights per block; byte j of qs holds weight j (low nibble) and weight j + 16 (high).

    static func q4_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        var b = src, y = dst
        for _ in 0..<blocks {
            let d = half(b, 0)
            for j in 0..<16 {
                let q = u8(b, 2 + j)
                y[j] = Float(Int32(q & 0xF) - 8) * d
                y[j + 16] = Float(Int32(q >> 4) - 8) * d
            }
            b += 18; y += 32
        }
    }

    static func q4_1(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        var b = src, y = dst
        for _ in 0..<blocks {
            let d = half(b, 0), m = half(b, 2)
            for j in 0..<16 {
                let q = u8(b, 4 + j)
                y[j] = Float(q & 0xF) * d + m
                y[j + 16] = Float(q >> 4) * d + m
            }
            b += 20; y += 32
        }
    }

    /// qh bit j is the fifth bit of weight j.
    static func q5_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        var b = src, y = dst
        for _ in 0..<blocks {
            let d = half(b, 0)
            let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(u8(b, 6 + j))
                let x0 = Int32((q & 0xF) | (((qh >> UInt32(j)) << 4) & 0x10)) - 16
                let x1 = Int32((q >> 4) | ((qh >> UInt32(j + 12)) & 0x10)) - 16
                y[j] = Float(x0) * d
                y[j + 16] = Float(x1) * d
            }
            b += 22; y += 32
        }
    }

    static func q5_1(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        var b = src, y = dst
        for _ in 0..<blocks {
            let d = half(b, 0), m = half(b, 2)
            let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(u8(b, 8 + j))
                let x0 = (q & 0xF) | (((qh >> UInt32(j)) << 4) & 0x10)
                let x1 = (q >> 4) | ((qh >> UInt32(j + 12)) & 0x10)
                y[j] = Float(x0) * d + m
                y[j + 16] = Float(x1) * d + m
            }
            b += 24; y += 32
        }
    }

    static func q8_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        var b = src, y = dst
        for _ in 0..<blocks {
            let d = half(b, 0)
            for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
            b += 34; y += 32
        }
    }

    // K-quants: 256 weights per super-block.

    /// Scale and min of sub-block j (0..<8) from the 12 packed 6-bit values (ggml's get_scale_min_k4).
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ s: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
        if j < 4 { return (u8(s, j) & 63, u8(s, j + 4) & 63) }
        return ((u8(s, j + 4) & 0xF) | ((u8(s, j - 4) >> 6) << 4),
                (u8(s, j + 4) >> 4) | ((u8(s, j) >> 6) << 4))
    }

    /// Block: fp16 d, fp16 dmin, scales[12], qs[128]. Each 64-weight chunk c reads qs[32c..<32c+32]:
    /// low nibbles are sub-block 2c, high nibbles sub-block 2c+1; y = d*scale*q - dmin*min.
    static func q4_k(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        var b = src, y = dst
        for _ in 0..<blocks {
            let d = half(b, 0), dmin = half(b, 2)
            let scales = b + 4, qs = b + 16
            for c in 0..<4 {
                let (s1, m1) = scaleMinK4(2 * c, scales), (s2, m2) = scaleMinK4(2 * c + 1, scales)
                let d1 = d * Float(s1), min1 = dmin * Float(m1)
                let d2 = d * Float(s2), min2 = dmin * Float(m2)
                let q = qs + 32 * c
                for l in 0..<32 {
                    let v = u8(q, l)
                    y[l] = d1 * Float(v & 0xF) - min1
                    y[l + 32] = d2 * Float(v >> 4) - min2
                }
                y += 64
            }
            b += 144
        }
    }

    /// Block: ql[128], qh[64], int8 scales[16], fp16 d. Each 128-weight half h uses ql[64h..], qh[32h..],
    /// scales[8h..]; weight 32k + l of the half takes a nibble of ql and bits 2k..2k+1 of qh[l], minus 32,
    /// times d * scales[8h + l/16 + 2k].
    static func q6_k(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        var b = src, y = dst
        for _ in 0..<blocks {
            let d = half(b, 208)
            for h in 0..<2 {
                let ql = b + 64 * h, qh = b + 128 + 32 * h, sc = b + 192 + 8 * h
                for l in 0..<32 {
                    let s = l / 16
                    let lo = u8(ql, l), hi = u8(ql, l + 32), top = u8(qh, l)
                    let q1 = Int32((lo & 0xF) | ((top & 3) << 4)) - 32
                    let q2 = Int32((hi & 0xF) | (((top >> 2) & 3) << 4)) - 32
                    let q3 = Int32((lo >> 4) | (((top >> 4) & 3) << 4)) - 32
                    let q4 = Int32((hi >> 4) | (((top >> 6) & 3) << 4)) - 32
                    y[l] = d * Float(sc.load(fromByteOffset: s, as: Int8.self)) * Float(q1)
                    y[l + 32] = d * Float(sc.load(fromByteOffset: s + 2, as: Int8.self)) * Float(q2)
                    y[l + 64] = d * Float(sc.load(fromByteOffset: s + 4, as: Int8.self)) * Float(q3)
                    y[l + 96] = d * Float(sc.load(fromByteOffset: s + 6, as: Int8.self)) * Float(q4)
                }
                y += 128
            }
            b += 210
        }
    }
}

// Float32 to the types the writers store: IEEE binary16 (round to nearest, ties to even) and GGML Q8_0
// (ggml-quants.c quantize_row_q8_0_ref; gguf-py quants.py Q8_0.quantize_blocks gives the same bytes).

/// Float to IEEE binary16 bits, rounded to nearest with ties to even: overflow gives infinity, tiny values
/// subnormals or a signed zero, NaN stays a (quiet) NaN. The inverse of `float16ToFloat` on every binary16 value.
@inline(__always)
public func floatToFloat16(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
    let exponent = Int((x >> 23) & 0xFF), mantissa = x & 0x7F_FFFF
    if exponent == 0xFF {  // infinity, or NaN with the top of its payload kept
        return mantissa == 0 ? sign | 0x7C00 : sign | 0x7E00 | UInt16(truncatingIfNeeded: mantissa >> 13)
    }
    let e = exponent - 127 + 15  // binary16 biased exponent
    if e >= 31 { return sign | 0x7C00 }
    if e >= 1 {
        // Normal: keep 10 mantissa bits; a carry out of the mantissa bumps the exponent (to infinity at 30).
        var h = UInt32(e) << 10 | mantissa >> 13
        let rest = mantissa & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }
        return sign | UInt16(truncatingIfNeeded: h)
    }
    // Subnormal: value = m * 2^(e - 14 - 24) with m the 24-bit significand; binary16 counts units of 2^-24.
    if e < -10 { return sign }  // below half the smallest subnormal (2^-25): zero
    let m = mantissa | 0x80_0000, shift = UInt32(14 - e)  // 14...24
    var h = m >> shift
    let rest = m & ((1 << shift) - 1), half = UInt32(1) << (shift - 1)
    if rest > half || (rest == half && h & 1 == 1) { h += 1 }  // may round up to the smallest normal, 0x0400
    return sign | UInt16(truncatingIfNeeded: h)
}

public enum Quantize {
    /// Bytes of `count` values of `type` (F32, F16 or Q8_0; `count` a multiple of the block size).
    public static func byteCount(_ count: Int, _ type: DType) -> Int { count / type.blockSize * type.blockBytes }

    /// Encodes `values` as `type`: F32 as is (little-endian), F16 rounded to nearest even, Q8_0 in blocks of 32:
    /// fp16 d = max|x| / 127, then int8 q = round(x / d) (computed as x * (1/d) with the unrounded d, half away
    /// from zero, as ggml does). Preconditions: a supported type, a whole number of blocks, finite values for Q8_0.
    public static func encode(_ values: UnsafeBufferPointer<Float>, as type: DType) -> [UInt8] {
        let n = values.count
        precondition(n % type.blockSize == 0, "\(n) values are not a whole number of \(type.rawValue) blocks")
        return [UInt8](unsafeUninitializedCapacity: byteCount(n, type)) { out, initialized in
            let dst = UnsafeMutableRawPointer(out.baseAddress!)
            switch type {
            case .f32:
                for i in 0..<n { dst.storeBytes(of: values[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            case .f16:
                for i in 0..<n { dst.storeBytes(of: floatToFloat16(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            case .q8_0:
                for b in 0..<(n / 32) {
                    let x = values.baseAddress! + 32 * b, block = dst + 34 * b
                    var amax: Float = 0
                    for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
                    precondition(amax.isFinite, "Q8_0 needs finite values")
                    let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
                    block.storeBytes(of: floatToFloat16(d).littleEndian, as: UInt16.self)
                    for j in 0..<32 {
                        // |x * id| <= 127 up to rounding; the clamp only matters when 1/d overflows (d subnormal).
                        let q = (x[j] * id).rounded()
                        block.storeBytes(of: q.isNaN ? 0 : Int8(Swift.max(-127, Swift.min(127, q))), toByteOffset: 2 + j, as: Int8.self)
                    }
                }
            default:
                preconditionFailure("no encoder for \(type.rawValue)")
            }
            initialized = byteCount(n, type)
        }
    }
}

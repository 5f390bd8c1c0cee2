// Dequantisation tests: hand-computed blocks (ggml-quants.c formulas) and slow per-element k-quant references.
import Checkpoint
import XCTest

final class DequantTests: XCTestCase {
    func run(_ block: [UInt8], _ type: DType) -> [Float] {
        let n = block.count / type.blockBytes * type.blockSize
        var out = [Float](repeating: .nan, count: n)
        block.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { Dequant.dequantize(src.baseAddress!, type: type, count: n, into: $0.baseAddress!) } }
        return out
    }

    /// Bitwise equality, reporting the first difference rather than two whole arrays.
    func assertSame(_ got: [Float], _ want: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        if let i = got.indices.first(where: { $0 < want.count && got[$0].bitPattern != want[$0].bitPattern }) {
            XCTFail("\(what): element \(i) is \(got[i]), expected \(want[i])", file: file, line: line)
        }
    }

    // MARK: Half precision

    func testFloat16SpecialValues() {
        XCTAssertEqual(float16ToFloat(0x3C00), 1.0)
        XCTAssertEqual(float16ToFloat(0xC000), -2.0)
        XCTAssertEqual(float16ToFloat(0x3555), 0.333251953125)
        XCTAssertEqual(float16ToFloat(0x7BFF), 65504)
        XCTAssertEqual(float16ToFloat(0x0400), 0x1p-14)            // smallest normal
        XCTAssertEqual(float16ToFloat(0x0001), 0x1p-24)            // smallest subnormal
        XCTAssertEqual(float16ToFloat(0x83FF), -1023 * 0x1p-24)    // largest negative subnormal
        XCTAssertEqual(float16ToFloat(0x8000).bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual(float16ToFloat(0x7C00), .infinity)
        XCTAssertEqual(float16ToFloat(0xFC00), -.infinity)
        XCTAssertTrue(float16ToFloat(0x7E00).isNaN)
        XCTAssertTrue(float16ToFloat(0xFC01).isNaN)
    }

    #if !(os(macOS) && arch(x86_64))
    func testFloat16AllBitPatternsMatchSwiftFloat16() {
        for bits in 0...UInt16.max {
            let mine = float16ToFloat(bits), swift = Float(Float16(bitPattern: bits))
            if swift.isNaN {
                XCTAssertTrue(mine.isNaN && mine.sign == swift.sign, "\(bits)")
            } else {
                XCTAssertEqual(mine.bitPattern, swift.bitPattern, "\(bits)")
            }
        }
    }
    #endif

    func testBFloat16() {
        XCTAssertEqual(bfloat16ToFloat(0x3F80), 1.0)
        XCTAssertEqual(bfloat16ToFloat(0xC0A0), -5.0)
        XCTAssertEqual(bfloat16ToFloat(0x0001), Float(bitPattern: 0x0001_0000))  // subnormal
        XCTAssertEqual(bfloat16ToFloat(0x7F80), .infinity)
        XCTAssertTrue(bfloat16ToFloat(0x7FC0).isNaN)
    }

    func testPlainTypes() {
        XCTAssertEqual(run(bytes(of: [Float(1.5), -2, 0]), .f32), [1.5, -2, 0])
        XCTAssertEqual(run(bytes(of: [UInt16(0x3C00), 0xB800, 0x0001]), .f16), [1, -0.5, 0x1p-24])
        XCTAssertEqual(run(bytes(of: [UInt16(0x3F80), 0xBF00]), .bf16), [1, -0.5])
        XCTAssertEqual(run(bytes(of: [Double(0.25), -3]), .f64), [0.25, -3])
        // Unaligned source: the readers hand over pointers at any byte offset.
        let shifted = [UInt8(0)] + bytes(of: [Float(7), 8])
        var out = [Float](repeating: 0, count: 2)
        shifted.withUnsafeBytes { Dequant.dequantize($0.baseAddress! + 1, type: .f32, count: 2, into: &out) }
        XCTAssertEqual(out, [7, 8])
    }

    // MARK: Legacy quants, by hand

    func testQ4_0() {
        // d = 0.5 (fp16 0x3800); y[j] = ((qs[j] & 0xF) - 8) * d, y[j+16] = ((qs[j] >> 4) - 8) * d.
        let block: [UInt8] = [0x00, 0x38, 0x1F, 0x80] + [UInt8](repeating: 0x88, count: 14)
        var expected = [Float](repeating: 0, count: 32)
        expected[0] = 3.5    // (15 - 8) * 0.5
        expected[16] = -3.5  // (1 - 8) * 0.5
        expected[1] = -4     // (0 - 8) * 0.5
        expected[17] = 0     // (8 - 8) * 0.5
        XCTAssertEqual(run(block, .q4_0), expected)
    }

    func testQ4_1() {
        // d = 0.25 (0x3400), m = -1 (0xBC00); y = nibble * d + m.
        let block: [UInt8] = [0x00, 0x34, 0x00, 0xBC, 0x2F] + [UInt8](repeating: 0, count: 15)
        var expected = [Float](repeating: -1, count: 32)
        expected[0] = 2.75   // 15 * 0.25 - 1
        expected[16] = -0.5  // 2 * 0.25 - 1
        XCTAssertEqual(run(block, .q4_1), expected)
    }

    func testQ5_0() {
        // d = 1; qh bits 0, 16, 31 set: bit j is the fifth bit of weight j; y = (q5 - 16) * d.
        var block: [UInt8] = [0x00, 0x3C]
        block.le(UInt32(1 << 0 | 1 << 16 | 1 << 31))
        block += [0x3A] + [UInt8](repeating: 0, count: 15)
        var expected = [Float](repeating: -16, count: 32)
        expected[0] = 10   // (0xA | 0x10) - 16
        expected[16] = 3   // (0x3 | 0x10) - 16
        expected[31] = 0   // (0x0 | 0x10) - 16
        XCTAssertEqual(run(block, .q5_0), expected)
    }

    func testQ5_1() {
        // d = 0.5, m = 1; qh bit 5 set; y = q5 * d + m.
        var block: [UInt8] = [0x00, 0x38, 0x00, 0x3C]
        block.le(UInt32(1 << 5))
        var qs = [UInt8](repeating: 0, count: 16)
        qs[5] = 0x1F
        block += qs
        var expected = [Float](repeating: 1, count: 32)
        expected[5] = 16.5   // (15 | 16) * 0.5 + 1
        expected[21] = 1.5   // 1 * 0.5 + 1
        XCTAssertEqual(run(block, .q5_1), expected)
    }

    func testQ8_0() {
        // d = 0.5; y = int8 * d.
        let qs: [Int8] = [-128, 127, -1, 0, 5] + [Int8](repeating: 2, count: 27)
        let block: [UInt8] = [0x00, 0x38] + qs.map { UInt8(bitPattern: $0) }
        XCTAssertEqual(run(block, .q8_0), [-64, 63.5, -0.5, 0, 2.5] + [Float](repeating: 1, count: 27))
    }

    func testSeveralBlocksInARow() {
        let a: [UInt8] = [0x00, 0x3C] + [UInt8](repeating: 1, count: 32)   // d = 1, all 1
        let b: [UInt8] = [0x00, 0xC0] + [UInt8](repeating: 3, count: 32)   // d = -2, all 3
        XCTAssertEqual(run(a + b, .q8_0), [Float](repeating: 1, count: 32) + [Float](repeating: -6, count: 32))
    }

    // MARK: K-quants against slow references

    /// ggml's get_scale_min_k4, element by element.
    static func scaleMin(_ j: Int, _ s: [UInt8]) -> (Int, Int) {
        if j < 4 { return (Int(s[j] & 63), Int(s[j + 4] & 63)) }
        return (Int(s[j + 4] & 0xF) | Int(s[j - 4] >> 6) << 4, Int(s[j + 4] >> 4) | Int(s[j] >> 6) << 4)
    }

    /// Q4_K, one weight at a time: weight i is in sub-block j = i / 32; sub-blocks 2c and 2c+1 share
    /// qs[32c ..< 32c+32], the even one in the low nibbles.
    static func slowQ4K(_ block: [UInt8]) -> [Float] {
        let d = float16ToFloat(UInt16(block[0]) | UInt16(block[1]) << 8)
        let dmin = float16ToFloat(UInt16(block[2]) | UInt16(block[3]) << 8)
        let scales = Array(block[4..<16]), qs = Array(block[16..<144])
        return (0..<256).map { i in
            let j = i / 32, byte = qs[32 * (j / 2) + i % 32]
            let q = j % 2 == 0 ? byte & 0xF : byte >> 4
            let (sc, m) = scaleMin(j, scales)
            return d * Float(sc) * Float(q) - dmin * Float(m)
        }
    }

    /// Q6_K, one weight at a time: weight i is in half h = i / 128, quarter k = (i % 128) / 32, lane l = i % 32.
    static func slowQ6K(_ block: [UInt8]) -> [Float] {
        let d = float16ToFloat(UInt16(block[208]) | UInt16(block[209]) << 8)
        return (0..<256).map { i in
            let h = i / 128, k = (i % 128) / 32, l = i % 32
            let lowByte = block[64 * h + l + (k % 2 == 1 ? 32 : 0)]
            let low = k < 2 ? lowByte & 0xF : lowByte >> 4
            let high = (block[128 + 32 * h + l] >> (2 * k)) & 3
            let q = Int(low | high << 4) - 32
            let scale = Int8(bitPattern: block[192 + 8 * h + l / 16 + 2 * k])
            return d * Float(scale) * Float(q)
        }
    }

    func testQ4KHandComputedElement() {
        var rng = SplitMix64(state: 1)
        var block = rng.bytes(144)
        block[0] = 0x00; block[1] = 0x3C  // d = 1
        block[2] = 0x00; block[3] = 0x38  // dmin = 0.5
        // Sub-block 5 uses the split 6-bit packing: scale = (s[9] & 0xF) | (s[1] >> 6) << 4 = 3 | 2 << 4 = 35,
        // min = (s[9] >> 4) | (s[5] >> 6) << 4 = 7 | 1 << 4 = 23.
        block[4 + 9] = 0x73; block[4 + 1] = 0x80; block[4 + 5] = 0x40
        // Weight 163 = sub-block 5, lane 3: high nibble of qs[32 * 2 + 3].
        block[16 + 67] = 0xA0
        let y = run(block, .q4_k)
        XCTAssertEqual(y[163], 35 * 10 - 0.5 * 23)  // 338.5
        assertSame(y, Self.slowQ4K(block), "Q4_K")
    }

    func testQ6KHandComputedElement() {
        var rng = SplitMix64(state: 2)
        var block = rng.bytes(210)
        block[208] = 0x00; block[209] = 0x38  // d = 0.5
        // Weight 209 = half 1, quarter 2, lane 17: high nibble of ql[64 + 17], bits 4..5 of qh[32 + 17],
        // scale[8 + 1 + 4].
        block[81] = 0x50 | (block[81] & 0x0F)               // nibble 5
        block[128 + 49] = (block[128 + 49] & 0xCF) | 0x20   // high bits 0b10
        block[192 + 13] = UInt8(bitPattern: -3)
        let y = run(block, .q6_k)
        XCTAssertEqual(y[209], 0.5 * -3 * Float((5 | 2 << 4) - 32))  // -7.5
        assertSame(y, Self.slowQ6K(block), "Q6_K")
    }

    func testKQuantsRandomBlocksMatchSlowReferences() {
        var rng = SplitMix64(state: 20241122)
        let halves: [UInt16] = [0x1C00, 0x2E66, 0x3400, 0x0200, 0x9C00]  // 0.0039, 0.1, 0.25, a subnormal, negative
        for trial in 0..<40 {
            var k4 = rng.bytes(144), k6 = rng.bytes(210)
            let d = halves[trial % halves.count], dmin = halves[(trial / 5) % halves.count]
            k4[0] = UInt8(d & 0xFF); k4[1] = UInt8(d >> 8); k4[2] = UInt8(dmin & 0xFF); k4[3] = UInt8(dmin >> 8)
            k6[208] = UInt8(d & 0xFF); k6[209] = UInt8(d >> 8)
            assertSame(run(k4, .q4_k), Self.slowQ4K(k4), "Q4_K trial \(trial)")
            assertSame(run(k6, .q6_k), Self.slowQ6K(k6), "Q6_K trial \(trial)")
            // Two different blocks back to back, to catch pointer-advance mistakes.
            let k4b = Array(k4[..<4]) + k4[4...].reversed(), k6b = k6[..<208].reversed() + Array(k6[208...])
            assertSame(run(k4 + k4b, .q4_k), Self.slowQ4K(k4) + Self.slowQ4K(k4b), "Q4_K pair \(trial)")
            assertSame(run(k6 + k6b, .q6_k), Self.slowQ6K(k6) + Self.slowQ6K(k6b), "Q6_K pair \(trial)")
        }
    }

    func testDTypeTables() {
        XCTAssertEqual(DType.q4_k.blockSize, 256)
        XCTAssertEqual(DType.q6_k.blockBytes, 210)
        XCTAssertEqual(DType.q4_1.blockBytes, 20)
        for t in DType.allCases {
            if let id = t.ggmlType { XCTAssertEqual(DType(ggmlType: id), t) }
        }
        XCTAssertNil(DType(ggmlType: 13))  // Q5_K: not supported
        XCTAssertNil(DType(safetensors: "Q4_0"))
        XCTAssertEqual(DType(safetensors: "BF16"), .bf16)
        XCTAssertFalse(DType.i32.isFloatConvertible)
        XCTAssertTrue(DType.q5_1.isFloatConvertible)
    }
}

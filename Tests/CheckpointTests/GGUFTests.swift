// GGUF reader: metadata round-trip, tensor layout and values, and one test per kind of bad input.
import Checkpoint
import XCTest

final class GGUFTests: TempDirTestCase {
    static let allValues: [(String, GGUFValue)] = [
        ("t.u8", .u8(200)), ("t.i8", .i8(-100)), ("t.u16", .u16(60000)), ("t.i16", .i16(-30000)),
        ("t.u32", .u32(4_000_000_000)), ("t.i32", .i32(-2_000_000_000)), ("t.f32", .f32(3.14159)),
        ("t.bool", .bool(true)), ("t.string", .string("héllo ✓ 日本 \"q\"\n")), ("t.empty", .string("")),
        ("t.u64", .u64(UInt64(1) << 63 + 5)), ("t.i64", .i64(-(Int64(1) << 62) - 11)), ("t.f64", .f64(2.718281828459045)),
        ("t.strings", .array([.string("a"), .string(""), .string("Ġhello")])),
        ("t.ints", .array([.i32(1), .i32(-2), .i32(.max)])),
        ("t.nested", .array([.array([.i32(1), .i32(2)]), .array([.i32(-6)])])),
        ("t.empty_array", .array([])),
    ]

    func f32Tensor(_ name: String, _ dims: [UInt64], _ values: [Float]) -> GGUFBuilder.Tensor {
        .init(name: name, dims: dims, type: 0, data: bytes(of: values))
    }

    /// A small valid file: two key/values and two tensors.
    func sample() -> GGUFBuilder {
        var g = GGUFBuilder()
        g.kvs = [("general.architecture", .string("llama")), ("llama.block_count", .u32(2))]
        g.tensors = [f32Tensor("a.weight", [3, 2], [1, 2, 3, 4, 5, 6]),
                     .init(name: "b.weight", dims: [32], type: 8, data: [0x00, 0x3C] + [UInt8](repeating: 1, count: 32))]
        return g
    }

    // MARK: Good files

    func testMetadataRoundTripOfEveryValueType() throws {
        var g = GGUFBuilder()
        g.kvs = Self.allValues
        let path = try write(g.build().bytes, "meta.gguf")
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.metadataKeys, Self.allValues.map(\.0))
        for (key, value) in Self.allValues { XCTAssertEqual(f.metadata[key], value, key) }
        XCTAssertEqual(f.int("t.u8"), 200)
        XCTAssertEqual(f.int("t.i64"), -(1 << 62) - 11)
        XCTAssertNil(f.int("t.u64"))  // does not fit in Int
        XCTAssertEqual(f.double("t.f32"), Double(Float(3.14159)))
        XCTAssertEqual(f.double("t.u32"), 4_000_000_000)
        XCTAssertEqual(f.string("t.string"), "héllo ✓ 日本 \"q\"\n")
        XCTAssertEqual(f.bool("t.bool"), true)
        XCTAssertEqual(f.stringArray("t.strings"), ["a", "", "Ġhello"])
        XCTAssertEqual(f.intArray("t.ints"), [1, -2, Int(Int32.max)])
        XCTAssertNil(f.stringArray("t.ints"))
        XCTAssertEqual(f.metadata["t.nested"]?.array?[1].array?[0].int, -6)
        XCTAssertEqual(f.intArray("t.empty_array"), [])
        XCTAssertNil(f.string("missing"))
        XCTAssertEqual(f.alignment, 32)
        XCTAssertEqual(f.tensorNames, [])
    }

    func testVersion2IsAccepted() throws {
        var g = sample()
        g.version = 2
        let f = try GGUFFile(path: try write(g.build().bytes, "v2.gguf"))
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(f.int("llama.block_count"), 2)
    }

    func testPlainTensorsShapesAndValues() throws {
        var g = GGUFBuilder()
        g.tensors = [
            f32Tensor("f32", [3, 2], [1, 2, 3, 4, 5, 6]),
            .init(name: "f16", dims: [4], type: 1, data: bytes(of: [UInt16(0x3C00), 0xC000, 0x0001, 0x7C00])),
            .init(name: "bf16", dims: [2, 1], type: 30, data: bytes(of: [UInt16(0x3F80), 0xC0A0])),
            .init(name: "i32", dims: [2], type: 26, data: bytes(of: [Int32(7), -7])),
        ]
        let (b, layout) = g.build()
        let path = try write(b, "plain.gguf")
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.tensorNames, ["f32", "f16", "bf16", "i32"])
        XCTAssertEqual(f.files, [path])
        XCTAssertEqual(f.dataOffset, layout.dataStart)
        let e = try XCTUnwrap(f.entry("f32"))
        XCTAssertEqual(e.shape, [2, 3])  // dims reversed: outermost first
        XCTAssertEqual(e.dtype, .f32)
        XCTAssertEqual(e.offset, layout.tensorStarts[0])
        XCTAssertEqual(e.byteCount, 24)
        XCTAssertEqual(e.file, path)
        XCTAssertEqual(try f.floats("f32"), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try f.floats("f16"), [1, -2, 0x1p-24, .infinity])
        XCTAssertEqual(f.entry("bf16")?.shape, [1, 2])
        XCTAssertEqual(try f.floats("bf16"), [1, -5])
        XCTAssertEqual(Array(try f.rawBytes("i32")), bytes(of: [Int32(7), -7]))
        assertFails(path, ["i32", "I32", "does not convert"]) { _ = try f.floats("i32") }
        assertFails(path, ["no tensor named 'nope'"]) { _ = try f.floats("nope") }
        assertFails(path, ["nope"]) { _ = try f.rawBytes("nope") }
    }

    func testQuantisedTensorsAndCustomAlignment() throws {
        var g = GGUFBuilder()
        g.alignment = 64
        g.kvs = [("general.alignment", .u32(64))]
        let q4_0: [UInt8] = [0x00, 0x38, 0x1F] + [UInt8](repeating: 0x88, count: 15)
        let q8_0: [UInt8] = [0x00, 0x38] + [UInt8](repeating: 4, count: 32)
        g.tensors = [.init(name: "q4", dims: [32, 2], type: 2, data: q4_0 + q4_0),
                     .init(name: "q8", dims: [32], type: 8, data: q8_0)]
        let (b, layout) = g.build()
        let f = try GGUFFile(path: try write(b, "quant.gguf"))
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.entry("q8")?.offset, layout.tensorStarts[1])
        XCTAssertEqual(f.entry("q4")?.byteCount, 36)
        XCTAssertEqual(f.entry("q4")?.shape, [2, 32])
        var row = [Float](repeating: 0, count: 32)
        row[0] = 3.5; row[16] = -3.5
        XCTAssertEqual(try f.floats("q4"), row + row)
        XCTAssertEqual(try f.floats("q8"), [Float](repeating: 2, count: 32))
    }

    func testEmptyTensorAndNoTensors() throws {
        var g = GGUFBuilder()
        g.tensors = [f32Tensor("empty", [0, 4], [])]
        let f = try GGUFFile(path: try write(g.build().bytes, "empty-tensor.gguf"))
        XCTAssertEqual(try f.floats("empty"), [])
        XCTAssertEqual(f.entry("empty")?.shape, [4, 0])
    }

    // MARK: Bad files

    func testBadMagic() throws {
        var g = sample()
        g.magic = Array("GGML".utf8)
        let path = try write(g.build().bytes, "magic.gguf")
        assertFails(path, ["bad magic", "47 47 4d 4c"]) { _ = try GGUFFile(path: path) }
    }

    func testUnsupportedVersion() throws {
        var g = sample()
        g.version = 1
        let path = try write(g.build().bytes, "v1.gguf")
        assertFails(path, ["version 1"]) { _ = try GGUFFile(path: path) }
        g.version = UInt32(3).byteSwapped
        let swapped = try write(g.build().bytes, "be.gguf")
        assertFails(swapped, ["big-endian"]) { _ = try GGUFFile(path: swapped) }
    }

    func testTruncatedAtEverySection() throws {
        let (b, layout) = sample().build()
        let cuts = [
            0, 2, 6, 20,                                        // empty, inside the magic, the version, the counts
            layout.kvStart + 3, layout.kvStart + 12,            // inside a key length, inside a key
            layout.infoStart - 2, layout.infoStart + 10,        // inside the last value, inside a tensor name
            layout.dataStart - 4,                               // inside the last tensor info
            layout.tensorStarts[0] + 5, b.count - 1,            // inside the first tensor, one byte short
        ]
        for cut in cuts {
            let path = try write(Array(b[..<cut]), "cut-\(cut).gguf")
            assertFails(path, ["truncated", "file has \(cut) bytes"]) { _ = try GGUFFile(path: path) }
        }
        // Every other prefix fails the same way.
        for cut in 0..<b.count {
            let path = try write(Array(b[..<cut]), "prefix-\(cut).gguf")
            assertFails(path, ["truncated"]) { _ = try GGUFFile(path: path) }
        }
    }

    func testTruncatedInsideDataNamesTheTensor() throws {
        let (b, _) = sample().build()
        let path = try write(Array(b.dropLast(10)), "data.gguf")
        assertFails(path, ["truncated: tensor 'b.weight'", "needs bytes 224..258", "but the file has \(b.count - 10) bytes"]) {
            _ = try GGUFFile(path: path)
        }
    }

    func testTensorOffsetPastTheEnd() throws {
        var g = sample()
        g.tensors[1].offset = 1 << 20
        var (b, layout) = g.build()
        b = Array(b[..<(layout.dataStart + 64)])
        let path = try write(b, "offset.gguf")
        assertFails(path, ["truncated: tensor 'b.weight' (offset 1048576 in the data section) needs bytes \(layout.dataStart + 1 << 20)..",
                           "but the file has \(b.count) bytes"]) { _ = try GGUFFile(path: path) }
    }

    func testUnalignedOffset() throws {
        var g = sample()
        g.tensors[1].offset = 36
        let path = try write(g.build().bytes, "unaligned.gguf")
        assertFails(path, ["tensor 'b.weight'", "offset 36", "not a multiple of the alignment 32"]) { _ = try GGUFFile(path: path) }
    }

    func testUnknownTypeID() throws {
        var g = sample()
        g.tensors[0].type = 99
        let path = try write(g.build().bytes, "type.gguf")
        assertFails(path, ["tensor 'a.weight'", "type id 99"]) { _ = try GGUFFile(path: path) }
    }

    func testTooManyDims() throws {
        var g = sample()
        g.tensors[0].dims = [1, 1, 3, 2, 1]
        let path = try write(g.build().bytes, "dims.gguf")
        assertFails(path, ["tensor 'a.weight'", "n_dims 5"]) { _ = try GGUFFile(path: path) }
    }

    func testElementsNotAMultipleOfTheBlockSize() throws {
        var g = sample()
        g.tensors[1].dims = [16]
        let path = try write(g.build().bytes, "block.gguf")
        assertFails(path, ["tensor 'b.weight'", "16 elements", "block size 32"]) { _ = try GGUFFile(path: path) }
    }

    func testDuplicateTensorNamesAndKeys() throws {
        var g = sample()
        g.tensors[1].name = "a.weight"
        let path = try write(g.build().bytes, "dup.gguf")
        assertFails(path, ["duplicate tensor name 'a.weight'"]) { _ = try GGUFFile(path: path) }
        var h = sample()
        h.kvs.append(("llama.block_count", .u32(3)))
        let keys = try write(h.build().bytes, "dupkey.gguf")
        assertFails(keys, ["duplicate metadata key 'llama.block_count'"]) { _ = try GGUFFile(path: keys) }
    }

    func testLyingCounts() throws {
        var (b, _) = sample().build()
        b.patch(8, UInt64.max)  // tensor_count
        let tensors = try write(b, "tensor-count.gguf")
        assertFails(tensors, ["truncated", "claims \(UInt64.max) tensors"]) { _ = try GGUFFile(path: tensors) }
        (b, _) = sample().build()
        b.patch(16, UInt64(1) << 40)  // kv_count
        let kvs = try write(b, "kv-count.gguf")
        assertFails(kvs, ["truncated", "key/values"]) { _ = try GGUFFile(path: kvs) }
    }

    func testStringLengthPastTheEnd() throws {
        let (b0, layout) = sample().build()
        var b = b0
        b.patch(layout.kvStart, UInt64.max - 3)  // length of the first key
        let path = try write(b, "strlen.gguf")
        assertFails(path, ["truncated", "key #0", "file has \(b.count) bytes"]) { _ = try GGUFFile(path: path) }
    }

    func testArrayCountPastTheEnd() throws {
        var g = GGUFBuilder()
        g.kvs = [("t.arr", .array([.u32(1), .u32(2)]))]
        var (b, layout) = g.build()
        let countAt = layout.kvStart + 8 + "t.arr".utf8.count + 4 + 4
        b.patch(countAt, UInt64(1) << 61)
        let path = try write(b, "arrcount.gguf")
        assertFails(path, ["truncated", "key 't.arr'", "array of 2305843009213693952"]) { _ = try GGUFFile(path: path) }
    }

    func testArraysNestedTooDeep() throws {
        var v = GGUFValue.array([.u8(1)])
        for _ in 0..<20 { v = .array([v]) }
        var g = GGUFBuilder()
        g.kvs = [("deep", v)]
        let path = try write(g.build().bytes, "deep.gguf")
        assertFails(path, ["key 'deep'", "nests arrays"]) { _ = try GGUFFile(path: path) }
    }

    func testUnknownValueTypeAndBadBool() throws {
        var g = GGUFBuilder()
        g.kvs = [("k", .u8(1))]
        var (b, layout) = g.build()
        b.patch(layout.kvStart + 9, UInt32(13))
        let path = try write(b, "vtype.gguf")
        assertFails(path, ["key 'k'", "unknown value type 13"]) { _ = try GGUFFile(path: path) }
        g.kvs = [("k", .bool(true))]
        (b, layout) = g.build()
        b[layout.kvStart + 13] = 7
        let bad = try write(b, "bool.gguf")
        assertFails(bad, ["key 'k'", "bool value 7"]) { _ = try GGUFFile(path: bad) }
    }

    func testAlignmentMustBeAPowerOfTwo() throws {
        var g = sample()
        g.kvs.append(("general.alignment", .u32(48)))
        let path = try write(g.build().bytes, "align.gguf")
        assertFails(path, ["general.alignment", "power of two", "48"]) { _ = try GGUFFile(path: path) }
        g.kvs[g.kvs.count - 1] = ("general.alignment", .string("32"))
        let text = try write(g.build().bytes, "align-str.gguf")
        assertFails(text, ["general.alignment"]) { _ = try GGUFFile(path: text) }
    }

    func testMissingFileAndDirectory() throws {
        let missing = dir + "/absent.gguf"
        assertFails(missing, ["cannot open"]) { _ = try GGUFFile(path: missing) }
        assertFails(dir, ["not a regular file"]) { _ = try GGUFFile(path: dir) }
    }

    func testRandomCorruptionNeverCrashes() throws {
        let (b, _) = sample().build()
        var rng = SplitMix64(state: 7)
        for trial in 0..<300 {
            var c = b
            for _ in 0..<(1 + trial % 4) { c[Int(rng.next() % UInt64(c.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            let path = try write(c, "fuzz.gguf")
            if let f = try? GGUFFile(path: path) {
                for n in f.tensorNames where f.entry(n)!.dtype.isFloatConvertible { _ = try f.floats(n) }
            }
        }
    }
}

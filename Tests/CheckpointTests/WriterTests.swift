// The writers: binary16 and Q8_0 encoding (against every binary16 value, Swift's Float16 and gguf-py's Q8_0 bytes),
// GGUF and sharded safetensors round trips through the readers, and the output-path checks.
import Checkpoint
import Foundation
import XCTest

final class WriterTests: TempDirTestCase {
    // MARK: binary16

    func testFloat16RoundTripsEveryValue() {
        for h in 0...UInt16.max {
            let f = float16ToFloat(h)
            if f.isNaN { XCTAssertTrue(float16ToFloat(floatToFloat16(f)).isNaN); continue }
            XCTAssertEqual(floatToFloat16(f), h, "binary16 \(String(h, radix: 16)) = \(f)")
        }
    }

    /// Exactly halfway between two binary16 values goes to the even one; just above or below, to the nearer one.
    func testFloat16RoundsToNearestEven() {
        for h in stride(from: UInt16(0), to: 0x7BFF, by: 7) {  // positive finite, with a successor
            let a = Double(float16ToFloat(h)), b = Double(float16ToFloat(h + 1))
            let mid = Float((a + b) / 2)  // exact in Float: binary16 has 11 significant bits
            XCTAssertEqual(floatToFloat16(mid), h & 1 == 0 ? h : h + 1, "midpoint after \(String(h, radix: 16))")
            XCTAssertEqual(floatToFloat16(mid.nextDown), h)
            XCTAssertEqual(floatToFloat16(mid.nextUp), h + 1)
            XCTAssertEqual(floatToFloat16(-mid), (h & 1 == 0 ? h : h + 1) | 0x8000)
        }
        XCTAssertEqual(floatToFloat16(65519.99), 0x7BFF)      // 65504, the largest finite
        XCTAssertEqual(floatToFloat16(65520), 0x7C00)         // halfway to 65536: even, which is infinity
        XCTAssertEqual(floatToFloat16(1e10), 0x7C00)
        XCTAssertEqual(floatToFloat16(-.infinity), 0xFC00)
        XCTAssertEqual(floatToFloat16(0x1p-25), 0)             // half the smallest subnormal: ties to zero
        XCTAssertEqual(floatToFloat16(Float(0x1p-25).nextUp), 1)
        XCTAssertEqual(floatToFloat16(-0x1p-26), 0x8000)
        XCTAssertEqual(floatToFloat16(1e-30), 0)
    }

    #if !(os(macOS) && arch(x86_64))
    /// Swift's own Float16 conversion (the hardware's, where there is one) on a million seeded floats of all sizes.
    func testFloat16MatchesSwiftFloat16() {
        var rng = SplitMix64(state: 7)
        for _ in 0..<1_000_000 {
            let bits = UInt32(truncatingIfNeeded: rng.next())
            let f = Float(bitPattern: (bits & 0x807F_FFFF) | (UInt32(100 + bits % 60) << 23))  // exponents 2^-27 ... 2^32
            XCTAssertEqual(floatToFloat16(f), Float16(f).bitPattern, "\(f)")
        }
    }
    #endif

    // MARK: Q8_0

    func testQ8_0Block() {
        var x = (0..<32).map { Float($0) - 10 }   // max |x| = 21
        x[5] = 0.3
        let bytes = x.withUnsafeBufferPointer { Quantize.encode($0, as: .q8_0) }
        XCTAssertEqual(bytes.count, 34)
        let d = float16ToFloat(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        XCTAssertEqual(d, float16ToFloat(floatToFloat16(21 / 127)))
        let q = bytes[2...].map { Int8(bitPattern: $0) }
        XCTAssertEqual(q[31], 127)
        XCTAssertEqual(q[0], Int8((Float(-10) * (127 / Float(21))).rounded()))
        XCTAssertEqual(q[5], 2)                  // 0.3 / (21/127) = 1.81
        XCTAssertEqual(q[10], 0)
        var back = [Float](repeating: 0, count: 32)
        bytes.withUnsafeBytes { Dequant.dequantize($0.baseAddress!, type: .q8_0, count: 32, into: &back) }
        for (a, b) in zip(x, back) { XCTAssertLessThanOrEqual(abs(a - b), d * 0.5 + 1e-5) }
        let zeros = [Float](repeating: 0, count: 32).withUnsafeBufferPointer { Quantize.encode($0, as: .q8_0) }
        XCTAssertEqual(zeros, [UInt8](repeating: 0, count: 34))
        // A subnormal maximum makes 1/d overflow: clamped, never a trap.
        let tiny = [Float](repeating: Float(bitPattern: 0x0001_0000), count: 32).withUnsafeBufferPointer { Quantize.encode($0, as: .q8_0) }
        XCTAssertEqual(tiny.count, 34)
    }

    /// gguf-py quantised the FFN of Fixtures/tiny/llama-gguf (scripts/fixtures/tiny_models.py); encoding its
    /// dequantised values again gives gguf-py's bytes exactly.
    func testQ8_0MatchesGGUFPy() throws {
        let g = try GGUFFile(path: packageRoot + "/Fixtures/tiny/llama-gguf/model.gguf")
        var checked = 0
        for name in g.tensorNames where g.entry(name)?.dtype == .q8_0 {
            let values = try g.floats(name)
            let ours = values.withUnsafeBufferPointer { Quantize.encode($0, as: .q8_0) }
            XCTAssertEqual(ours, Array(try g.rawBytes(name)), name)
            checked += 1
        }
        XCTAssertEqual(checked, 6)
    }

    // MARK: GGUF

    func testGGUFRoundTrip() throws {
        let path = dir + "/out.gguf"
        let metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("llama")), ("a.u8", .u8(200)), ("a.i8", .i8(-5)), ("a.u16", .u16(60000)),
            ("a.i16", .i16(-300)), ("a.u32", .u32(4_000_000_000)), ("a.i32", .i32(-7)), ("a.f32", .f32(1e-5)),
            ("a.bool", .bool(true)), ("a.u64", .u64(.max)), ("a.i64", .i64(.min)), ("a.f64", .f64(0.1)),
            ("a.strings", .array([.string("Ġt"), .string(""), .string("日本")])), ("a.ints", .array([.i32(1), .i32(-2)])),
            ("a.nested", .array([.array([.u8(1)]), .array([.u8(2), .u8(3)])])), ("a.empty", .array([])),
        ]
        var rng = SplitMix64(state: 3)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Int(rng.next() % 20001) - 10000) / 997 } }
        let f32 = values(3 * 5), f16 = values(64 * 2), q8 = values(2 * 3 * 64), norm = values(7)
        let tensors = [
            WritableTensor(name: "w.f32", shape: [3, 5]) { f32 },
            WritableTensor(name: "w.f16", shape: [2, 64], type: .f16) { f16 },
            WritableTensor(name: "w.q8", shape: [2, 3, 64], type: .q8_0) { q8 },
            WritableTensor(name: "norm", shape: [7]) { norm },
        ]
        var calls: [(Int, Int)] = []
        try GGUFWriter.write(metadata: metadata, tensors: tensors, to: path) { calls.append(($0, $1)) }
        XCTAssertEqual(calls.map(\.0), [1, 2, 3, 4])
        XCTAssertEqual(calls.last?.1, 60 + 256 + 12 * 34 + 28)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out.gguf"])

        let g = try GGUFFile(path: path)
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.alignment, 32)
        XCTAssertEqual(g.metadataKeys, metadata.map(\.key))
        for (k, v) in metadata { XCTAssertEqual(g.metadata[k], v, k) }
        XCTAssertEqual(g.tensorNames, ["w.f32", "w.f16", "w.q8", "norm"])
        XCTAssertEqual(g.dataOffset % 32, 0)
        for name in g.tensorNames { XCTAssertEqual((g.entry(name)!.offset - g.dataOffset) % 32, 0, name) }
        XCTAssertEqual(g.entry("w.q8")?.shape, [2, 3, 64])
        XCTAssertEqual(g.entry("w.q8")?.dtype, .q8_0)
        XCTAssertEqual(g.entry("w.f16")?.dtype, .f16)
        XCTAssertEqual(try g.floats("w.f32"), f32)
        XCTAssertEqual(try g.floats("norm"), norm)
        XCTAssertEqual(try g.floats("w.f16"), f16.map { float16ToFloat(floatToFloat16($0)) })
        let q8bytes = q8.withUnsafeBufferPointer { Quantize.encode($0, as: .q8_0) }
        XCTAssertEqual(Array(try g.rawBytes("w.q8")), q8bytes)
        for (a, b) in zip(try g.floats("w.q8"), q8) { XCTAssertEqual(a, b, accuracy: 10.1 / 127) }
    }

    func testGGUFWriterRefusesBadTensorsAndLeavesNothing() throws {
        let path = dir + "/bad.gguf"
        assertFails(path, ["'w'", "rows of 40", "block size 32"]) {
            try GGUFWriter.write(metadata: [], tensors: [WritableTensor(name: "w", shape: [2, 40], type: .q8_0) { [] }], to: path)
        }
        assertFails(path, ["duplicate tensor name 'w'"]) {
            try GGUFWriter.write(metadata: [], tensors: [WritableTensor(name: "w", shape: [1]) { [0] },
                                                        WritableTensor(name: "w", shape: [1]) { [0] }], to: path)
        }
        assertFails(path, ["'w'", "shape [2, 2]", "3 values"]) {
            try GGUFWriter.write(metadata: [], tensors: [WritableTensor(name: "w", shape: [2, 2]) { [1, 2, 3] }], to: path)
        }
        assertFails(path, ["'w'", "nan", "finite"]) {
            try GGUFWriter.write(metadata: [], tensors: [WritableTensor(name: "w", shape: [32], type: .q8_0) {
                [Float](repeating: .nan, count: 32) }], to: path)
        }
        assertFails(path, ["Q4_0"]) {
            try GGUFWriter.write(metadata: [], tensors: [WritableTensor(name: "w", shape: [32], type: .q4_0) { [] }], to: path)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    // MARK: Sharded safetensors

    func testShardedCheckpointRoundTrip() throws {
        let tensors = (0..<5).map { i in
            WritableTensor(name: "t\(i)", shape: [i + 1, 10]) { (0..<(10 * (i + 1))).map { Float($0 * 7 + i) } }
        }
        // 40, 80, 120, 160, 200 bytes; limit 200: [t0 t1] 120, [t2] (t3 would make 280), [t3], [t4].
        let names = try SafetensorsWriter.writeCheckpoint(tensors, metadata: ["format": "pt"], into: dir, shardBytes: 200)
        XCTAssertEqual(names, (1...4).map { "model-0000\($0)-of-00004.safetensors" } + ["model.safetensors.index.json"])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), Set(names))
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))) as! [String: Any]
        XCTAssertEqual((index["metadata"] as? [String: Int])?["total_size"], 600)
        XCTAssertEqual((index["weight_map"] as? [String: String])?["t1"], "model-00001-of-00004.safetensors")
        XCTAssertEqual((index["weight_map"] as? [String: String])?["t4"], "model-00004-of-00004.safetensors")
        let c = try SafetensorsCheckpoint(path: dir)
        XCTAssertEqual(c.tensorNames, ["t0", "t1", "t2", "t3", "t4"])
        for t in tensors { XCTAssertEqual(try c.floats(t.name), try t.values()) }
        XCTAssertEqual(try SafetensorsFile(path: dir + "/model-00001-of-00004.safetensors").metadata, ["format": "pt"])

        // Under the limit: one model.safetensors, no index.
        let single = dir + "/single"
        try FileManager.default.createDirectory(atPath: single, withIntermediateDirectories: false)
        XCTAssertEqual(try SafetensorsWriter.writeCheckpoint(tensors, metadata: [:], into: single, shardBytes: 600), ["model.safetensors"])
        XCTAssertEqual(try SafetensorsCheckpoint(path: single).tensorNames.count, 5)
    }

    func testSafetensorsF16() throws {
        let path = dir + "/h.safetensors"
        let v: [Float] = [1, -0.5, 0.1, 70000]
        try SafetensorsWriter.write([WritableTensor(name: "h", shape: [4], type: .f16) { v }], metadata: [:], to: path)
        let f = try SafetensorsFile(path: path)
        XCTAssertEqual(f.entry("h")?.dtype, .f16)
        XCTAssertEqual(try f.floats("h"), [1, -0.5, float16ToFloat(floatToFloat16(0.1)), .infinity])
    }

    // MARK: Output paths

    func testOutputPathChecks() throws {
        let input = dir + "/in", file = dir + "/model.gguf"
        try FileManager.default.createDirectory(atPath: input + "/sub", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: input + "/model.safetensors"))
        try Data("GGUF".utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.gguf", withDestinationPath: file)
        try FileManager.default.linkItem(atPath: file, toPath: dir + "/hard.gguf")
        let cases: [(String, OutputKind, [String], [String])] = [
            (file, .file, [file], ["is the input checkpoint"]),
            (dir + "/./model.gguf", .file, [file], ["is the input checkpoint"]),
            (dir + "/link.gguf", .file, [file], ["is the input checkpoint"]),
            (dir + "/hard.gguf", .file, [file], ["is the input checkpoint"]),
            (input, .folder, [input], ["is the input checkpoint"]),
            (input + "/out.gguf", .file, [input], ["inside the input checkpoint"]),
            (input + "/sub/new", .folder, [input + "/model.safetensors", input], ["inside the input checkpoint"]),
            (dir, .folder, [file], ["contains the input checkpoint"]),
            (dir + "/missing/out", .folder, [file], ["does not exist"]),
            (file + "/out", .folder, [input], ["is not a folder"]),
            (input, .file, [file], ["is a folder"]),
            (file, .folder, [input], ["not a folder"]),
            ("/", .folder, [file], ["output name"]),
        ]
        for (path, kind, inputs, fragments) in cases { assertFails(path, fragments) { try OutputPath.check(path, kind: kind, inputs: inputs) } }
        let other = dir + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: false)
        try OutputPath.check(other, kind: .folder, inputs: [file])  // an empty folder is fine
        try Data().write(to: URL(fileURLWithPath: other + "/x"))
        assertFails(other, ["not empty"]) { try OutputPath.check(other, kind: .folder, inputs: [file]) }
        try OutputPath.check(dir + "/new.gguf", kind: .file, inputs: [file])
        try OutputPath.check(dir + "/other/x", kind: .file, inputs: [file])  // an existing file is replaced
    }

    func testWriteFolderRemovesItsTemporaryFolderOnError() throws {
        struct Boom: Error {}
        XCTAssertThrowsError(try OutputPath.writeFolder(dir + "/out") { tmp in
            try Data("partial".utf8).write(to: URL(fileURLWithPath: tmp + "/a"))
            throw Boom()
        })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        try OutputPath.writeFolder(dir + "/out") { tmp in try Data("ok".utf8).write(to: URL(fileURLWithPath: tmp + "/a")) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out"])
        XCTAssertEqual(try String(contentsOfFile: dir + "/out/a", encoding: .utf8), "ok")
    }
}

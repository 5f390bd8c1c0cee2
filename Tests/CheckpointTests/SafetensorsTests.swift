// safetensors reader, sharded checkpoints and the F32 writer: round trips and one test per kind of bad input.
import Checkpoint
import Foundation
import XCTest

final class SafetensorsTests: TempDirTestCase {
    func entry(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(begin),\(end)]}"
    }

    // MARK: Writer and reader round trip

    func testWriteThenReadBack() throws {
        let path = dir + "/model.safetensors"
        let a: [Float] = [1, -2, 3.5, 0, 5, 6]
        let b: [Float] = [0.25]
        try SafetensorsWriter.write([("layer.a", [2, 3], a), ("b/with/slash", [1], b), ("empty", [0, 3], [])],
                                    metadata: ["format": "pt", "note": "a \"quoted\" / value"], to: path)
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertEqual(Int(n) + 8 + 28, raw.count)
        XCTAssertTrue(String(decoding: raw[8..<(8 + Int(n))], as: UTF8.self).contains("\"b/with/slash\""))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["model.safetensors"])  // no temp left

        let f = try SafetensorsFile(path: path)
        XCTAssertEqual(f.metadata, ["format": "pt", "note": "a \"quoted\" / value"])
        XCTAssertEqual(f.tensorNames, ["layer.a", "b/with/slash", "empty"])  // data order
        XCTAssertEqual(try f.floats("layer.a"), a)
        XCTAssertEqual(try f.floats("b/with/slash"), b)
        XCTAssertEqual(try f.floats("empty"), [])
        let e = try XCTUnwrap(f.entry("layer.a"))
        XCTAssertEqual(e.shape, [2, 3])
        XCTAssertEqual(e.dtype, .f32)
        XCTAssertEqual(e.offset, 8 + Int(n))
        XCTAssertEqual(e.byteCount, 24)
        assertFails(path, ["no tensor named 'x'"]) { _ = try f.floats("x") }

        for source in [dir, path] {  // directory with model.safetensors, or the file itself
            let c = try SafetensorsCheckpoint(path: source)
            XCTAssertEqual(c.directory, dir)
            XCTAssertEqual(c.files, [path])
            XCTAssertEqual(try c.floats("layer.a"), a)
        }

        // Overwriting is atomic and leaves no temporary behind.
        try SafetensorsWriter.write([("x", [1], [9])], metadata: [:], to: path)
        XCTAssertEqual(try SafetensorsFile(path: path).floats("x"), [9])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["model.safetensors"])
    }

    func testWriterRejectsMismatchedShape() throws {
        let path = dir + "/bad.safetensors"
        assertFails(path, ["tensor 'a'", "shape [2, 2]", "3 values"]) {
            try SafetensorsWriter.write([("a", [2, 2], [1, 2, 3])], metadata: [:], to: path)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testOtherDtypesAndPaddedHeader() throws {
        let header = "{" + [entry("h", "F16", [2], 0, 4), entry("b", "BF16", [1, 1], 4, 6), entry("i", "I64", [1], 6, 14),
                            "\"__metadata__\":{\"k\":\"v\"}"].joined(separator: ",") + "}   "
        let data = bytes(of: [UInt16(0x3C00), 0xB800, 0x3F80]) + bytes(of: [Int64(-3)])
        let path = try write(safetensorsBytes(header: header, data: data), "types.safetensors")
        let f = try SafetensorsFile(path: path)
        XCTAssertEqual(f.tensorNames, ["h", "b", "i"])
        XCTAssertEqual(try f.floats("h"), [1, -0.5])
        XCTAssertEqual(try f.floats("b"), [1])  // unaligned (offset 8 + header + 4) on purpose
        XCTAssertEqual(f.entry("i")?.dtype, .i64)
        assertFails(path, ["tensor 'i'", "I64"]) { _ = try f.floats("i") }
        XCTAssertEqual(f.metadata, ["k": "v"])
    }

    // MARK: Bad single files

    func testShorterThanTheLengthPrefix() throws {
        let path = try write([1, 2, 3], "short.safetensors")
        assertFails(path, ["truncated", "header length", "file has 3 bytes"]) { _ = try SafetensorsFile(path: path) }
    }

    func testEveryTruncationFails() throws {
        let full = dir + "/full.safetensors"
        try SafetensorsWriter.write([("a", [3], [1, 2, 3]), ("b", [2], [4, 5])], metadata: ["k": "v"], to: full)
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: full)))
        for cut in 0..<b.count {
            let path = try write(Array(b[..<cut]), "cut-\(cut).safetensors")
            assertFails(path, [cut < 8 ? "truncated" : cut < b.count - 20 ? "past the end" : "truncated"]) { _ = try SafetensorsFile(path: path) }
        }
    }

    func testHeaderLengthPastTheEnd() throws {
        var b = safetensorsBytes(header: "{}", data: [])
        b.patch(0, UInt64(50))
        let path = try write(b, "len.safetensors")
        assertFails(path, ["header length 50", "past the end"]) { _ = try SafetensorsFile(path: path) }
        b.patch(0, UInt64(200_000_000))
        let huge = try write(b, "huge.safetensors")
        assertFails(huge, ["header length 200000000", "limit"]) { _ = try SafetensorsFile(path: huge) }
    }

    func testHeaderNotJSON() throws {
        let path = try write(safetensorsBytes(header: "{\"a\": [1, 2", data: []), "json.safetensors")
        assertFails(path, ["not valid JSON"]) { _ = try SafetensorsFile(path: path) }
        let list = try write(safetensorsBytes(header: "[1, 2]", data: []), "list.safetensors")
        assertFails(list, ["not a JSON object"]) { _ = try SafetensorsFile(path: list) }
        let utf = try write(Array(safetensorsBytes(header: "{}", data: []).prefix(8)) + [0x7B, 0xFF, 0x7D], "utf.safetensors")
        assertFails(utf, ["UTF-8"]) { _ = try SafetensorsFile(path: utf) }
    }

    func testDataOffsetsWrongSize() throws {
        let path = try write(safetensorsBytes(header: "{" + entry("w", "F32", [2, 2], 0, 12) + "}", data: [UInt8](repeating: 0, count: 12)),
                             "size.safetensors")
        assertFails(path, ["tensor 'w'", "12 bytes", "shape [2, 2]"]) { _ = try SafetensorsFile(path: path) }
    }

    func testOverlappingRanges() throws {
        let header = "{" + entry("a", "F32", [2], 0, 8) + "," + entry("b", "F32", [2], 4, 12) + "}"
        let path = try write(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12)), "overlap.safetensors")
        assertFails(path, ["'a' and 'b' overlap"]) { _ = try SafetensorsFile(path: path) }
    }

    func testHoleBetweenAndAfterTensors() throws {
        let header = "{" + entry("a", "F32", [1], 0, 4) + "," + entry("b", "F32", [1], 8, 12) + "}"
        let path = try write(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12)), "hole.safetensors")
        assertFails(path, ["bytes 4..8", "hole before 'b'"]) { _ = try SafetensorsFile(path: path) }
        let tail = try write(safetensorsBytes(header: "{" + entry("a", "F32", [1], 0, 4) + "}", data: [UInt8](repeating: 0, count: 6)),
                             "tail.safetensors")
        assertFails(tail, ["bytes 4..6", "hole at the end"]) { _ = try SafetensorsFile(path: tail) }
    }

    func testRangePastTheBuffer() throws {
        let path = try write(safetensorsBytes(header: "{" + entry("a", "F32", [4], 0, 16) + "}", data: [UInt8](repeating: 0, count: 8)),
                             "past.safetensors")
        assertFails(path, ["truncated", "tensor 'a'", "8-byte data buffer"]) { _ = try SafetensorsFile(path: path) }
    }

    func testUnknownDtype() throws {
        let path = try write(safetensorsBytes(header: "{" + entry("w", "F8_E4M3", [4], 0, 4) + "}", data: [0, 0, 0, 0]),
                             "dtype.safetensors")
        assertFails(path, ["tensor 'w'", "dtype 'F8_E4M3'"]) { _ = try SafetensorsFile(path: path) }
    }

    func testMalformedEntries() throws {
        let cases: [(String, [String])] = [
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", ["tensor 'w'", "data_offsets"]),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", ["tensor 'w'", "shape"]),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", ["tensor 'w'", "shape"]),
            ("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", ["tensor 'w'", "dtype"]),
            ("{\"w\":3}", ["tensor 'w'", "not an object"]),
            ("{\"__metadata__\":{\"k\":1}}", ["__metadata__"]),
        ]
        for (i, (header, fragments)) in cases.enumerated() {
            let path = try write(safetensorsBytes(header: header, data: [0, 0, 0, 0]), "malformed\(i).safetensors")
            assertFails(path, fragments) { _ = try SafetensorsFile(path: path) }
        }
    }

    // MARK: Sharded checkpoints

    func writeShards(index: String) throws {
        try SafetensorsWriter.write([("a", [2], [1, 2]), ("b", [1], [3])], metadata: [:], to: dir + "/model-00001-of-00002.safetensors")
        try SafetensorsWriter.write([("c", [1, 2], [4, 5])], metadata: [:], to: dir + "/model-00002-of-00002.safetensors")
        try write(Array(index.utf8), "model.safetensors.index.json")
    }

    func testShardedCheckpoint() throws {
        try writeShards(index: """
            {"metadata": {"total_size": 20}, "weight_map": {"a": "model-00001-of-00002.safetensors",
             "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}
            """)
        let c = try SafetensorsCheckpoint(path: dir)
        XCTAssertEqual(c.directory, dir)
        XCTAssertEqual(c.tensorNames, ["a", "b", "c"])
        XCTAssertEqual(c.files, [dir + "/model.safetensors.index.json", dir + "/model-00001-of-00002.safetensors",
                                 dir + "/model-00002-of-00002.safetensors"])
        XCTAssertEqual(try c.floats("c"), [4, 5])
        XCTAssertEqual(c.entry("c")?.file, dir + "/model-00002-of-00002.safetensors")
        XCTAssertEqual(c.entry("a")?.shape, [2])
        assertFails(dir, ["no tensor named 'zz'"]) { _ = try c.floats("zz") }
    }

    func testIndexNamingAMissingShard() throws {
        try writeShards(index: "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"d\": \"model-00003-of-00003.safetensors\"}}")
        assertFails(dir + "/model.safetensors.index.json", ["model-00003-of-00003.safetensors", "does not exist"]) {
            _ = try SafetensorsCheckpoint(path: dir)
        }
    }

    func testIndexNamingATensorTheShardLacks() throws {
        try writeShards(index: "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"c\": \"model-00001-of-00002.safetensors\"}}")
        assertFails(dir + "/model.safetensors.index.json", ["tensor 'c'", "does not contain it"]) {
            _ = try SafetensorsCheckpoint(path: dir)
        }
    }

    func testDuplicateTensorAcrossShards() throws {
        try writeShards(index: "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"c\": \"model-00002-of-00002.safetensors\"}}")
        try SafetensorsWriter.write([("c", [1, 2], [4, 5]), ("a", [1], [0])], metadata: [:], to: dir + "/model-00002-of-00002.safetensors")
        assertFails(dir + "/model.safetensors.index.json", ["tensor 'a'", "both"]) { _ = try SafetensorsCheckpoint(path: dir) }
    }

    func testBadIndexAndEmptyDirectory() throws {
        assertFails(dir, ["neither model.safetensors nor model.safetensors.index.json"]) { _ = try SafetensorsCheckpoint(path: dir) }
        try write(Array("{\"weight_map\": {\"a\": \"../escape.safetensors\"}}".utf8), "model.safetensors.index.json")
        assertFails(dir + "/model.safetensors.index.json", ["../escape.safetensors"]) { _ = try SafetensorsCheckpoint(path: dir) }
        try write(Array("not json".utf8), "model.safetensors.index.json")
        assertFails(dir + "/model.safetensors.index.json", ["JSON"]) { _ = try SafetensorsCheckpoint(path: dir) }
        let missing = dir + "/nothing-here"
        assertFails(missing, ["no such file"]) { _ = try SafetensorsCheckpoint(path: missing) }
    }

    func testErrorInAShardNamesTheShard() throws {
        try writeShards(index: "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"c\": \"model-00002-of-00002.safetensors\"}}")
        let shard = try write([1, 2, 3], "model-00002-of-00002.safetensors")
        assertFails(shard, ["truncated"]) { _ = try SafetensorsCheckpoint(path: dir) }
    }
}

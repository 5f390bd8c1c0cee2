// GGUF reading against other tools' files: the gguf-py fixture (scripts/fixtures/gguf_quant_fixtures.py) and SmolLM2-135M.
import Checkpoint
import Foundation
import XCTest

struct UnknownFixtureType: Error, CustomStringConvertible {
    let type: String
    var description: String { "the gguf-py fixture has value type '\(type)', which FixtureTests.scalar does not handle: add it" }
}

final class FixtureTests: XCTestCase {
    func testQuantTypesFixtureMatchesGGUFPy() throws {
        let gguf = packageRoot + "/Fixtures/gguf/quant_types.gguf", json = packageRoot + "/Fixtures/gguf/quant_types.json"
        guard FileManager.default.fileExists(atPath: gguf), FileManager.default.fileExists(atPath: json) else {
            throw unavailable("fixture absent: run scripts/fixtures/gguf_quant_fixtures.py")
        }
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let f = try GGUFFile(path: gguf)
        let dataStart = try XCTUnwrap(expected["data_start"] as? Int)
        XCTAssertEqual(Int(f.version), expected["version"] as? Int)
        XCTAssertEqual(f.alignment, expected["alignment"] as? Int)
        XCTAssertEqual(f.dataOffset, dataStart)
        XCTAssertEqual(f.metadataKeys, expected["metadata_order"] as? [String])

        let metadata = try XCTUnwrap(expected["metadata"] as? [String: [String: Any]])
        for (key, spec) in metadata {
            XCTAssertEqual(f.metadata[key], try Self.value(spec), key)
        }

        let tensors = try XCTUnwrap(expected["tensors"] as? [[String: Any]])
        XCTAssertEqual(f.tensorNames, tensors.map { $0["name"] as? String ?? "" })
        for t in tensors {
            let name = try XCTUnwrap(t["name"] as? String)
            let e = try XCTUnwrap(f.entry(name), name)
            XCTAssertEqual(e.dtype.rawValue, t["type"] as? String, name)
            XCTAssertEqual(e.shape, t["shape"] as? [Int], name)
            XCTAssertEqual(e.offset, dataStart + (t["offset"] as? Int ?? -1), name)
            XCTAssertEqual(e.byteCount, t["nbytes"] as? Int, name)
            let want = try XCTUnwrap(t["values"] as? [Double]).map(Float.init)
            let got = try f.floats(name)
            XCTAssertEqual(got.count, want.count, name)
            let scale = max(1, want.map(abs).max() ?? 0)
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-6 * scale, "\(name): max abs difference \(worst) from gguf-py")
        }
    }

    /// The fixture's {"type", "value"[, "value_str"][, "elem_type"]} as a GGUFValue.
    static func value(_ spec: [String: Any]) throws -> GGUFValue {
        let type = try XCTUnwrap(spec["type"] as? String)
        if type == "array" {
            let elemType = try XCTUnwrap(spec["elem_type"] as? String)
            let items = try XCTUnwrap(spec["value"] as? [Any])
            let strings = spec["value_str"] as? [String]
            return .array(try items.enumerated().map { i, item in
                if elemType == "array" { return try value(try XCTUnwrap(item as? [String: Any])) }
                return try scalar(elemType, item, strings?[i])
            })
        }
        return try scalar(type, try XCTUnwrap(spec["value"]), spec["value_str"] as? String)
    }

    static func scalar(_ type: String, _ v: Any, _ text: String?) throws -> GGUFValue {
        let n = v as? NSNumber
        switch type {
        case "u8": return .u8(try XCTUnwrap(n).uint8Value)
        case "i8": return .i8(try XCTUnwrap(n).int8Value)
        case "u16": return .u16(try XCTUnwrap(n).uint16Value)
        case "i16": return .i16(try XCTUnwrap(n).int16Value)
        case "u32": return .u32(try XCTUnwrap(n).uint32Value)
        case "i32": return .i32(try XCTUnwrap(n).int32Value)
        case "u64": return .u64(try XCTUnwrap(UInt64(try XCTUnwrap(text))))
        case "i64": return .i64(try XCTUnwrap(Int64(try XCTUnwrap(text))))
        case "f32": return .f32(Float(try XCTUnwrap(n).doubleValue))
        case "f64": return .f64(try XCTUnwrap(n).doubleValue)
        case "bool": return .bool(try XCTUnwrap(n).boolValue)
        case "string": return .string(try XCTUnwrap(v as? String))
        // A type this test does not know is a gap in the test, never a reason to skip the whole comparison.
        default: throw UnknownFixtureType(type: type)
        }
    }

    func testFixtureValueTypesAreAllKnown() throws {
        // Every type name of the GGUF spec is handled; an unknown one fails the comparison with its name.
        for t in ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "f64", "bool"] { XCTAssertNoThrow(try Self.scalar(t, NSNumber(value: 1), "1"), t) }
        XCTAssertNoThrow(try Self.scalar("u64", NSNumber(value: 1), "18446744073709551615"))
        XCTAssertNoThrow(try Self.scalar("i64", NSNumber(value: 1), "-9223372036854775808"))
        XCTAssertThrowsError(try Self.scalar("f16", NSNumber(value: 1), nil)) { XCTAssertTrue("\($0)".contains("f16"), "\($0)") }
    }

    /// The cached SmolLM2 (scripts/setup.sh; $AUDITOR_CACHE aware, as the other tests) or the reference environment's copy.
    func testSmolLM2CheckpointWhenCached() throws {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["AUDITOR_MODEL"], (env["AUDITOR_CACHE"] ?? NSHomeDirectory() + "/.cache/auditor") + "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                          env["AUDITOR_REF_GGUF"]].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw unavailable("SmolLM2-135M-Instruct.Q4_1.gguf is not cached (looked at \(candidates)); run scripts/setup.sh")
        }
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.string("general.architecture"), "llama")
        XCTAssertEqual(f.int("llama.block_count"), 30)
        XCTAssertEqual(f.int("llama.embedding_length"), 576)
        XCTAssertEqual(f.int("llama.attention.head_count_kv"), 3)
        XCTAssertEqual(f.double("llama.rope.freq_base"), 100000)
        XCTAssertEqual(f.stringArray("tokenizer.ggml.tokens")?.count, 49152)
        XCTAssertEqual(f.stringArray("tokenizer.ggml.merges")?.count, 48900)
        XCTAssertEqual(f.intArray("tokenizer.ggml.token_type")?.count, 49152)
        XCTAssertEqual(f.tensorNames.count, 272)  // 30 blocks x 9 + token_embd + output_norm (tied output)
        var types: [DType: Int] = [:]
        for n in f.tensorNames { types[f.entry(n)!.dtype, default: 0] += 1 }
        XCTAssertEqual(types, [.f32: 61, .q4_1: 210, .q8_0: 1])
        XCTAssertEqual(f.entry("token_embd.weight")?.shape, [49152, 576])
        XCTAssertEqual(f.entry("blk.0.ffn_down.weight")?.shape, [576, 1536])
        XCTAssertNil(f.entry("output.weight"))

        var total = 0
        let start = Date()
        for name in f.tensorNames {
            let values = try f.floats(name)
            XCTAssertEqual(values.count, f.entry(name)!.elementCount)
            // A strided sample keeps this cheap in unoptimised test builds.
            XCTAssertTrue(stride(from: 0, to: values.count, by: 61).allSatisfy { values[$0].isFinite }, name)
            total += values.count
        }
        XCTAssertEqual(total, 134_515_008)
        print("SmolLM2: dequantised \(total) values in \(String(format: "%.2f", Date().timeIntervalSince(start))) s (with a sampled finiteness check)")
    }
}

// `auditor convert` outputs against what other tools make of the same bytes: transformers on the Hugging Face folder,
// llama.cpp on the GGUF files (Fixtures/convert/*.json, from scripts/fixtures/convert_fixtures.py).
import Foundation
import XCTest

final class ConvertReferenceTests: XCTestCase {
    struct Fixture: Decodable {
        struct Output: Decodable {
            let from: String
            let args: [String]
            let files: [String: String]
            let reference: String
            let logprobs: [[Double]]
        }
        let model: String
        let hf_folder: String
        let texts: [String]
        let ids: [[Int]]
        let outputs: [String: Output]
    }

    /// Converts as the fixture script did, checks the bytes are the ones the references read (SHA-256), scores
    /// the texts with `auditor score --per-token` and compares with the reference log-probs; returns (mean, max)
    /// |dlogp| per output.
    func check(_ name: String, source: String?) throws -> [String: (mean: Double, max: Double)] {
        let fx = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("convert/\(name).json"))))
        let dir = scratchDirectory()
        let texts = try writeLines(fx.texts.map { String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0]), as: UTF8.self) },
                                   to: dir.appendingPathComponent("texts.jsonl"))
        let hf = dir.appendingPathComponent(fx.hf_folder).path
        var measured: [String: (mean: Double, max: Double)] = [:]
        for key in ["hf"] + fx.outputs.keys.filter({ $0 != "hf" }).sorted() {
            let o = fx.outputs[key]!
            let from = o.from.hasPrefix("Fixtures/") ? repoRoot.appendingPathComponent(o.from).path : o.from.hasPrefix("hf ") ? hf : try XCTUnwrap(source)
            let out = key == "hf" ? hf : dir.appendingPathComponent(try XCTUnwrap(o.files.keys.first)).path
            let r = run(["convert", from, out] + o.args)
            XCTAssertEqual(r.code, 0, "\(name) \(key): \(r.err)")
            for (file, digest) in o.files {
                let path = key == "hf" ? hf + "/" + file : out
                XCTAssertEqual(try sha256sum(path), digest, "\(name) \(key): \(file) is not the file the reference read; "
                               + "if the writer changed on purpose, rerun scripts/make-fixtures.sh convert")
            }
            let s = run(["score", out, "--input", texts, "--per-token"])
            XCTAssertEqual(s.code, 0, s.err)
            let rows = jsonObjects(s.out)
            XCTAssertEqual(rows.count, fx.texts.count)
            var sum = 0.0, n = 0, worst = 0.0
            for (i, row) in rows.enumerated() {
                XCTAssertEqual((row["ids"] as? [NSNumber])?.map(\.intValue), fx.ids[i], "\(name) \(key): ids of text \(i)")
                let ours = (row["logprobs"] as? [NSNumber])?.map(\.doubleValue) ?? []
                XCTAssertEqual(ours.count, o.logprobs[i].count, "\(name) \(key): positions of text \(i)")
                for (a, b) in zip(ours, o.logprobs[i]) { let d = abs(a - b); sum += d; worst = max(worst, d); n += 1 }
            }
            measured[key] = (sum / Double(max(n, 1)), worst)
            print(String(format: "%@ %@ vs %@: %d positions, mean |dlogp| %.2e, max %.2e", name, key, o.reference, n, sum / Double(max(n, 1)), worst))
        }
        return measured
    }

    /// Tiny Llama: GGUF -> HF (read by transformers), HF -> GGUF F32 / F16 / Q8_0 (read by llama.cpp).
    func testTinyLlamaAgainstTransformersAndLlamaCpp() throws {
        let m = try check("tiny_llama", source: nil)
        // Measured (mean / max |dlogp| over 140 positions): transformers on HF 2.0e-6 / 1.2e-5; llama.cpp F32
        // 2.6e-6 / 1.2e-5; F16 3.3e-3 / 1.9e-2 and Q8_0 8.6e-2 / 0.49 (llama.cpp rounds the activations to F16 /
        // Q8_0 for those products, the loader here multiplies in F32; this random model amplifies it). Tolerances
        // about 10x (5x for the Q8_0 mean; the Q8_0 bytes themselves are checked exactly by gguf-py).
        XCTAssertLessThanOrEqual(m["hf"]!.max, 1.5e-4)
        XCTAssertLessThanOrEqual(m["f32"]!.max, 1.5e-4)
        XCTAssertLessThanOrEqual(m["f16"]!.mean, 3e-2)
        XCTAssertLessThanOrEqual(m["f16"]!.max, 0.2)
        XCTAssertLessThanOrEqual(m["q8_0"]!.mean, 0.4)
        XCTAssertLessThanOrEqual(m["q8_0"]!.max, 4)
    }

    /// SmolLM2-135M: Q4_1 GGUF -> HF (transformers), that HF folder -> GGUF F32 / Q8_0 (llama.cpp).
    func testSmolLM2AgainstTransformersAndLlamaCpp() throws {
        let model = try cachedSmolLM2()
        let m = try check("smollm2", source: model)
        // Measured (mean / max |dlogp| over 91 positions): transformers on HF 5.4e-6 / 2.1e-5; llama.cpp F32
        // 4.8e-6 / 2.0e-5; Q8_0 6.5e-2 / 0.59 (llama.cpp's Q8_0 activations). Tolerances about 10x (5x for the Q8_0 mean).
        XCTAssertLessThanOrEqual(m["hf"]!.max, 2e-4)
        XCTAssertLessThanOrEqual(m["f32"]!.max, 2e-4)
        XCTAssertLessThanOrEqual(m["q8_0"]!.mean, 0.3)
        XCTAssertLessThanOrEqual(m["q8_0"]!.max, 5)
    }
}

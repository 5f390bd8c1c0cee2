// Writing models out (Export.swift) and loading them back: GGUF -> Hugging Face -> GGUF on the tiny fixtures and on
// SmolLM2, against the independent layouts of the fixtures (transformers' safetensors, gguf-py's permuted GGUF).
import Foundation
import XCTest
import Checkpoint
import LM
import Model
import Tensor

final class ExportTests: XCTestCase {
    override class func setUp() { BLAS.setThreads(2) }

    /// Special tokens, non-ASCII, digits, whitespace runs and code.
    static let texts = [
        "The quick brown fox jumps over the lazy dog. It's 2024!",
        "<|endoftext|>Zürich, naïve café — 東京 😀 <|endoftext|> x",
        "def f(a, b):\n\treturn a + b  # 12345\r\n\n   end",
        "<|im_start|>user\nWhat is 17 * 23?<|im_end|>\n<|im_start|>assistant\n",
    ]

    func logprobs(_ lm: LanguageModel, _ ids: [[Int]]) -> [[Float]] { lm.model.score(ids).map(\.logprobs) }

    /// Mean and max of |a - b| over all positions.
    func diff(_ a: [[Float]], _ b: [[Float]]) -> (mean: Double, max: Double) {
        var sum = 0.0, worst = 0.0, n = 0
        for (x, y) in zip(a, b) {
            precondition(x.count == y.count)
            for (u, v) in zip(x, y) { let d = Double(abs(u - v)); sum += d; worst = max(worst, d); n += 1 }
        }
        return (sum / Double(max(n, 1)), worst)
    }

    func text(_ d: (mean: Double, max: Double)) -> String { String(format: "mean %.2e max %.2e", d.mean, d.max) }

    func assertSameParameters(_ a: LanguageModel, _ b: LanguageModel, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.model.params.refs.map(\.name), b.model.params.refs.map(\.name), what, file: file, line: line)
        for r in a.model.params.refs where a.model.params.values(r.name) != b.model.params.values(r.name) {
            XCTFail("\(what): parameter \(r.name) differs", file: file, line: line)
        }
    }

    func assertSameTokenizer(_ a: LanguageModel, _ b: LanguageModel, _ what: String, texts: [String] = texts,
                             file: StaticString = #filePath, line: UInt = #line) {
        for t in texts {
            let ids = a.tokenizer.encode(t)
            XCTAssertEqual(b.tokenizer.encode(t), ids, "\(what): ids of \(t.debugDescription)", file: file, line: line)
            XCTAssertEqual(b.tokenizer.decode(ids), a.tokenizer.decode(ids), what, file: file, line: line)
        }
        XCTAssertEqual(b.tokenizer.bosId, a.tokenizer.bosId, what, file: file, line: line)
        XCTAssertEqual(b.tokenizer.eosId, a.tokenizer.eosId, what, file: file, line: line)
        XCTAssertEqual(b.tokenizer.padId, a.tokenizer.padId, what, file: file, line: line)
        XCTAssertEqual(b.tokenizer.addBos, a.tokenizer.addBos, what, file: file, line: line)
        XCTAssertEqual(b.tokenizer.specialTokens, a.tokenizer.specialTokens, what, file: file, line: line)
        XCTAssertEqual(b.tokenizer.preTokenizer, a.tokenizer.preTokenizer, what, file: file, line: line)
    }

    func names(_ files: [String]) -> [String] { files.map { ($0 as NSString).lastPathComponent } }

    // MARK: Tiny Llama: GGUF <-> Hugging Face against the fixtures' own two layouts

    /// Fixtures/tiny/llama-gguf is Fixtures/tiny/llama converted by gguf-py (Q/K permuted, FFN as exactly
    /// representable Q8_0). Writing it as a Hugging Face folder must give transformers' tensors back bit for bit,
    /// so the same log-probs as loading the transformers checkpoint.
    func testTinyGGUFToHuggingFaceGivesTheTransformersWeights() throws {
        let gguf = try LanguageModel.load(path: fixture("tiny/llama-gguf/model.gguf"))
        let out = tempDir().appendingPathComponent("hf").path
        let files = try gguf.writeHuggingFace(to: out)
        XCTAssertEqual(names(files), ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: out)), Set(names(files)))
        let hf = try LanguageModel.load(path: out), original = try LanguageModel.load(path: fixture("tiny/llama"))
        XCTAssertEqual(hf.config, original.config)
        XCTAssertEqual(hf.config.ropeStyle, .halves)
        assertSameParameters(hf, original, "GGUF -> HF vs transformers' checkpoint")
        assertSameTokenizer(gguf, hf, "GGUF -> HF tokenizer")
        assertSameTokenizer(original, hf, "GGUF -> HF tokenizer vs the original tokenizer.json")

        let ref = try Reference.load(fixture("tiny/llama/reference.json"))
        XCTAssertEqual(logprobs(hf, ref.ids), logprobs(original, ref.ids), "bit-identical log-probs")
        // Against the GGUF model itself (interleaved RoPE on permuted rows: the same math, summed in another order).
        let d = diff(logprobs(hf, ref.ids), logprobs(gguf, ref.ids))
        print("tiny llama GGUF -> HF: |dlogp| vs the GGUF model: \(text(d))")
        XCTAssertLessThanOrEqual(d.max, 1e-4)
        compare(hf, ref, name: "tiny llama GGUF -> HF vs transformers", meanTol: 2e-5, maxTol: 2e-4, statTol: 1e-4)
    }

    /// The other way: the transformers checkpoint written as GGUF must hold gguf-py's permuted Q/K and values.
    func testTinyHuggingFaceToGGUFGivesTheGGUFPyLayout() throws {
        let original = try LanguageModel.load(path: fixture("tiny/llama"))
        let reference = try LanguageModel.load(path: fixture("tiny/llama-gguf/model.gguf"))
        let dir = tempDir()
        let ref = try Reference.load(fixture("tiny/llama/reference.json"))
        let base = logprobs(original, ref.ids)
        var measured: [GGUFOutputType: (mean: Double, max: Double)] = [:]
        for type in GGUFOutputType.allCases {
            let path = dir.appendingPathComponent("tiny-\(type.rawValue).gguf").path
            XCTAssertEqual(try original.writeGGUF(to: path, type: type), [path])
            let g = try GGUFFile(path: path)
            XCTAssertEqual(g.string("general.architecture"), "llama")
            XCTAssertEqual(g.tensorNames.count, reference.tensorCount)
            for name in g.tensorNames {
                let e = try XCTUnwrap(g.entry(name))
                XCTAssertEqual(e.shape, try GGUFFile(path: fixture("tiny/llama-gguf/model.gguf")).entry(name)?.shape, name)
                XCTAssertEqual(e.dtype, e.shape.count == 1 ? .f32 : type == .f32 ? .f32 : type == .f16 ? .f16 : .q8_0, name)
            }
            let back = try LanguageModel.load(path: path)
            XCTAssertEqual(back.config, reference.config)
            assertSameTokenizer(original, back, "HF -> GGUF \(type.rawValue) tokenizer")
            let lp = logprobs(back, ref.ids)
            measured[type] = diff(lp, base)
            if type == .f32 {
                assertSameParameters(back, reference, "HF -> GGUF F32 vs gguf-py's file")
                XCTAssertEqual(lp, logprobs(reference, ref.ids))
            }
            if type == .q8_0 {  // the FFN weights are exactly Q8_0-representable: gguf-py's bytes
                let gg = try GGUFFile(path: fixture("tiny/llama-gguf/model.gguf"))
                for name in g.tensorNames where name.contains("ffn_") && !name.contains("norm") {
                    XCTAssertEqual(Array(try g.rawBytes(name)), Array(try gg.rawBytes(name)), name)
                }
            }
        }
        print("tiny llama HF -> GGUF: max |dlogp| vs the HF model:", measured.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.rawValue) \(text($0.value))" }.joined(separator: "; "))
        // Measured over 401 positions (mean / max |dlogp|): F32 2.0e-6 / 1.2e-5 (the same weights; RoPE on permuted
        // rows sums q.k in another order), F16 3.7e-3 / 1.9e-2, Q8_0 0.10 / 0.68 (this random model, weights
        // N(0, 0.3^2), amplifies weight noise; the FFN bytes above are checked exactly). Tolerances about 10x.
        XCTAssertLessThanOrEqual(measured[.f32]!.max, 1e-4)
        XCTAssertLessThanOrEqual(measured[.f16]!.mean, 4e-2)
        XCTAssertLessThanOrEqual(measured[.f16]!.max, 0.2)
        XCTAssertLessThanOrEqual(measured[.q8_0]!.mean, 1.0)
        XCTAssertLessThanOrEqual(measured[.q8_0]!.max, 5)
        XCTAssertGreaterThan(measured[.q8_0]!.max, 0, "Q8_0 must change something")
    }

    /// GPT-2, GPT-NeoX (parallel and sequential residual, partial rotary) and the tied, sharded Llama written as
    /// Hugging Face folders load back with the same config, weights, tokenizer and log-probs.
    func testHuggingFaceRoundTripEveryArchitecture() throws {
        for name in ["gpt2", "neox", "neox-seq", "llama-tied-sharded", "llama"] {
            let original = try LanguageModel.load(path: fixture("tiny/\(name)"))
            let out = tempDir().appendingPathComponent(name).path
            // A small shard limit forces several shards on one of them.
            let files = try original.writeHuggingFace(to: out, shardBytes: name == "llama" ? 100_000 : LanguageModel.defaultShardBytes)
            if name == "llama" {
                XCTAssertTrue(names(files).contains("model.safetensors.index.json"))
                XCTAssertGreaterThan(names(files).filter { $0.hasPrefix("model-") }.count, 1)
                XCTAssertFalse(names(files).contains("model.safetensors"))
            }
            let back = try LanguageModel.load(path: out)
            XCTAssertEqual(back.config, original.config, name)
            assertSameParameters(back, original, name)
            assertSameTokenizer(original, back, name)
            let ref = try Reference.load(fixture("tiny/\(name)/reference.json"))
            XCTAssertEqual(logprobs(back, ref.ids), logprobs(original, ref.ids), name)
            if name == "llama-tied-sharded" {
                let st = try SafetensorsCheckpoint(path: out)
                XCTAssertNil(st.entry("lm_head.weight"), "tied: no lm_head tensor")
                let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as! [String: Any]
                XCTAssertEqual(config["tie_word_embeddings"] as? Bool, true)
            }
        }
    }

    func testGGUFRefusesOtherArchitecturesAndLeavesNothing() throws {
        let dir = tempDir()
        let gpt2 = try LanguageModel.load(path: fixture("tiny/gpt2"))
        let path = dir.appendingPathComponent("gpt2.gguf").path
        XCTAssertThrowsError(try gpt2.writeGGUF(to: path)) { e in
            XCTAssertTrue("\(e)".contains("llama architecture only"), "\(e)")
            XCTAssertTrue("\(e)".contains(path), "\(e)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testWritersRefuseTheirInput() throws {
        let dir = tempDir()
        let src = dir.appendingPathComponent("llama").path
        try FileManager.default.copyItem(atPath: fixture("tiny/llama"), toPath: src)
        let lm = try LanguageModel.load(path: src)
        let before = try FileManager.default.contentsOfDirectory(atPath: src).sorted()
        XCTAssertThrowsError(try lm.writeHuggingFace(to: src)) { XCTAssertTrue("\($0)".contains("is the input checkpoint"), "\($0)") }
        XCTAssertThrowsError(try lm.writeGGUF(to: src + "/model.gguf")) { XCTAssertTrue("\($0)".contains("inside the input"), "\($0)") }
        XCTAssertThrowsError(try lm.writeHuggingFace(to: src + "/model.safetensors")) { XCTAssertTrue("\($0)".contains("is the input"), "\($0)") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: src).sorted(), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["llama"])
    }

    // MARK: SmolLM2-135M (Q4_1 GGUF)

    /// GGUF -> HF (F32: the dequantised weights as they are) -> load is exact; HF -> GGUF F32 -> load gives the
    /// original weights back bit for bit; Q8_0 stays within its quantisation error; the tokenizer survives both.
    func testSmolLM2RoundTrips() throws {
        let src = try sharedSmolLM2.get()
        let ref = try Reference.load(fixture("smollm2/reference.json"))
        let ids = Array(ref.ids.prefix(4))
        let base = logprobs(src, ids)
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let texts = Self.texts + ref.texts

        let hfPath = dir.appendingPathComponent("smollm2-hf").path
        XCTAssertEqual(names(try src.writeHuggingFace(to: hfPath)), ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"])
        let hf = try LanguageModel.load(path: hfPath)
        var expected = src.config
        expected.ropeStyle = .halves
        XCTAssertEqual(hf.config, expected)
        assertSameTokenizer(src, hf, "SmolLM2 GGUF -> HF", texts: texts)
        let dHF = diff(logprobs(hf, ids), base)

        let f32Path = dir.appendingPathComponent("smollm2-f32.gguf").path
        try hf.writeGGUF(to: f32Path)
        let back = try LanguageModel.load(path: f32Path)
        XCTAssertEqual(back.config, src.config)
        assertSameParameters(back, src, "SmolLM2 GGUF -> HF -> GGUF F32")
        assertSameTokenizer(src, back, "SmolLM2 GGUF -> HF -> GGUF", texts: texts)
        XCTAssertEqual(logprobs(back, ids), base, "GGUF -> HF -> GGUF F32: identical log-probs")
        // The weights survive the round trip bit for bit, so the HF model's are the dequantised GGUF weights exactly.
        try FileManager.default.removeItem(atPath: f32Path)

        let q8Path = dir.appendingPathComponent("smollm2-q8_0.gguf").path
        try src.writeGGUF(to: q8Path, type: .q8_0)
        let q8 = try LanguageModel.load(path: q8Path)
        XCTAssertEqual(q8.dtypeCounts, ["F32": 61, "Q8_0": 211])
        let dQ8 = diff(logprobs(q8, ids), base)
        print("SmolLM2: |dlogp| over \(ids.reduce(0) { $0 + $1.count - 1 }) positions: GGUF -> HF \(text(dHF)); GGUF -> GGUF Q8_0 \(text(dQ8))")
        // Measured over 198 positions (mean / max |dlogp|): HF 3.5e-6 / 2.2e-5 (exact weights, q.k summed in the
        // other RoPE layout's order), Q8_0 0.038 / 0.43 (requantising Q4_1 weights). Tolerances about 10x.
        XCTAssertLessThanOrEqual(dHF.max, 2e-4)
        XCTAssertLessThanOrEqual(dQ8.mean, 0.4)
        XCTAssertLessThanOrEqual(dQ8.max, 4)
        // Against transformers: measured mean 1.55e-5, max 6.96e-5, statistics 2.29e-5 (the folder scripts/vllm-server.sh
        // converts the same way); bars about 10x (were 1e-3 / 1e-2 / 1e-3).
        compare(hf, ref, name: "SmolLM2 GGUF -> HF vs transformers", meanTol: 2e-4, maxTol: 6e-4, statTol: 2e-4)
    }
}

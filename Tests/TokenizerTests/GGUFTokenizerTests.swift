// The tokenizer built from GGUF metadata (SmolLM2's .gguf) against the same tokenizer's tokenizer.json.
import Checkpoint
import Foundation
import XCTest
@testable import Tokenizer

final class GGUFTokenizerTests: XCTestCase {
    /// Needs the SmolLM2 GGUF cached by scripts/setup.sh (or $AUDITOR_MODEL / $AUDITOR_REF_GGUF) and the smollm2 fixture.
    func testSmolLM2GGUFMatchesTokenizerJSON() throws {
        let env = ProcessInfo.processInfo.environment
        let cached = (env["AUDITOR_CACHE"] ?? NSHomeDirectory() + "/.cache/auditor") + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard let path = [env["AUDITOR_MODEL"], cached, env["AUDITOR_REF_GGUF"]].compactMap({ $0 })
            .first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw unavailable("SmolLM2 not cached; run scripts/setup.sh")
        }
        let dir = FixtureTests.root
        let json = dir.appendingPathComponent("smollm2/tokenizer.json").path
        guard let corpus = FileManager.default.contents(atPath: dir.appendingPathComponent("corpus.json").path),
              FileManager.default.fileExists(atPath: json) else { throw unavailable("no smollm2 fixture under \(dir.path)") }
        let gguf = try GGUFFile(path: path)
        // The fixture carries the upstream SmolLM2 pre-tokenizer, Digits then ByteLevel: llama.cpp's "smollm".
        let pre = try BPETokenizer.preTokenizer(ggufName: gguf.string("tokenizer.ggml.pre") ?? "", source: path)
        XCTAssertEqual(pre, .smollm)
        let tok = try BPETokenizer(
            tokens: try XCTUnwrap(gguf.stringArray("tokenizer.ggml.tokens")),
            merges: try XCTUnwrap(gguf.stringArray("tokenizer.ggml.merges")),
            tokenTypes: gguf.intArray("tokenizer.ggml.token_type"), preTokenizer: pre,
            bosId: gguf.int("tokenizer.ggml.bos_token_id"), eosId: gguf.int("tokenizer.ggml.eos_token_id"),
            padId: gguf.int("tokenizer.ggml.padding_token_id"), addBos: gguf.bool("tokenizer.ggml.add_bos_token") ?? false,
            source: path)
        let hf = try BPETokenizer(tokenizerJSON: json)
        XCTAssertEqual([tok.bosId, tok.eosId, tok.padId], [1, 2, 2])
        XCTAssertFalse(tok.addBos)
        XCTAssertEqual(tok.vocabSize, hf.vocabSize)
        XCTAssertEqual(tok.specialTokens, hf.specialTokens)
        let texts = try JSONDecoder().decode([String: [String]].self, from: corpus)["texts"] ?? []
        var matched = 0
        for text in texts {
            let (got, want) = (tok.encode(text), hf.encode(text))
            if got == want { matched += 1 } else {
                XCTFail(describeDifference(got, want, hf))
                break
            }
        }
        print("GGUF tokenizer: \(matched)/\(texts.count) texts agree with tokenizer.json")
    }
}

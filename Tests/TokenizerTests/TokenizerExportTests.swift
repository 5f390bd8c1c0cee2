// Writing tokenizers out (TokenizerExport.swift): each fixture tokenizer written as tokenizer.json + tokenizer_config.json,
// or as GGUF tokens/types/merges, reads back to the reference ids of Hugging Face `tokenizers` (Fixtures/tokenizer).
import Foundation
import XCTest
import Tokenizer

final class TokenizerExportTests: XCTestCase {
    func testWrittenTokenizersGiveTheReferenceIds() throws {
        let root = FixtureTests.root
        guard let corpus = FileManager.default.contents(atPath: root.appendingPathComponent("corpus.json").path) else {
            throw unavailable("no tokenizer fixtures at \(root.path)")
        }
        let texts = try JSONDecoder().decode([String: [String]].self, from: corpus)["texts"] ?? []
        for name in ["gpt2-tiny", "llama3-tiny", "smollm2"] {
            let dir = root.appendingPathComponent(name)
            let original = try BPETokenizer(tokenizerJSON: dir.appendingPathComponent("tokenizer.json").path)
            let golden = try JSONDecoder().decode(GoldenIds.self, from: Data(contentsOf: dir.appendingPathComponent("ids.json")))

            let out = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-export-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: out) }
            try original.huggingFaceTokenizerJSON().write(to: out.appendingPathComponent("tokenizer.json"))
            try original.huggingFaceTokenizerConfigJSON(modelMaxLength: 2048).write(to: out.appendingPathComponent("tokenizer_config.json"))
            let json = try BPETokenizer(tokenizerJSON: out.appendingPathComponent("tokenizer.json").path)

            let v = original.ggufVocabulary(count: original.vocabSize + 3)
            XCTAssertEqual(v.tokens.suffix(3), ["[PAD\(original.vocabSize)]", "[PAD\(original.vocabSize + 1)]", "[PAD\(original.vocabSize + 2)]"])
            XCTAssertEqual(v.types.suffix(3), [5, 5, 5])
            let gguf = try BPETokenizer(tokens: v.tokens, merges: v.merges, tokenTypes: v.types,
                                        preTokenizer: try BPETokenizer.preTokenizer(ggufName: original.ggufPreTokenizerName, source: name),
                                        bosId: original.bosId, eosId: original.eosId, padId: original.padId,
                                        addBos: original.addBos, source: name)
            for (label, t) in [("tokenizer.json", json), ("GGUF", gguf)] {
                XCTAssertEqual(t.preTokenizer, original.preTokenizer, "\(name) \(label)")
                XCTAssertEqual(t.bosId, original.bosId, "\(name) \(label)")
                XCTAssertEqual(t.eosId, original.eosId, "\(name) \(label)")
                XCTAssertEqual(t.addBos, original.addBos, "\(name) \(label)")
                XCTAssertEqual(t.specialTokens, original.specialTokens, "\(name) \(label)")
                var mismatches = 0
                for (i, text) in texts.enumerated() {
                    if t.encode(text, addBos: false) != golden.ids[i] { mismatches += 1 }
                    if let special = golden.ids_with_special, t.encode(text) != special[i] { mismatches += 1 }
                }
                XCTAssertEqual(mismatches, 0, "\(name) \(label): texts whose ids differ from the reference")
            }
        }
    }
}

// BPE merging, added tokens, decoding and loading errors on tiny hand-built tokenizers.
import Foundation
import XCTest
@testable import Tokenizer

final class BPETokenizerTests: XCTestCase {
    /// The 256 byte symbols, then the merged tokens, then two added tokens.
    static let byteTokens = ByteLevel.byteToScalar.map { String(Character($0)) }
    static let merges = ["Ġ t", "h e", "Ġt he", "l l", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]
    static let extra = ["Ġt", "he", "Ġthe", "ll", "Ġw", "or", "Ġwor", "ld", "Ġworld"]

    func tiny(addBos: Bool = false, pre: BPETokenizer.PreTokenizer = .gpt2) throws -> BPETokenizer {
        let tokens = Self.byteTokens + Self.extra + ["<|endoftext|>", "<|end", "<tool>"]
        var types = [Int](repeating: 1, count: tokens.count)
        types[tokens.count - 3] = 3
        types[tokens.count - 2] = 3
        types[tokens.count - 1] = 4
        return try BPETokenizer(tokens: tokens, merges: Self.merges, tokenTypes: types, preTokenizer: pre,
                                bosId: tokens.count - 3, eosId: tokens.count - 3, padId: nil, addBos: addBos, source: "tiny.gguf")
    }

    func testMerges() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode(" the world").map { t.token($0)! }, ["Ġthe", "Ġworld"])
        XCTAssertEqual(t.encode("hello").map { t.token($0)! }, ["he", "ll", "o"])
        XCTAssertEqual(t.vocabSize, 256 + 9 + 3)
        XCTAssertEqual(t.id(of: "Ġthe"), 258)
    }

    func testAddedTokensMatchedLongestFirst() throws {
        let t = try tiny(addBos: true)
        let eot = t.id(of: "<|endoftext|>")!, end = t.id(of: "<|end")!, tool = t.id(of: "<tool>")!
        let ids = t.encode("a<|endoftext|> the<|end<tool>")
        XCTAssertEqual(ids, [eot, t.id(of: "a")!, eot, t.id(of: "Ġthe")!, end, tool])
        XCTAssertEqual(t.encode("a", addBos: false), [t.id(of: "a")!])
        XCTAssertEqual(t.decode(ids), "<|endoftext|>a<|endoftext|> the<|end<tool>")
        XCTAssertEqual(t.decode(ids, skipSpecial: true), "a the<tool>")  // user-defined (type 4) is not special
        XCTAssertEqual(t.specialTokens, ["<|endoftext|>", "<|end", "<tool>"])
    }

    func testRoundTrip() throws {
        var rng = SplitMix64(seed: 1)
        let alphabet = Array("the world  \n\t'sé你🦀²1\u{301}\r")
        for pre in [BPETokenizer.PreTokenizer.gpt2, .smollm, .llama3] {
            let t = try tiny(pre: pre)
            for _ in 0..<300 {
                let text = String((0..<Int(rng.next() % 30)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
                XCTAssertEqual(t.decode(t.encode(text)), text, "\(pre) \(text.debugDescription)")
            }
        }
        XCTAssertEqual(try tiny().decode([0xC3 - 0x21 + 0]), "\u{FFFD}", "a lone byte decodes lossily")
    }

    /// Swift's String == is canonical equivalence: U+FA78 must not hit the cache entry of U+559D (same glyph).
    func testCacheKeysAreBytes() throws {
        let t = try tiny()
        let a = t.encode("\u{559D}"), b = t.encode("\u{FA78}")
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(t.decode(b).unicodeScalars.first?.value, 0xFA78)
    }

    func testConcurrentEncodeAgrees() throws {
        let t = try tiny()
        let texts = (0..<64).map { "text \($0): the world's \($0 * 7919) hello\n" }
        let expected = texts.map { t.encode($0) }
        let results = UnsafeMutableBufferPointer<[Int]>.allocate(capacity: texts.count)
        defer { results.deallocate() }
        _ = results.initialize(from: Array(repeating: [], count: texts.count))
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in results[i] = t.encode(texts[i]) }
        XCTAssertEqual(Array(results), expected)
    }

    /// The heap-based merge against its naive twin on random merge tables and words.
    func testFastMergeMatchesNaive() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<20 {
            var tokens = ["a", "b", "c"], table = MergeTable()
            for rank in 0..<60 {
                let l = Int(rng.next() % UInt64(tokens.count)), r = Int(rng.next() % UInt64(tokens.count))
                let merged = tokens[l] + tokens[r]
                let id = tokens.firstIndex(of: merged) ?? { tokens.append(merged); return tokens.count - 1 }()
                table.add(left: l, right: r, merged: id, rank: rank)
            }
            for _ in 0..<200 {
                let word = (0..<Int(rng.next() % 40)).map { _ in Int32(rng.next() % 3) }
                XCTAssertEqual(table.merge(word), table.mergeNaive(word))
            }
        }
    }

    func testGGUFNames() throws {
        XCTAssertEqual(try BPETokenizer.preTokenizer(ggufName: "smollm", source: "m.gguf"), .smollm)
        XCTAssertEqual(try BPETokenizer.preTokenizer(ggufName: "gpt-2", source: "m.gguf"), .gpt2)
        XCTAssertEqual(try BPETokenizer.preTokenizer(ggufName: "llama-bpe", source: "m.gguf"), .llama3)
        XCTAssertThrowsError(try BPETokenizer.preTokenizer(ggufName: "qwen2", source: "m.gguf")) {
            XCTAssertTrue("\($0)".hasPrefix("m.gguf: "), "\($0)")
        }
    }

    func testBadMergesThrow() {
        XCTAssertThrowsError(try BPETokenizer(tokens: Self.byteTokens, merges: ["Ġ t"], tokenTypes: nil, preTokenizer: .gpt2,
                                              bosId: nil, eosId: nil, padId: nil, addBos: false, source: "x.gguf")) {
            XCTAssertEqual("\($0)", "x.gguf: tokenizer.ggml.merges[0] \"Ġ t\" names \"Ġt\", which is not in the vocabulary")
        }
        XCTAssertThrowsError(try BPETokenizer(tokens: Self.byteTokens, merges: ["Ġt"], tokenTypes: nil, preTokenizer: .gpt2,
                                              bosId: nil, eosId: nil, padId: nil, addBos: false, source: "x.gguf"))
    }

    // MARK: tokenizer.json

    func writeJSON(_ object: Any, name: String = "tokenizer.json") throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url.path
    }

    func tokenizerJSON(pre: Any = ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
                       merges: [Any]? = nil, ignoreMerges: Bool = false) -> [String: Any] {
        var vocab = [String: Int]()
        for (i, t) in (Self.byteTokens + Self.extra).enumerated() { vocab[t] = i + 1 }
        return [
            "normalizer": NSNull(), "pre_tokenizer": pre, "decoder": ["type": "ByteLevel"],
            "added_tokens": [["id": 0, "content": "<|begin_of_text|>", "special": true, "normalized": false]],
            "post_processor": ["type": "TemplateProcessing",
                               "single": [["SpecialToken": ["id": "<|begin_of_text|>", "type_id": 0]],
                                          ["Sequence": ["id": "A", "type_id": 0]]],
                               "special_tokens": ["<|begin_of_text|>": ["id": "<|begin_of_text|>", "ids": [0]]]],
            "model": ["type": "BPE", "vocab": vocab, "ignore_merges": ignoreMerges,
                      "merges": merges ?? Self.merges.enumerated().map { i, m -> Any in  // both spellings of a merge
                          i % 2 == 0 ? m : m.split(separator: " ").map(String.init) }],
        ]
    }

    func testLoadsTokenizerJSON() throws {
        let t = try BPETokenizer(tokenizerJSON: try writeJSON(tokenizerJSON()))
        XCTAssertEqual(t.preTokenizer, .gpt2)
        XCTAssertTrue(t.addBos)
        XCTAssertEqual(t.bosId, 0)
        XCTAssertNil(t.eosId)
        XCTAssertEqual(t.encode(" the world").map { t.token($0)! }, ["<|begin_of_text|>", "Ġthe", "Ġworld"])
        XCTAssertEqual(t.decode(t.encode("<|begin_of_text|>hi")), "<|begin_of_text|><|begin_of_text|>hi")
    }

    func testIgnoreMergesEmitsWholeVocabEntries() throws {
        // Without rule "Ġw or", " wor" would stay "Ġw" "or"; with ignore_merges it is the vocab entry "Ġwor".
        let merges = Self.merges.filter { $0 != "Ġw or" }
        let plain = try BPETokenizer(tokenizerJSON: try writeJSON(tokenizerJSON(merges: merges)))
        let ignoring = try BPETokenizer(tokenizerJSON: try writeJSON(tokenizerJSON(merges: merges, ignoreMerges: true)))
        XCTAssertEqual(plain.encode(" wor", addBos: false).map { plain.token($0)! }, ["Ġw", "or"])
        XCTAssertEqual(ignoring.encode(" wor", addBos: false).map { ignoring.token($0)! }, ["Ġwor"])
    }

    func testRecognisesPreTokenizers() throws {
        let split = { (regex: String) -> Any in
            ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": regex], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false]]]
        }
        let digits: Any = ["type": "Sequence", "pretokenizers": [
            ["type": "Digits", "individual_digits": true],
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]]]
        XCTAssertEqual(try BPETokenizer(tokenizerJSON: try writeJSON(tokenizerJSON(pre: digits))).preTokenizer, .smollm)
        XCTAssertEqual(try BPETokenizer(tokenizerJSON: try writeJSON(tokenizerJSON(pre: split(llama3Pattern)))).preTokenizer, .llama3)
        XCTAssertEqual(try BPETokenizer(tokenizerJSON: try writeJSON(tokenizerJSON(pre: split(gpt2Pattern)))).preTokenizer, .gpt2)
        let other = try writeJSON(tokenizerJSON(pre: split("\\p{L}+")))
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: other)) {
            XCTAssertTrue("\($0)".hasPrefix("\(other): pre_tokenizer "), "\($0)")
        }
    }

    func testBadFilesThrowNamingTheFile() throws {
        let missing = "/nonexistent/tokenizer.json"
        let notJSON = try writeJSON(["x": 1])
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: notJSON))
        var wordPiece = tokenizerJSON()
        wordPiece["model"] = ["type": "WordPiece", "vocab": ["a": 0]]
        let badMerge = try writeJSON(tokenizerJSON(merges: ["Ġ zz"]))
        for (path, message) in [(missing, "cannot read"), (notJSON, "not valid JSON"),
                                (try writeJSON(wordPiece), "model.type is \"WordPiece\""),
                                (badMerge, "model.merges[0] \"Ġ zz\" names \"zz\"")] {
            XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: path)) { error in
                let e = error as? TokenizerError
                XCTAssertEqual(e?.file, path)
                XCTAssertTrue(e?.message.contains(message) == true, "\(error)")
            }
        }
    }

    func testConfigBesideNamesSpecialTokens() throws {
        var json = tokenizerJSON()
        json["post_processor"] = NSNull()
        json["added_tokens"] = [["id": 0, "content": "<|endoftext|>", "special": true, "normalized": false],
                                ["id": 300, "content": "<|im_end|>", "special": true, "normalized": false]]
        let path = try writeJSON(json)
        var t = try BPETokenizer(tokenizerJSON: path)
        XCTAssertEqual([t.bosId, t.eosId, t.padId], [0, 0, nil])
        XCTAssertFalse(t.addBos)
        let config = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        try JSONSerialization.data(withJSONObject: ["eos_token": "<|im_end|>", "pad_token": ["content": "<|im_end|>"]])
            .write(to: config)
        t = try BPETokenizer(tokenizerJSON: path)
        XCTAssertEqual([t.bosId, t.eosId, t.padId], [0, 300, 300])
        XCTAssertEqual(t.vocabSize, 301)
    }
}

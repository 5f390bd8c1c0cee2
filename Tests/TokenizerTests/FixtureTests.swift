// Token ids against golden ids from Hugging Face `tokenizers` (Fixtures/tokenizer, written by scripts/fixtures).
import Foundation
import XCTest
import Tokenizer

final class FixtureTests: XCTestCase {
    /// Fixtures/tokenizer, or $AUDITOR_TOKENIZER_FIXTURES when set (same layout).
    static let root: URL = {
        if let dir = ProcessInfo.processInfo.environment["AUDITOR_TOKENIZER_FIXTURES"] { return URL(fileURLWithPath: dir) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizer")
    }()

    func testEveryFixtureTokenizerMatchesReferenceIds() throws {
        let fm = FileManager.default
        let corpusURL = Self.root.appendingPathComponent("corpus.json")
        guard let corpusData = fm.contents(atPath: corpusURL.path) else {
            throw unavailable("no tokenizer fixtures yet at \(corpusURL.path)")
        }
        let texts = try JSONDecoder().decode([String: [String]].self, from: corpusData)["texts"] ?? []
        let names = try fm.contentsOfDirectory(atPath: Self.root.path).sorted().filter {
            fm.fileExists(atPath: Self.root.appendingPathComponent("\($0)/tokenizer.json").path)
        }
        XCTAssertFalse(names.isEmpty, "corpus.json but no <name>/tokenizer.json under \(Self.root.path)")
        for name in names {
            let dir = Self.root.appendingPathComponent(name)
            let tokenizer = try BPETokenizer(tokenizerJSON: dir.appendingPathComponent("tokenizer.json").path)
            let golden = try JSONDecoder().decode(GoldenIds.self, from: Data(contentsOf: dir.appendingPathComponent("ids.json")))
            XCTAssertEqual(golden.ids.count, texts.count, "\(name): ids.json and corpus.json differ in length")
            if let v = golden.vocab_size { XCTAssertEqual(tokenizer.vocabSize, v, "\(name): vocab size") }
            // ids: add_special_tokens=False; ids_with_special: True, i.e. the tokenizer's own BOS setting.
            var matched = 0, matchedSpecial = 0, reported = false
            for (i, text) in texts.enumerated() where i < golden.ids.count {
                let got = tokenizer.encode(text, addBos: false)
                if got == golden.ids[i] { matched += 1 } else if !reported {
                    reported = true
                    XCTFail("\(name): text \(i) \(describeDifference(got, golden.ids[i], tokenizer))")
                }
                if let special = golden.ids_with_special, i < special.count {
                    let got = tokenizer.encode(text)
                    if got == special[i] { matchedSpecial += 1 } else if !reported {
                        reported = true
                        XCTFail("\(name): text \(i) with special tokens \(describeDifference(got, special[i], tokenizer))")
                    }
                }
                XCTAssertEqual(tokenizer.decode(tokenizer.encode(text, addBos: false)), text, "\(name): round trip of text \(i)")
            }
            print("tokenizer fixture \(name): \(matched)/\(texts.count) texts match the reference ids, "
                + "\(matchedSpecial)/\(golden.ids_with_special?.count ?? 0) with special tokens")
        }
    }
}

/// Fixtures/tokenizer/<name>/ids.json.
struct GoldenIds: Decodable {
    let ids: [[Int]]
    let ids_with_special: [[Int]]?
    let vocab_size: Int?
}

/// Where two id sequences first differ, with the tokens around it.
func describeDifference(_ got: [Int], _ want: [Int], _ tokenizer: BPETokenizer) -> String {
    let at = zip(got, want).enumerated().first { $1.0 != $1.1 }?.offset ?? min(got.count, want.count)
    let show = { (ids: [Int]) in
        ids[max(0, at - 3)..<min(ids.count, at + 4)].map { "\($0) \(tokenizer.token($0).debugDescription)" }
    }
    return "first differs at token \(at) of \(tokenizer.decode(got).prefix(100).debugDescription)...: "
        + "got \(show(got)), want \(show(want))"
}

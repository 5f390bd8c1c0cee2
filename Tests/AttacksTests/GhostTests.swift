// Ghost sentences: seeded passphrases, rank statistics by hand, and the last-k test on the tiny model against greedy
// decoding computed here (a passphrase built from the model's own continuation must be reproduced).
import Foundation
import LM
import Stats
import XCTest
import Attacks
import Model
import FakeModels

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let list = ["apple", "river", "stone", "cloud", "green", "window", "seven", "paper", "music", "horse", "north", "quiet"]

final class GhostTests: XCTestCase {
    func testPassphrasesAreSeededWordsFromTheList() throws {
        var a = SeededRNG(seed: 4), b = SeededRNG(seed: 4)
        let p = Ghost.passphrase(words: list, count: 6, rng: &a)
        XCTAssertEqual(p, Ghost.passphrase(words: list, count: 6, rng: &b))
        let w = p.split(separator: " ").map(String.init)
        XCTAssertEqual(w.count, 6)
        XCTAssertTrue(w.allSatisfy(list.contains))
        let m = try Ghost.generate(words: list, count: 20, length: 3, seed: 9)
        XCTAssertEqual(Set(m.passphrases.map(\.text)).count, 20, "distinct")
        XCTAssertEqual(m.passphrases.map(\.id).last, "ghost-20")
        XCTAssertEqual(try JSONDecoder().decode(GhostManifest.self, from: JSONEncoder().encode(m)), m)
        let controls = try Ghost.passphrases(words: list, count: 50, length: 3, seed: 1, excluding: Set(m.passphrases.map(\.text)))
        XCTAssertTrue(Set(controls).isDisjoint(with: m.passphrases.map(\.text)))
        // 12^1 = 12 one-word passphrases cannot hold 20 distinct ones with room to spare.
        XCTAssertThrowsError(try Ghost.generate(words: list, count: 20, length: 1, seed: 0))
    }

    /// Passphrases with perplexity {5, 20}, controls {10, 30, 5, 40}. 5: one control <= 5 (the tie), rank 2,
    /// percentile 1/4, exposure log2 5 - log2 2; 20: two controls <= 20, rank 3, percentile 1/2. AUC of -ppl:
    /// 5 beats 10, 30, 40 and ties 5 (3.5), 20 beats 30, 40 (2): 5.5 / 8.
    func testRankStatisticsByHand() throws {
        let r = try Ghost.rankStatistics(passphrases: [5, 20], controls: [10, 30, 5, 40])
        XCTAssertEqual(r.ranks, [2, 3])
        XCTAssertEqual(r.percentiles, [0.25, 0.5])
        XCTAssertEqual(r.exposures[0], log2(5) - 1, accuracy: 1e-12)
        XCTAssertEqual(r.exposures[1], log2(5) - log2(3), accuracy: 1e-12)
        XCTAssertEqual(r.auc, 0.6875)
        XCTAssertThrowsError(try Ghost.rankStatistics(passphrases: [1], controls: []))
    }

    /// Greedy continuation of `prompt` computed here: `budget` tokens, cut at EOS, first k words.
    private func greedyWords(_ lm: LanguageModel, _ prompt: String, budget: Int, k: Int) -> [String] {
        // BOS then the prompt: the start the last-k test shares with the perplexity test.
        let ids = (lm.tokenizer.bosId.map { [$0] } ?? []) + lm.tokenizer.encode(prompt, addBos: false)
        var out = lm.model.generate(prompts: [ids], maxNewTokens: budget)[0]
        if let eos = lm.tokenizer.eosId, let i = out.firstIndex(of: eos) { out = Array(out[...i]) }
        return Array(lm.tokenizer.decode(out, skipSpecial: true).split(whereSeparator: \.isWhitespace).map(String.init).prefix(k))
    }

    func testLastKOnTinyModel() throws {
        let lm = try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/llama").path)
        var rng = SeededRNG(seed: 12)
        // Constructed: the passphrase's last k words are the model's own greedy continuation of its first words.
        var built = 0
        for _ in 0..<20 where built < 3 {
            let head = Ghost.passphrase(words: list, count: 4, rng: &rng)
            for k in [1, 2] {
                let tail = greedyWords(lm, head, budget: 24, k: k)
                guard tail.count == k else { continue }
                let phrase = head + " " + tail.joined(separator: " ")
                let r = try Ghost.lastKTest(lm, passphrase: phrase, k: k)
                XCTAssertEqual(r.prompt, head)
                XCTAssertEqual(r.expected, tail)
                XCTAssertEqual(r.generated, tail, phrase)
                XCTAssertTrue(r.reproduced, phrase)
                built += 1
            }
        }
        XCTAssertGreaterThan(built, 0, "no prompt gave a whitespace-separated continuation")
        // Random passphrases: the result is whatever greedy decoding (with the documented budget) gives.
        for k in [1, 2] {
            for _ in 0..<4 {
                let phrase = Ghost.passphrase(words: list, count: 5, rng: &rng)
                let words = phrase.split(separator: " ").map(String.init)
                let head = words.dropLast(k).joined(separator: " "), tail = Array(words.suffix(k))
                let budget = lm.tokenizer.encode(" " + tail.joined(separator: " "), addBos: false).count + 4
                let want = greedyWords(lm, head, budget: budget, k: k)
                let r = try Ghost.lastKTest(lm, passphrase: phrase, k: k)
                XCTAssertEqual(r.generated, want, phrase)
                XCTAssertEqual(r.reproduced, want == tail, phrase)
            }
        }
        // A context goes before the prompt, separated by one space.
        XCTAssertEqual(try Ghost.lastKTest(lm, passphrase: "apple river stone", context: "Note:", k: 1).prompt, "Note: apple river")
    }

    /// Perplexities of the perplexity test are exp(mean NLL) of BOS + text, recomputed with `score`.
    func testPerplexityTestOnTinyModel() throws {
        let lm = try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/llama").path)
        let p = try Ghost.passphrases(words: list, count: 3, length: 5, seed: 1)
        let c = try Ghost.passphrases(words: list, count: 10, length: 5, seed: 2, excluding: Set(p))
        let r = try Ghost.perplexityTest(lm, passphrases: p, controls: c)
        let bos = try XCTUnwrap(lm.tokenizer.bosId)
        for (text, ppl) in zip(p + c, r.perplexities + r.controlPerplexities) {
            let lp = lm.model.score([[bos] + lm.tokenizer.encode(text, addBos: false)])[0].logprobs
            // Float32 log-probs, other batching: measured 1.6e-6 relative; bar 1e-5 (6x).
            XCTAssertEqual(ppl, exp(-lp.reduce(0.0) { $0 + Double($1) } / Double(lp.count)), accuracy: 1e-5 * ppl)
        }
        let again = try Ghost.rankStatistics(passphrases: r.perplexities, controls: r.controlPerplexities)
        XCTAssertEqual(r.ranks, again.ranks)
        XCTAssertEqual(r.ranks, r.perplexities.map { x in 1 + r.controlPerplexities.filter { $0 <= x }.count })
    }

    /// The last-k prompt and the perplexity test start alike: BOS, then the passphrase's tokens, on a model whose
    /// tokenizer adds no BOS by itself (as SmolLM2's). Before, the prompt went without BOS while the perplexity
    /// test added one.
    func testLastKPromptStartsWithTheBOSThePerplexityTestScores() throws {
        let lm = NoBOSRecorder(FakeModel(vocabulary: list))
        let phrase = "apple river stone cloud green", k = 2
        XCTAssertEqual(try lm.encode(phrase).first, FakeModel.bos + 3, "the wrapper's tokenizer adds no BOS")
        _ = try Ghost.lastKTest(lm, passphrase: phrase, k: k)
        _ = try Ghost.perplexityTest(lm, passphrases: [phrase], controls: ["music horse north quiet seven"])
        let prompt = try XCTUnwrap(lm.prompts.first), scored = try XCTUnwrap(lm.scored.first)
        let head = try lm.encode("apple river stone", addBos: false)
        XCTAssertEqual(prompt, [FakeModel.bos] + head)
        XCTAssertEqual(Array(scored.prefix(prompt.count)), prompt, "the scored passphrase begins with the prompt")
    }
}

/// A FakeModel behind a tokenizer that adds no BOS by default; records generate prompts and scored sequences.
private final class NoBOSRecorder: AuditableModel, @unchecked Sendable {
    let inner: FakeModel
    var prompts: [[Int]] = [], scored: [[Int]] = []
    init(_ inner: FakeModel) { self.inner = inner }
    var identity: String { "no-BOS recorder" }
    var capabilities: ModelCapabilities { inner.capabilities }
    var contextLength: Int { inner.contextLength }
    var bosId: Int? { inner.bosId }
    var eosId: Int? { inner.eosId }
    var padId: Int? { inner.padId }
    func encode(_ text: String, addBos: Bool?) throws -> [Int] { inner.encode(text, addBos: addBos ?? false) }
    func decode(_ ids: [Int], skipSpecial: Bool) throws -> String { inner.decode(ids, skipSpecial: skipSpecial) }
    func score(_ sequences: [[Int]], options: ScoreOptions, progress: ((Int, Int) -> Void)?) throws -> [SequenceScores] {
        scored += sequences
        return try inner.score(sequences, options: options, progress: progress)
    }
    func generate(prompts p: [[Int]], maxNewTokens: Int, sampling: SamplingParams, stopTokens: Set<Int>,
                  progress: ((Int) -> Void)?) throws -> [[Int]] {
        prompts += p
        return try inner.generate(prompts: p, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens, progress: progress)
    }
    func suffixProbabilities(_ pairs: [(prefix: [Int], suffix: [Int])], sampling: SamplingParams) throws
        -> [(logQ: [Double], argmaxMatches: [Bool])] {
        try inner.suffixProbabilities(pairs, sampling: sampling)
    }
}

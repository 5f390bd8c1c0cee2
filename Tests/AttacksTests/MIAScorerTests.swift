// MIAScorer: errors, forward-pass count and consistency with the pure functions (tiny llama), and agreement with
// the independent Python scores of SmolLM2 in Fixtures/mia/smollm2_scores.json (scripts/fixtures/mia_fixtures.py).
import Foundation
import LM
import Stats
import XCTest
import Model
@testable import Attacks

private let miaRepoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
private func miaFixture(_ rel: String) -> String { miaRepoRoot.appendingPathComponent("Fixtures/" + rel).path }

/// Wraps a model and records every `score` call: the sequences and whether vocabulary statistics were asked for.
private final class CountingModel: AuditableModel, @unchecked Sendable {
    let inner: any AuditableModel
    var calls: [(sequences: [[Int]], vocabStats: Bool)] = []
    init(_ inner: any AuditableModel) { self.inner = inner }
    var identity: String { inner.identity }
    var capabilities: ModelCapabilities { inner.capabilities }
    var contextLength: Int { inner.contextLength }
    var bosId: Int? { inner.bosId }
    var eosId: Int? { inner.eosId }
    var padId: Int? { inner.padId }
    func encode(_ text: String, addBos: Bool?) throws -> [Int] { try inner.encode(text, addBos: addBos) }
    func decode(_ ids: [Int], skipSpecial: Bool) throws -> String { try inner.decode(ids, skipSpecial: skipSpecial) }
    func score(_ sequences: [[Int]], options: ScoreOptions, progress: ((Int, Int) -> Void)?) throws -> [SequenceScores] {
        calls.append((sequences, options.vocabStats))
        return try inner.score(sequences, options: options, progress: progress)
    }
    func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams, stopTokens: Set<Int>,
                  progress: ((Int) -> Void)?) throws -> [[Int]] {
        try inner.generate(prompts: prompts, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens, progress: progress)
    }
    func suffixProbabilities(_ pairs: [(prefix: [Int], suffix: [Int])], sampling: SamplingParams) throws
        -> [(logQ: [Double], argmaxMatches: [Bool])] { try inner.suffixProbabilities(pairs, sampling: sampling) }
}

/// One token per whitespace-separated word (its length); each log-prob is -(token value), variance 1, mean 0.
/// Scoring only: generation is not needed by MIAScorer.
private final class WordModel: AuditableModel, @unchecked Sendable {
    var identity: String { "word model" }
    var capabilities: ModelCapabilities { .vocabularyStatistics }
    var bosId: Int? { nil }
    var eosId: Int? { nil }
    var padId: Int? { nil }
    func encode(_ text: String, addBos: Bool?) -> [Int] {
        let words: [Substring] = text.split(separator: " ")
        return words.map { $0.count }
    }
    func decode(_ ids: [Int], skipSpecial: Bool) -> String { ids.map { String(repeating: "x", count: $0) }.joined(separator: " ") }
    var contextLength: Int { 16 }
    func score(_ sequences: [[Int]], options: ScoreOptions, progress: ((Int, Int) -> Void)?) -> [SequenceScores] {
        sequences.map { s in
            let lp = s.dropFirst().map { -Float($0) }
            return options.vocabStats ? SequenceScores(logprobs: lp, vocabMean: lp.map { _ in 0 }, vocabVariance: lp.map { _ in 1 })
                                      : SequenceScores(logprobs: lp)
        }
    }
    func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams, stopTokens: Set<Int>,
                  progress: ((Int) -> Void)?) throws -> [[Int]] { try require(.seededSampling, for: "generation"); return [] }
    func suffixProbabilities(_ pairs: [(prefix: [Int], suffix: [Int])], sampling: SamplingParams) throws
        -> [(logQ: [Double], argmaxMatches: [Bool])] { try require(.samplingProbabilities, for: "suffix probabilities"); return [] }
}

private struct MIAFixture: Decodable {
    struct Row: Decodable {
        let text: String, ids: [Int], nll: Double, zlib_length: Int
        let loss: Double, zlib: Double, min_k: Double, min_k_plus_plus: Double, lowercase: Double, recall: Double
    }
    let k: Double, recall_prefix: String, texts: [Row]
}

final class MIAScorerTests: XCTestCase {
    func testErrorsNameTheText() {
        let s = MIAScorer(target: WordModel())
        XCTAssertThrowsError(try s.score(["aa bb cc dd ee ff", "single"])) { e in
            XCTAssertEqual(e as? MIAError, .tooShort(index: 1, tokens: 1))
            XCTAssertTrue("\(e)".hasPrefix("text 1: 1 token(s)"), "\(e)")
        }
        // 4 tokens = 3 scored; floor(0.2 * 3) = 0
        XCTAssertThrowsError(try s.score(["a b c d e f g", "a b c d"])) { e in
            XCTAssertEqual(e as? MIAError, .tooShortForK(index: 1, scoredTokens: 3, k: 0.2))
            XCTAssertTrue("\(e)".contains("text 1: 3 scored token(s)"), "\(e)")
        }
        XCTAssertThrowsError(try s.score([Array(repeating: "w", count: 17).joined(separator: " ")])) { e in
            XCTAssertEqual(e as? MIAError, .tooLong(index: 0, tokens: 17, context: 16, what: "the text"))
        }
        let r = MIAScorer(target: WordModel(), options: MIAOptions(recallPrefix: "p p p p p p p p p p"))
        XCTAssertThrowsError(try r.score(["a b c d e f g"])) { e in
            XCTAssertEqual(e as? MIAError, .tooLong(index: 0, tokens: 17, context: 16, what: "prefix + text"))
        }
        XCTAssertThrowsError(try MIAScorer(target: WordModel(), options: MIAOptions(ks: [0])).score(["a b"])) { e in
            XCTAssertEqual(e as? MIAError, .invalidK(0))
        }
    }

    func testDriverWiringOnAFakeModel() throws {
        // "x aa bbb c dddd e": ids [1, 2, 3, 1, 4, 1], log-probs [-2, -3, -1, -4, -1], NLL 2.2
        // prefix "pp qqq": ids [2, 3]; P + x scores x's 6 tokens: [-1, -2, -3, -1, -4, -1], LL -2; recall -2 / -2.2
        // lowercase: same ids, ratio 1. Reference (same fake model): difference 0, ratio 1.
        let s = MIAScorer(target: WordModel(), reference: WordModel(),
                          options: MIAOptions(ks: [0.2, 0.4], recallPrefix: "pp qqq"))
        let r = try s.score(["x aa bbb c dddd e"])[0]
        XCTAssertEqual(r.tokens, 6)
        XCTAssertEqual(r.loss, -2.2, accuracy: 1e-15)
        XCTAssertEqual(r.minK[0.2], -4)      // floor(0.2 * 5) = 1
        XCTAssertEqual(r.minK[0.4], -3.5)    // floor(0.4 * 5) = 2: (-4 - 3) / 2
        XCTAssertEqual(r.minKPlusPlus[0.4], -3.5)  // mean 0, variance 1: z = l
        XCTAssertEqual(r.recall!, 2 / 2.2, accuracy: 1e-15)
        XCTAssertEqual(r.lowercase, 1)
        XCTAssertEqual(r.referenceDifference, 0)
        XCTAssertEqual(r.referenceRatio, 1)
        XCTAssertEqual(r.zlib, -2.2 / Double(MIA.zlibLength("x aa bbb c dddd e")), accuracy: 1e-15)
        XCTAssertEqual(r.named(ks: [0.2, 0.4]).map(\.name),
                       ["loss", "zlib", "mink_0.2", "mink_0.4", "minkpp_0.2", "minkpp_0.4", "lowercase", "recall",
                        "reference", "reference_ratio"])
        let plain = try MIAScorer(target: WordModel(), options: MIAOptions(lowercase: false)).score(["a bb ccc d e f"])[0]
        XCTAssertNil(plain.lowercase); XCTAssertNil(plain.recall); XCTAssertNil(plain.referenceDifference)
    }

    func testTinyLlamaScoresEqualPureFunctionsWithOneForwardPassPerInput() throws {
        let lm = try LanguageModel.load(path: miaFixture("tiny/llama"))
        let refLM = try LanguageModel.load(path: miaFixture("tiny/gpt2"))   // same gpt2-tiny tokenizer
        let texts = ["Everyone is permitted to copy and distribute verbatim copies of this license document.",
                     "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND.",
                     "for i in range(10):\n    print(i * i)\n"]
        let prefix = "A short non-member prefix."
        let target = CountingModel(lm), reference = CountingModel(refLM)
        let ks = [0.2, 0.5]
        let got = try MIAScorer(target: target, reference: reference,
                                options: MIAOptions(ks: ks, recallPrefix: prefix)).score(texts)

        // Forward passes: the texts once with vocabulary statistics; lowercase and prefixed inputs once each,
        // without; the reference once per text.
        let ids = texts.map { lm.tokenizer.encode($0) }
        let pids = lm.tokenizer.encode(prefix)
        XCTAssertEqual(target.calls.count, 2)
        XCTAssertEqual(target.calls[0].sequences, ids)
        XCTAssertTrue(target.calls[0].vocabStats)
        let cont = texts.map { lm.tokenizer.encode($0, addBos: false) }
        XCTAssertEqual(cont, ids)   // gpt2-tiny adds no BOS
        XCTAssertEqual(target.calls[1].sequences, texts.map { lm.tokenizer.encode($0.lowercased()) } + cont.map { pids + $0 })
        XCTAssertFalse(target.calls[1].vocabStats)
        XCTAssertEqual(reference.calls.map(\.sequences), [texts.map { refLM.tokenizer.encode($0) }])

        // Expected: score() output run through the pure functions.
        let main = lm.model.score(ids, options: ScoreOptions(vocabStats: true))
        let lower = lm.model.score(texts.map { lm.tokenizer.encode($0.lowercased()) })
        let pre = lm.model.score(cont.map { pids + $0 })
        let ref = refLM.model.score(texts.map { refLM.tokenizer.encode($0) })
        for (i, s) in main.enumerated() {
            let g = got[i], tol = 1e-6
            XCTAssertEqual(g.tokens, ids[i].count)
            XCTAssertEqual(g.loss, MIA.loss(s.logprobs), accuracy: tol)
            XCTAssertEqual(g.zlib, MIA.zlib(s.logprobs, text: texts[i]), accuracy: tol)
            for k in ks {
                XCTAssertEqual(g.minK[k]!, MIA.minK(s.logprobs, k: k), accuracy: tol, "text \(i) k \(k)")
                XCTAssertEqual(g.minKPlusPlus[k]!, MIA.minKPlusPlus(s.logprobs, vocabMean: s.vocabMean!,
                                                                    vocabVariance: s.vocabVariance!, k: k), accuracy: tol)
            }
            XCTAssertEqual(g.lowercase!, MIA.lowercase(s.logprobs, lowercaseLogprobs: lower[i].logprobs), accuracy: tol)
            XCTAssertEqual(pre[i].logprobs.count, pids.count + cont[i].count - 1)
            XCTAssertEqual(g.recall!, MIA.recall(Array(pre[i].logprobs.suffix(cont[i].count)), s.logprobs), accuracy: tol)
            XCTAssertEqual(g.referenceDifference!, ref[i].nll - s.nll, accuracy: tol)
            XCTAssertEqual(g.referenceRatio!, exp(ref[i].nll - s.nll), accuracy: tol * max(1, g.referenceRatio!))
        }
    }

    func testSmolLM2AgreesWithIndependentPythonScores() throws {
        let env = ProcessInfo.processInfo.environment
        let path = [env["AUDITOR_MODEL"], (env["AUDITOR_CACHE"] ?? NSHomeDirectory() + "/.cache/auditor")
                    + "/models/SmolLM2-135M-Instruct.Q4_1.gguf", env["AUDITOR_REF_GGUF"]]
            .compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0) }
        guard let path else {
            throw unavailable("SmolLM2 not cached; run scripts/setup.sh")
        }
        let fx = try JSONDecoder().decode(MIAFixture.self,
                                          from: Data(contentsOf: URL(fileURLWithPath: miaFixture("mia/smollm2_scores.json"))))
        let lm = try LanguageModel.load(path: path)
        for (i, row) in fx.texts.enumerated() { XCTAssertEqual(lm.tokenizer.encode(row.text), row.ids, "ids of text \(i)") }
        let got = try MIAScorer(target: lm, options: MIAOptions(ks: [fx.k], recallPrefix: fx.recall_prefix))
            .score(fx.texts.map(\.text))
        var worst: [String: Double] = [:]
        func check(_ name: String, _ a: Double, _ b: Double, rel: Double? = nil, abs absTol: Double? = nil, _ i: Int) {
            let d = abs(a - b), tol = rel.map { $0 * abs(b) } ?? absTol!
            worst[name] = max(worst[name] ?? 0, rel != nil ? d / abs(b) : d)
            XCTAssertLessThanOrEqual(d, tol, "\(name) of text \(i): \(a) vs reference \(b)")
        }
        // Measured here (worst over the texts; relative, min_k++ absolute): loss 7.0e-6, zlib 7.0e-6, min_k 3.7e-6,
        // min_k++ 5.3e-6, lowercase 6.7e-7, recall 2.9e-6. Bars about 10x (loss and zlib 14x): min_k was 1e-4,
        // min_k++ 1e-3, lowercase 1e-4, recall 1e-4.
        for (i, row) in fx.texts.enumerated() {
            let g = got[i]
            XCTAssertEqual(MIA.zlibLength(row.text), row.zlib_length, "zlib length of text \(i)")
            check("loss", g.loss, row.loss, rel: 1e-4, i)
            check("zlib", g.zlib, row.zlib, rel: 1e-4, i)
            check("min_k", g.minK[fx.k]!, row.min_k, rel: 4e-5, i)
            check("min_k++", g.minKPlusPlus[fx.k]!, row.min_k_plus_plus, abs: 5e-5, i)
            check("lowercase", g.lowercase!, row.lowercase, rel: 7e-6, i)
            check("recall", g.recall!, row.recall, rel: 3e-5, i)
        }
        print("SmolLM2 MIA vs Python, worst (relative; min_k++ absolute):",
              worst.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.2e", $0.value))" }.joined(separator: ", "))
    }
}

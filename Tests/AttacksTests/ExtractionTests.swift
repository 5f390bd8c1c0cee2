// Extraction: edit distance and (n, p) arithmetic by hand, p_z against transformers' sampling processors on
// SmolLM2, and a Monte-Carlo check that sampling reproduces a suffix at the rate p_z predicts.
import Foundation
import LM
import Stats
import XCTest
import Attacks
import Model
import Tensor

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private func fixturePath(_ rel: String) -> String { root.appendingPathComponent("Fixtures/" + rel).path }

final class ExtractionTests: XCTestCase {
    func testEditDistanceByHand() {
        XCTAssertEqual(Extraction.editDistance([1, 2, 3], [1, 2, 3]), 0)
        XCTAssertEqual(Extraction.editDistance([], [4, 5]), 2)
        XCTAssertEqual(Extraction.editDistance([1, 2, 3], [1, 3]), 1)          // one deletion
        XCTAssertEqual(Extraction.editDistance([1, 2, 3], [1, 9, 3]), 1)       // one substitution
        XCTAssertEqual(Extraction.editDistance([7, 1, 2, 3], [1, 2, 3, 7]), 2) // kitten/sitting-style shift
        XCTAssertEqual(Extraction.normalizedEditDistance(generated: [1, 9, 3, 4], target: [1, 2, 3, 4]), 0.25)
    }

    func testNPArithmeticByHand() {
        XCTAssertEqual(Extraction.probabilityOfExtraction(pz: 0.5, n: 2), 0.75, accuracy: 1e-15)
        XCTAssertEqual(Extraction.samplesNeeded(pz: 0.5, p: 0.75), 2, accuracy: 1e-12)
        XCTAssertTrue(Extraction.isNPDiscoverable(pz: 0.5, n: 2, p: 0.75))
        XCTAssertFalse(Extraction.isNPDiscoverable(pz: 0.5, n: 1, p: 0.75))
        // Tiny p_z: 1 - (1 - 1e-12)^1e6 = 1e-6 to first order (naive pow would lose it).
        XCTAssertEqual(Extraction.probabilityOfExtraction(pz: 1e-12, n: 1_000_000), 1e-6, accuracy: 1e-12)
        XCTAssertEqual(Extraction.samplesNeeded(pz: 0, p: 0.5), .infinity)
    }

    func testMemorisationMeasuresByHand() {
        let a = Extraction.SuffixProbability(logPz: 0, tokenLogQ: [0, 0, 0], argmaxMatches: [false, true, true])
        XCTAssertEqual(a.exactMemorization, 2.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(a.extractionStrength, 2.0 / 3, accuracy: 1e-15)   // k* = 1
        let b = Extraction.SuffixProbability(logPz: 0, tokenLogQ: [0, 0, 0], argmaxMatches: [true, false, true])
        XCTAssertEqual(b.extractionStrength, 1.0 / 3, accuracy: 1e-15)   // k* = 2
        let c = Extraction.SuffixProbability(logPz: 0, tokenLogQ: [0, 0], argmaxMatches: [true, true])
        XCTAssertEqual(c.extractionStrength, 1)
    }

    /// A sample whose suffix is the model's own greedy continuation is exactly extractable; change one token and it
    /// is not, at normalised distance 1/L; greedy p_z is 1 for the first and 0 for the second.
    func testDiscoverableOnTinyModel() throws {
        let lm = try LanguageModel.load(path: fixturePath("tiny/llama"))
        let prefix = lm.tokenizer.encode("The licence grants")
        let cont = lm.model.generate(prompts: [prefix], maxNewTokens: 6)[0]
        var broken = cont; broken[5] = (broken[5] + 1) % lm.config.vocabSize
        let r = try Extraction.discoverable(lm, samples: [prefix + cont, prefix + broken], prefixLength: prefix.count, suffixLength: 6)
        XCTAssertTrue(r[0].exact); XCTAssertEqual(r[0].normalizedEditDistance, 0)
        XCTAssertFalse(r[1].exact); XCTAssertEqual(r[1].normalizedEditDistance, 1.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(try Extraction.suffixProbability(lm, prefix: prefix, suffix: cont, sampling: SamplingParams()).pz, 1)
        XCTAssertEqual(try Extraction.suffixProbability(lm, prefix: prefix, suffix: broken, sampling: SamplingParams()).pz, 0)
    }

    /// Sampling N times with the scheme reproduces the suffix at rate p_z (within 4 standard errors), and groups of n
    /// samples contain a hit at rate 1 - (1 - p_z)^n.
    func testMonteCarloMatchesPz() throws {
        let lm = try LanguageModel.load(path: fixturePath("tiny/llama"))
        let scheme = SamplingParams(temperature: 1, topK: 8, topP: 0.95, seed: 2024)
        let prefix = lm.tokenizer.encode("Copyright (C) 2007")
        let suffix = lm.model.generate(prompts: [prefix], maxNewTokens: 3)[0]   // a likely suffix
        let pz = try Extraction.suffixProbability(lm, prefix: prefix, suffix: suffix, sampling: scheme).pz
        XCTAssertGreaterThan(pz, 0.01, "the test needs a suffix that sampling actually hits")
        let N = 4000
        let out = lm.model.generate(prompts: Array(repeating: prefix, count: N), maxNewTokens: 3, sampling: scheme)
        let hits = out.map { $0 == suffix }
        let rate = Double(hits.filter { $0 }.count) / Double(N)
        let se = (pz * (1 - pz) / Double(N)).squareRoot()
        print(String(format: "Monte-Carlo: p_z %.4f, sampled rate %.4f over %d samples (4 se = %.4f)", pz, rate, N, 4 * se))
        XCTAssertEqual(rate, pz, accuracy: 4 * se)
        let n = 5, groups = N / n
        let groupHits = (0..<groups).filter { g in hits[g * n..<(g + 1) * n].contains(true) }.count
        let pn = Extraction.probabilityOfExtraction(pz: pz, n: n)
        XCTAssertEqual(Double(groupHits) / Double(groups), pn, accuracy: 4 * (pn * (1 - pn) / Double(groups)).squareRoot())
    }

    /// p_z on SmolLM2 against transformers' TemperatureLogitsWarper / TopKLogitsWarper / TopPLogitsWarper.
    func testSmolLM2PzMatchesTransformersProcessors() throws {
        let env = ProcessInfo.processInfo.environment
        let cached = (env["AUDITOR_CACHE"] ?? NSHomeDirectory() + "/.cache/auditor") + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard let path = [env["AUDITOR_MODEL"], cached, env["AUDITOR_REF_GGUF"]].compactMap({ $0 })
            .first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw unavailable("SmolLM2 not cached; run scripts/setup.sh")
        }
        struct Case: Decodable {
            struct Scheme: Decodable { let name: String; let temperature: Double; let top_k: Int; let top_p: Double }
            let ids: [Int]; let prefix_length: Int; let scheme: Scheme; let token_logq: [Double?]; let log_pz: Double?
        }
        struct File: Decodable { let cases: [Case] }
        let f = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: fixturePath("extraction/smollm2_pz.json"))))
        BLAS.setThreads(2)
        let lm = try LanguageModel.load(path: path)
        // Measured here over the 12 cases: worst |d ln q| per token 4.6e-5, worst |d ln p_z| 7.9e-5. Bars about 10x:
        // 5e-4 and 8e-4 (were 1e-3 and 1e-2).
        var worst = 0.0, worstPz = 0.0
        for c in f.cases {
            let s = SamplingParams(temperature: c.scheme.temperature, topK: c.scheme.top_k, topP: c.scheme.top_p)
            let r = try Extraction.suffixProbability(lm, prefix: Array(c.ids[..<c.prefix_length]),
                                                 suffix: Array(c.ids[c.prefix_length...]), sampling: s)
            XCTAssertEqual(r.tokenLogQ.count, c.token_logq.count)
            for (ours, ref) in zip(r.tokenLogQ, c.token_logq) {
                if let ref {
                    XCTAssertEqual(ours, ref, accuracy: 5e-4, c.scheme.name); worst = max(worst, abs(ours - ref))
                } else {
                    XCTAssertEqual(ours, -.infinity, "\(c.scheme.name): the reference gives this token probability 0")
                }
            }
            if let lp = c.log_pz {
                XCTAssertEqual(r.logPz, lp, accuracy: 8e-4); worstPz = max(worstPz, abs(r.logPz - lp))
            } else { XCTAssertEqual(r.logPz, -.infinity) }
        }
        print(String(format: "SmolLM2 p_z: %d cases, worst |d ln q| %.2e, worst |d ln p_z| %.2e", f.cases.count, worst, worstPz))
    }
}

// Copyright-trap scores and ghost-sentence statistics on SmolLM2 against transformers (Fixtures/traps_ghost, written by
// scripts/fixtures/traps_ghost_fixtures.py from the float32 Hugging Face copy, with Fixtures/tiny/llama as reference).
import Attacks
import Foundation
import LM
import Model
import Tensor
import XCTest

private let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private struct TrapsGhostFixture: Decodable {
    struct Trap: Decodable {
        let id: String, text: String, repetitions: Int, injected: Bool
        let target_ids: [Int], reference_ids: [Int]
        let ppl_target: Double, ppl_reference: Double, score: Double, score_no_reference: Double
    }
    struct AUCs: Decodable {
        struct ByRep: Decodable { let repetitions: Int; let auc: Double }
        let overall: Double, overall_no_reference: Double, by_repetition: [ByRep]
    }
    struct LastK: Decodable {
        let passphrase: String, prompt: String, prompt_ids: [Int], expected: [String], generated: [String], gaps: [Double]
    }
    struct Ghost: Decodable {
        let k: Int, passphrases: [String], controls: [String], perplexities: [Double], control_perplexities: [Double]
        let ranks: [Int], percentiles: [Double], exposures: [Double], auc: Double, last_k: [LastK]
    }
    let traps: [Trap], trap_auc: AUCs, ghost: Ghost
}

final class TrapsGhostReferenceTests: XCTestCase {
    private func smolLM2() throws -> LanguageModel {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["AUDITOR_MODEL"], (env["AUDITOR_CACHE"] ?? NSHomeDirectory() + "/.cache/auditor")
                          + "/models/SmolLM2-135M-Instruct.Q4_1.gguf", env["AUDITOR_REF_GGUF"]].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw unavailable("SmolLM2 not cached; run scripts/setup.sh")
        }
        BLAS.setThreads(2)
        return try LanguageModel.load(path: path)
    }

    private func fixture() throws -> TrapsGhostFixture {
        try JSONDecoder().decode(TrapsGhostFixture.self, from: Data(contentsOf: repo.appendingPathComponent("Fixtures/traps_ghost/smollm2.json")))
    }

    /// |ln PPL_ours - ln PPL_ref| is the difference of the mean NLLs in nats.
    private func dlog(_ a: Double, _ b: Double) -> Double { abs(Foundation.log(a) - Foundation.log(b)) }

    func testTrapScoresMatchTransformers() throws {
        let fx = try fixture(), lm = try smolLM2(), tiny = try LanguageModel.load(path: repo.appendingPathComponent("Fixtures/tiny/llama").path)
        for t in fx.traps {
            XCTAssertEqual(try Traps.scoredIds(lm, t.text), t.target_ids, "\(t.id): SmolLM2 ids (BOS + text)")
            XCTAssertEqual(try Traps.scoredIds(tiny, t.text), t.reference_ids, "\(t.id): reference ids (BOS + text)")
        }
        let manifest = TrapManifest(seed: 0, traps: fx.traps.map {
            Trap(id: $0.id, text: $0.text, targetTokens: $0.target_ids.count - 1, tokens: $0.target_ids.count - 1, perplexity: 0,
                 perplexityRange: [0, 1e9], temperature: 1, repetitions: $0.repetitions, injected: $0.injected)
        })
        let d = try Traps.detect(target: lm, reference: tiny, manifest: manifest, resamples: 200, seed: 1)
        XCTAssertEqual(d.statistic, "ppl_reference/ppl_target")
        var worstT = 0.0, worstR = 0.0, worstS = 0.0
        for (s, t) in zip(d.scores, fx.traps) {
            XCTAssertEqual(s.id, t.id)
            worstT = max(worstT, dlog(s.perplexityTarget, t.ppl_target))
            worstR = max(worstR, dlog(try XCTUnwrap(s.perplexityReference), t.ppl_reference))
            worstS = max(worstS, dlog(s.score, t.score))
        }
        print(String(format: "traps vs transformers: worst |d ln PPL| target %.2e, reference %.2e, |d ln score| %.2e", worstT, worstR, worstS))
        // Measured here: target 1.0e-5 (SmolLM2 Q4_1 in our engine against transformers float32), reference 5.2e-7
        // (tiny Llama, float32 both sides), score 9.8e-6. Bars about 10x that.
        XCTAssertLessThanOrEqual(worstT, 1e-4, "SmolLM2 perplexities")
        XCTAssertLessThanOrEqual(worstR, 5e-6, "tiny reference perplexities")
        XCTAssertLessThanOrEqual(worstS, 1e-4, "scores PPL_ref / PPL_target")
        // AUCs are rank statistics: the scores are far apart (closest pair differs by > 1%), so they agree exactly.
        XCTAssertEqual(d.overall.auc, fx.trap_auc.overall, accuracy: 1e-12)
        XCTAssertEqual(d.byRepetition.map(\.repetitions), fx.trap_auc.by_repetition.map(\.repetitions))
        for (a, b) in zip(d.byRepetition, fx.trap_auc.by_repetition) { XCTAssertEqual(a.auc, b.auc, accuracy: 1e-12, "\(b.repetitions) repetitions") }
        let alone = try Traps.detect(target: lm, reference: nil, manifest: manifest, resamples: 200, seed: 1)
        XCTAssertEqual(alone.statistic, "-ppl_target")
        XCTAssertEqual(alone.overall.auc, fx.trap_auc.overall_no_reference, accuracy: 1e-12)
        for (s, t) in zip(alone.scores, fx.traps) { XCTAssertLessThanOrEqual(dlog(-s.score, -t.score_no_reference), 1e-4, t.id) }
    }

    func testGhostStatisticsMatchTransformers() throws {
        let fx = try fixture(), g = fx.ghost, lm = try smolLM2()
        let p = try Ghost.perplexityTest(lm, passphrases: g.passphrases, controls: g.controls)
        let worst = zip(p.perplexities + p.controlPerplexities, g.perplexities + g.control_perplexities).map { dlog($0, $1) }.max() ?? 0
        print(String(format: "ghost vs transformers: worst |d ln PPL| %.2e", worst))
        // Measured here: 7.5e-5 (passphrases of rare words, perplexities in the thousands); bar about 10x.
        XCTAssertLessThanOrEqual(worst, 8e-4)
        // Ranks, percentiles, exposures and the AUC follow from the order, which the perplexities' gaps (> 1%) fix.
        XCTAssertEqual(p.ranks, g.ranks)
        for (a, b) in zip(p.percentiles, g.percentiles) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        for (a, b) in zip(p.exposures, g.exposures) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(p.auc, g.auc, accuracy: 1e-12)

        let last = try Ghost.lastKTest(lm, passphrases: g.passphrases, k: g.k)
        var compared = 0
        for (ours, ref) in zip(last, g.last_k) {
            XCTAssertEqual(ours.prompt, ref.prompt)
            // The prompt starts with BOS, as the perplexity test scores a passphrase (Ghost.lastKTest).
            XCTAssertEqual([lm.bosId!] + lm.tokenizer.encode(ours.prompt), ref.prompt_ids, "prompt ids: BOS, then the prompt")
            XCTAssertEqual(ours.expected, ref.expected)
            // Greedy decoding is compared where transformers' top two log-probs are at least 1e-2 apart at every step;
            // a closer near-tie may go either way between two float32 engines.
            guard ref.gaps.allSatisfy({ $0 >= 1e-2 }) else { continue }
            XCTAssertEqual(ours.generated, ref.generated, "last-\(g.k) continuation of '\(ref.prompt)'")
            compared += 1
        }
        XCTAssertGreaterThanOrEqual(compared, 4, "the fixture has 4 passphrases without a near-tie")
    }
}

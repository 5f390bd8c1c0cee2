// Every attack driven through the model interface by an in-memory fake (Tests/FakeModels): memorised texts must be
// found, never-seen ones not, and a backend without a capability must be refused, not approximated.
import FakeModels
import Foundation
import LM
import Stats
import XCTest
@testable import Attacks

final class FakeModelAttackTests: XCTestCase {
    let filler = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau"
        .split(separator: " ").map(String.init)

    /// The fake's own numbers by hand for a two-token text: ln p = l[t] - logsumexp(l) of the bigram row after BOS.
    func testScoresAreTheFakesLogSoftmax() throws {
        let m = FakeModel(vocabulary: filler, seed: 3)
        let ids = m.encode("beta", addBos: true)
        XCTAssertEqual(ids.count, 2)
        let l = m.logits([FakeModel.bos][...]).map(Double.init)
        let lse = Foundation.log(l.map { Foundation.exp($0) }.reduce(0, +))
        let s = try m.score([ids], options: ScoreOptions(vocabStats: true, topK: 2))[0]
        XCTAssertEqual(Double(s.logprobs[0]), l[ids[1]] - lse, accuracy: 1e-6)
        let p = l.map { Foundation.exp($0 - lse) }
        let mean = zip(p, l).reduce(0.0) { $0 + $1.0 * ($1.1 - lse) }
        XCTAssertEqual(s.vocabMean![0], mean, accuracy: 1e-9)
        XCTAssertEqual(s.topK![0].count, 2)
        XCTAssertEqual(s.topK![0][0].id, l.indices.max { l[$0] < l[$1] })
    }

    func testMembershipInferenceSeparatesMemorisedTexts() throws {
        let members = ["alpha beta gamma delta epsilon zeta eta", "theta iota kappa lambda mu nu xi",
                       "omicron pi rho sigma tau alpha beta", "gamma eta iota mu xi pi sigma"]
        let nonmembers = ["beta delta zeta theta kappa mu omicron", "rho tau beta epsilon eta kappa nu",
                          "xi rho alpha delta gamma zeta iota", "lambda pi tau gamma epsilon theta mu"]
        let m = FakeModel(vocabulary: filler, memorised: members)
        let scores = try MIAScorer(target: m, options: MIAOptions(ks: [0.5], lowercase: false)).score(members + nonmembers)
        for attack in [MIAAttack.loss, .zlib, .minK(0.5), .minKPlusPlus(0.5)] {
            let v = scores.map { $0.value(attack)! }
            XCTAssertEqual(try Metrics.auc(members: Array(v.prefix(4)), nonMembers: Array(v.suffix(4))), 1, attack.key)
        }
        // One scoring pass, with vocabulary statistics, for all eight texts.
        XCTAssertEqual(m.scoreCalls.count, 1)
        XCTAssertTrue(m.scoreCalls[0].options.vocabStats)
    }

    func testMinKPlusPlusIsRefusedWithoutVocabularyStatistics() throws {
        let m = FakeModel(vocabulary: filler, capabilities: [.topK, .seededSampling])
        XCTAssertThrowsError(try MIAScorer(target: m).score(["alpha beta gamma delta epsilon"])) { e in
            XCTAssertEqual("\(e)", "fake model: Min-K%++ needs whole-vocabulary statistics, which this backend cannot provide")
        }
        XCTAssertTrue(m.scoreCalls.isEmpty, "refused before any scoring")
        // Without Min-K%++ the other attacks still run.
        let s = try MIAScorer(target: m, options: MIAOptions(lowercase: false, minKPlusPlus: false)).score(["alpha beta gamma delta epsilon"])
        XCTAssertTrue(s[0].minKPlusPlus.isEmpty)
        XCTAssertNotNil(s[0].minK[0.2])
    }

    func testExtractionFindsTheMemorisedSuffixOnly() throws {
        let secret = "alpha beta gamma delta epsilon zeta eta theta"
        let m = FakeModel(vocabulary: filler, memorised: [secret])
        let seen = m.encode(secret, addBos: true), unseen = m.encode("kappa mu pi rho tau xi nu iota", addBos: true)
        let r = try Extraction.discoverable(m, samples: [seen, unseen], prefixLength: 4, suffixLength: 5)
        XCTAssertEqual(r.map(\.exact), [true, false])
        XCTAssertEqual(r[0].generated, Array(seen[4..<9]))
        // Greedy: q puts 1 on the argmax, so p_z = 1 exactly for the memorised suffix and 0 for the other.
        let pz = try Extraction.suffixProbabilities(m, [(Array(seen[..<4]), Array(seen[4..<9])), (Array(unseen[..<4]), Array(unseen[4..<9]))],
                                                    sampling: SamplingParams()).map(\.pz)
        XCTAssertEqual(pz, [1, 0])
        // Under sampling at T = 1 the memorised suffix's p_z is the product of its softmax probabilities.
        let sampled = try Extraction.suffixProbability(m, prefix: Array(seen[..<4]), suffix: Array(seen[4..<9]),
                                                       sampling: SamplingParams(temperature: 1))
        let lp = try m.score([Array(seen[..<9])])[0].logprobs.suffix(5).map(Double.init).reduce(0, +)
        XCTAssertEqual(sampled.logPz, lp, accuracy: 1e-5)
        XCTAssertGreaterThan(sampled.pz, 0.9)
    }

    func testExtractionProbabilitiesAreRefusedWithoutTheCapability() throws {
        let m = FakeModel(vocabulary: filler, capabilities: [.topK])
        XCTAssertThrowsError(try Extraction.suffixProbability(m, prefix: [0, 3], suffix: [4], sampling: SamplingParams())) { e in
            XCTAssertTrue(e is ModelInterfaceError, "\(e)")
        }
    }

    func testCanaryExposureOfAnInsertedCanaryIsMaximal() throws {
        let f = try CanaryFormat("the code is {digits:2}")
        let inserted = "the code is 42"
        let m = FakeModel(vocabulary: ["the", "code", "is"], memorised: [inserted])
        let candidates = (0..<100).map { f.candidate($0) }
        let ppl = try Canaries.logPerplexityBits(m, candidates)
        let own = ppl[42]
        XCTAssertEqual(candidates[42], inserted)
        let others = ppl.enumerated().filter { $0.offset != 42 }.map(\.element)
        XCTAssertTrue(others.allSatisfy { $0 > own }, "the inserted canary is the most likely candidate")
        XCTAssertEqual(Canaries.exposureByRank(canary: own, references: others, log2SpaceSize: f.log2SpaceSize),
                       f.log2SpaceSize, accuracy: 1e-12)
    }

    func testTrapsAreDetectedAndGhostSentencesReproduced() throws {
        let injected = ["alpha gamma epsilon eta iota lambda nu", "beta delta zeta theta kappa mu xi"]
        let controls = ["omicron rho tau alpha delta eta kappa", "pi sigma beta gamma zeta iota mu"]
        let m = FakeModel(vocabulary: filler, memorised: injected)
        let traps = (injected + controls).enumerated().map { i, t in
            Trap(id: "trap-\(i + 1)", text: t, targetTokens: 7, tokens: 7, perplexity: 0, perplexityRange: [1, 100],
                 temperature: 1, repetitions: i < 2 ? 10 : 0, injected: i < 2)
        }
        let d = try Traps.detect(target: m, reference: nil, manifest: TrapManifest(seed: 0, traps: traps), resamples: 50)
        XCTAssertEqual(d.overall.auc, 1)
        XCTAssertEqual(d.statistic, "-ppl_target")

        let last = try Ghost.lastKTest(m, passphrases: injected + controls, k: 2)
        XCTAssertEqual(last.map(\.reproduced), [true, true, false, false])
        let ppl = try Ghost.perplexityTest(m, passphrases: injected, controls: controls)
        XCTAssertEqual(ppl.auc, 1)
    }

    func testPIIProbeSeesTheMemorisedAddress() throws {
        let secret = "write to alice@example.com today"
        let m = FakeModel(vocabulary: filler, memorised: [secret], boost: 12)
        let prompt = m.encode("write to", addBos: true)
        let r = try PII.probe(m, prompts: [prompt], samplesPerPrompt: 4, maxNewTokens: 3, sampling: SamplingParams(temperature: 1, seed: 9),
                              known: ["alice@example.com"], stopTokens: [FakeModel.eos], decode: { m.decode($0, skipSpecial: true) })
        XCTAssertEqual(r.samples.count, 4)
        XCTAssertEqual(r.samplesWithKnown, 4, "with a boost of 12 every sample follows the memorised text")
        XCTAssertEqual(r.kinds.first { $0.kind == .email }?.samplesWithMatch, 4)
        XCTAssertEqual(r.knownReproduced, [0])
    }
}

// The KV-cache path against full re-scoring, batch independence, seeding, and the sampling distribution by hand.
import Foundation
import XCTest
import LM
@testable import Model
import Stats
import Tensor

final class GenerationTests: XCTestCase {
    /// Each greedily generated token is the argmax of a full (cache-free) forward over the text so far.
    func testCachedGreedyEqualsFullForwardArgmax() throws {
        for name in ["llama", "gpt2", "neox", "llama-gguf/model.gguf"] {
            let lm = try LanguageModel.load(path: fixture("tiny/\(name)"))
            let prompt = lm.tokenizer.encode("The licence grants every user")
            let gen = lm.model.generate(prompts: [prompt], maxNewTokens: 12)[0]
            XCTAssertEqual(gen.count, 12)
            let full = lm.model.score([prompt + gen], options: ScoreOptions(topK: 1))[0]
            for (j, tok) in gen.enumerated() {
                XCTAssertEqual(full.topK![prompt.count - 1 + j][0].id, tok, "\(name) step \(j)")
            }
        }
    }

    /// Batching changes nothing: prompts of different lengths generated together or alone give the same tokens.
    func testBatchedGenerationEqualsOneByOne() throws {
        let lm = try LanguageModel.load(path: fixture("tiny/llama"))
        let prompts = ["a", "The quick brown fox", "Copyright (C) 2007 Free Software Foundation"].map { lm.tokenizer.encode($0) }
        let s = SamplingParams(temperature: 0.8, topK: 20, topP: 0.9, seed: 42)
        let batched = lm.model.generate(prompts: prompts, maxNewTokens: 8, sampling: s)
        XCTAssertEqual(lm.model.generate(prompts: prompts, maxNewTokens: 8, sampling: s), batched, "same seed, same tokens")
        XCTAssertEqual(lm.model.generate(prompts: [prompts[0]], maxNewTokens: 8, sampling: s)[0], batched[0])
        let greedyBatched = lm.model.generate(prompts: prompts, maxNewTokens: 8)
        for i in prompts.indices {
            // Greedy: sequence i alone gives the same tokens (sampled streams are seeded by index, so only index 0 compares).
            XCTAssertEqual(lm.model.generate(prompts: [prompts[i]], maxNewTokens: 8)[0], greedyBatched[i])
        }
    }

    func testStopTokenEndsSequence() throws {
        let lm = try LanguageModel.load(path: fixture("tiny/llama"))
        let p = lm.tokenizer.encode("hello")
        let free = lm.model.generate(prompts: [p], maxNewTokens: 6)[0]
        let stopped = lm.model.generate(prompts: [p], maxNewTokens: 6, stopTokens: [free[2]])[0]
        XCTAssertEqual(stopped, Array(free.prefix(3)))
    }

    /// softmax(l/T) -> top-k -> top-p -> renormalise, worked out by hand.
    func testSamplingDistributionByHand() {
        let logits: [Float] = [2, 1, 0, -1, 3]
        func dist(_ s: SamplingParams) -> [(id: Int, p: Double)] { logits.withUnsafeBufferPointer { s.distribution($0.baseAddress!, 5) } }
        let g = dist(SamplingParams())
        XCTAssertEqual(g.map(\.id), [4]); XCTAssertEqual(g[0].p, 1)
        // T = 1, no limits: plain softmax, sorted.
        let z = [3.0, 2, 1, 0, -1].map { exp($0) }.reduce(0, +)
        let full = dist(SamplingParams(temperature: 1))
        XCTAssertEqual(full.map(\.id), [4, 0, 1, 2, 3])
        XCTAssertEqual(full[0].p, exp(3) / z, accuracy: 1e-12)
        // T = 2, top-k 2: exp(1.5), exp(1) renormalised.
        let k2 = dist(SamplingParams(temperature: 2, topK: 2))
        XCTAssertEqual(k2.map(\.id), [4, 0])
        XCTAssertEqual(k2[0].p, exp(1.5) / (exp(1.5) + exp(1)), accuracy: 1e-12)
        // top-p 0.7 at T = 1: masses 0.636, 0.234, ... -> the first two reach 0.7.
        let p7 = dist(SamplingParams(temperature: 1, topP: 0.7))
        XCTAssertEqual(p7.map(\.id), [4, 0])
        XCTAssertEqual(p7[1].p, exp(2) / (exp(3) + exp(2)), accuracy: 1e-12)
    }

    /// Seeded sampling follows the distribution: empirical frequencies within 4 standard errors.
    func testSamplerFrequenciesFollowDistribution() {
        let logits: [Float] = [0.5, 1.5, -0.3, 1.0]
        let s = SamplingParams(temperature: 1.3, seed: 7)
        let d = logits.withUnsafeBufferPointer { s.distribution($0.baseAddress!, 4) }
        var rng = SeededRNG(seed: 7)
        var counts = [Int](repeating: 0, count: 4)
        let n = 20000
        for _ in 0..<n { counts[logits.withUnsafeBufferPointer { s.sample($0.baseAddress!, 4, rng: &rng) }] += 1 }
        for (id, p) in d {
            let se = (p * (1 - p) / Double(n)).squareRoot()
            XCTAssertEqual(Double(counts[id]) / Double(n), p, accuracy: 4 * se, "token \(id)")
        }
    }
}

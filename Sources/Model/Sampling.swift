// Next-token distributions under a sampling scheme (temperature, top-k, top-p) and seeded batched generation.
import Foundation
import LM
import Stats
import Tensor

extension SamplingParams {
    /// The sampling distribution q over token ids for one logit row, as (id, probability) sorted by descending
    /// probability, zero-probability tokens left out: softmax(l / T), keep the k most likely, then the smallest
    /// prefix whose mass reaches topP, renormalised (the order used by transformers' generate).
    /// Greedy gives the argmax with probability 1.
    public func distribution(_ logits: UnsafePointer<Float>, _ V: Int) -> [(id: Int, p: Double)] {
        if isGreedy {
            var best = 0
            for i in 1..<V where logits[i] > logits[best] { best = i }
            return [(best, 1)]
        }
        let k = topK > 0 ? min(topK, V) : V
        var idx: [(Int, Float)]
        if k < V {
            idx = LogSoftmax.topK(logits, V, k: k)
        } else {
            idx = (0..<V).map { ($0, logits[$0]) }
            idx.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        }
        let t = temperature, m = Double(idx[0].1) / t
        var probs = idx.map { Foundation.exp(Double($0.1) / t - m) }
        var z = probs.reduce(0, +)
        var keep = probs.count
        if topP < 1 {
            var cum = 0.0
            for (i, p) in probs.enumerated() {
                cum += p / z
                if cum >= topP { keep = i + 1; break }
            }
            probs.removeLast(probs.count - keep)
            z = probs.reduce(0, +)
        }
        return (0..<keep).map { (idx[$0].0, probs[$0] / z) }
    }

    func sample(_ logits: UnsafePointer<Float>, _ V: Int, rng: inout SeededRNG) -> Int {
        let d = distribution(logits, V)
        if d.count == 1 { return d[0].id }
        let u = rng.uniform()
        var cum = 0.0
        for (id, p) in d { cum += p; if u < cum { return id } }
        return d[d.count - 1].id
    }
}

extension TransformerModel {
    /// Continues each prompt by up to `maxNewTokens` tokens, all prompts in one batch with a KV cache each.
    /// A sequence stops early at any of `stopTokens`, which is included in its output. Sequence i samples
    /// with its own generator seeded from (params.seed, i), so results do not depend on the batch.
    public func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams = SamplingParams(),
                         stopTokens: Set<Int> = [], scratch: Scratch = Scratch(),
                         progress: ((Int) -> Void)? = nil) -> [[Int]] {
        let B = prompts.count, C = config.dModel, V = config.vocabSize
        precondition(prompts.allSatisfy { !$0.isEmpty && $0.count < config.maxPositions }, "empty prompt or prompt too long")
        let newTokens = min(maxNewTokens, config.maxPositions)
        let caches = prompts.map { KVCache(config: config, capacity: min(config.maxPositions, $0.count + newTokens)) }
        var rngs = (0..<B).map { SeededRNG(seed: sampling.seed &+ UInt64($0) &* 0x9E3779B97F4A7C15) }
        var outputs = [[Int]](repeating: [], count: B)
        if maxNewTokens <= 0 { return outputs }
        var active = Array(0..<B)
        // Prefill: every prompt in one packed pass; then one row per active sequence per step.
        var feed: [Int32] = [], segments: [Segment] = []
        for i in active {
            segments.append(Segment(start: feed.count, count: prompts[i].count, pos0: 0, cache: caches[i]))
            feed.append(contentsOf: prompts[i].map { Int32($0) })
        }
        var step = 0
        while !active.isEmpty {
            let xf = forward(tokens: feed, segments: segments, scratch: scratch)
            // Logits only for each sequence's last row: gather rows [B', C] then head [B', V].
            let last = scratch.get("last", active.count * C)
            for (j, s) in segments.enumerated() { (last + j * C).update(from: xf + (s.start + s.count - 1) * C, count: C) }
            let logits = scratch.get("gen_logits", active.count * V)
            Kernels.matmulForward(logits, last, head, nil, N: active.count, IC: C, OC: V)
            var next: [Int] = []
            feed = []; segments = []
            for (j, i) in active.enumerated() {
                let tok = sampling.sample(logits + j * V, V, rng: &rngs[i])
                outputs[i].append(tok)
                let done = stopTokens.contains(tok) || outputs[i].count >= maxNewTokens || caches[i].length >= caches[i].capacity
                if !done {
                    next.append(i)
                    segments.append(Segment(start: feed.count, count: 1, pos0: caches[i].length, cache: caches[i]))
                    feed.append(Int32(tok))
                }
            }
            active = next
            step += 1
            progress?(step)
        }
        return outputs
    }
}

// An in-memory language model behind the attacks' interface, for unit tests: a word-level tokenizer, a seeded random
// bigram table, and "memorised" texts whose next word gets a fixed logit boost after its preceding words.
import Foundation
import LM
import Stats

/// Token ids: 0 BOS "<s>", 1 EOS "</s>", 2 unknown "<unk>", then the vocabulary's words in order.
/// Logits at a position: the bigram row of the previous token (uniform in [-1, 1], seeded), plus `boost` on each word
/// that follows the same last `order` tokens (the whole context when shorter) in a memorised text. Everything is exact
/// arithmetic on small arrays, so expected values can be worked out in a test.
public final class FakeModel: AuditableModel, @unchecked Sendable {
    public static let bos = 0, eos = 1, unknown = 2
    public let words: [String]
    private let index: [String: Int]
    private let bigram: [[Float]]
    private var next: [[Int]: Set<Int>] = [:]      // context (up to `order` ids) -> boosted ids
    public let boost: Float, order: Int
    public var capabilities: ModelCapabilities
    public let contextLength: Int
    public var identity: String { "fake model" }
    public var bosId: Int? { FakeModel.bos }
    public var eosId: Int? { FakeModel.eos }
    public var padId: Int? { nil }
    /// Every `score` call's sequences and options, in order (tests count forward passes with it).
    public private(set) var scoreCalls: [(sequences: [[Int]], options: ScoreOptions)] = []

    public init(vocabulary: [String], memorised: [String] = [], boost: Float = 8, order: Int = 3, contextLength: Int = 256,
                capabilities: ModelCapabilities = .all, seed: UInt64 = 1) {
        var vocab: [String] = []
        for w in vocabulary + memorised.flatMap(FakeModel.split) where !vocab.contains(w) { vocab.append(w) }
        words = ["<s>", "</s>", "<unk>"] + vocab
        var idx: [String: Int] = [:]
        for (i, w) in words.enumerated() where i >= 3 { idx[w] = i }
        index = idx
        var rng = SeededRNG(seed: seed)
        let V = words.count
        bigram = (0..<V).map { _ in (0..<V).map { _ in Float(rng.uniform() * 2 - 1) } }
        self.boost = boost; self.order = order; self.contextLength = contextLength; self.capabilities = capabilities
        for text in memorised {
            let ids = [FakeModel.bos] + FakeModel.split(text).map { idx[$0]! }
            for j in 1..<ids.count { next[Array(ids[max(0, j - order)..<j]), default: []].insert(ids[j]) }
        }
    }

    static func split(_ text: String) -> [String] { text.split(whereSeparator: \.isWhitespace).map(String.init) }
    public var vocabularySize: Int { words.count }

    public func encode(_ text: String, addBos: Bool?) -> [Int] {
        (addBos ?? true ? [FakeModel.bos] : []) + FakeModel.split(text).map { index[$0] ?? FakeModel.unknown }
    }

    public func decode(_ ids: [Int], skipSpecial: Bool) -> String {
        ids.filter { !skipSpecial || $0 >= 3 }.map { words[$0] }.joined(separator: " ")
    }

    /// The logits of the token after `context` (non-empty).
    public func logits(_ context: ArraySlice<Int>) -> [Float] {
        var l = bigram[context.last!]
        for id in next[Array(context.suffix(order))] ?? [] { l[id] += boost }
        return l
    }

    public func logSoftmax(_ l: [Float]) -> [Double] {
        let m = Double(l.max()!)
        let lse = m + Foundation.log(l.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
        return l.map { Double($0) - lse }
    }

    public func score(_ sequences: [[Int]], options: ScoreOptions, progress: ((Int, Int) -> Void)?) throws -> [SequenceScores] {
        if options.vocabStats { try require(.vocabularyStatistics, for: "whole-vocabulary statistics") }
        if options.topK > 0 { try require(.topK, for: "top-k log-probabilities") }
        scoreCalls.append((sequences, options))
        return sequences.map { s in
            var r = SequenceScores()
            guard s.count >= 2 else { return r }
            var means: [Double] = [], vars: [Double] = [], tops: [[TopToken]] = []
            for i in 1..<s.count {
                let lp = logSoftmax(logits(s[..<i]))
                r.logprobs.append(Float(lp[s[i]]))
                let mean = lp.reduce(0.0) { $0 + Foundation.exp($1) * $1 }
                means.append(mean)
                vars.append(lp.reduce(0.0) { $0 + Foundation.exp($1) * ($1 - mean) * ($1 - mean) })
                tops.append(lp.enumerated().sorted { $0.element > $1.element }.prefix(options.topK).map { TopToken(id: $0.offset, logprob: Float($0.element)) })
            }
            if options.vocabStats { r.vocabMean = means; r.vocabVariance = vars }
            if options.topK > 0 { r.topK = tops }
            return r
        }
    }

    /// (id, probability) under `sampling`, most likely first: softmax(l / T), top-k, then the top-p prefix.
    public func distribution(_ l: [Float], _ sampling: SamplingParams) -> [(id: Int, p: Double)] {
        let order = l.indices.sorted { l[$0] > l[$1] || (l[$0] == l[$1] && $0 < $1) }
        if sampling.isGreedy { return [(order[0], 1)] }
        let kept = sampling.topK > 0 ? Array(order.prefix(sampling.topK)) : order
        var w = kept.map { Foundation.exp(Double(l[$0] - l[order[0]]) / sampling.temperature) }
        var z = w.reduce(0, +), cum = 0.0, n = w.count
        if sampling.topP < 1 {
            for (i, x) in w.enumerated() { cum += x / z; if cum >= sampling.topP { n = i + 1; break } }
            w = Array(w.prefix(n)); z = w.reduce(0, +)
        }
        return (0..<n).map { (kept[$0], w[$0] / z) }
    }

    public func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams, stopTokens: Set<Int>,
                         progress: ((Int) -> Void)?) throws -> [[Int]] {
        if !sampling.isGreedy { try require(.seededSampling, for: "seeded sampling") }
        return prompts.enumerated().map { i, prompt in
            var rng = SeededRNG(seed: sampling.seed &+ UInt64(i) &* 0x9E3779B97F4A7C15)
            var seq = prompt, out: [Int] = []
            while out.count < maxNewTokens && seq.count < contextLength {
                let d = distribution(logits(seq[...]), sampling)
                var u = rng.uniform(), tok = d.last!.id
                for (id, p) in d { u -= p; if u < 0 { tok = id; break } }
                out.append(tok); seq.append(tok)
                if stopTokens.contains(tok) { break }
            }
            return out
        }
    }

    public func suffixProbabilities(_ pairs: [(prefix: [Int], suffix: [Int])], sampling: SamplingParams) throws
        -> [(logQ: [Double], argmaxMatches: [Bool])] {
        try require(.samplingProbabilities, for: "probabilities under a sampling scheme")
        return pairs.map { prefix, suffix in
            let all = prefix + suffix
            var logQ: [Double] = [], matches: [Bool] = []
            for t in suffix.indices {
                let l = logits(all[..<(prefix.count + t)])
                let q = distribution(l, sampling).first { $0.id == suffix[t] }?.p ?? 0
                logQ.append(q > 0 ? Foundation.log(q) : -.infinity)
                matches.append(l.indices.max { l[$0] < l[$1] || (l[$0] == l[$1] && $0 > $1) } == suffix[t])
            }
            return (logQ, matches)
        }
    }
}

// A checkpoint loaded on this machine as the attacks' model interface: every capability, computed exactly.
import Foundation
import LM
import Stats
import Tensor

extension LanguageModel: AuditableModel {
    public var identity: String { path }
    public var capabilities: ModelCapabilities { .all }
    public var contextLength: Int { config.maxPositions }
    public var bosId: Int? { tokenizer.bosId }
    public var eosId: Int? { tokenizer.eosId }
    public var padId: Int? { tokenizer.padId }

    public func encode(_ text: String, addBos: Bool?) -> [Int] { tokenizer.encode(text, addBos: addBos) }
    public func decode(_ ids: [Int], skipSpecial: Bool) -> String { tokenizer.decode(ids, skipSpecial: skipSpecial) }

    public func score(_ sequences: [[Int]], options: ScoreOptions, progress: ((Int, Int) -> Void)?) -> [SequenceScores] {
        model.score(sequences, options: options, progress: progress)
    }

    public func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams, stopTokens: Set<Int>,
                         progress: ((Int) -> Void)?) -> [[Int]] {
        model.generate(prompts: prompts, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens, progress: progress)
    }

    /// One teacher-forced pass over prefix + suffix per pair; q is computed from the logit rows of the suffix only.
    public func suffixProbabilities(_ pairs: [(prefix: [Int], suffix: [Int])], sampling: SamplingParams)
        -> [(logQ: [Double], argmaxMatches: [Bool])] {
        let scratch = Scratch(), V = config.vocabSize
        return pairs.map { prefix, suffix in
            precondition(!prefix.isEmpty && !suffix.isEmpty, "empty prefix or suffix")
            let tokens = prefix + suffix
            var logQ = [Double](repeating: 0, count: suffix.count), matches = [Bool](repeating: false, count: suffix.count)
            model.forEachLogitRow(tokens, positions: (prefix.count - 1)..<(tokens.count - 1), scratch: scratch) { p, row in
                let t = p - (prefix.count - 1), label = tokens[p + 1]
                var best = 0
                for i in 1..<V where row[i] > row[best] { best = i }
                matches[t] = best == label
                let q = sampling.distribution(row, V).first { $0.id == label }?.p ?? 0
                logQ[t] = q > 0 ? Foundation.log(q) : -.infinity
            }
            return (logQ, matches)
        }
    }
}

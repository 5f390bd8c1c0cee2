// Training examples from text: tokenised, cut to the context (the user is told how many were cut), optional loss
// masks (only the completion of a prompt/completion pair is learned), seeded shuffling into batches.
import Foundation
import Model
import Stats

/// One example: its tokens and, per predicted token (count - 1), a loss weight.
public struct Example: Sendable, Equatable {
    public var tokens: [Int]
    public var weights: [Float]
    public init(tokens: [Int], weights: [Float]) { self.tokens = tokens; self.weights = weights }
}

public struct DatasetError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public enum TrainingData {
    /// Examples from (prompt, text) pairs: tokens = BOS? + prompt + text; the prompt's predictions get weight 0 (the
    /// model learns only `text`). Texts longer than `context` are split into consecutive windows of at most `context`
    /// tokens (each window starts with the previous one's last token). Returns the examples
    /// and how many inputs were split. `source` names the file in errors.
    public static func examples(_ items: [(prompt: String?, text: String)], lm: LanguageModel, context: Int,
                                source: String) throws -> (examples: [Example], split: Int) {
        precondition(context >= 2)
        var out: [Example] = [], split = 0
        for item in items {
            let promptIds = item.prompt.map { lm.tokenizer.encode($0) } ?? []
            let textIds = lm.tokenizer.encode(item.text, addBos: item.prompt == nil ? nil : false)
            let tokens = promptIds + textIds
            // Weight of predicting token j + 1: 0 while it is still part of the prompt.
            let weights = (0..<max(0, tokens.count - 1)).map { j in Float(j + 1 < promptIds.count ? 0 : 1) }
            if tokens.count < 2 { continue }
            if tokens.count > context { split += 1 }
            // Windows overlap by one token, so every prediction is made exactly once.
            var start = 0
            while true {
                let end = min(tokens.count, start + context)
                let w = Array(weights[start..<(end - 1)])
                if w.contains(where: { $0 > 0 }) { out.append(Example(tokens: Array(tokens[start..<end]), weights: w)) }
                if end == tokens.count { break }
                start = end - 1
            }
        }
        guard !out.isEmpty else {
            throw DatasetError("\(source): no example has a token to learn (every text is shorter than 2 tokens, or every token is masked)")
        }
        return (out, split)
    }

    /// Indices 0..<n in a seeded order (Fisher-Yates), a new order per epoch.
    public static func order(_ n: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = SeededRNG(seed: seed &+ UInt64(epoch) &* 0x9E3779B97F4A7C15)
        var idx = Array(0..<n)
        if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { idx.swapAt(i, Int(rng.next() % UInt64(i + 1))) } }
        return idx
    }

    /// The batch of examples at `indices`.
    public static func batch(_ examples: [Example], _ indices: ArraySlice<Int>) -> TrainingBatch {
        TrainingBatch(sequences: indices.map { examples[$0].tokens }, weights: indices.map { examples[$0].weights })
    }
}

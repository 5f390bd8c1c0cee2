// Ghost sentences (arXiv 2403.15740): passphrases of random words that users hide in their text; the last-k-words
// test (does greedy decoding finish the passphrase?) and a perplexity test against fresh control passphrases.
// REFERENCES.md section 4.
import Foundation
import LM
import Stats

public struct GhostError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public struct GhostPassphrase: Codable, Sendable, Equatable {
    public var id: String
    public var text: String
    public init(id: String, text: String) { self.id = id; self.text = text }
}

/// Passphrases and the word list they were drawn from (kept, so that controls come from the same list).
public struct GhostManifest: Codable, Sendable, Equatable {
    public var seed: UInt64
    public var length: Int
    public var words: [String]
    public var passphrases: [GhostPassphrase]
    public init(seed: UInt64, length: Int, words: [String], passphrases: [GhostPassphrase]) {
        self.seed = seed; self.length = length; self.words = words; self.passphrases = passphrases
    }
}

/// One last-k test: the prompt given, the k words expected and the first k words greedy decoding produced.
public struct GhostLastK: Sendable, Equatable {
    public var prompt: String
    public var expected: [String]
    public var generated: [String]
    public var reproduced: Bool { generated == expected }
}

/// Perplexity test: each passphrase against the control passphrases.
public struct GhostPerplexity: Sendable {
    public var perplexities: [Double]
    public var controlPerplexities: [Double]
    /// 1 + #{controls with perplexity <= the passphrase's}: ties count against the passphrase.
    public var ranks: [Int]
    /// Fraction of controls with perplexity <= the passphrase's (0 = the model prefers it to every control).
    public var percentiles: [Double]
    /// log2(m + 1) - log2(rank), with the m controls plus the passphrase standing in for the space.
    public var exposures: [Double]
    /// ROC-AUC of -perplexity, passphrases as members, controls as non-members.
    public var auc: Double
}

public enum Ghost {
    /// `count` words drawn uniformly (with replacement) from `words`, joined by single spaces.
    public static func passphrase(words: [String], count: Int, rng: inout SeededRNG) -> String {
        precondition(!words.isEmpty && count >= 1)
        return (0..<count).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
    }

    /// `count` distinct passphrases of `length` words, avoiding `excluding`.
    public static func passphrases(words: [String], count: Int, length: Int, seed: UInt64, excluding: Set<String> = []) throws -> [String] {
        let distinct = Set(words)
        guard distinct.count >= 2 else { throw GhostError("the word list needs at least 2 distinct words") }
        guard length >= 1, count >= 1 else { throw GhostError("need count >= 1 and length >= 1") }
        if Double(length) * Foundation.log2(Double(distinct.count)) < Foundation.log2(Double(2 * (count + excluding.count))) {
            throw GhostError("\(distinct.count) words give too few \(length)-word passphrases for \(count) distinct ones")
        }
        var rng = SeededRNG(seed: seed), seen = excluding, out: [String] = []
        while out.count < count {
            let p = passphrase(words: words, count: length, rng: &rng)
            if seen.insert(p).inserted { out.append(p) }
        }
        return out
    }

    public static func generate(words: [String], count: Int, length: Int, seed: UInt64) throws -> GhostManifest {
        let p = try passphrases(words: words, count: count, length: length, seed: seed)
        return GhostManifest(seed: seed, length: length, words: words,
                             passphrases: p.enumerated().map { GhostPassphrase(id: "ghost-\($0.offset + 1)", text: $0.element) })
    }

    static func words(_ s: String) -> [String] { s.split(whereSeparator: \.isWhitespace).map(String.init) }

    /// The last-k-words test of each passphrase: prompt = `context` + " " (when given) + the passphrase's first
    /// n - k words, tokenized without the tokenizer's own BOS and preceded by the model's BOS when it has one (the
    /// start `perplexityTest` scores from); greedy decoding (stopping at EOS) for as many tokens as the last k words take plus 4; the
    /// decoded continuation's first k whitespace-separated words are compared with the last k words exactly.
    /// `progress(step, steps)` after each generated position.
    public static func lastKTest(_ lm: any AuditableModel, passphrases: [String], context: String? = nil, k: Int,
                                 progress: ((Int, Int) -> Void)? = nil) throws -> [GhostLastK] {
        let parts = passphrases.map(words)
        precondition(k >= 1 && parts.allSatisfy { $0.count > k }, "k must be at least 1 and less than the passphrase's word count")
        let prompts = parts.map { w in (context.map { $0 + " " } ?? "") + w.dropLast(k).joined(separator: " ") }
        let tails = parts.map { Array($0.suffix(k)) }
        let budget = try tails.map { try lm.encode(" " + $0.joined(separator: " "), addBos: false).count + 4 }.max() ?? 4
        // BOS then the prompt, as `perplexityTest` scores a passphrase (`Traps.scoredIds`): both tests see the
        // passphrase after the same start of sequence, whatever the tokenizer adds by itself.
        let bos = lm.bosId.map { [$0] } ?? []
        let ids = try prompts.map { bos + Array(try lm.encode($0, addBos: false).suffix(max(1, lm.contextLength - budget - 1 - bos.count))) }
        let out = try lm.generate(prompts: ids, maxNewTokens: budget, sampling: SamplingParams(), stopTokens: Set([lm.eosId].compactMap { $0 }),
                                  progress: progress.map { p in { p($0, budget) } })
        return try (0..<passphrases.count).map { i in
            GhostLastK(prompt: prompts[i], expected: tails[i],
                       generated: Array(words(try lm.decode(out[i], skipSpecial: true)).prefix(k)))
        }
    }

    public static func lastKTest(_ lm: any AuditableModel, passphrase: String, context: String? = nil, k: Int) throws -> GhostLastK {
        try lastKTest(lm, passphrases: [passphrase], context: context, k: k)[0]
    }

    /// Perplexities (`Traps.perplexity`) of passphrases and controls, then `rankStatistics`.
    /// `progress(done, total)` counts scored texts (passphrases and controls).
    public static func perplexityTest(_ lm: any AuditableModel, passphrases: [String], controls: [String],
                                      progress: ((Int, Int) -> Void)? = nil) throws -> GhostPerplexity {
        let total = passphrases.count + controls.count
        let p = try Traps.perplexity(lm, passphrases + controls, progress: progress.map { p in { p($0, total) } })
        return try rankStatistics(passphrases: Array(p.prefix(passphrases.count)), controls: Array(p.suffix(controls.count)))
    }

    public static func rankStatistics(passphrases p: [Double], controls c: [Double]) throws -> GhostPerplexity {
        guard !p.isEmpty, !c.isEmpty else { throw GhostError("the perplexity test needs at least one passphrase and one control") }
        let below = p.map { x in c.filter { $0 <= x }.count }
        let m = Double(c.count)
        return GhostPerplexity(perplexities: p, controlPerplexities: c, ranks: below.map { $0 + 1 },
                               percentiles: below.map { Double($0) / m },
                               exposures: below.map { Foundation.log2(m + 1) - Foundation.log2(Double($0 + 1)) },
                               auc: try Metrics.auc(members: p.map { -$0 }, nonMembers: c.map { -$0 }))
    }
}

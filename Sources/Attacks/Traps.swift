// Copyright traps (Meeus et al. 2024, "Copyright Traps for Large Language Models"; computationalprivacy/copyright-traps):
// synthetic sequences sampled from the model over perplexity ranges, de-duplicated, injected into documents with
// repetition counts, detected by a perplexity ratio and the AUC against never-injected controls. REFERENCES.md section 4.
import Foundation
import LM
import Stats

public struct TrapsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// One trap sequence. `repetitions` and `injected` are set by `Traps.inject`; a trap with `injected == false` after
/// injection is a never-injected control from the same generation.
public struct Trap: Codable, Sendable, Equatable {
    public var id: String
    public var text: String
    /// Length asked for (tokens sampled) and length of `text` re-encoded, which is what is scored.
    public var targetTokens: Int
    public var tokens: Int
    /// Perplexity under the generating model (`Traps.perplexity`) and the range it was drawn for, [lo, hi].
    public var perplexity: Double
    public var perplexityRange: [Double]
    public var temperature: Double
    public var repetitions: Int
    public var injected: Bool
    public init(id: String, text: String, targetTokens: Int, tokens: Int, perplexity: Double, perplexityRange: [Double],
                temperature: Double, repetitions: Int = 0, injected: Bool = false) {
        self.id = id; self.text = text; self.targetTokens = targetTokens; self.tokens = tokens; self.perplexity = perplexity
        self.perplexityRange = perplexityRange; self.temperature = temperature; self.repetitions = repetitions
        self.injected = injected
    }
}

public struct TrapManifest: Codable, Sendable, Equatable {
    public var seed: UInt64
    public var model: String?
    public var traps: [Trap]
    public var injectionSeed: UInt64?
    public var dataset: String?            // the JSONL the traps were injected into
    public var datasetSHA256: String?
    public init(seed: UInt64, model: String? = nil, traps: [Trap], injectionSeed: UInt64? = nil, dataset: String? = nil,
                datasetSHA256: String? = nil) {
        self.seed = seed; self.model = model; self.traps = traps; self.injectionSeed = injectionSeed
        self.dataset = dataset; self.datasetSHA256 = datasetSHA256
    }
}

/// A trap's detection score: `score` is higher for a more likely member.
public struct TrapScore: Sendable, Equatable {
    public var id: String
    public var repetitions: Int
    public var injected: Bool
    public var perplexityTarget: Double
    public var perplexityReference: Double?
    public var score: Double
    public init(id: String, repetitions: Int, injected: Bool, perplexityTarget: Double, perplexityReference: Double?, score: Double) {
        self.id = id; self.repetitions = repetitions; self.injected = injected; self.perplexityTarget = perplexityTarget
        self.perplexityReference = perplexityReference; self.score = score
    }
}

/// ROC-AUC of injected traps (members) against never-injected controls, with a stratified bootstrap interval.
public struct TrapAUC: Sendable, Equatable {
    public var repetitions: Int?          // nil: all injected traps
    public var auc: Double, lower: Double, upper: Double
    public var injected: Int, controls: Int
}

public struct TrapDetection: Sendable {
    /// "ppl_reference/ppl_target", or "-ppl_target" without a reference model.
    public var statistic: String
    public var scores: [TrapScore]
    public var overall: TrapAUC
    public var byRepetition: [TrapAUC]
}

public enum Traps {
    /// Temperatures tried, each round, to reach every perplexity range: low ones give low-perplexity samples, high
    /// ones high-perplexity samples; a sample is kept when its measured perplexity falls in a range still short.
    public static let temperatures: [Double] = [0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 3.0]

    /// Token ids that are scored for `text`: the tokenizer's BOS (when it has one) then the text, so that every
    /// token of the text is predicted; cut to the context.
    public static func scoredIds(_ lm: any AuditableModel, _ text: String) throws -> [Int] {
        var ids = try lm.encode(text, addBos: false)
        if let b = lm.bosId { ids.insert(b, at: 0) }
        return Array(ids.prefix(lm.contextLength))
    }

    /// Perplexity exp(mean NLL) of each text over the tokens of `scoredIds` after the first.
    /// `progress(textsDone)` as the backend finishes texts.
    public static func perplexity(_ lm: any AuditableModel, _ texts: [String], maxBatchTokens: Int = 4096,
                                  progress: ((Int) -> Void)? = nil) throws -> [Double] {
        let s = try lm.score(try texts.map { try scoredIds(lm, $0) }, options: ScoreOptions(maxBatchTokens: maxBatchTokens),
                             progress: progress.map { p in { done, _ in p(done) } })
        return s.map { Foundation.exp($0.nll) }
    }

    /// Shared n-grams: two token sequences are near-duplicates when they share any `n`-token window (a sequence
    /// shorter than `n` is one window of its own length).
    struct NGramIndex {
        let n: Int
        var seen = Set<[Int]>()
        func grams(_ s: [Int]) -> [[Int]] { s.count <= n ? [s] : (0...(s.count - n)).map { Array(s[$0..<$0 + n]) } }
        func overlaps(_ s: [Int]) -> Bool { grams(s).contains { seen.contains($0) } }
        mutating func add(_ s: [Int]) { for g in grams(s) { seen.insert(g) } }
    }

    /// Indices of the sequences kept when each is dropped that shares an `n`-gram with an earlier kept one
    /// (exact duplicates included), first come first kept.
    public static func deduplicate(_ sequences: [[Int]], n: Int = 8) -> [Int] {
        precondition(n >= 1)
        var index = NGramIndex(n: n), kept: [Int] = []
        for (i, s) in sequences.enumerated() where !index.overlaps(s) { index.add(s); kept.append(i) }
        return kept
    }

    /// `count` traps for every length in `lengthTokens` and every range in `targetPerplexities`, sampled from `lm`
    /// itself after its BOS token (a newline when it has none). Each round samples a batch at every temperature of
    /// `temperatures`, measures each sample's perplexity with `perplexity`, and keeps it for the first range that
    /// contains it and is still short, unless it shares an `ngram`-token window with a trap already kept. Throws
    /// when `maxRounds` rounds leave a range short (the range is out of the model's reach: widen it).
    public static func generate(_ lm: any AuditableModel, count: Int, lengthTokens: [Int], targetPerplexities: [ClosedRange<Double>],
                                seed: UInt64, maxRounds: Int = 12, batch: Int = 32, ngram: Int = 8,
                                progress: ((Int, Int) -> Void)? = nil) throws -> TrapManifest {
        guard count >= 1 else { throw TrapsError("count must be >= 1, got \(count)") }
        guard !lengthTokens.isEmpty, !targetPerplexities.isEmpty else { throw TrapsError("give at least one length and one perplexity range") }
        for l in lengthTokens where l < 2 || l > lm.contextLength - 2 {
            throw TrapsError("trap length \(l) must be between 2 and \(lm.contextLength - 2) tokens (the model's context)")
        }
        for r in targetPerplexities where r.lowerBound < 1 {
            throw TrapsError("perplexity range \(r.lowerBound)...\(r.upperBound) lies below 1, the smallest perplexity")
        }
        let prompt = try lm.bosId.map { [$0] } ?? lm.encode("\n", addBos: false)
        let special = Set([lm.bosId, lm.eosId, lm.padId].compactMap { $0 })
        var index = NGramIndex(n: ngram), seen = Set<String>()
        var traps: [Trap] = []
        let total = count * lengthTokens.count * targetPerplexities.count
        for (li, length) in lengthTokens.enumerated() {
            var kept = [[Trap]](repeating: [], count: targetPerplexities.count)
            var sampled = 0
            round: for r in 0..<maxRounds {
                for (ti, t) in temperatures.enumerated() {
                    let short = kept.map { count - $0.count }.reduce(0, +)
                    if short == 0 { break round }
                    let n = min(batch, max(8, 2 * short))
                    let s = mix(seed, UInt64(li), UInt64(r), UInt64(ti))
                    let out = try lm.generate(prompts: [[Int]](repeating: prompt, count: n), maxNewTokens: length,
                                                sampling: SamplingParams(temperature: t, seed: s))
                    sampled += n
                    let texts = try out.map { ids -> String? in
                        if ids.contains(where: special.contains) { return nil }
                        let text = try lm.decode(ids).trimmingCharacters(in: .whitespacesAndNewlines)
                        return text.isEmpty || text.contains("\u{FFFD}") ? nil : text
                    }.compactMap { $0 }
                    let ppl = try perplexity(lm, texts)
                    for (text, p) in zip(texts, ppl) where p.isFinite && !seen.contains(text) {
                        guard let b = targetPerplexities.indices.first(where: { targetPerplexities[$0].contains(p) && kept[$0].count < count })
                        else { continue }
                        let ids = try lm.encode(text, addBos: false)
                        if index.overlaps(ids) { continue }
                        index.add(ids); seen.insert(text)
                        let range = targetPerplexities[b]
                        kept[b].append(Trap(id: "", text: text, targetTokens: length, tokens: ids.count, perplexity: p,
                                            perplexityRange: [range.lowerBound, range.upperBound], temperature: t))
                    }
                    progress?(traps.count + kept.map(\.count).reduce(0, +), total)
                }
            }
            for (b, k) in kept.enumerated() where k.count < count {
                let range = targetPerplexities[b]
                throw TrapsError("fewer traps than needed: found \(k.count) of \(count) traps of \(length) tokens with perplexity in "
                                 + "\(range.lowerBound)...\(range.upperBound) after \(sampled) samples at temperatures "
                                 + "\(temperatures.map { String($0) }.joined(separator: ",")); widen the range or lower the count")
            }
            traps += kept.joined()
        }
        for i in traps.indices { traps[i].id = "trap-\(i + 1)" }
        return TrapManifest(seed: seed, traps: traps)
    }

    /// A seed for one (length, round, temperature) batch: SplitMix64 over the parts.
    static func mix(_ parts: UInt64...) -> UInt64 {
        var x: UInt64 = 0
        for p in parts {
            x = (x ^ p) &+ 0x9E3779B97F4A7C15
            x = (x ^ (x >> 30)) &* 0xBF58476D1CE4E5B9
            x = (x ^ (x >> 27)) &* 0x94D049BB133111EB
            x ^= x >> 31
        }
        return x
    }

    /// Non-overlapping occurrences of `needle` in `haystack`.
    public static func occurrences(of needle: String, in haystack: String) -> Int {
        guard !needle.isEmpty else { return 0 }
        var n = 0, from = haystack.startIndex
        while let r = haystack.range(of: needle, range: from..<haystack.endIndex) { n += 1; from = r.upperBound }
        return n
    }

    /// Offsets (in Characters) where a trap may go in `text`: its start, its end, and the starts of sentences
    /// (a word after whitespace that follows '.', '!' or '?'); the start of every word when there is no sentence break.
    public static func insertionPoints(_ text: [Character]) -> [Int] {
        var words: [Int] = [], sentences: [Int] = []
        for p in 1..<max(text.count, 1) where text[p - 1].isWhitespace && !text[p].isWhitespace {
            words.append(p)
            var q = p - 1
            while q > 0 && text[q].isWhitespace { q -= 1 }
            if ".!?".contains(text[q]) { sentences.append(p) }
        }
        return [0] + (sentences.isEmpty ? words : sentences) + (text.isEmpty ? [] : [text.count])
    }

    /// Assigns repetition counts and inserts traps into `documents` (texts). Traps are shuffled within each
    /// (length, perplexity range) group, groups are concatenated, and trap j gets `repetitions[j % (R + 1)]`,
    /// or stays a never-injected control when j % (R + 1) == R, so every count and the controls span the groups.
    /// Each occurrence goes into a uniformly chosen document at a uniformly chosen `insertionPoints` offset of the
    /// original text (so no insertion splits another). Returns the new texts and the manifest with `repetitions`,
    /// `injected` and `injectionSeed` set. Throws on no documents, too few traps, or a trap that cannot be counted
    /// back exactly (its text occurs elsewhere).
    public static func inject(_ manifest: TrapManifest, into documents: [String], repetitions: [Int], seed: UInt64)
        throws -> (documents: [String], manifest: TrapManifest) {
        guard !documents.isEmpty else { throw TrapsError("no documents to inject into") }
        guard !repetitions.isEmpty, repetitions.allSatisfy({ $0 >= 1 }) else { throw TrapsError("repetition counts must be >= 1") }
        guard !manifest.traps.contains(where: \.injected) else {
            throw TrapsError("the manifest has injected traps already; inject from the manifest of `traps generate`")
        }
        let R = repetitions.count
        guard manifest.traps.count >= R + 1 else {
            throw TrapsError("fewer traps than needed: \(manifest.traps.count) traps for \(R) repetition counts; "
                             + "need at least \(R + 1) (one per count plus one never-injected control)")
        }
        var rng = SeededRNG(seed: seed)
        var groups: [String: [Int]] = [:]
        for (i, t) in manifest.traps.enumerated() { groups["\(t.targetTokens) \(t.perplexityRange)", default: []].append(i) }
        var order: [Int] = []
        for key in groups.keys.sorted() {
            var g = groups[key]!
            for i in stride(from: g.count - 1, to: 0, by: -1) { g.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            order += g
        }
        var m = manifest
        m.injectionSeed = seed
        var inserts = [[(offset: Int, trap: Int)]](repeating: [], count: documents.count)
        let chars = documents.map(Array.init)
        let points = chars.map(insertionPoints)
        for (j, i) in order.enumerated() {
            let slot = j % (R + 1)
            m.traps[i].injected = slot < R
            m.traps[i].repetitions = slot < R ? repetitions[slot] : 0
            for _ in 0..<m.traps[i].repetitions {
                let d = Int(rng.next() % UInt64(documents.count))
                inserts[d].append((points[d][Int(rng.next() % UInt64(points[d].count))], i))
            }
        }
        var out = documents
        for d in documents.indices where !inserts[d].isEmpty {
            let c = chars[d], ins = inserts[d].enumerated().sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }
            var s = "", k = 0
            for p in 0...c.count {
                while k < ins.count && ins[k].element.offset == p {
                    let text = m.traps[ins[k].element.trap].text
                    // Before a word: "TRAP word"; at the end: "text TRAP".
                    if p < c.count { s += text + " " } else { s += (s.last.map { $0.isWhitespace } ?? true ? "" : " ") + text }
                    k += 1
                }
                if p < c.count { s.append(c[p]) }
            }
            out[d] = s
        }
        for t in m.traps {
            let n = out.reduce(0) { $0 + occurrences(of: t.text, in: $1) }
            if n != t.repetitions {
                throw TrapsError("\(t.id) occurs \(n) times after injection, not \(t.repetitions): its text also occurs elsewhere")
            }
        }
        return (out, m)
    }

    /// Scores every trap of `manifest` and summarises: score = PPL_reference / PPL_target with a reference model
    /// (the reciprocal of the paper's ratio, so that higher = member), else -PPL_target. `progress(done, total)`
    /// counts scored texts over both models (total: the traps, twice with a reference).
    public static func detect(target: any AuditableModel, reference: (any AuditableModel)?, manifest: TrapManifest,
                              resamples: Int = 1000, seed: UInt64 = 0, progress: ((Int, Int) -> Void)? = nil) throws -> TrapDetection {
        let texts = manifest.traps.map(\.text)
        let total = texts.count * (reference == nil ? 1 : 2)
        let pt = try perplexity(target, texts, progress: progress.map { p in { p($0, total) } })
        let pr = try reference.map { try perplexity($0, texts, progress: progress.map { p in { p(texts.count + $0, total) } }) }
        let scores = manifest.traps.enumerated().map { (i, t) in
            TrapScore(id: t.id, repetitions: t.repetitions, injected: t.injected, perplexityTarget: pt[i],
                      perplexityReference: pr?[i], score: pr.map { $0[i] / pt[i] } ?? -pt[i])
        }
        return try summarize(scores, statistic: reference == nil ? "-ppl_target" : "ppl_reference/ppl_target",
                             resamples: resamples, seed: seed)
    }

    /// AUC of injected traps against the never-injected controls, overall and for each repetition count.
    public static func summarize(_ scores: [TrapScore], statistic: String, resamples: Int = 1000, seed: UInt64 = 0) throws -> TrapDetection {
        let controls = scores.filter { !$0.injected }.map(\.score)
        guard !controls.isEmpty else {
            throw TrapsError("no never-injected controls: every trap is injected, so there is nothing to compare with "
                             + "(inject a manifest with more traps than repetition counts)")
        }
        guard scores.contains(where: \.injected) else {
            throw TrapsError("no injected traps: run `traps inject` and detect with the manifest it writes")
        }
        func auc(_ members: [Double], _ r: Int?) throws -> TrapAUC {
            let b = try Metrics.bootstrap(scores: members + controls, labels: Metrics.labels(members: members.count, nonMembers: controls.count),
                                          metric: Metrics.auc(scores:labels:), resamples: resamples, seed: seed)
            return TrapAUC(repetitions: r, auc: b.estimate, lower: b.lower, upper: b.upper, injected: members.count, controls: controls.count)
        }
        let injected = scores.filter(\.injected)
        let reps = Set(injected.map(\.repetitions)).sorted()
        return TrapDetection(statistic: statistic, scores: scores, overall: try auc(injected.map(\.score), nil),
                             byRepetition: try reps.map { r in try auc(injected.filter { $0.repetitions == r }.map(\.score), r) })
    }
}

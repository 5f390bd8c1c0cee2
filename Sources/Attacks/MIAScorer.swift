// Membership-inference driver: tokenises texts, scores them under a target (and optional reference) model and
// applies every score of MIA.swift. Direction: higher = more likely a member, for every score.
import Foundation
import LM

public enum MIAError: Error, CustomStringConvertible, Equatable {
    /// A text with fewer than 2 tokens has no scored token.
    case tooShort(index: Int, tokens: Int)
    /// floor(k * scoredTokens) is 0: Min-K% would have nothing to average.
    case tooShortForK(index: Int, scoredTokens: Int, k: Double)
    /// More tokens than the model's context (ReCaLL counts prefix + text).
    case tooLong(index: Int, tokens: Int, context: Int, what: String)
    case invalidK(Double)
    case emptyPrefix

    public var description: String {
        switch self {
        case let .tooShort(i, n):
            return "text \(i): \(n) token(s); membership scores need at least 2 (one scored token)"
        case let .tooShortForK(i, n, k):
            let need = Int((1 / k).rounded(.up)) + 1
            return "text \(i): \(n) scored token(s) is too few for Min-K% with k = \(k) (floor(k * \(n)) = 0); "
                + "use a larger k or texts of at least \(need) tokens"
        case let .tooLong(i, n, c, what):
            return "text \(i): \(what) has \(n) tokens, more than the model's context of \(c); shorten or split it"
        case let .invalidK(k):
            return "Min-K% fraction k = \(k) is not in (0, 1]"
        case .emptyPrefix:
            return "the ReCaLL prefix tokenises to nothing; give a non-empty non-member text"
        }
    }
}

extension MIAError {
    /// MIAError counts texts from 0; messages count them from 1, as `extract` and `generate` do ("text 1" is the first).
    public var oneBased: MIAError {
        switch self {
        case let .tooShort(i, n): return .tooShort(index: i + 1, tokens: n)
        case let .tooShortForK(i, n, k): return .tooShortForK(index: i + 1, scoredTokens: n, k: k)
        case let .tooLong(i, n, c, what): return .tooLong(index: i + 1, tokens: n, context: c, what: what)
        case .invalidK, .emptyPrefix: return self
        }
    }
}

public struct MIAOptions: Sendable {
    /// Fractions for Min-K% and Min-K%++ (MIMIR's default is 0.2).
    public var ks: [Double] = [0.2]
    /// Also score lowercase(text), a second input per text.
    public var lowercase = true
    /// ReCaLL's non-member prefix P; when set, P + text is a further input per text.
    public var recallPrefix: String? = nil
    /// Min-K%++ needs the whole vocabulary's statistics; a backend without them refuses rather than approximating.
    public var minKPlusPlus = true
    public var maxBatchTokens = 4096
    public init(ks: [Double] = [0.2], lowercase: Bool = true, recallPrefix: String? = nil, minKPlusPlus: Bool = true,
                maxBatchTokens: Int = 4096) {
        self.ks = ks; self.lowercase = lowercase; self.recallPrefix = recallPrefix; self.minKPlusPlus = minKPlusPlus
        self.maxBatchTokens = maxBatchTokens
    }
}

/// Every score of one text; higher = more likely a member. Optional scores are nil when not requested.
public struct MIAScores: Sendable, Equatable {
    public var tokens: Int
    /// -NLL of the text under the target.
    public var loss: Double
    public var zlib: Double
    /// Keyed by k, in the order of MIAOptions.ks.
    public var minK: [Double: Double]
    public var minKPlusPlus: [Double: Double]
    public var lowercase: Double?
    public var recall: Double?
    public var referenceDifference: Double?
    public var referenceRatio: Double?

    /// The scores as (name, value) in a fixed order: loss, zlib, mink_k..., minkpp_k..., lowercase, recall,
    /// reference, reference_ratio (absent ones left out). `ks` gives the order of the k-keyed scores. The names are
    /// the metric catalog's (`MIAAttack.key`), so that the `mia` command, specs, thresholds and reports share one
    /// vocabulary; lowercase, recall and reference_ratio have no catalog figure and keep their own names.
    public func named(ks: [Double]) -> [(name: String, value: Double)] {
        var out: [(String, Double)] = [("loss", loss), ("zlib", zlib)]
        for k in ks { if let v = minK[k] { out.append((MIAAttack.minK(k).key, v)) } }
        for k in ks { if let v = minKPlusPlus[k] { out.append((MIAAttack.minKPlusPlus(k).key, v)) } }
        if let v = lowercase { out.append(("lowercase", v)) }
        if let v = recall { out.append(("recall", v)) }
        if let v = referenceDifference { out.append((MIAAttack.reference.key, v)) }
        if let v = referenceRatio { out.append(("reference_ratio", v)) }
        return out
    }
}

/// The membership-inference attacks an audit runs, each with the one spelling that specs, stored runs and reports
/// use ("mink_0.2"); the `mia` command prints the same names (`MIAScores.named`).
public enum MIAAttack: Hashable, Sendable {
    case loss, zlib, minK(Double), minKPlusPlus(Double), reference

    /// The families a spec lists; "mink" and "minkpp" expand to one attack per k.
    public static let families = ["loss", "zlib", "mink", "minkpp", "reference"]

    /// The attacks of `families` (spec names) at fractions `ks`, in the order given.
    public static func expand(_ families: [String], ks: [Double]) -> [MIAAttack] {
        families.flatMap { f -> [MIAAttack] in
            switch f {
            case "loss": return [.loss]
            case "zlib": return [.zlib]
            case "mink": return ks.map { .minK($0) }
            case "minkpp": return ks.map { .minKPlusPlus($0) }
            case "reference": return [.reference]
            default: preconditionFailure("unknown MIA family '\(f)': the spec reader admits only MIAAttack.families")
            }
        }
    }

    public var key: String {
        switch self {
        case .loss: return "loss"
        case .zlib: return "zlib"
        case .minK(let k): return "mink_\(MIAAttack.format(k))"
        case .minKPlusPlus(let k): return "minkpp_\(MIAAttack.format(k))"
        case .reference: return "reference"
        }
    }

    public var label: String {
        switch self {
        case .loss: return "LOSS"
        case .zlib: return "zlib"
        case .minK(let k): return "Min-K% at k = \(MIAAttack.format(k))"
        case .minKPlusPlus(let k): return "Min-K%++ at k = \(MIAAttack.format(k))"
        case .reference: return "reference model (NLL_ref - NLL_target)"
        }
    }

    /// k as written in keys: 0.2, 1 (not 1.0).
    public static func format(_ k: Double) -> String {
        let s = String(k)
        return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
    }

    public init?(key: String) {
        switch key {
        case "loss": self = .loss
        case "zlib": self = .zlib
        case "reference": self = .reference
        default:
            if key.hasPrefix("minkpp_"), let k = Double(key.dropFirst(7)) { self = .minKPlusPlus(k) }
            else if key.hasPrefix("mink_"), let k = Double(key.dropFirst(5)) { self = .minK(k) }
            else { return nil }
        }
    }
}

extension MIAScores {
    /// This text's score under `attack`; nil when it was not computed (no reference model, k not scored).
    public func value(_ attack: MIAAttack) -> Double? {
        switch attack {
        case .loss: return loss
        case .zlib: return zlib
        case .minK(let k): return minK[k]
        case .minKPlusPlus(let k): return minKPlusPlus[k]
        case .reference: return referenceDifference
        }
    }
}

/// Scores texts with every MIA of MIA.swift.
///
/// Forward passes, each a separate input and each run once per checkpoint: the text itself under the target,
/// with whole-vocabulary statistics (LOSS, zlib, Min-K%, Min-K%++ all come from this one pass); the text under the
/// reference model (if any); lowercase(text) under the target (if `lowercase`); prefix + text under the target
/// (if `recallPrefix`). Lowercase and ReCaLL inherently need these other token sequences. The reference model
/// tokenises with its own tokenizer. Lowercasing is Swift's `String.lowercased()` (Python's `str.lower()` differs
/// only in context-dependent cases such as a word-final capital sigma). ReCaLL's input is
/// encode(prefix) + encodeContinuation(text), token ids joined, not the joined string re-tokenised (as MIMIR).
public struct MIAScorer {
    public let target: any AuditableModel
    public let reference: (any AuditableModel)?
    public let options: MIAOptions

    public init(target: any AuditableModel, reference: (any AuditableModel)? = nil, options: MIAOptions = MIAOptions()) {
        self.target = target; self.reference = reference; self.options = options
    }

    /// Forward passes per text: the text itself, plus its lowercase form, the ReCaLL input and the reference
    /// model's pass when asked for. `score`'s progress counts sequences over all of them.
    public var passesPerText: Int {
        1 + (options.lowercase ? 1 : 0) + (options.recallPrefix != nil ? 1 : 0) + (reference != nil ? 1 : 0)
    }

    /// Throws MIAError (naming the text index) before any forward pass if a text cannot be scored.
    /// `progress(done, total)` counts scored sequences over every pass (total = texts.count * passesPerText).
    public func score(_ texts: [String], progress: ((Int, Int) -> Void)? = nil) throws -> [MIAScores] {
        for k in options.ks where !(k > 0 && k <= 1) { throw MIAError.invalidK(k) }
        if options.minKPlusPlus { try target.require(.vocabularyStatistics, for: "Min-K%++") }
        let ids = try texts.map { try target.encode($0) }
        try check(ids, context: target.contextLength, what: "the text", minK: true)
        let refIds = try reference.map { r in try texts.map { try r.encode($0) } }
        if let r = reference, let refIds { try check(refIds, context: r.contextLength, what: "the text (reference tokenizer)", minK: false) }
        let lowerIds = options.lowercase ? try texts.map { try target.encode($0.lowercased()) } : nil
        if let lowerIds { try check(lowerIds, context: target.contextLength, what: "the lowercased text", minK: false) }
        var prefixed: [[Int]]? = nil, cont: [[Int]] = []
        if let p = options.recallPrefix {
            let pids = try target.encode(p)
            if pids.isEmpty { throw MIAError.emptyPrefix }
            cont = try texts.map { try target.encode($0, addBos: false) }
            prefixed = cont.map { pids + $0 }
            try check(prefixed!, context: target.contextLength, what: "prefix + text", minK: false)
        }

        let plain = ScoreOptions(maxBatchTokens: options.maxBatchTokens)
        let extra = (lowerIds ?? []) + (prefixed ?? [])
        let total = ids.count + extra.count + (refIds?.count ?? 0)
        var passed = 0
        // The backends report sequences finished within one call; this adds the earlier passes.
        let each: ((Int, Int) -> Void)? = progress.map { p in { done, _ in p(passed + done, total) } }
        let main = try target.score(ids, options: ScoreOptions(vocabStats: options.minKPlusPlus, maxBatchTokens: options.maxBatchTokens),
                                    progress: each)
        passed += ids.count
        let extraScores = extra.isEmpty ? [] : try target.score(extra, options: plain, progress: each)
        passed += extra.count
        let refScores = try refIds.map { try reference!.score($0, options: plain, progress: each) }

        return texts.indices.map { i in
            let s = main[i]
            var r = MIAScores(tokens: ids[i].count, loss: MIA.loss(s.logprobs), zlib: MIA.zlib(s.logprobs, text: texts[i]),
                              minK: [:], minKPlusPlus: [:])
            for k in options.ks {
                r.minK[k] = MIA.minK(s.logprobs, k: k)
                if let mean = s.vocabMean, let variance = s.vocabVariance {
                    r.minKPlusPlus[k] = MIA.minKPlusPlus(s.logprobs, vocabMean: mean, vocabVariance: variance, k: k)
                }
            }
            var next = 0
            if lowerIds != nil {
                r.lowercase = MIA.lowercase(s.logprobs, lowercaseLogprobs: extraScores[i].logprobs)
                next = texts.count
            }
            if prefixed != nil {
                // x's own n tokens are the last n predictions of P + x.
                let lp = extraScores[next + i].logprobs
                r.recall = MIA.recall(Array(lp.suffix(cont[i].count)), s.logprobs)
            }
            if let refScores {
                let t = -MIA.meanLogprob(s.logprobs), ref = -MIA.meanLogprob(refScores[i].logprobs)
                r.referenceDifference = MIA.referenceDifference(targetNLL: t, referenceNLL: ref)
                r.referenceRatio = MIA.referenceRatio(targetNLL: t, referenceNLL: ref)
            }
            return r
        }
    }

    private func check(_ seqs: [[Int]], context: Int, what: String, minK: Bool) throws {
        for (i, s) in seqs.enumerated() {
            if s.count < 2 { throw MIAError.tooShort(index: i, tokens: s.count) }
            if s.count > context { throw MIAError.tooLong(index: i, tokens: s.count, context: context, what: what) }
            if minK, let k = options.ks.first(where: { MIA.minKCountUnclamped(k: $0, count: s.count - 1) == 0 }) {
                throw MIAError.tooShortForK(index: i, scoredTokens: s.count - 1, k: k)
            }
        }
    }
}

// MUSE's verbatim memorisation (VerbMem; Shi et al. 2024, shared/REFERENCES.md section 6): greedy continuations of
// forget-record prefixes scored against the records' true continuations with ROUGE-L (longest common subsequence of
// words: lowercase alphanumeric runs, as the rouge-score package tokenises), F1 and recall.
import Foundation
import Model
import Training

public enum VerbMem {
    /// Lowercase alphanumeric words.
    public static func words(_ s: String) -> [String] {
        s.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    /// Length of the longest common subsequence of two word lists.
    public static func lcs(_ a: [String], _ b: [String]) -> Int {
        if a.isEmpty || b.isEmpty { return 0 }
        var prev = [Int](repeating: 0, count: b.count + 1), cur = prev
        for i in 1...a.count {
            for j in 1...b.count { cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : max(prev[j], cur[j - 1]) }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }

    /// ROUGE-L of `candidate` against `reference`: (F1, recall); both 0 when either is empty.
    public static func rougeL(candidate: String, reference: String) -> (f1: Double, recall: Double) {
        let c = words(candidate), r = words(reference)
        let l = Double(lcs(c, r))
        guard l > 0 else { return (0, 0) }
        let p = l / Double(c.count), rec = l / Double(r.count)
        return (2 * p * rec / (p + rec), rec)
    }

    /// Mean ROUGE-L F1 and recall over `records`: each prompted with its first min(`prefix`, n / 2) tokens, continued
    /// greedily for as many tokens as the record has left (at most `maxNewTokens`, MUSE's 128).
    public static func measure(_ lm: LanguageModel, _ records: [Example], prefix: Int = 16, maxNewTokens: Int = 128) -> (f1: Double, recall: Double) {
        var groups: [Int: [(prompt: [Int], truth: [Int])]] = [:]   // by continuation length: one batch each
        for e in records where e.tokens.count >= 2 {
            let p = min(prefix, e.tokens.count / 2)
            let truth = Array(e.tokens[p...].prefix(maxNewTokens))
            groups[truth.count, default: []].append((Array(e.tokens[..<p]), truth))
        }
        var f1 = 0.0, recall = 0.0, n = 0
        for len in groups.keys.sorted() {
            let g = groups[len]!
            let out = lm.model.generate(prompts: g.map(\.prompt), maxNewTokens: len)
            for (i, item) in g.enumerated() {
                let s = rougeL(candidate: lm.tokenizer.decode(out[i]), reference: lm.tokenizer.decode(item.truth))
                f1 += s.f1; recall += s.recall; n += 1
            }
        }
        return n > 0 ? (f1 / Double(n), recall / Double(n)) : (.nan, .nan)
    }
}

// Membership-inference scores as pure functions of per-token log-probs (shared/REFERENCES.md section 2:
// MIMIR (Duan et al. 2024), Min-K% (Shi et al. 2024), Min-K%++ (Zhang et al. 2024), Carlini et al. 2021 (zlib,
// lowercase, reference), copyright traps (Meeus et al. 2024), ReCaLL (Xie et al. 2024)).
//
// One direction for every score: HIGHER = MORE LIKELY A MEMBER. Each function's comment says how the published
// statistic is converted. "logprobs" are ln p(x_i | x_<i) of the scored tokens (SequenceScores.logprobs: tokens
// 2..n of an n-token text, so count = n - 1); NLL = -mean(logprobs) = ln PPL. Sums are accumulated in Double.
import Foundation
import CZlib

public enum MIA {
    /// Mean log-likelihood in Double: -NLL = -ln PPL. NaN for an empty array.
    public static func meanLogprob(_ logprobs: [Float]) -> Double {
        logprobs.isEmpty ? .nan : logprobs.reduce(0.0) { $0 + Double($1) } / Double(logprobs.count)
    }

    /// LOSS (Yeom et al. 2018; MIMIR `loss`): published statistic NLL (lower = member); score = -NLL.
    public static func loss(_ logprobs: [Float]) -> Double { meanLogprob(logprobs) }

    /// zlib (Carlini et al. 2021; MIMIR `zlib`): published statistic NLL / len(zlib.compress(utf8(text)))
    /// (lower = member); score = -NLL / zlibLength(text). The length is that of the system zlib at level 6,
    /// Python's `zlib.compress` default, so it matches MIMIR byte for byte.
    public static func zlib(_ logprobs: [Float], text: String) -> Double {
        zlib(nll: -meanLogprob(logprobs), compressedLength: zlibLength(text))
    }

    /// zlib from an NLL and a compressed length: -nll / compressedLength.
    public static func zlib(nll: Double, compressedLength: Int) -> Double { -nll / Double(compressedLength) }

    /// Length in bytes of zlib `compress2(utf8(text), level)`: the zlib stream with its 2-byte header and
    /// Adler-32 trailer, the same bytes as Python's `zlib.compress(text.encode(), level)`.
    public static func zlibLength(_ text: String, level: Int32 = 6) -> Int {
        let src = Array(text.utf8)
        var destLen = compressBound(uLong(src.count))
        var dest = [UInt8](repeating: 0, count: Int(destLen))
        let rc = src.withUnsafeBufferPointer { s in
            dest.withUnsafeMutableBufferPointer { d in
                compress2(d.baseAddress, &destLen, s.baseAddress, uLong(s.count), level)
            }
        }
        // compressBound guarantees room and the arguments are valid: any failure is a broken invariant.
        precondition(rc == Z_OK, "zlib compress2 failed with code \(rc)")
        return Int(destLen)
    }

    /// lowercase (Carlini et al. 2021): ln PPL(lowercase(x)) / ln PPL(x) = NLL(lower) / NLL(x). Already
    /// higher = member (a memorised x has a small NLL that lowercasing destroys), so no conversion.
    /// Arguments are log-perplexities (NLLs). +inf when nll is 0 and the lowercased NLL is positive.
    public static func lowercase(nll: Double, lowercaseNLL: Double) -> Double { lowercaseNLL / nll }

    /// lowercase from the log-probs of the original and of the lowercased text (two different token sequences).
    public static func lowercase(_ logprobs: [Float], lowercaseLogprobs: [Float]) -> Double {
        lowercase(nll: -meanLogprob(logprobs), lowercaseNLL: -meanLogprob(lowercaseLogprobs))
    }

    /// How many of `count` scored tokens Min-K% and Min-K%++ average: floor(k * count) computed as
    /// Python's `int(len(x) * k)` (the same Double product), at least 1. `minKCountUnclamped` is 0 when the
    /// text is too short for k; the driver rejects such texts instead of silently averaging the single minimum.
    public static func minKCount(k: Double, count: Int) -> Int { max(1, minKCountUnclamped(k: k, count: count)) }
    public static func minKCountUnclamped(k: Double, count: Int) -> Int { Int((Double(count) * k).rounded(.down)) }

    /// Min-K% (Shi et al. 2024): mean of the floor(k * count) smallest log-probs (at least 1). MIMIR returns its
    /// negation (lower = member); this returns the mean itself, so higher = member. Requires 0 < k <= 1 and a
    /// non-empty array.
    public static func minK(_ logprobs: [Float], k: Double) -> Double {
        precondition(!logprobs.isEmpty && k > 0 && k <= 1, "minK needs log-probs and 0 < k <= 1")
        return meanOfSmallest(logprobs.map(Double.init), minKCount(k: k, count: logprobs.count))
    }

    /// Per-token Min-K%++ statistic z_i = (l_i - mu_i) / sigma_i, with mu_i = sum_v p_v ln p_v and
    /// sigma_i^2 = sum_v p_v (ln p_v)^2 - mu_i^2 over the whole vocabulary at that position. sigma^2 is floored
    /// at 1e-12 (a point-mass distribution): z stays finite, 0 when the token is the expected one.
    public static func minKPlusPlusZ(_ logprobs: [Float], vocabMean: [Double], vocabVariance: [Double]) -> [Double] {
        precondition(logprobs.count == vocabMean.count && logprobs.count == vocabVariance.count,
                     "Min-K%++ needs one vocabulary mean and variance per log-prob")
        return (0..<logprobs.count).map { i in
            (Double(logprobs[i]) - vocabMean[i]) / max(vocabVariance[i], 1e-12).squareRoot()
        }
    }

    /// Min-K%++ (Zhang et al. 2024): mean of the floor(k * count) smallest z_i (at least 1). The paper and
    /// MIMIR negate it (lower = member); this returns the mean itself, so higher = member.
    public static func minKPlusPlus(_ logprobs: [Float], vocabMean: [Double], vocabVariance: [Double], k: Double) -> Double {
        precondition(!logprobs.isEmpty && k > 0 && k <= 1, "minKPlusPlus needs log-probs and 0 < k <= 1")
        let z = minKPlusPlusZ(logprobs, vocabMean: vocabMean, vocabVariance: vocabVariance)
        return meanOfSmallest(z, minKCount(k: k, count: z.count))
    }

    /// Reference-model difference (Carlini et al. 2021; MIMIR `ref`): published statistic
    /// NLL_target - NLL_ref (lower = member); score = NLL_ref - NLL_target.
    public static func referenceDifference(targetNLL: Double, referenceNLL: Double) -> Double { referenceNLL - targetNLL }

    /// Reference-model ratio (copyright traps): published statistic PPL_target / PPL_ref (lower = member);
    /// score = PPL_ref / PPL_target = exp(NLL_ref - NLL_target), a monotone function of referenceDifference
    /// (the two rank texts identically; the ratio is kept because reports quote it).
    public static func referenceRatio(targetNLL: Double, referenceNLL: Double) -> Double { Foundation.exp(referenceNLL - targetNLL) }

    /// ReCaLL (Xie et al. 2024): LL(x | P) / LL(x), with LL the mean log-likelihood of x's tokens, P a
    /// non-member prefix. Members lose more likelihood when conditioned on non-member text, so the ratio of two
    /// negative numbers is larger for members: already higher = member, no conversion.
    /// `logprobsWithPrefix`: log-probs of x's own tokens after P (all n of them, the first now predicted from P);
    /// `logprobsWithout`: x alone (tokens 2..n).
    public static func recall(_ logprobsWithPrefix: [Float], _ logprobsWithout: [Float]) -> Double {
        meanLogprob(logprobsWithPrefix) / meanLogprob(logprobsWithout)
    }

    /// Mean of the m smallest values (ties are irrelevant to the mean). Requires 1 <= m <= values.count.
    static func meanOfSmallest(_ values: [Double], _ m: Int) -> Double {
        precondition(m >= 1 && m <= values.count, "meanOfSmallest: m = \(m) of \(values.count)")
        let s = values.sorted()
        var sum = 0.0
        for v in s[0..<m] { sum += v }
        return sum / Double(m)
    }
}

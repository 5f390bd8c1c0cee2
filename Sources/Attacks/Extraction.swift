// Training-data extraction: discoverable (Carlini et al. 2022), (n, p)-discoverable (arXiv 2410.19482), exact
// memorisation and extraction strength (TOFU), on token ids. shared/REFERENCES.md section 3.
import Foundation
import LM

public enum Extraction {
    /// Levenshtein distance between two token sequences (unit costs).
    public static func editDistance(_ a: [Int], _ b: [Int]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }

    /// Levenshtein distance divided by the target's length (0 = identical).
    public static func normalizedEditDistance(generated: [Int], target: [Int]) -> Double {
        target.isEmpty ? (generated.isEmpty ? 0 : 1) : Double(editDistance(generated, target)) / Double(target.count)
    }

    /// Outcome of greedy decoding from a training prefix.
    public struct DiscoverableResult: Sendable {
        public let generated: [Int]
        public let exact: Bool                       // generated == suffix
        public let normalizedEditDistance: Double    // Levenshtein / |suffix|
        /// Approximate extraction: normalized edit distance <= `approximateThreshold` (0.1 as in Gemma's reports).
        public let approximate: Bool
    }

    /// Discoverable extraction: each sample [prefix || suffix] (token ids, at least prefixLength + suffixLength long)
    /// is extractable when greedy decoding from its first `prefixLength` tokens reproduces the next `suffixLength`.
    /// All samples run as one batch.
    /// `progress(step)` after each generated position (of `suffixLength`).
    public static func discoverable(_ model: any AuditableModel, samples: [[Int]], prefixLength: Int, suffixLength: Int,
                                    approximateThreshold: Double = 0.1, progress: ((Int) -> Void)? = nil) throws -> [DiscoverableResult] {
        precondition(prefixLength > 0 && suffixLength > 0)
        precondition(samples.allSatisfy { $0.count >= prefixLength + suffixLength }, "sample shorter than prefix + suffix")
        let prefixes = samples.map { Array($0.prefix(prefixLength)) }
        let out = try model.generate(prompts: prefixes, maxNewTokens: suffixLength, sampling: SamplingParams(), stopTokens: [],
                                     progress: progress)
        return zip(samples, out).map { s, g in
            let target = Array(s[prefixLength..<prefixLength + suffixLength])
            let d = normalizedEditDistance(generated: g, target: target)
            return DiscoverableResult(generated: g, exact: g == target, normalizedEditDistance: d, approximate: d <= approximateThreshold)
        }
    }

    /// Teacher-forced view of a suffix after its prefix.
    public struct SuffixProbability: Sendable {
        /// ln p_z = sum_t ln q(s_t | prefix, s_<t) with q the sampling distribution (−inf when q gives 0).
        public let logPz: Double
        /// ln q of each suffix token.
        public let tokenLogQ: [Double]
        /// Per suffix position: does the model's argmax equal the label (greedy agreement)?
        public let argmaxMatches: [Bool]
        public init(logPz: Double, tokenLogQ: [Double], argmaxMatches: [Bool]) {
            self.logPz = logPz; self.tokenLogQ = tokenLogQ; self.argmaxMatches = argmaxMatches
        }
        public var pz: Double { Foundation.exp(logPz) }
        /// TOFU exact memorisation: the fraction of suffix positions whose argmax equals the label.
        public var exactMemorization: Double {
            argmaxMatches.isEmpty ? 0 : Double(argmaxMatches.filter { $0 }.count) / Double(argmaxMatches.count)
        }
        /// TOFU extraction strength 1 - k*/|y|: k* is the smallest suffix start from which every argmax matches.
        public var extractionStrength: Double {
            var k = argmaxMatches.count
            while k > 0 && argmaxMatches[k - 1] { k -= 1 }
            return argmaxMatches.isEmpty ? 0 : 1 - Double(k) / Double(argmaxMatches.count)
        }
    }

    /// One teacher-forced pass over prefix + suffix gives p_z exactly under `sampling` (temperature, top-k, top-p;
    /// greedy means q is 1 on the argmax): no sampling needed. The backend must offer `samplingProbabilities`.
    public static func suffixProbability(_ model: any AuditableModel, prefix: [Int], suffix: [Int],
                                         sampling: SamplingParams) throws -> SuffixProbability {
        try suffixProbabilities(model, [(prefix, suffix)], sampling: sampling)[0]
    }

    /// `suffixProbability` for many (prefix, suffix) pairs in one call to the backend.
    public static func suffixProbabilities(_ model: any AuditableModel, _ pairs: [(prefix: [Int], suffix: [Int])],
                                           sampling: SamplingParams) throws -> [SuffixProbability] {
        precondition(pairs.allSatisfy { !$0.prefix.isEmpty && !$0.suffix.isEmpty })
        try model.require(.samplingProbabilities, for: "the probability of a suffix under a sampling scheme")
        return try model.suffixProbabilities(pairs, sampling: sampling).map {
            SuffixProbability(logPz: $0.logQ.reduce(0, +), tokenLogQ: $0.logQ, argmaxMatches: $0.argmaxMatches)
        }
    }

    /// (n, p)-discoverable: extractable when at least one of n samples reproduces the suffix with probability >= p,
    /// i.e. 1 - (1 - p_z)^n >= p.
    public static func isNPDiscoverable(pz: Double, n: Int, p: Double) -> Bool {
        probabilityOfExtraction(pz: pz, n: n) >= p
    }

    /// 1 - (1 - p_z)^n, computed stably for tiny p_z.
    public static func probabilityOfExtraction(pz: Double, n: Int) -> Double {
        if pz <= 0 { return 0 }
        if pz >= 1 { return 1 }
        return -Foundation.expm1(Double(n) * Foundation.log1p(-pz))
    }

    /// The number of samples needed to extract with probability p: ln(1 - p) / ln(1 - p_z) (infinite when p_z = 0).
    public static func samplesNeeded(pz: Double, p: Double) -> Double {
        if pz <= 0 { return .infinity }
        if pz >= 1 { return 1 }
        return Foundation.log1p(-p) / Foundation.log1p(-pz)
    }
}

// Discoverable and (n, p)-discoverable extraction of every sample at one prefix length, shared by `auditor extract`
// and the audit's extraction step.
import Attacks
import Foundation
import LM

/// One sample's extraction result at one prefix length.
public struct ExtractionRow: Sendable {
    public var exact: Bool, approximate: Bool, np: Bool
    public var normalizedEditDistance: Double, log10Pz: Double, samplesNeeded: Double
    public var exactMemorization: Double, extractionStrength: Double
    public var generated: [Int]
}

/// Greedy (discoverable) extraction in batches of 32 plus the exact p_z of each suffix under `scheme`.
/// Every sample must hold at least prefix + suffix tokens (the caller checks, naming its file). `progress(done)` counts
/// samples: whole batches as they finish, and within a batch the share of its tokens through the model so far, so that
/// one long batch does not sit silent until its end (and its first estimate is not thrown off by the prefill). Greedy
/// decoding with a KV cache runs the prefix at the first step, then one token a step; the teacher-forced pass runs prefix
/// + suffix once: 2 (prefix + suffix) tokens in all, about equally costly each (measured for 32 licence chunks at 50 + 50
/// tokens on SmolLM2: prefill 9 s, 50 steps 15 s, the pass 18 s).
public func extractionResults(_ lm: any AuditableModel, samples: [[Int]], prefix: Int, suffix: Int, approxThreshold: Double,
                              scheme: SamplingParams, n: Int, p: Double, progress: @escaping (Int) -> Void = { _ in }) throws -> [ExtractionRow] {
    var out: [ExtractionRow] = []
    for start in stride(from: 0, to: samples.count, by: 32) {
        let batch = Array(samples[start..<min(samples.count, start + 32)])
        let d = try Extraction.discoverable(lm, samples: batch, prefixLength: prefix, suffixLength: suffix,
                                        approximateThreshold: approxThreshold) { step in
            progress(start + batch.count * (prefix + step) / (2 * (prefix + suffix)))
        }
        let pairs = batch.map { s in (prefix: Array(s[..<prefix]), suffix: Array(s[prefix..<prefix + suffix])) }
        let probabilities = try Extraction.suffixProbabilities(lm, pairs, sampling: scheme)
        for (j, sp) in probabilities.enumerated() {
            out.append(ExtractionRow(exact: d[j].exact, approximate: d[j].approximate,
                                     np: Extraction.isNPDiscoverable(pz: sp.pz, n: n, p: p),
                                     normalizedEditDistance: d[j].normalizedEditDistance,
                                     log10Pz: sp.logPz / Foundation.log(10.0),
                                     samplesNeeded: Extraction.samplesNeeded(pz: sp.pz, p: p),
                                     exactMemorization: sp.exactMemorization, extractionStrength: sp.extractionStrength,
                                     generated: d[j].generated))
        }
        progress(out.count)
    }
    return out
}

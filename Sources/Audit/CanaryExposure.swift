// Canary exposure of every canary in a manifest against the model (the Secret Sharer; shared/REFERENCES.md
// section 4), shared by `auditor canary exposure` and the audit's canary step.
import Attacks
import Foundation
import LM
import Stats

/// One canary's exposure.
public struct ExposureRow: Sendable {
    public var canary: Canary
    public var logPerplexityBits: Double, exposure: Double, extrapolated: Double, maxExposure: Double
    public var exact: Bool, references: Int
    /// 95% interval of the exposure: from the Clopper-Pearson interval of the fraction of sampled candidates ranked
    /// at least as well; equal to `exposure` when every candidate was ranked (nothing was sampled).
    public var lower: Double, upper: Double
}

/// Exposure of every canary of `m`: reference candidates are the whole space when it has at most `enumerateUpTo`
/// members, else `references` samples drawn with `seed`; computed once per format. `progress(done, total)` counts
/// scored texts, reference candidates and canaries alike (the first canary of a format scores all its candidates, so
/// counting canaries would make the first estimate of the time left far too high).
public func canaryExposures(_ m: CanaryManifest, _ lm: any AuditableModel, words: [String], enumerateUpTo: Int, references: Int,
                     seed: UInt64, manifestPath: String, progress: @escaping (Int, Int) -> Void = { _, _ in }) throws -> [ExposureRow] {
    var out: [ExposureRow] = []
    // Texts to score: each format's candidates once, and every canary. A format that does not parse adds nothing
    // here; the loop below reports it.
    var candidates: [String: Int] = [:]
    for c in m.canaries where candidates[c.format] == nil {
        let size = (try? CanaryFormat(c.format, words: words))?.spaceSize
        candidates[c.format] = size.map { $0 <= enumerateUpTo ? $0 : references } ?? references
    }
    let total = candidates.values.reduce(m.canaries.count, +)
    var scored = 0
    var cache: [String: ([String], [Double])] = [:]    // format -> reference texts and log-perplexities
    // References exclude the canary itself (and, when sampled, every canary of the manifest).
    let secrets = Set(m.canaries.map(\.text))
    let context = lm.contextLength
    func fits(_ text: String, _ what: String) throws {
        let n = try lm.encode(text).count
        if n > context { throw InputError(manifestPath, "\(what) has \(n) tokens, more than the model's context (\(context))") }
        if n < 2 { throw InputError(manifestPath, "\(what) has \(n) token(s): nothing to score") }
    }
    for c in m.canaries {
        let f: CanaryFormat
        do { f = try CanaryFormat(c.format, words: words) } catch let e as CanaryError {
            throw InputError(manifestPath, "\(c.id): \(e.description)")
        }
        // The manifest reader checked the shape; only here is the word list known.
        guard f.fits(c.text) else { throw InputError(manifestPath, "canary '\(c.id)': text '\(c.text)' does not fit its format '\(c.format)'") }
        try fits(c.text, c.id)
        if cache[c.format] == nil {
            try fits(f.candidate(0), "a candidate of \(c.id)'s format")
            var refs: [String]
            if let size = f.spaceSize, size <= enumerateUpTo {
                refs = (0..<size).map { f.candidate($0) }
            } else {
                var rng = SeededRNG(seed: seed)
                refs = (0..<references).map { _ in f.random(&rng) }
            }
            let before = scored
            cache[c.format] = (refs, try Canaries.logPerplexityBits(lm, refs) { progress(before + $0, total) })
            scored += refs.count
        }
        let (refTexts, refPPL) = cache[c.format]!
        let own = try Canaries.logPerplexityBits(lm, [c.text])[0]
        scored += 1
        let others = zip(refTexts, refPPL).filter { !secrets.contains($0.0) }.map(\.1)
        if others.isEmpty {
            throw InputError(manifestPath, "\(c.id): every candidate of its format is a canary, so there is nothing to rank it against")
        }
        let exact = f.spaceSize.map { $0 <= enumerateUpTo } ?? false
        // Ties count against the canary (Canaries.exposureByRank).
        let below = others.filter { $0 <= own }.count
        let e = Canaries.exposure(fractionBelow: Double(below) / Double(others.count), log2SpaceSize: f.log2SpaceSize)
        var lo = e, hi = e
        if !exact {
            let ci = try Metrics.clopperPearson(successes: below, trials: others.count)
            lo = Canaries.exposure(fractionBelow: ci.upper, log2SpaceSize: f.log2SpaceSize)
            hi = Canaries.exposure(fractionBelow: ci.lower, log2SpaceSize: f.log2SpaceSize)
        }
        out.append(ExposureRow(canary: c, logPerplexityBits: own, exposure: e,
                               extrapolated: Canaries.exposureByExtrapolation(canary: own, references: others),
                               maxExposure: f.log2SpaceSize, exact: exact, references: others.count, lower: lo, upper: hi))
        progress(scored, total)
    }
    return out
}

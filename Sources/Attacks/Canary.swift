// Canaries and exposure (Carlini et al. 2019, "The Secret Sharer"; tensorflow_privacy secret_sharer):
// formats with a random part, seeded generation, insertion into JSON Lines with repetition counts, exposure by rank
// among reference candidates (exact or sampled) and by skew-normal extrapolation. shared/REFERENCES.md section 4.
import Foundation
import LM
import Stats

public struct CanaryError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A format such as `my PIN is {digits:6}`: literal text around exactly one random slot.
/// Slots: digits:N (0-9), letters:N (a-z), hex:N (0-9a-f), words:N (N words from `words`, space-separated).
public struct CanaryFormat: Sendable, Equatable {
    public enum Kind: String, Sendable { case digits, letters, hex, words }
    public let before: String, after: String, kind: Kind, length: Int
    public let words: [String]

    /// `requireWords: false` reads a words:N format without its list (to check a manifest's shape before --words is read).
    public init(_ format: String, words: [String] = [], requireWords: Bool = true) throws {
        guard let open = format.range(of: "{"), let close = format.range(of: "}", range: open.upperBound..<format.endIndex) else {
            throw CanaryError("canary format '\(format)' has no {kind:length} slot")
        }
        if format[close.upperBound...].contains("{") { throw CanaryError("canary format '\(format)' has more than one slot") }
        let slot = format[open.upperBound..<close.lowerBound].split(separator: ":")
        guard slot.count == 2, let kind = Kind(rawValue: String(slot[0])), let n = Int(slot[1]), n > 0, n <= 64 else {
            throw CanaryError("canary slot '{\(format[open.upperBound..<close.lowerBound])}' must be digits:N, letters:N, hex:N or words:N with 1 <= N <= 64")
        }
        if kind == .words && requireWords && words.count < 2 { throw CanaryError("a words:N slot needs a word list of at least 2 words") }
        before = String(format[..<open.lowerBound]); after = String(format[close.upperBound...])
        self.kind = kind; length = n; self.words = kind == .words ? words : []
    }

    var alphabet: [String] {
        switch kind {
        case .digits: return (0..<10).map(String.init)
        case .letters: return "abcdefghijklmnopqrstuvwxyz".map(String.init)
        case .hex: return "0123456789abcdef".map(String.init)
        case .words: return words
        }
    }
    var separator: String { kind == .words ? " " : "" }
    /// log2 |R|: the size of the randomness space.
    public var log2SpaceSize: Double { Double(length) * Foundation.log2(Double(alphabet.count)) }
    /// |R| when it fits in an Int, else nil.
    public var spaceSize: Int? {
        var s = 1
        for _ in 0..<length { let (m, o) = s.multipliedReportingOverflow(by: alphabet.count); if o { return nil }; s = m }
        return s
    }
    /// The candidate with index `i` in 0..<|R| (mixed-radix digits, most significant first).
    public func candidate(_ i: Int) -> String {
        let a = alphabet
        var parts = [String](repeating: "", count: length), x = i
        for k in stride(from: length - 1, through: 0, by: -1) { parts[k] = a[x % a.count]; x /= a.count }
        return before + parts.joined(separator: separator) + after
    }
    /// Whether `text` is an instance of this format: the literal text around exactly `length` symbols of the alphabet
    /// (for words:N, N space-separated words, each from the list when there is one). A text that does not fit would be
    /// ranked among candidates it cannot be one of, which reports a false maximal exposure.
    public func fits(_ text: String) -> Bool {
        guard text.count >= before.count + after.count, text.hasPrefix(before), text.hasSuffix(after) else { return false }
        let middle = text.dropFirst(before.count).dropLast(after.count)
        if kind == .words {
            let w = middle.split(separator: " ", omittingEmptySubsequences: false)
            return w.count == length && w.allSatisfy { !$0.isEmpty && (words.isEmpty || words.contains(String($0))) }
        }
        let a = Set(alphabet)
        return middle.count == length && middle.allSatisfy { a.contains(String($0)) }
    }
    /// A uniformly random candidate.
    public func random(_ rng: inout SeededRNG) -> String {
        let a = alphabet
        return before + (0..<length).map { _ in a[Int(rng.next() % UInt64(a.count))] }.joined(separator: separator) + after
    }
}

/// One inserted canary: its text (the secret), how often it was inserted, and the format it came from.
public struct Canary: Codable, Sendable, Equatable {
    public let id: String
    public let format: String
    public let text: String
    public let repetitions: Int
    public init(id: String, format: String, text: String, repetitions: Int) {
        self.id = id; self.format = format; self.text = text; self.repetitions = repetitions
    }
}

public struct CanaryManifest: Codable, Sendable {
    public var seed: UInt64
    public var canaries: [Canary]
    public var dataset: String?            // the JSONL the canaries were inserted into
    public var datasetSHA256: String?
}

public enum Canaries {
    /// `count` distinct canaries per repetition count, drawn with `seed`.
    public static func generate(format: CanaryFormat, formatString: String, repetitions: [Int], perRepetition: Int,
                                seed: UInt64) throws -> CanaryManifest {
        guard perRepetition >= 1 else { throw CanaryError("canaries per repetition count must be >= 1, got \(perRepetition)") }
        var rng = SeededRNG(seed: seed)
        var seen = Set<String>(), out: [Canary] = []
        let total = repetitions.count * perRepetition
        if let s = format.spaceSize, s < total * 2 { throw CanaryError("the format's space (\(s)) is too small for \(total) distinct canaries") }
        for r in repetitions {
            guard r >= 1 else { throw CanaryError("repetition counts must be >= 1, got \(r)") }
            for _ in 0..<perRepetition {
                var t = format.random(&rng)
                while seen.contains(t) { t = format.random(&rng) }
                seen.insert(t)
                out.append(Canary(id: "canary-\(out.count + 1)", format: formatString, text: t, repetitions: r))
            }
        }
        return CanaryManifest(seed: seed, canaries: out, dataset: nil, datasetSHA256: nil)
    }

    /// Inserts each canary `repetitions` times as its own record ({"text": ...}) at seeded random positions
    /// among `records` (JSON Lines lines, kept verbatim). Returns the new lines.
    public static func insert(_ manifest: CanaryManifest, into records: [String], field: String = "text", seed: UInt64) -> [String] {
        var rng = SeededRNG(seed: seed)
        var lines = records
        for c in manifest.canaries {
            for _ in 0..<c.repetitions {
                let obj = [field: c.text]
                let d = try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
                let at = Int(rng.next() % UInt64(lines.count + 1))
                lines.insert(String(decoding: d, as: UTF8.self), at: at)
            }
        }
        return lines
    }

    /// Log-perplexity of each text in bits: -log2 Pr(x_2..x_n | x_1) (the Secret Sharer's px, summed, not averaged).
    /// `progress(textsDone)` as the backend finishes texts.
    public static func logPerplexityBits(_ lm: any AuditableModel, _ texts: [String], maxBatchTokens: Int = 4096,
                                         progress: ((Int) -> Void)? = nil) throws -> [Double] {
        let ids = try texts.map { try lm.encode($0) }
        let s = try lm.score(ids, options: ScoreOptions(maxBatchTokens: maxBatchTokens), progress: progress.map { p in { done, _ in p(done) } })
        return s.map { -$0.logprobs.reduce(0.0) { $0 + Double($1) } / Foundation.log(2.0) }
    }

    /// Exposure by rank: log2 |R| - log2 rank, rank = 1 + #{references with log-perplexity <= the canary's}
    /// (REFERENCES.md section 4: ties count against the canary, so exposure is never overstated).
    /// With all |R| - 1 other candidates as references this is exact; with a uniform sample of m references,
    /// the count is scaled by (|R| - 1) / m.
    public static func exposureByRank(canary: Double, references: [Double], log2SpaceSize: Double) -> Double {
        let below = references.filter { $0 <= canary }.count
        return exposure(fractionBelow: Double(below) / Double(max(references.count, 1)), log2SpaceSize: log2SpaceSize)
    }

    /// log2 |R| - log2(1 + q (|R| - 1)): the exposure of a canary that a fraction q of the other candidates rank at
    /// least as well as. Computed in the log domain, so spaces beyond 2^1023 (long word formats) stay finite.
    public static func exposure(fractionBelow q: Double, log2SpaceSize L: Double) -> Double {
        if q <= 0 { return L }
        // log2(1 + q (2^L - 1)) = L + log2(q + (1 - q) 2^-L)
        return -Foundation.log2(q + (1 - q) * Foundation.pow(2, -L))
    }

    /// Exposure by extrapolation: -log2 CDF(canary) under a skew-normal fitted (method of moments) to the
    /// references' log-perplexities; valid far beyond the reach of a sampled rank.
    public static func exposureByExtrapolation(canary: Double, references: [Double]) -> Double {
        let sn = SkewNormal.fit(references)
        return -Foundation.log2(max(sn.cdf(canary), Double.leastNonzeroMagnitude))
    }

    /// The p-value of a canary's exposure: the chance that a random candidate ranks at least as well, 2^-exposure.
    public static func pValue(exposure: Double) -> Double { Foundation.pow(2, -exposure) }
}

/// The skew-normal distribution (Azzalini): location xi, scale omega, shape alpha.
public struct SkewNormal: Sendable {
    public let xi: Double, omega: Double, alpha: Double
    public init(xi: Double, omega: Double, alpha: Double) { self.xi = xi; self.omega = omega; self.alpha = alpha }

    /// Method-of-moments fit; the sample skewness is clamped to the family's range (|gamma| < 0.995).
    public static func fit(_ x: [Double]) -> SkewNormal {
        let n = Double(x.count)
        let mean = x.reduce(0, +) / n
        let m2 = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
        let m3 = x.map { Foundation.pow($0 - mean, 3) }.reduce(0, +) / n
        let sd = m2.squareRoot()
        guard sd > 0 else { return SkewNormal(xi: mean, omega: 1e-12, alpha: 0) }
        let g = min(max(m3 / Foundation.pow(m2, 1.5), -0.995), 0.995)
        let c = Foundation.pow(abs(g), 2.0 / 3.0)
        let k = (4 - Double.pi) / 2
        var delta = (Double.pi / 2 * c / (c + Foundation.pow(k, 2.0 / 3.0))).squareRoot()
        if g < 0 { delta = -delta }
        delta = min(max(delta, -0.9999), 0.9999)
        let alpha = delta / (1 - delta * delta).squareRoot()
        let omega = sd / (1 - 2 * delta * delta / Double.pi).squareRoot()
        let xi = mean - omega * delta * (2 / Double.pi).squareRoot()
        return SkewNormal(xi: xi, omega: omega, alpha: alpha)
    }

    /// CDF(x) = integral_{-inf}^{z} 2 phi(t) Phi(alpha t) dt, z = (x - xi) / omega, by composite Simpson over the
    /// 12 standard deviations on the near side (the far tail from the other side), with Phi through erfc so that
    /// tiny lower-tail probabilities keep their relative precision (Phi(z) - 2 T(z, alpha) would cancel).
    public func cdf(_ x: Double) -> Double {
        let z = (x - xi) / omega
        func f(_ t: Double) -> Double {
            Foundation.exp(-t * t / 2) / (2 * Double.pi).squareRoot() * Foundation.erfc(-alpha * t / 2.0.squareRoot())
        }
        func simpson(_ a: Double, _ b: Double) -> Double {
            let n = 6000, h = (b - a) / Double(n)
            var s = f(a) + f(b)
            for i in 1..<n { s += (i % 2 == 1 ? 4 : 2) * f(a + Double(i) * h) }
            return s * h / 3
        }
        if z <= 0 { return min(1, simpson(min(z, 0) - 12, z)) }
        return max(0, 1 - simpson(z, z + 12))
    }
}

// Canaries: formats, seeded generation and insertion, skew-normal CDF by hand, exposure by rank against a
// brute-force enumeration of the whole space on a tiny model, and extrapolated exposure beside it.
import Foundation
import LM
import Stats
import XCTest
import Attacks
import Model

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

final class CanaryTests: XCTestCase {
    func testFormatParsingAndEnumeration() throws {
        let f = try CanaryFormat("my PIN is {digits:2}!")
        XCTAssertEqual(f.spaceSize, 100)
        XCTAssertEqual(f.log2SpaceSize, Foundation.log2(100), accuracy: 1e-12)
        XCTAssertEqual(f.candidate(0), "my PIN is 00!"); XCTAssertEqual(f.candidate(42), "my PIN is 42!")
        XCTAssertEqual(try CanaryFormat("{words:2}", words: ["red", "blue", "green"]).candidate(5), "blue green")
        XCTAssertThrowsError(try CanaryFormat("no slot"))
        XCTAssertThrowsError(try CanaryFormat("{digits:0}"))
        XCTAssertThrowsError(try CanaryFormat("{bytes:4}"))
        XCTAssertThrowsError(try CanaryFormat("{digits:2} and {digits:3}"))
    }

    func testGenerateAndInsertAreSeededAndComplete() throws {
        let f = try CanaryFormat("my PIN is {digits:6}")
        let m = try Canaries.generate(format: f, formatString: "my PIN is {digits:6}", repetitions: [1, 4], perRepetition: 3, seed: 9)
        XCTAssertEqual(m.canaries.count, 6)
        XCTAssertEqual(Set(m.canaries.map(\.text)).count, 6, "distinct")
        XCTAssertEqual(try Canaries.generate(format: f, formatString: "x", repetitions: [1, 4], perRepetition: 3, seed: 9).canaries.map(\.text),
                       m.canaries.map(\.text), "same seed, same canaries")
        let records = (0..<20).map { #"{"text":"record \#($0)"}"# }
        let out = Canaries.insert(m, into: records, seed: 3)
        XCTAssertEqual(out.count, 20 + 3 * 1 + 3 * 4)
        XCTAssertEqual(out.filter { records.contains($0) }, records, "original records kept, in order")
        for c in m.canaries { XCTAssertEqual(out.filter { $0.contains(c.text) }.count, c.repetitions) }
        XCTAssertThrowsError(try Canaries.generate(format: try CanaryFormat("{digits:1}"), formatString: "", repetitions: [1], perRepetition: 8, seed: 1))
    }

    /// Skew-normal CDF by hand: alpha = 0 is the normal; at z = 0, CDF = 1/2 - atan(alpha) / pi.
    func testSkewNormalCDFByHand() {
        XCTAssertEqual(SkewNormal(xi: 0, omega: 1, alpha: 0).cdf(1.0), 0.8413447460685429, accuracy: 1e-9)
        XCTAssertEqual(SkewNormal(xi: 0, omega: 1, alpha: 1).cdf(0), 0.25, accuracy: 1e-9)
        XCTAssertEqual(SkewNormal(xi: 0, omega: 1, alpha: 10).cdf(0), 0.5 - atan(10.0) / Double.pi, accuracy: 1e-9)
        XCTAssertEqual(SkewNormal(xi: 2, omega: 3, alpha: -4).cdf(2), 0.5 + atan(4.0) / Double.pi, accuracy: 1e-9)
        // Far lower tail of the normal keeps its relative precision: Phi(-8) = 6.22096057427e-16.
        XCTAssertEqual(SkewNormal(xi: 0, omega: 1, alpha: 0).cdf(-8) / 6.220960574271785e-16, 1, accuracy: 1e-6)
        // Method-of-moments fit recovers a skew-normal from seeded samples (delta |U0| + sqrt(1 - delta^2) U1).
        var rng = SeededRNG(seed: 5)
        func normal() -> Double { (-2 * log(max(rng.uniform(), 1e-300))).squareRoot() * cos(2 * Double.pi * rng.uniform()) }
        let delta = 0.8
        let xs = (0..<20000).map { _ in 10 + 2 * (delta * abs(normal()) + (1 - delta * delta).squareRoot() * normal()) }
        let fit = SkewNormal.fit(xs)
        XCTAssertEqual(fit.xi, 10, accuracy: 0.15); XCTAssertEqual(fit.omega, 2, accuracy: 0.1)
        XCTAssertEqual(fit.alpha, delta / (1 - delta * delta).squareRoot(), accuracy: 0.4)
    }

    /// exposure(fractionBelow:) is log2 |R| - log2(1 + q (|R| - 1)) (hand values), finite for spaces past 2^1023,
    /// and the interval the audit derives from Clopper-Pearson on q has the closed form for 0 of m below.
    func testExposureFromFractionLogDomainAndInterval() throws {
        XCTAssertEqual(Canaries.exposure(fractionBelow: 0, log2SpaceSize: 20), 20)
        // |R| = 2^10, q = 1/3: log2 1024 - log2(1 + 1023 / 3) = 10 - log2(342)
        XCTAssertEqual(Canaries.exposure(fractionBelow: 1.0 / 3, log2SpaceSize: 10), 10 - Foundation.log2(342), accuracy: 1e-12)
        XCTAssertEqual(Canaries.exposure(fractionBelow: 1, log2SpaceSize: 10), 0, accuracy: 1e-12)
        XCTAssertEqual(Canaries.exposureByRank(canary: 1, references: [0, 2, 3], log2SpaceSize: 10), 10 - Foundation.log2(342), accuracy: 1e-12)
        // A 64-word passphrase from 70,000 words: 2^1030 candidates. The old pow(2, L) overflowed to infinity.
        let L = 64 * Foundation.log2(70_000.0)
        XCTAssertGreaterThan(L, 1024)
        XCTAssertEqual(Canaries.exposure(fractionBelow: 0.25, log2SpaceSize: L), 2, accuracy: 1e-9)
        XCTAssertEqual(Canaries.exposure(fractionBelow: 0, log2SpaceSize: L), L)
        // 0 of m = 1000 sampled candidates at or below the canary: q's upper 95% bound is 1 - 0.025^(1/m), so the
        // exposure's lower bound is about log2(m / 3.69) = 8.08 bits, whatever |R|.
        let ci = try Metrics.clopperPearson(successes: 0, trials: 1000)
        XCTAssertEqual(ci.upper, 1 - Foundation.pow(0.025, 1.0 / 1000), accuracy: 1e-12)
        XCTAssertEqual(Canaries.exposure(fractionBelow: ci.upper, log2SpaceSize: 40), -Foundation.log2(ci.upper), accuracy: 1e-6)
        XCTAssertEqual(-Foundation.log2(ci.upper), 8.08, accuracy: 0.01)
    }

    /// Exposure by rank equals a brute-force enumeration of all 1,000 candidates; a 300-reference sample and the
    /// skew-normal extrapolation land near it.
    func testExposureAgainstBruteForceEnumeration() throws {
        let lm = try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/llama").path)
        let f = try CanaryFormat("the code is {digits:3}")
        let all = (0..<1000).map { f.candidate($0) }
        let ppl = try Canaries.logPerplexityBits(lm, all)
        let sorted = ppl.enumerated().sorted { $0.element < $1.element || ($0.element == $1.element && $0.offset < $1.offset) }
        var rng = SeededRNG(seed: 11)
        var diffs: [Double] = []
        for target in [sorted[0].offset, sorted[3].offset, sorted[40].offset, sorted[500].offset, 123] {
            // Brute force: 1-based position after sorting every candidate, ties placed after the canary's equals.
            let rank = ppl.filter { $0 <= ppl[target] }.count
            let brute = Foundation.log2(1000) - Foundation.log2(Double(rank))
            let others = ppl.enumerated().filter { $0.offset != target }.map(\.element)
            let exact = Canaries.exposureByRank(canary: ppl[target], references: others, log2SpaceSize: f.log2SpaceSize)
            XCTAssertEqual(exact, brute, accuracy: 0.01 /* |R| - 1 = 999 others */)
            let sample = (0..<300).map { _ in others[Int(rng.next() % UInt64(others.count))] }
            let sampled = Canaries.exposureByRank(canary: ppl[target], references: sample, log2SpaceSize: f.log2SpaceSize)
            let extrapolated = Canaries.exposureByExtrapolation(canary: ppl[target], references: sample)
            print(String(format: "canary rank %4d: exposure exact %.2f, sampled %.2f, extrapolated %.2f", rank, exact, sampled, extrapolated))
            // The sampled rank is 1 + 999 * B / 300 with B ~ Binomial(300, q), q = (rank - 1) / 999: within 4 sd.
            let q = Double(rank - 1) / 999, sd = (300 * q * (1 - q)).squareRoot() * 999 / 300
            let sampledRank = Foundation.pow(2, f.log2SpaceSize - sampled)
            XCTAssertEqual(sampledRank, Double(rank), accuracy: 4 * sd + 1e-6, "sampled rank")
            if rank >= 4 { diffs.append(abs(extrapolated - exact)) }
        }
        XCTAssertLessThan(diffs.reduce(0, +) / Double(diffs.count), 1.0, "extrapolated exposure within a bit of the exact one on average")
        XCTAssertEqual(Canaries.pValue(exposure: 3), 0.125)
    }
}

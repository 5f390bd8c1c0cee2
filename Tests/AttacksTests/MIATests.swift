// Hand-computed cases for every membership-inference score in MIA.swift (direction: higher = member).
import XCTest
@testable import Attacks

final class MIATests: XCTestCase {
    // Five scored tokens, exact in Float. sum = -10.5, mean = -2.1, NLL = 2.1; sorted: -4, -3, -2, -1, -0.5.
    let lp: [Float] = [-1, -2, -3, -4, -0.5]

    func testLossIsNegatedNLL() {
        XCTAssertEqual(MIA.loss(lp), -2.1, accuracy: 1e-15)
        XCTAssertTrue(MIA.loss([]).isNaN)
    }

    func testZlibLengthMatchesPythonZlib() {
        // Python 3: len(zlib.compress(s)) at the default level 6.
        XCTAssertEqual(MIA.zlibLength(""), 8)             // 2-byte header, empty final block, 4-byte Adler-32
        XCTAssertEqual(MIA.zlibLength("a"), 9)
        XCTAssertEqual(MIA.zlibLength("hello"), 13)
        XCTAssertEqual(MIA.zlibLength("hello hello hello hello hello hello"), 17)
        XCTAssertEqual(MIA.zlibLength("café — naïve"), 24)  // UTF-8 bytes, not characters
    }

    func testZlib() {
        // -NLL / len(zlib("hello")) = -2.1 / 13 = -0.16153846153846155
        XCTAssertEqual(MIA.zlib(lp, text: "hello"), -2.1 / 13, accuracy: 1e-15)
        XCTAssertEqual(MIA.zlib(nll: 2.1, compressedLength: 13), -0.16153846153846155, accuracy: 1e-15)
    }

    func testLowercaseIsRatioOfLogPerplexities() {
        // original [-1, -3]: NLL 2; lowercased [-2, -4, -3]: NLL 3; ln PPL(lower) / ln PPL(x) = 3 / 2 = 1.5
        XCTAssertEqual(MIA.lowercase([-1, -3], lowercaseLogprobs: [-2, -4, -3]), 1.5, accuracy: 1e-15)
        XCTAssertEqual(MIA.lowercase(nll: 2, lowercaseNLL: 3), 1.5)
        // A text the model knows far better than its lowercased form scores higher (more likely a member).
        XCTAssertGreaterThan(MIA.lowercase(nll: 0.5, lowercaseNLL: 3), MIA.lowercase(nll: 2.5, lowercaseNLL: 3))
    }

    func testMinKCountIsPythonIntOfProduct() {
        XCTAssertEqual(MIA.minKCount(k: 0.2, count: 5), 1)     // floor(1.0)
        XCTAssertEqual(MIA.minKCount(k: 0.5, count: 5), 2)     // floor(2.5)
        XCTAssertEqual(MIA.minKCount(k: 0.29, count: 100), 28) // 100 * 0.29 = 28.999999999999996, as in Python
        XCTAssertEqual(MIA.minKCountUnclamped(k: 0.1, count: 5), 0)
        XCTAssertEqual(MIA.minKCount(k: 0.1, count: 5), 1)     // at least 1
    }

    func testMinK() {
        XCTAssertEqual(MIA.minK(lp, k: 0.2), -4)     // 1 smallest: -4
        XCTAssertEqual(MIA.minK(lp, k: 0.4), -3.5)   // 2 smallest: (-4 - 3) / 2
        XCTAssertEqual(MIA.minK(lp, k: 0.5), -3.5)   // floor(2.5) = 2
        XCTAssertEqual(MIA.minK(lp, k: 0.1), -4)     // floor(0.5) = 0, clamped to 1
        XCTAssertEqual(MIA.minK(lp, k: 1), -2.1, accuracy: 1e-15)  // all: the LOSS score
    }

    func testMinKPlusPlus() {
        // mu = [-1, -1, -2, -2, -1], sigma^2 = [1, 4, 0.25, 1, 0.25] -> sigma = [1, 2, 0.5, 1, 0.5]
        // z = (l - mu) / sigma = [0/1, -1/2, -1/0.5, -2/1, 0.5/0.5] = [0, -0.5, -2, -2, 1]; sorted -2, -2, -0.5, 0, 1
        let mu: [Double] = [-1, -1, -2, -2, -1], v: [Double] = [1, 4, 0.25, 1, 0.25]
        XCTAssertEqual(MIA.minKPlusPlusZ(lp, vocabMean: mu, vocabVariance: v), [0, -0.5, -2, -2, 1])
        XCTAssertEqual(MIA.minKPlusPlus(lp, vocabMean: mu, vocabVariance: v, k: 0.2), -2)     // 1 smallest
        XCTAssertEqual(MIA.minKPlusPlus(lp, vocabMean: mu, vocabVariance: v, k: 0.4), -2)     // (-2 - 2) / 2
        XCTAssertEqual(MIA.minKPlusPlus(lp, vocabMean: mu, vocabVariance: v, k: 0.8), -1.125) // (-2-2-0.5+0) / 4
        XCTAssertEqual(MIA.minKPlusPlus(lp, vocabMean: mu, vocabVariance: v, k: 1), -0.7)     // -3.5 / 5
    }

    func testMinKPlusPlusPointMassStaysFinite() {
        // sigma^2 = 0 is floored at 1e-12 (sigma 1e-6): the expected token gives z = 0, any other a large negative z.
        let z = MIA.minKPlusPlusZ([0, -1], vocabMean: [0, 0], vocabVariance: [0, 0])
        XCTAssertEqual(z[0], 0)
        XCTAssertEqual(z[1], -1e6, accuracy: 1e-6)
        // A slightly negative variance from cancellation is treated the same way.
        XCTAssertEqual(MIA.minKPlusPlusZ([-1], vocabMean: [0], vocabVariance: [-1e-18])[0], -1e6, accuracy: 1e-6)
    }

    func testReferenceScores() {
        // target NLL 2.0, reference NLL 3.5: NLL_target - NLL_ref = -1.5 (lower = member) -> score 1.5
        XCTAssertEqual(MIA.referenceDifference(targetNLL: 2.0, referenceNLL: 3.5), 1.5)
        // PPL_ref / PPL_target = e^3.5 / e^2 = 33.11545 / 7.389056 = e^1.5 = 4.4816890703380645
        XCTAssertEqual(MIA.referenceRatio(targetNLL: 2.0, referenceNLL: 3.5), 4.4816890703380645, accuracy: 1e-14)
        XCTAssertEqual(MIA.referenceRatio(targetNLL: 3, referenceNLL: 3), 1)
    }

    func testRecall() {
        // with prefix: 3 tokens of x [-3, -2, -4], LL -3; without: tokens 2..3 [-2, -2], LL -2; -3 / -2 = 1.5
        XCTAssertEqual(MIA.recall([-3, -2, -4], [-2, -2]), 1.5)
        // A prefix that costs more likelihood gives a higher score (more likely a member).
        XCTAssertGreaterThan(MIA.recall([-4, -4], [-2, -2]), MIA.recall([-2.5, -2.5], [-2, -2]))
    }
}

// Tests for the one-run epsilon lower bound (Steinke, Nasr & Jagielski 2023): hand-computed p-values, the binomial
// tail against a direct sum with exact integer binomials, and coverage on simulated randomised response at a known
// epsilon (the bound exceeds the true epsilon at most at rate beta, and is far above 0 for a large epsilon).

import Foundation
import Stats
import XCTest

final class OneRunAuditTests: XCTestCase {
    /// C(n, k) p^k (1-p)^(n-k) summed directly, exact binomial coefficients in Double (n <= 60).
    private func directTail(_ k: Int, _ n: Int, _ p: Double) -> Double {
        var total = 0.0
        for j in max(k, 0)...n {
            var c = 1.0
            for i in 0..<j { c = c * Double(n - i) / Double(i + 1) }
            total += c * pow(p, Double(j)) * pow(1 - p, Double(n - j))
        }
        return total
    }

    func testPValueByHand() {
        // eps 0, pure DP: P[Binomial(10, 1/2) >= 9] = (10 + 1) / 1024.
        XCTAssertEqual(OneRunAudit.pValue(m: 10, r: 10, v: 9, epsilon: 0, delta: 0), 11.0 / 1024, accuracy: 1e-14)
        // eps ln 3, q = 3/4: P[B >= 9] = 10 (3/4)^9 (1/4) + (3/4)^10.
        let q = 0.75, expected = 10 * pow(q, 9) * 0.25 + pow(q, 10)
        XCTAssertEqual(OneRunAudit.pValue(m: 10, r: 10, v: 9, epsilon: log(3), delta: 0), expected, accuracy: 1e-13)
        // delta term: r 2, v 2, q 1/2: tail 1/4; i = 1: P[B = 1] / 1 = 1/2; i = 2: (1/2 + 1/4) / 2 = 3/8; alpha 1/2.
        // p = 1/4 + 1/2 * 0.01 * 2 * 10 = 0.35.
        XCTAssertEqual(OneRunAudit.pValue(m: 10, r: 2, v: 2, epsilon: 0, delta: 0.01), 0.35, accuracy: 1e-14)
        // capped at 1
        XCTAssertEqual(OneRunAudit.pValue(m: 1000, r: 2, v: 2, epsilon: 0, delta: 0.01), 1)
    }

    func testTailAgainstDirectSum() {
        for (n, p) in [(30, 0.5), (30, 0.88), (57, 0.2), (60, 0.97)] {
            for k in [0, 1, n / 3, n / 2, n - 2, n] {
                let ours = OneRunAudit.binomialUpperTail(k, n: n, p: p), ref = directTail(k, n, p)
                XCTAssertEqual(ours, ref, accuracy: 1e-12 * max(1, ref), "n \(n) k \(k) p \(p)")
            }
        }
    }

    func testBoundInvertsPValue() {
        let e = OneRunAudit.epsilonLowerBound(m: 100, r: 100, v: 90, delta: 0, beta: 0.05)
        XCTAssertLessThan(OneRunAudit.pValue(m: 100, r: 100, v: 90, epsilon: e, delta: 0), 0.05)
        XCTAssertGreaterThanOrEqual(OneRunAudit.pValue(m: 100, r: 100, v: 90, epsilon: e + 1e-5, delta: 0), 0.05)
        // Half right is no evidence at all.
        XCTAssertEqual(OneRunAudit.epsilonLowerBound(m: 100, r: 100, v: 50, delta: 0, beta: 0.05), 0)
        // delta only loosens the bound.
        XCTAssertLessThan(OneRunAudit.epsilonLowerBound(m: 100, r: 100, v: 90, delta: 1e-3, beta: 0.05), e)
    }

    /// Scores from randomised response at `epsilon` on each canary's bit, plus a tie-breaking jitter (post-processing,
    /// so the whole vector is epsilon-DP with respect to each canary).
    private func simulate(m: Int, epsilon: Double, rng: inout SeededRNG) -> ([Double], [Bool]) {
        let keep = exp(epsilon) / (1 + exp(epsilon))
        var scores: [Double] = [], inserted: [Bool] = []
        for _ in 0..<m {
            let s = rng.uniform() < 0.5
            let reported = rng.uniform() < keep ? s : !s
            inserted.append(s)
            scores.append((reported ? 1 : 0) + 0.5 * rng.uniform())
        }
        return (scores, inserted)
    }

    func testCoverageOnRandomisedResponse() {
        var rng = SeededRNG(seed: 12)
        let beta = 0.05, runs = 300
        for (epsilon, delta) in [(1.0, 0.0), (2.0, 0.0), (1.0, 1e-4)] {
            var exceed = 0, total = 0.0
            for _ in 0..<runs {
                let (scores, inserted) = simulate(m: 200, epsilon: epsilon, rng: &rng)
                // All guesses at once (k+ = k- = m/2) at level beta: the sharpest single test.
                let b = OneRunAudit.bound(scores: scores, inserted: inserted, delta: delta, beta: beta, grid: [(100, 100)])
                if b.epsilon > epsilon { exceed += 1 }
                total += b.epsilon
            }
            // Rate at most beta, with 3 binomial standard deviations of simulation slack.
            let slack = 3 * (beta * (1 - beta) / Double(runs)).squareRoot()
            XCTAssertLessThanOrEqual(Double(exceed) / Double(runs), beta + slack, "eps \(epsilon) delta \(delta)")
            // and not vacuous: on average well above half the true epsilon for 200 canaries.
            XCTAssertGreaterThan(total / Double(runs), 0.5 * epsilon, "eps \(epsilon) delta \(delta)")
        }
    }

    func testGridBoundIsValidAndNonTrivial() {
        var rng = SeededRNG(seed: 7)
        var exceed = 0
        let runs = 100
        for _ in 0..<runs {
            let (scores, inserted) = simulate(m: 400, epsilon: 1.5, rng: &rng)
            if OneRunAudit.bound(scores: scores, inserted: inserted, delta: 0, beta: 0.05).epsilon > 1.5 { exceed += 1 }
        }
        XCTAssertLessThanOrEqual(Double(exceed) / Double(runs), 0.05 + 3 * (0.05 * 0.95 / Double(runs)).squareRoot())
        // Large epsilon, many canaries: randomised response at eps 4 is right 98.2% of the time.
        let (scores, inserted) = simulate(m: 1000, epsilon: 4, rng: &rng)
        let b = OneRunAudit.bound(scores: scores, inserted: inserted, delta: 1e-5, beta: 0.05)
        XCTAssertGreaterThan(b.epsilon, 2.5)
        XCTAssertLessThan(b.epsilon, 4)
    }

    func testGuessesCountCorrect() {
        // scores high to low: idx 2 (in), 0 (out), 3 (in), 1 (out). k+ 2: {2, 0} -> 1 right; k- 1: {1} -> right.
        let g = OneRunAudit.guesses(scores: [0.8, 0.1, 0.9, 0.5], inserted: [false, false, true, true], kPlus: 2, kMinus: 1)
        XCTAssertEqual(g, OneRunAudit.Guesses(m: 4, kPlus: 2, kMinus: 1, correct: 2))
    }

    func testNoBoundKeepsTheMostSignificantGuesses() {
        // 20 canaries, scores that say nothing about insertion: no candidate rejects epsilon 0 at beta/|grid|, so the
        // bound is 0; the guesses reported must still be real counts: those of the candidate with the smallest p-value at
        // epsilon 0 (found here by trying every candidate directly), not zeros.
        let inserted = (0..<20).map { $0 % 2 == 0 }
        let scores = (0..<20).map { Double(($0 * 7) % 20) }
        let b = OneRunAudit.bound(scores: scores, inserted: inserted, delta: 0, beta: 0.05)
        XCTAssertEqual(b.epsilon, 0)
        var bestP = 2.0, bestG: OneRunAudit.Guesses? = nil
        for c in OneRunAudit.defaultGrid(20) {
            let g = OneRunAudit.guesses(scores: scores, inserted: inserted, kPlus: c.kPlus, kMinus: c.kMinus)
            let p = OneRunAudit.pValue(m: 20, r: g.r, v: g.correct, epsilon: 0, delta: 0)
            if p < bestP { bestP = p; bestG = g }
        }
        XCTAssertEqual(b.guesses, bestG)
        XCTAssertGreaterThan(b.guesses.r, 0)
    }
}

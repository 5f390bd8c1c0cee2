// Tests for DatasetInference: Welch's t-test and Student t tails against scipy (scripts/fixtures/
// dataset_inference_fixtures.py), a hand-computed case, the seeded split, p-value calibration under the null by
// simulation, power under a shift, and input errors.
import Attacks
import Foundation
import LM
import Stats
import Model
import XCTest

private let welchFixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/dataset_inference/welch.json")

private struct WelchFixtures: Decodable {
    struct Case: Decodable { let name: String; let a: [Double]; let b: [Double]; let t: Double; let df: Double; let p: Double }
    struct Tail: Decodable { let t: Double; let df: Double; let sf: Double }
    let welch: [Case]
    let student_t_sf: [Tail]
}

/// Standard normal draws (Box-Muller) from the project's seeded generator.
private struct Gaussian {
    var rng: SeededRNG
    init(seed: UInt64) { rng = SeededRNG(seed: seed) }
    mutating func next() -> Double {
        let u1 = 1 - rng.uniform(), u2 = rng.uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

final class DatasetInferenceTests: XCTestCase {
    func assertRelative(_ a: Double, _ b: Double, _ tol: Double, _ msg: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(abs(a - b), tol * abs(b), "\(msg): \(a) vs \(b)", file: file, line: line)
    }

    // MARK: Against scipy

    func testWelchMatchesScipy() throws {
        let fx = try JSONDecoder().decode(WelchFixtures.self, from: Data(contentsOf: welchFixture))
        XCTAssertEqual(fx.welch.count, 9)
        for c in fx.welch {
            let r = try Metrics.welch(c.a, c.b)
            assertRelative(r.t, c.t, 1e-9, "\(c.name) t")
            assertRelative(r.df, c.df, 1e-9, "\(c.name) df")
            assertRelative(r.pValue, c.p, 1e-9, "\(c.name) p")
        }
    }

    func testStudentTTailMatchesScipy() throws {
        let fx = try JSONDecoder().decode(WelchFixtures.self, from: Data(contentsOf: welchFixture))
        for c in fx.student_t_sf {
            assertRelative(Metrics.studentTUpperTail(c.t, df: c.df), c.sf, 1e-9, "P(T_\(c.df) > \(c.t))")
        }
    }

    /// a = 1..5 (mean 3, variance 2.5), b = {0.5, 1.5, 1, 2, 0} (mean 1, variance 0.625): se^2 = 0.5 + 0.125,
    /// t = 2 / sqrt(0.625), df = 0.625^2 / (0.5^2/4 + 0.125^2/4) = 100/17.
    func testWelchByHand() throws {
        let r = try Metrics.welch([1, 2, 3, 4, 5], [0.5, 1.5, 1.0, 2.0, 0.0])
        XCTAssertEqual(r.meanA, 3, accuracy: 1e-15)
        XCTAssertEqual(r.meanB, 1, accuracy: 1e-15)
        XCTAssertEqual(r.varianceA, 2.5, accuracy: 1e-14)
        XCTAssertEqual(r.varianceB, 0.625, accuracy: 1e-14)
        assertRelative(r.t, 2 / 0.625.squareRoot(), 1e-14, "t")
        assertRelative(r.df, 100.0 / 17, 1e-14, "df")
    }

    /// Closed forms: df = 1 is Cauchy, P(T > t) = 1/2 - atan(t)/pi; df = 2: P(T > t) = (1 - t / sqrt(2 + t^2)) / 2.
    func testStudentTClosedForms() {
        for t in [-30.0, -2, -0.5, 0, 0.1, 1, 3, 10, 1e3] {
            assertRelative(Metrics.studentTUpperTail(t, df: 1), 0.5 - atan(t) / Double.pi, 1e-12, "Cauchy at \(t)")
            assertRelative(Metrics.studentTUpperTail(t, df: 2), (1 - t / (2 + t * t).squareRoot()) / 2, 1e-10, "df 2 at \(t)")
        }
        XCTAssertEqual(Metrics.studentTUpperTail(.infinity, df: 3), 0)
        XCTAssertEqual(Metrics.studentTUpperTail(-.infinity, df: 3), 1)
    }

    func testWelchErrors() {
        XCTAssertThrowsError(try Metrics.welch([1], [1, 2, 3]))
        XCTAssertThrowsError(try Metrics.welch([2, 2, 2], [1, 1]))
        XCTAssertThrowsError(try Metrics.welch([1, .nan], [1, 2]))
    }

    // MARK: Split and fit

    func testSplitIsSeededDisjointAndHalves() {
        for n in [10, 11, 37] {
            let s = DatasetInference.split(count: n, seed: 5)
            XCTAssertEqual(s.fit.count, n / 2)
            XCTAssertEqual(s.test.count, n - n / 2)
            XCTAssertEqual(Set(s.fit + s.test), Set(0..<n), "a partition of 0..<\(n)")
            XCTAssertEqual(s.fit, DatasetInference.split(count: n, seed: 5).fit, "same seed, same split")
        }
        XCTAssertNotEqual(DatasetInference.split(count: 40, seed: 1).fit, DatasetInference.split(count: 40, seed: 2).fit)
    }

    /// One informative feature: the fitted weight has the sign of the class difference, the noise feature's weight is
    /// much smaller, and the logistic regression reaches a point where the gradient (checked by hand here) vanishes.
    func testLogisticRegressionFindsTheInformativeDirection() {
        var g = Gaussian(seed: 3)
        var x: [[Double]] = [], y: [Double] = []
        for i in 0..<200 {
            let label = Double(i % 2)
            x.append([-1.5 * (label - 0.5) * 2 + g.next(), g.next()]); y.append(label)
        }
        let (w, b) = DatasetInference.logisticRegression(x, labels: y, steps: 3000, ridge: 0.01)
        XCTAssertLessThan(w[0], -0.5)
        XCTAssertLessThan(abs(w[1]), 0.3 * abs(w[0]))
        // Gradient of the class-balanced ridge loss at the solution, computed independently.
        var grad = [0.01 * w[0], 0.01 * w[1]], gb = 0.0
        for (row, label) in zip(x, y) {
            let p = 1 / (1 + exp(-(b + w[0] * row[0] + w[1] * row[1])))
            let r = (p - label) * 0.5 / 100
            grad[0] += r * row[0]; grad[1] += r * row[1]; gb += r
        }
        XCTAssertLessThan(max(abs(grad[0]), abs(grad[1]), abs(gb)), 1e-5)
    }

    // MARK: Calibration and power

    fileprivate func features(_ g: inout Gaussian, count: Int, shift: Double) -> [[Double]] {
        // Three correlated features, like loss / Min-K% / zlib, plus one with a different scale.
        (0..<count).map { _ in
            let common = g.next() + shift
            return [common + 0.5 * g.next(), common + 0.5 * g.next(), 100 + 20 * g.next(), -0.01 * common + 0.001 * g.next()]
        }
    }
    let names = ["loss", "min_k@0.2", "noise", "zlib"]

    /// Under the null (both sets from one distribution) the p-value is uniform: about 5% of runs fall below 0.05.
    /// 400 runs: the 99.9% binomial band around 20 is about [8, 34], i.e. [0.02, 0.085].
    func testPValuesAreUniformUnderTheNull() throws {
        var below05 = 0, below50 = 0
        let runs = 400
        for run in 0..<runs {
            var g = Gaussian(seed: UInt64(1000 + run))
            let s = features(&g, count: 30, shift: 0), v = features(&g, count: 26, shift: 0)
            let r = try DatasetInference.run(suspect: s, validation: v, featureNames: names, seed: UInt64(run))
            XCTAssertTrue(r.pValue >= 0 && r.pValue <= 1)
            if r.pValue < 0.05 { below05 += 1 }
            if r.pValue < 0.5 { below50 += 1 }
        }
        let f05 = Double(below05) / Double(runs), f50 = Double(below50) / Double(runs)
        XCTAssertGreaterThanOrEqual(f05, 0.02, "fraction of p < 0.05 under the null")
        XCTAssertLessThanOrEqual(f05, 0.09, "fraction of p < 0.05 under the null")
        XCTAssertGreaterThanOrEqual(f50, 0.41, "fraction of p < 0.5 under the null")
        XCTAssertLessThanOrEqual(f50, 0.59, "fraction of p < 0.5 under the null")
    }

    /// A suspect set whose features are shifted by 1.5 standard deviations of the shared factor: tiny p-value, the
    /// pure-noise feature carries the least weight, and the test halves are the sizes the split says.
    func testShiftedSuspectGivesTinyPValue() throws {
        var g = Gaussian(seed: 77)
        let s = features(&g, count: 200, shift: 1.5), v = features(&g, count: 180, shift: 0)
        let r = try DatasetInference.run(suspect: s, validation: v, featureNames: names, seed: 0)
        XCTAssertLessThan(r.pValue, 1e-12)
        XCTAssertGreaterThan(r.welch.t, 6)
        XCTAssertEqual(r.features, names)
        XCTAssertEqual(r.dropped, [])
        XCTAssertEqual(r.fitSizes.suspect, 100); XCTAssertEqual(r.fitSizes.validation, 90)
        XCTAssertEqual(r.testSizes.suspect, 100); XCTAssertEqual(r.testSizes.validation, 90)
        XCTAssertEqual(r.suspectScores.count, 100); XCTAssertEqual(r.validationScores.count, 90)
        XCTAssertEqual(r.weights.map(abs).min(), abs(r.weights[2]), "the noise feature has the smallest weight: \(r.weights)")
        // The reported test is Welch's on the reported scores.
        let w = try Metrics.welch(r.suspectScores, r.validationScores)
        XCTAssertEqual(w.t, r.welch.t); XCTAssertEqual(w.pValue, r.pValue)
        // A shift downwards in every feature is found too: the fit chooses the sign.
        var h = Gaussian(seed: 78)
        let r2 = try DatasetInference.run(suspect: features(&h, count: 200, shift: -1.5), validation: features(&h, count: 180, shift: 0),
                                          featureNames: names, seed: 0)
        XCTAssertLessThan(r2.pValue, 1e-10)
    }

    func testSameSeedSameResult() throws {
        var g = Gaussian(seed: 9)
        let s = features(&g, count: 20, shift: 0.3), v = features(&g, count: 20, shift: 0)
        let a = try DatasetInference.run(suspect: s, validation: v, featureNames: names, seed: 4)
        let b = try DatasetInference.run(suspect: s, validation: v, featureNames: names, seed: 4)
        XCTAssertEqual(a.pValue, b.pValue)
        XCTAssertEqual(a.weights, b.weights)
    }

    func testConstantAndNonFiniteFeaturesAreDropped() throws {
        var g = Gaussian(seed: 10)
        var s = features(&g, count: 12, shift: 0.5), v = features(&g, count: 12, shift: 0)
        for i in s.indices { s[i].append(7) }
        for i in v.indices { v[i].append(7) }
        for i in s.indices { s[i].append(Double(i)) }
        for i in v.indices { v[i].append(i == 3 ? .infinity : Double(i)) }
        let r = try DatasetInference.run(suspect: s, validation: v, featureNames: names + ["constant", "lowercase"], seed: 0)
        XCTAssertEqual(r.features, names)
        XCTAssertEqual(r.dropped, ["constant", "lowercase"])
        XCTAssertEqual(r.weights.count, 4)
    }

    func testInputErrors() {
        let row = [1.0, 2.0]
        let ten = (0..<10).map { [Double($0), Double($0 * $0)] }
        XCTAssertThrowsError(try DatasetInference.run(suspect: Array(ten.prefix(9)), validation: ten, featureNames: ["a", "b"])) {
            XCTAssertEqual($0 as? DatasetInferenceError, .tooFew(set: "suspect", count: 9, minimum: 10))
            XCTAssertTrue(String(describing: $0).contains("at least 10"))
        }
        XCTAssertThrowsError(try DatasetInference.run(suspect: ten, validation: [], featureNames: ["a", "b"])) {
            XCTAssertEqual($0 as? DatasetInferenceError, .tooFew(set: "validation", count: 0, minimum: 10))
        }
        XCTAssertThrowsError(try DatasetInference.run(suspect: ten, validation: ten + [row + [3]], featureNames: ["a", "b"]))
        let constant = [[Double]](repeating: [1, 1], count: 10)
        XCTAssertThrowsError(try DatasetInference.run(suspect: constant, validation: constant, featureNames: ["a", "b"])) {
            XCTAssertEqual($0 as? DatasetInferenceError, .noUsableFeature)
        }
    }

    /// Dataset inference refuses sets of fewer than 10 texts: never fewer than the minimum per class below which
    /// an AUC interval (here its blind baseline's) is called too few, so its output needs no tiny-sample warning.
    func testRefusalCoversTheTooFewToIntervalMinimum() {
        XCTAssertGreaterThanOrEqual(DatasetInference.minimumTexts, Metrics.minimumPerClassForInterval)
    }
}

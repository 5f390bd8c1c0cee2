// The spec reader and the metric catalog called directly: errors at file:line:column, thresholds checked against
// what the spec's steps declare, every key spelled one way and parsed back to the same figure.
import Attacks
import Audit
import Foundation
import XCTest

final class SpecCatalogTests: XCTestCase {
    private func write(_ text: String, extra: [String] = []) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for f in ["model.gguf", "m.jsonl", "n.jsonl", "c.json", "t.json"] + extra {
            try "x".write(to: dir.appendingPathComponent(f), atomically: true, encoding: .utf8)
        }
        let p = dir.appendingPathComponent("spec.yml").path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    private let full = """
        version: 1
        name: all steps
        target: {checkpoint: model.gguf}
        reference: {checkpoint: model.gguf}
        datasets: {members: m.jsonl, nonmembers: n.jsonl, extraction: m.jsonl, canaries: c.json, traps: t.json}
        attacks:
          mia: {k: [0.2, 1], attacks: [loss, zlib, mink, minkpp, reference]}
          extraction: {prefix: [8, 16], suffix: 8}
          canary:
          traps:

        """

    func testEveryProducedFigureRoundTripsThroughItsKey() throws {
        let spec = try loadAuditSpec(try write(full))
        let figures = spec.producedFigures
        XCTAssertEqual(figures.count, 7 * 3 + 1 + 3 * 3 + 2 + 1)   // 7 MIA attacks, blind baseline, 3 extraction sets
        XCTAssertEqual(Set(figures.map(\.key)).count, figures.count, "one spelling per figure")
        for f in figures + [.canaryExposure(.mean, repetitions: 10), .trapsAUC(repetitions: 3)] {
            XCTAssertEqual(Figure(key: f.key), f, f.key)
        }
        XCTAssertEqual(spec.miaAttacks(spec.mia!).map(\.key),
                       ["loss", "zlib", "mink_0.2", "mink_1", "minkpp_0.2", "minkpp_1", "reference"])
        XCTAssertTrue(figures.contains(.miaTPR(.minKPlusPlus(1), .tenthPercent)))
        XCTAssertEqual(Figure.miaTPR(.minKPlusPlus(1), .tenthPercent).key, "mia.minkpp_1.tpr_at_fpr_0.1pct")
        XCTAssertEqual(Figure.extractionRate(.np, prefix: 8).key, "extraction.prefix_8.np.rate")
        XCTAssertEqual(Figure.canaryExposure(.max, repetitions: nil).decimals, 1)
        XCTAssertEqual(Figure.canaryExposure(.max, repetitions: nil).unit, "bits")
        for bad in ["mia.mink_0.20.auc", "mia.mink_x.auc", "mia.loss.tpr", "extraction.prefix_0.exact.rate",
                    "extraction.prefix_08.exact.rate", "canary.rep_0.exposure.max", "canary.exposure.median", "traps.rep_.auc", ""] {
            XCTAssertNil(Figure(key: bad), bad)
        }
    }

    func testSuggestionsByEditDistance() {
        XCTAssertEqual(editDistance(Array("socre"), Array("score")), 1, "a swap of neighbours is one edit")
        XCTAssertEqual(editDistance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(editDistance(Array(""), Array("abc")), 3)
        let produced = ["mia.loss.auc", "mia.zlib.auc", "mia.loss.tpr_at_fpr_1pct", "extraction.exact.rate"]
        XCTAssertEqual(suggestions(for: "mia.loss.acu", among: produced), ["mia.loss.auc"])
        XCTAssertEqual(suggestions(for: "mia.lib.auc", among: produced), ["mia.zlib.auc"])
        XCTAssertEqual(suggestions(for: "canary.exposure.max", among: produced), [], "nothing close")
        XCTAssertEqual(suggestions(for: "mia.loss.auc", among: produced), [], "not a typo")
        XCTAssertEqual(suggestions(for: "x", among: ["y", "z"]), [], "one letter is no evidence")
        XCTAssertEqual(suggestions(for: "mia.mink_0.3.auc", among: ["mia.mink_0.2.auc", "mia.mink_0.5.auc"]),
                       ["mia.mink_0.2.auc", "mia.mink_0.5.auc"], "ties in their given order")
        XCTAssertEqual(didYouMean(["a"]), "; did you mean 'a'?")
        XCTAssertEqual(didYouMean(["a", "b"]), "; did you mean 'a' or 'b'?")
        XCTAssertEqual(didYouMean([]), "")
    }

    func testErrorsNameFileLineAndColumn() throws {
        let unknown = try write("version: 1\nname: x\ntarget: {checkpoint: model.gguf}\nattaks: {}\n")
        XCTAssertThrowsError(try loadAuditSpec(unknown)) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(unknown):4:1: unknown key 'attaks' in the spec"), "\(e)")
        }
        let threshold = try write(full + "thresholds: ['mia.mink_0.5.auc <= 0.6']\n")
        XCTAssertThrowsError(try loadAuditSpec(threshold)) { e in
            let s = "\(e)"
            XCTAssertTrue(s.hasPrefix("\(threshold):11:14: thresholds: 'mia.mink_0.5.auc' is not a metric this spec produces"), s)
            XCTAssertTrue(s.contains("mia.loss.auc, mia.loss.tpr_at_fpr_1pct"), s)
            XCTAssertTrue(s.contains("is not a metric this spec produces; did you mean 'mia.mink_0.2.auc'? (it produces: "), s)
        }
        // Per-repetition figures are accepted for a step that runs: the manifest decides whether they exist.
        let perRep = try loadAuditSpec(try write(full + "thresholds: ['canary.rep_3.exposure.max <= 8', 'traps.rep_2.auc < 0.9']\n"))
        XCTAssertEqual(perRep.thresholds.map(\.figure), [.canaryExposure(.max, repetitions: 3), .trapsAUC(repetitions: 2)])
    }
}

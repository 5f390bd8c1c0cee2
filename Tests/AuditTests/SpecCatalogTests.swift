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

    /// A mistyped key or attack in a spec names the nearest one (issue 15: only the full list was given).
    func testMistypedKeysSuggestTheNearest() throws {
        let cases: [(String, String)] = [
            ("version: 1\nname: x\ntarget: {checkpoint: model.gguf}\nattaks: {}\n",
             ":4:1: unknown key 'attaks' in the spec; did you mean 'attacks'? (expected one of: "),
            (full.replacingOccurrences(of: "mia: {k: [0.2, 1],", with: "mia: {resample: 10, k: [0.2, 1],"),
             ":7:9: unknown key 'resample' in attacks.mia; did you mean 'resamples'? (expected one of: "),
            (full.replacingOccurrences(of: "datasets: {members:", with: "datasets: {member:"),
             ":5:12: unknown key 'member' in datasets; did you mean 'members'? (expected one of: "),
            (full.replacingOccurrences(of: "attacks: [loss, zlib,", with: "attacks: [loss, zlip,"),
             ":7:38: attacks.mia.attacks: unknown attack 'zlip'; did you mean 'zlib'? (expected: "),
        ]
        for (text, message) in cases {
            let path = try write(text)
            XCTAssertThrowsError(try loadAuditSpec(path)) { e in
                XCTAssertTrue("\(e)".hasPrefix(path + message), "\(e)\nexpected: \(path + message)")
            }
        }
    }

    /// Old spellings are read as the new ones, each with a warning that names the file, the line and the new
    /// spelling; a key for one end of an interval is refused with the reason.
    func testOldSpellingsAreReadWithAWarning() throws {
        let old = full.replacingOccurrences(of: "attacks: [loss, zlib, mink, minkpp, reference]", with: "attacks: [loss, zlib, min_k, min_k++, ref_diff]")
            + "thresholds: ['mia.min_k@0.2.auc <= 0.6', 'mia.min_k++@1.0.tpr_at_fpr_1pct < 0.5', 'mia.ref_diff.auc <= 0.7', 'mia.loss.auc <= 0.6']\n"
        let path = try write(old)
        let spec = try loadAuditSpec(path)
        XCTAssertEqual(spec.mia?.attacks, ["loss", "zlib", "mink", "minkpp", "reference"])
        XCTAssertEqual(spec.thresholds.map(\.metric), ["mia.mink_0.2.auc", "mia.minkpp_1.tpr_at_fpr_1pct", "mia.reference.auc", "mia.loss.auc"])
        XCTAssertEqual(spec.thresholds.map(\.expression),
                       ["mia.mink_0.2.auc <= 0.6", "mia.minkpp_1.tpr_at_fpr_1pct < 0.5", "mia.reference.auc <= 0.7", "mia.loss.auc <= 0.6"])
        XCTAssertEqual(spec.warnings, [
            "\(path):7:44: attacks.mia.attacks: 'min_k' is an old spelling of 'mink'; read as 'mink' (write 'mink': the old spelling may stop working)",
            "\(path):7:51: attacks.mia.attacks: 'min_k++' is an old spelling of 'minkpp'; read as 'minkpp' (write 'minkpp': the old spelling may stop working)",
            "\(path):7:60: attacks.mia.attacks: 'ref_diff' is an old spelling of 'reference'; read as 'reference' (write 'reference': the old spelling may stop working)",
            "\(path):11:14: thresholds: 'mia.min_k@0.2.auc' is an old spelling of 'mia.mink_0.2.auc'; read as 'mia.mink_0.2.auc' (write 'mia.mink_0.2.auc': the old spelling may stop working)",
            "\(path):11:42: thresholds: 'mia.min_k++@1.0.tpr_at_fpr_1pct' is an old spelling of 'mia.minkpp_1.tpr_at_fpr_1pct'; read as 'mia.minkpp_1.tpr_at_fpr_1pct' (write 'mia.minkpp_1.tpr_at_fpr_1pct': the old spelling may stop working)",
            "\(path):11:83: thresholds: 'mia.ref_diff.auc' is an old spelling of 'mia.reference.auc'; read as 'mia.reference.auc' (write 'mia.reference.auc': the old spelling may stop working)",
        ])
        XCTAssertEqual(try loadAuditSpec(try write(full)).warnings, [], "the new spellings warn of nothing")
        let bound = try write(full + "thresholds: ['mia.loss.auc_lower >= 0.5']\n")
        XCTAssertThrowsError(try loadAuditSpec(bound)) { e in
            XCTAssertEqual("\(e)", "\(bound):11:14: thresholds: 'mia.loss.auc_lower' names one end of an interval, which is no longer a separate key (every interval is written {\"value\": v, \"ci95\": [lower, upper]}); a threshold compares the value: 'mia.loss.auc'")
        }
    }
}

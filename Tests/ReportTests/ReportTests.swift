// Snapshot tests of every text artifact the report module renders, from the fixture run.
import Foundation
import Stats
import Store
import XCTest
@testable import Report

/// Compares `actual` with Tests/ReportTests/Snapshots/`name`; AUDITOR_UPDATE_SNAPSHOTS=1 rewrites the file.
func assertSnapshot(_ actual: String, named name: String, file: StaticString = #filePath, line: UInt = #line) {
    let url = URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent().appendingPathComponent("Snapshots/\(name)")
    if ProcessInfo.processInfo.environment["AUDITOR_UPDATE_SNAPSHOTS"] == "1" {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        XCTAssertNoThrow(try Data(actual.utf8).write(to: url), file: file, line: line)
        return
    }
    guard let data = FileManager.default.contents(atPath: url.path), let expected = String(data: data, encoding: .utf8) else {
        XCTFail("missing snapshot \(url.path); run the tests with AUDITOR_UPDATE_SNAPSHOTS=1 to record it, then review it", file: file, line: line)
        return
    }
    guard expected != actual else { return }
    let e = expected.components(separatedBy: "\n"), a = actual.components(separatedBy: "\n")
    let i = Array(zip(e, a)).firstIndex { $0 != $1 } ?? min(e.count, a.count)
    XCTFail("""
        \(name) differs from its snapshot at line \(i + 1):
          expected: \(i < e.count ? e[i] : "<end of file>")
          actual:   \(i < a.count ? a[i] : "<end of file>")
        If the change is intended, rerun with AUDITOR_UPDATE_SNAPSHOTS=1 and review the diff of \(url.path).
        """, file: file, line: line)
}

final class ReportSnapshotTests: XCTestCase {
    let r = Fixture.report()
    let options = ReportOptions()

    func testMarkdownSnapshot() {
        assertSnapshot(Report.markdown(r, options: options), named: "report.md")
    }

    func testHTMLSnapshot() throws {
        let html = try Report.html(markdown: Report.markdown(r, options: options), charts: Report.charts(r, options: options),
                                   title: "Privacy audit: \(r.run.name)")
        assertSnapshot(html, named: "report.html")
    }

    func testJUnitSnapshot() {
        assertSnapshot(Report.junit(r), named: "junit.xml")
    }

    func testSummarySnapshot() {
        assertSnapshot(Report.summaryJSON(r, options: options), named: "summary.json")
    }

    func testChartSnapshots() {
        let charts = Report.charts(r, options: options)
        XCTAssertEqual(charts.map(\.fileName),
                       ["roc.svg", "roc-log.svg", "hist-loss.svg", "hist-minkpp_0.2.svg", "exposure.svg", "extraction.svg"])
        for c in charts {
            assertSnapshot(c.svg, named: c.fileName)
            XCTAssertTrue(c.svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox="), c.fileName)
            XCTAssertNotNil(try? XMLDocumentCheck.parse(c.svg), "\(c.fileName) is not well-formed XML")
        }
    }

    func testIncompleteRunVerdict() {
        var run = Fixture.report(status: .interrupted)
        run.steps.removeLast(2)
        let md = Report.markdown(run, options: options)
        XCTAssertTrue(md.contains("**INCOMPLETE: this audit did not finish (status: interrupted). Steps finished: mia, extraction."), md)
    }

    func testPassVerdict() {
        var run = Fixture.report(status: .passed)
        run.checks.removeFirst()
        let md = Report.markdown(run, options: options)
        XCTAssertTrue(md.contains("**PASS: All 1 threshold holds."), md)
    }

    func testBlindBaselineWarning() throws {
        var run = Fixture.report()
        let i = try XCTUnwrap(run.metrics.firstIndex { $0.key == "mia.blind_baseline.auc" })
        run.metrics[i] = Fixture.metric("mia", "mia.blind_baseline.auc", 0.71, 0.62, 0.80, 40, "bootstrap 1000", "Blind baseline")
        let md = Report.markdown(run, options: options)
        XCTAssertTrue(md.contains("> **Warning:** the blind baseline"), md)
        XCTAssertTrue(md.contains("the member and non-member sets differ in distribution"), md)
        XCTAssertTrue(md.contains("| blind baseline (no model) | 0.710 [0.620, 0.800] |"), md)
    }

    /// One rule with `mia` (Metrics.blindBaselineSeparates: lower bound above 0.6): an interval that excludes 0.5 but
    /// whose lower bound is 0.55 warns in neither (the report used to warn whenever the interval excluded 0.5).
    func testBlindBaselineWarningFollowsMiasRule() throws {
        var run = Fixture.report()
        let i = try XCTUnwrap(run.metrics.firstIndex { $0.key == "mia.blind_baseline.auc" })
        for (lower, upper, warns) in [(0.55, 0.75, false), (0.60, 0.80, false), (0.61, 0.80, true), (0.30, 0.45, false)] {
            run.metrics[i] = Fixture.metric("mia", "mia.blind_baseline.auc", (lower + upper) / 2, lower, upper, 40, "bootstrap 1000", "Blind baseline")
            let md = Report.markdown(run, options: options)
            let inWarnings = Report.warnings(run).contains { $0.contains("blind baseline") }
            XCTAssertEqual(inWarnings, warns, "[\(lower), \(upper)]")
            XCTAssertEqual(inWarnings, Metrics.blindBaselineSeparates(lower: lower), "the report's rule is mia's")
            XCTAssertEqual(md.contains("> **Warning:** the blind baseline"), warns, "[\(lower), \(upper)]\n" + md)
            if !warns { XCTAssertTrue(md.contains("its 95% lower bound is not above 0.6"), md) }
        }
    }

    /// Members and non-members sharing texts: the inputs step's "overlap" finding gives the warning `mia` prints, in
    /// report.md and in `Report.warnings` (what `audit` prints).
    func testOverlapWarning() {
        var run = Fixture.report()
        XCTAssertFalse(Report.warnings(run).contains { $0.contains("among both the members and the non-members") })
        run.findings.append(FindingRecord(step: "inputs", kind: "overlap", dataset: "members+nonmembers", index: 0, itemID: nil,
                                          secret: nil, numbers: ["shared": 3]))
        let w = Report.warnings(run)
        XCTAssertEqual(w.first, "3 texts appear among both the members and the non-members: no attack can separate them, and the blind baseline sees each one's twin, so the AUCs above are distorted; remove the shared texts from one side.")
        XCTAssertTrue(Report.markdown(run, options: options).contains("> **Warning:** 3 texts appear among both"))
    }

    /// Fewer than 10 members or non-members: the AUC intervals are called too few to mean anything (one member gave
    /// AUC 1.000 [1.000, 1.000] with no warning before).
    func testTinySampleWarnings() throws {
        var run = Fixture.report()
        XCTAssertFalse(Report.warnings(run).contains { $0.hasPrefix("membership inference: too few") }, "20 + 20 texts")
        let m = try XCTUnwrap(run.datasets.firstIndex { $0.role == "members" })
        run.datasets[m].texts = 1
        let w = Report.warnings(run)
        XCTAssertTrue(w.contains { $0.hasPrefix("membership inference: too few to interval: 1 members and 20 non-members; with fewer than 10") }, "\(w)")
        XCTAssertTrue(Report.markdown(run, options: options).contains("> **Warning:** membership inference: too few to interval"))
        // The fixture's 3 traps (2 injected, 1 control) are too few too.
        XCTAssertTrue(w.contains { $0.hasPrefix("copyright traps: too few to interval: 2 injected traps and 1 never-injected controls") }, "\(w)")
    }

    func testEveryMetricAppears() {
        var run = Fixture.report()
        run.metrics.append(Fixture.metric("mia", "mia.loss.precision", 0.6, 0.5, 0.7, 40, "bootstrap 1000", "precision"))
        let md = Report.markdown(run, options: options)
        XCTAssertTrue(md.contains("## Other figures"))
        XCTAssertTrue(md.contains("| mia.loss.precision | precision | 0.600 [0.500, 0.700] | 40 |"), md)
    }

    func testNoThresholdsVerdict() {
        var run = Fixture.report(status: .passed)
        run.checks = []
        let md = Report.markdown(run, options: options)
        XCTAssertTrue(md.contains("**PASS (no thresholds): the audit finished, but its spec sets no thresholds"), md)
        XCTAssertTrue(md.contains("The spec sets no thresholds."))
    }

    func testTinyScoreSetsGiveFiniteCharts() {
        var run = RunReport(run: Fixture.report().run)
        run.scores = [TextScoreRecord(checkpoint: "target", dataset: "members", index: 0, attack: "loss", score: 1),
                      TextScoreRecord(checkpoint: "target", dataset: "nonmembers", index: 0, attack: "loss", score: 1)]
        let charts = Report.charts(run, options: options)
        XCTAssertEqual(charts.map(\.fileName), ["roc.svg", "roc-log.svg", "hist-loss.svg"])
        for c in charts {
            XCTAssertFalse(c.svg.contains("nan") || c.svg.contains("n/a") || c.svg.contains("inf"), c.svg)
            XCTAssertNoThrow(try XMLDocumentCheck.parse(c.svg))
        }
    }

    func testSummaryIsJSONWithNullsForNonFinite() throws {
        var run = Fixture.report()
        run.metrics.append(Fixture.metric("mia", "mia.zlib.auc", .nan, nil, nil, nil, "bootstrap 1000", "zlib"))
        run.run.durationSeconds = .infinity
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(Report.summaryJSON(run, options: options).utf8)) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["run", "checkpoints", "datasets", "steps", "checks", "metrics", "findings", "secrets_shown"])
        let metrics = try XCTUnwrap(json["metrics"] as? [String: [String: Any]])
        XCTAssertTrue(metrics["mia.zlib.auc"]?["value"] is NSNull)
        XCTAssertEqual(metrics["mia.loss.auc"]?["ci95"] as? [Double], [0.65, 0.81])
        XCTAssertTrue((json["run"] as? [String: Any])?["duration_s"] is NSNull)
        let findings = try XCTUnwrap(json["findings"] as? [[String: Any]])
        XCTAssertEqual(findings.count, run.findings.count)
        XCTAssertEqual(findings.compactMap { $0["secret"] as? String }.filter { $0 != Report.redacted }, [])
    }

    func testChartsOnlyWithData() {
        let empty = RunReport(run: Fixture.report().run)
        XCTAssertEqual(Report.charts(empty, options: options), [])
        XCTAssertFalse(Report.markdown(empty, options: options).contains("!["))
    }
}

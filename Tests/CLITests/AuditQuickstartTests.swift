// The README's quickstart audit (audits/quickstart.yml) on the real SmolLM2 checkpoint: the verdict, the console's
// warning and paths, the figures the README quotes, the JUnit failures, an HTML page without external URLs, and no canary in any report file.
import Foundation
import XCTest

final class AuditQuickstartTests: XCTestCase {
    func testQuickstartAuditOnSmolLM2() throws {
        let model = try cachedSmolLM2()
        let dir = scratchDirectory()
        let spec = repoRoot.appendingPathComponent("audits/quickstart.yml").path
        // The audit takes about 30-40 s on a quiet machine (36.5 s measured, 2 cores); a loaded one took over the old
        // 120 s guard. 600 s is over ten times the quiet duration: the guard catches a hang, it does not time the audit.
        let r = run(["audit", spec, "--db", dir.appendingPathComponent("db.sqlite").path, "--reports", dir.appendingPathComponent("reports").path],
                    timeout: 600)
        assertNoCrash(r, "audit quickstart")
        XCTAssertEqual(r.code, 1, "two thresholds are breached\n\(r.err)")
        XCTAssertTrue(r.out.hasPrefix("BREACH: 2 of 4 thresholds breached: mia.loss.auc = 0.898 [0.766, 0.988]"), r.out)
        let line = try XCTUnwrap(r.out.split(separator: "\n").first { $0.hasPrefix("report: ") })
        let report = URL(fileURLWithPath: String(line.dropFirst("report: ".count))).deletingLastPathComponent()
        // The console carries the report's blind-baseline warning and the path of every output, in a few lines.
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertLessThan(lines.count, 15, r.out)
        XCTAssertTrue(lines[0].hasPrefix("BREACH: "), r.out)
        XCTAssertTrue(lines.contains("warning: the blind baseline, which never queries the model, separates members from non-members with AUC 0.799 [0.619, 0.941]. Its 95% lower bound is above 0.6, so the member and non-member sets differ in distribution, and the attack AUCs above say little about what the model memorised."), r.out)
        for f in ["report.md", "report.html", "summary.json", "junit.xml"] {
            XCTAssertTrue(lines.contains { $0.hasSuffix(" " + report.appendingPathComponent(f).path) }, "\(f) in\n\(r.out)")
        }
        try checkReadmeShowsThisRun(console: lines, reportDirectory: report, scratch: dir)

        // The figures the README quotes.
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: report.appendingPathComponent("summary.json"))) as? [String: Any])
        let metrics = try XCTUnwrap(summary["metrics"] as? [String: [String: Any]])
        func value(_ key: String) throws -> Double { try XCTUnwrap(metrics[key]?["value"] as? Double, key) }
        XCTAssertEqual(try value("mia.loss.auc"), 0.898, accuracy: 0.0005)
        XCTAssertEqual(try value("mia.zlib.auc"), 0.949, accuracy: 0.0005)
        XCTAssertEqual(try value("mia.minkpp_0.2.auc"), 0.633, accuracy: 0.0005)
        XCTAssertEqual(try value("mia.blind_baseline.auc"), 0.799, accuracy: 0.0005)
        XCTAssertEqual(try value("extraction.exact.rate"), 0)
        XCTAssertEqual(try value("canary.exposure.max"), 1.9, accuracy: 0.05)
        let junit = try String(contentsOf: report.appendingPathComponent("junit.xml"), encoding: .utf8)
        XCTAssertTrue(junit.contains("tests=\"4\" failures=\"2\""), junit)

        let html = try String(contentsOf: report.appendingPathComponent("report.html"), encoding: .utf8)
        for external in ["http://", "https://", "<script", "<link", "url("] { XCTAssertFalse(html.contains(external), external) }
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 8, "ROC, log ROC, 4 histograms, exposure, extraction")

        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: repoRoot.appendingPathComponent("audits/quickstart/canaries.json"))) as? [String: Any])
        let canaries = try XCTUnwrap(manifest["canaries"] as? [[String: Any]]).compactMap { $0["text"] as? String }
        XCTAssertEqual(canaries.count, 6)
        for f in try FileManager.default.contentsOfDirectory(atPath: report.path) {
            let body = try String(contentsOf: report.appendingPathComponent(f), encoding: .utf8)
            for c in canaries { XCTAssertFalse(body.contains(c), "\(f) shows a canary") }
        }
    }

    /// The README's quickstart block (`$ scripts/quickstart.sh` and what it printed) is this console, line for line,
    /// once the run id and the scratch paths are put back as the README has them; and every line of its report.md
    /// excerpt ("[...]" aside) is a line of this run's report.md. So the README's figures cannot drift.
    func checkReadmeShowsThisRun(console: [String], reportDirectory: URL, scratch: URL) throws {
        let blocks = try ReadmeCommandsTests.blocks()
        let shown = try XCTUnwrap(blocks.first { $0.lines.first == "$ scripts/quickstart.sh" }, "the README's quickstart block")
        let readme = Array(shown.lines.dropFirst().filter { !$0.isEmpty })
        let readmeID = try XCTUnwrap(readme.last?.split(separator: " ").dropFirst().first.map(String.init))
        let id = reportDirectory.lastPathComponent
        let normalised = console.map {
            $0.replacingOccurrences(of: scratch.appendingPathComponent("reports").path, with: "reports")
                .replacingOccurrences(of: scratch.appendingPathComponent("db.sqlite").path, with: "reports/auditor.sqlite")
                .replacingOccurrences(of: id, with: readmeID)
        }
        XCTAssertEqual(normalised, readme, "README.md:\(shown.firstLine): the quickstart's console")
        let excerpt = try XCTUnwrap(blocks.first { $0.info == "markdown" && $0.lines.first?.hasPrefix("# Privacy audit: SmolLM2") == true })
        let md = try String(contentsOf: reportDirectory.appendingPathComponent("report.md"), encoding: .utf8).components(separatedBy: "\n")
        for l in excerpt.lines where !l.isEmpty && l != "[...]" {
            XCTAssertTrue(md.contains(l), "README.md:\(excerpt.firstLine): report.md has no line\n\(l)")
        }
    }
}

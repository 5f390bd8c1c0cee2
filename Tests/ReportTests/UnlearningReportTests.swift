// The unlearning pair's before/after report: a reviewed Markdown snapshot, the secrets of the forget and held-out
// sets absent unless asked for, the HTML self-contained, and the ROUGE-L of each row against a hand computation.
import Foundation
import Store
import XCTest
@testable import Report

final class UnlearningReportTests: XCTestCase {
    static let secret = "Mara Quell, mara.quell@example.org, account 7232-2066-7960"

    static func pair(retrained: Bool = false) -> UnlearningPair {
        var before = Fixture.report(status: .passed), after = Fixture.report(status: .passed)
        after.run.id = "20261122-160000-9b1c"
        for i in after.metrics.indices { after.metrics[i].value *= 0.5 }
        let figures: [String: Double] = [
            "forget.loss.before": 0.406, "forget.loss.after": 0.915, "retain.perplexity.before": 1.43, "retain.perplexity.after": 1.746,
            "retain.perplexity.increase": 0.221, "holdout.perplexity.before": 6.159, "holdout.perplexity.after": 7.13,
            "holdout.perplexity.increase": 0.158, "unlearn.seconds": 674, "verbmem.rougeL.before": 0.62, "verbmem.rougeL.after": 0.21,
            "verbmem.rougeL_recall.before": 0.64, "verbmem.rougeL_recall.after": 0.2, "privleak.auc.before": 0.81, "privleak.auc.after": 0.55,
            "privleak.reference.auc": retrained ? 0.52 : 0.5, "privleak.before": retrained ? 55.77 : 62, "privleak.after": retrained ? 5.77 : 10,
            "relearn.exact.rate.before": 0, "relearn.exact.rate.after": 0.3, "relearn.approximate.rate.before": 0.1,
            "relearn.approximate.rate.after": 0.5, "relearn.loss.before": 0.9, "relearn.loss.after": 0.5, "relearn.records": 10, "relearn.seconds": 42,
        ]
        before.findings[0].secret = secret
        let checks = [CheckRecord(expression: "retain.perplexity.increase <= 10%", metric: "retain.perplexity.increase", op: "<=", threshold: 0.1,
                                  value: 0.221, lower: nil, upper: nil, passed: false, message: "breached")]
        return UnlearningPair(name: "records, NPO", description: "Checkpoint `ft` -> `unlearned`; method **npo** (full); forget 20, retain 40, held-out 20 records",
                              stop: "step 16: retain perplexity 1.79 exceeded the bound 1.79; rolled back to step 14", figures: figures,
                              before: before, after: after, checks: checks,
                              generations: [UnlearningGeneration(prefix: "Mara Quell, mara.quell@example.org,", truth: " account 7232-2066-7960",
                                                                 before: " account 7232-2066-79", after: " phone 555-0100")],
                              secrets: [secret], retrained: retrained, seconds: 900, peakMemoryMiB: 4300)
    }

    func testMarkdownSnapshot() {
        assertSnapshot(Report.unlearningMarkdown(Self.pair(), options: ReportOptions()), named: "unlearning.md")
    }

    func testSecretsOnlyWithShowSecrets() throws {
        let p = Self.pair()
        for (show, expect) in [(false, false), (true, true)] {
            let md = Report.unlearningMarkdown(p, options: ReportOptions(showSecrets: show))
            let html = try Report.html(markdown: md, charts: [], title: "t")
            for text in [md, html] {
                for piece in ["7232-2066", "example.org", "Mara Quell"] {
                    XCTAssertEqual(text.contains(piece), expect, "showSecrets \(show): \(piece)")
                }
            }
        }
    }

    func testHTMLIsSelfContainedAndWritten() throws {
        var p = Self.pair()
        p.name = SafetyTests.hostile
        p.generations[0].after = SafetyTests.hostile
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unlearning-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for show in [false, true] {
            let files = try Report.writeUnlearning(p, to: dir.path, options: ReportOptions(showSecrets: show))
            XCTAssertEqual(files.map { ($0 as NSString).lastPathComponent }, ["unlearning.md", "unlearning.html"])
            SafetyTests.assertNoExternalRequests(try String(contentsOfFile: files[1], encoding: .utf8))
        }
    }

    func testPrivLeakSaysWhichReference() {
        XCTAssertTrue(Report.unlearningMarkdown(Self.pair(), options: ReportOptions()).contains("compared with 0.5 (chance)"))
        let r = Report.unlearningMarkdown(Self.pair(retrained: true), options: ReportOptions())
        XCTAssertTrue(r.contains("The reference is the retrained model's AUC, 0.52"))
        XCTAssertFalse(r.contains("compared with 0.5"))
    }

    /// ROUGE-L by hand: candidate "the cat sat on the mat", reference "the cat is on the mat": LCS "the cat on the mat"
    /// = 5 words of 6 each, precision = recall = 5/6, F1 5/6.
    func testRougeLByHand() {
        XCTAssertEqual(Report.rougeLF1("The cat sat on the mat.", "the cat is on the mat"), 5.0 / 6.0, accuracy: 1e-15)
        // "a b c d" against "b d e": LCS "b d" = 2; precision 2/4, recall 2/3, F1 = 2 * (1/2)(2/3) / (1/2 + 2/3) = 4/7.
        XCTAssertEqual(Report.rougeLF1("a b c d", "b d e"), 4.0 / 7.0, accuracy: 1e-15)
        XCTAssertEqual(Report.rougeLF1("", "b d e"), 0)
    }
}

// Markdown escaping: untrusted text renders literally through cmark-gfm; ROC points on hand-computed cases.
import Foundation
import Store
import XCTest
@testable import Report

final class EscapeTests: XCTestCase {
    func testMarkdownEscapes() {
        XCTAssertEqual(Escape.markdown("![x](http://e/a.png)"), #"\!\[x\]\(http\://e/a.png\)"#)
        XCTAssertEqual(Escape.markdown("a|b\nc"), #"a\|b c"#)
        XCTAssertEqual(Escape.markdown("- item"), #"\- item"#)
        XCTAssertEqual(Escape.markdown("12. item"), #"12\. item"#)
        XCTAssertEqual(Escape.markdown("see www.example.com"), #"see www\.example.com"#)
        XCTAssertEqual(Escape.markdown("data/members.jsonl, 0.5, 15:30:12, 0.3.0"), "data/members.jsonl, 0.5, 15:30:12, 0.3.0")
        XCTAssertEqual(Escape.markdown("*a* _b_ `c` <d> &amp; # e ~f~"), ##"\*a\* \_b\_ \`c\` \<d\> \&amp; \# e \~f\~"##)
    }

    /// Each string, escaped and rendered by cmark-gfm, must come back as exactly its own text in one paragraph.
    func testEscapedTextRendersLiterally() throws {
        let samples = [
            "![x](http://evil.example/a.png)", "[y](javascript:alert(1))", "<script>alert(1)</script>",
            "**bold** _it_ `code` ~~del~~", "# heading", "- list", "1. list", "> quote", "a | b | c",
            "www.example.com", "https://example.com/x", "&amp; &#65; \\* trailing\\",
            "---", "===", "ftp://example.com/f", "javascript:alert(1)", "1) x", "-12.5", "0.3.0", "2026-11-22T15:30:12Z", "+ plus", "<http://example.com>", "[ref]: http://example.com", "| --- |",
        ]
        for s in samples {
            let md = "x " + Escape.markdown(s) + "\n\n| h |\n|---|\n| " + Escape.markdown(s) + " |\n"
            let html = try Report.renderFragment(md)
            let expected = "<p>x " + s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;") + "</p>"
            XCTAssertTrue(html.hasPrefix(expected), "\(s) rendered as \(html)")
            XCTAssertFalse(html.contains("<a") || html.contains("<img") || html.contains("<em") || html.contains("<strong")
                           || html.contains("<code") || html.contains("<del"), "\(s) rendered as \(html)")
            XCTAssertEqual(html.components(separatedBy: "<td>").count, 2, "\(s) broke the table: \(html)")
        }
    }

    /// GFM's email autolink survives escaping (cmark-gfm merges the escaped text back); the page unlinks it.
    func testEmailIsUnlinkedInHTML() throws {
        let html = try Report.html(markdown: "x " + Escape.markdown("user@example.com") + "\n", charts: [], title: "t")
        XCTAssertTrue(html.contains("<p>x <span class=\"unlinked\">user@example.com</span></p>"), html)
        XCTAssertFalse(html.contains("<a"))
    }

    func testFenceIsLongerThanAnyBacktickRun() {
        XCTAssertEqual(Escape.fenced("a ``` b\n", info: "yaml"), "````yaml\na ``` b\n````\n")
        XCTAssertEqual(Escape.fenced("plain"), "```\nplain\n```\n")
    }

    func testNumbers() {
        XCTAssertEqual(Fmt.fixed(-0.0001, 3), "0.000")
        XCTAssertEqual(Fmt.fixed(.nan, 3), "n/a")
        XCTAssertEqual(Fmt.grouped(1_235_814_400), "1,235,814,400")
        XCTAssertEqual(Fmt.duration(754.25), "754.2 s (12 min 34.2 s)")
    }

    func testROCPointsWithTies() {
        // Thresholds 0.9, 0.5, 0.1: at 0.5 two members and one non-member tie and enter together.
        let pts = Report.rocPoints(members: [0.9, 0.5, 0.5], nonMembers: [0.5, 0.1])
        XCTAssertEqual(pts, [ROCPoint(fpr: 0, tpr: 0), ROCPoint(fpr: 0, tpr: 1.0 / 3), ROCPoint(fpr: 0.5, tpr: 1),
                             ROCPoint(fpr: 1, tpr: 1)])
        XCTAssertEqual(Report.rocPoints(members: [1, 1], nonMembers: [1]), [ROCPoint(fpr: 0, tpr: 0), ROCPoint(fpr: 1, tpr: 1)])
        XCTAssertEqual(Report.rocPoints(members: [0.2], nonMembers: [0.8, 0.4, 0.2, 0.1]),
                       [ROCPoint(fpr: 0, tpr: 0), ROCPoint(fpr: 0.25, tpr: 0), ROCPoint(fpr: 0.5, tpr: 0),
                        ROCPoint(fpr: 0.75, tpr: 1), ROCPoint(fpr: 1, tpr: 1)])
        XCTAssertEqual(Report.rocPoints(members: [], nonMembers: [1]), [])
    }

    func testPolylineSimplification() {
        let pts: [(Double, Double)] = [(0, 0), (0, 1), (0, 2), (0, 2.001), (1, 2), (2, 2), (3, 3)]
        XCTAssertEqual(SVGCanvas.simplify(pts).map { "\($0.0),\($0.1)" }, ["0.0,0.0", "0.0,2.0", "2.0,2.0", "3.0,3.0"])
    }

    func testMIAKeys() {
        XCTAssertEqual(Report.miaKey("mia.loss.tpr_at_fpr_0.1pct")?.attack, "loss")
        XCTAssertEqual(Report.miaKey("mia.loss.tpr_at_fpr_0.1pct")?.figure, "0.1pct")
        XCTAssertEqual(Report.miaKey("mia.minkpp_0.2.auc")?.attack, "minkpp_0.2")
        XCTAssertEqual(Report.miaKey("mia.minkpp_0.2.auc")?.figure, "auc")
        XCTAssertNil(Report.miaKey("extraction.exact.rate"))
    }
}

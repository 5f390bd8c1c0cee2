// Untrusted text cannot make the HTML load anything, and secrets never leave unless asked for.
import Foundation
import Store
import XCTest
@testable import Report

final class SafetyTests: XCTestCase {
    static let hostile = "<script>alert(1)</script> ![x](http://evil.example/a.png) [y](javascript:alert(1)) "
        + "<img src=\"https://evil.example/b.png\"> www.evil.example https://evil.example/c mail@evil.example"

    static func hostileReport() -> RunReport {
        var r = Fixture.report()
        r.run.name = hostile
        r.run.verdict = hostile
        r.run.specPath = hostile
        r.datasets[0].path = hostile
        r.checkpoints[0].path = hostile
        r.findings[0].itemID = hostile
        r.metrics[0].method = hostile
        r.run.specText += "\n# " + hostile + "\n"
        for i in r.scores.indices where r.scores[i].attack == "loss" { r.scores[i].attack = "<script>x</script>](http://evil.example)" }
        return r
    }

    /// Fails when `html` could make a browser fetch or navigate to anything.
    static func assertNoExternalRequests(_ html: String, file: StaticString = #filePath, line: UInt = #line) {
        let lower = html.lowercased()
        for bad in ["<script", "<link", "@import", "url(", "<iframe", "<object", "<embed", "<a ", "<img"] {
            XCTAssertFalse(lower.contains(bad), "HTML contains \(bad)", file: file, line: line)
        }
        let pattern = #"(src|href|srcset|xlink:href|action)\s*=\s*["']?\s*(https?:|//|javascript:|data:)"#
        let regex = try! NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
        let matches = regex.matches(in: html, range: NSRange(html.startIndex..., in: html))
        XCTAssertEqual(matches.count, 0, "HTML has an external src/href: \(matches.map { (html as NSString).substring(with: $0.range) })",
                       file: file, line: line)
    }

    func testFixtureHTMLIsSelfContained() throws {
        let r = Fixture.report()
        let html = try Report.html(markdown: Report.markdown(r, options: ReportOptions()),
                                   charts: Report.charts(r, options: ReportOptions()), title: "t")
        Self.assertNoExternalRequests(html)
        XCTAssertEqual(html.components(separatedBy: "<figure class=\"chart\">").count - 1, 6)
        XCTAssertFalse(html.contains("<img"))
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<meta charset=\"utf-8\">"))
        XCTAssertTrue(html.contains("<p class=\"verdict verdict-breach\"><strong>BREACH"))
        XCTAssertTrue(html.contains("<table>"), "tables must render (cmark-gfm table extension)")
    }

    func testHostileNamesAndPaths() throws {
        let r = Self.hostileReport()
        let md = Report.markdown(r, options: ReportOptions())
        let html = try Report.html(markdown: md, charts: Report.charts(r, options: ReportOptions()), title: Self.hostile)
        Self.assertNoExternalRequests(html)
        XCTAssertFalse(html.contains("<img"))
        XCTAssertFalse(html.contains("<a"), "no link may come out of untrusted text")
        // The text itself survives, shown literally.
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        XCTAssertTrue(html.contains("![x](http://evil.example/a.png)"))
        XCTAssertTrue(md.contains("\\<script\\>alert\\(1\\)\\</script\\>"))
        // The attack name reaches chart files, SVG text and the Markdown image syntax.
        let charts = Report.charts(r, options: ReportOptions())
        XCTAssertTrue(charts.contains { $0.fileName == "hist-_script_x__script___http___evil.example_.svg" }, "\(charts.map(\.fileName))")
        for c in charts {
            XCTAssertNoThrow(try XMLDocumentCheck.parse(c.svg), c.fileName)
            XCTAssertFalse(c.svg.contains("<script"), c.fileName)
        }
        XCTAssertEqual(html.components(separatedBy: "<figure class=\"chart\">").count - 1, charts.count)
    }

    func testUntrustedImagesAndLinksAreNeutralised() throws {
        // Markdown we did not escape (defence in depth): cmark keeps http images and links in safe mode.
        let md = "# t\n\n![x](http://evil.example/a.png) ![ok](roc.svg) [y](https://evil.example) [z](javascript:alert(1))\n\n<script>alert(1)</script>\n"
        let chart = Chart(fileName: "roc.svg", title: "ROC", svg: "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"></svg>\n")
        let html = try Report.html(markdown: md, charts: [chart], title: "t")
        Self.assertNoExternalRequests(html)
        XCTAssertTrue(html.contains("<figure class=\"chart\">\n<svg viewBox=\"0 0 1 1\"></svg>\n<figcaption>ok</figcaption>"))
        XCTAssertTrue(html.contains("[image not embedded: x]"))
        XCTAssertTrue(html.contains("<!-- raw HTML omitted -->"))
    }

    func testSecretsRedactedEverywhere() throws {
        var r = Fixture.report()
        r.run.specText += "\n# reminder: \(Fixture.canarySecret)\n"   // a secret that also appears in free text
        let dir = try tempDir()
        let files = try Report.write(r, to: dir + "/report", options: ReportOptions())
        XCTAssertEqual(files.count, 10)
        for path in files {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for secret in [Fixture.canarySecret, Fixture.extractionSecret, "493817", "99812", "the vault code"] {
                XCTAssertFalse(text.contains(secret), "\(path) leaks \(secret)")
            }
        }
        let md = try String(contentsOfFile: dir + "/report/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains(Escape.markdown(Report.redacted)))
    }

    func testSecretsShownWhenAsked() throws {
        let r = Fixture.report()
        let dir = try tempDir()
        _ = try Report.write(r, to: dir + "/report", options: ReportOptions(showSecrets: true))
        for name in ["report.md", "summary.json", "report.html"] {
            let text = try String(contentsOfFile: dir + "/report/" + name, encoding: .utf8)
            XCTAssertTrue(text.contains(Fixture.canarySecret), "\(name) lacks the canary text")
            XCTAssertTrue(text.contains(Fixture.extractionSecret), "\(name) lacks the generated text")
        }
    }
}

func tempDir() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("report-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

extension SafetyTests {
    /// The hostile report written to disk by the real writer (every file, charts included) is as safe as the strings
    /// checked above: no file can make a browser fetch anything, every SVG parses, the Markdown escapes the markup.
    /// With $AUDITOR_DUMP_HOSTILE set the files are written there (for eyeballing) instead of a scratch folder.
    func testHostileReportWrittenToDiskIsSafe() throws {
        let r = Self.hostileReport()
        let dir = try ProcessInfo.processInfo.environment["AUDITOR_DUMP_HOSTILE"] ?? (tempDir() + "/report")
        let files = try Report.write(r, to: dir, options: ReportOptions())
        XCTAssertTrue(files.contains { $0.hasSuffix("/report.md") } && files.contains { $0.hasSuffix("/report.html") }, "\(files)")
        for path in files {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            // JSON, CSV and XML carry the name as data in their own escaping, and report.md quotes the spec verbatim
            // in a code block (shown as text); the files a browser renders must not carry the tag.
            let rendered = [".html", ".svg"].contains { path.hasSuffix($0) }
            if rendered { XCTAssertFalse(text.contains("<script>alert(1)</script>"), "\(path) carries the raw script tag") }
            if path.hasSuffix(".html") || path.hasSuffix(".svg") { Self.assertNoExternalRequests(text) }
            if path.hasSuffix(".svg") { XCTAssertNoThrow(try XMLDocumentCheck.parse(text), path) }
        }
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the hostile name is shown literally")
        let md = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("\\<script\\>alert\\(1\\)\\</script\\>"))
    }
}

// write(): all files land, an existing report is replaced, no temporary directory stays behind.
import Foundation
import Store
import XCTest
@testable import Report

final class WriteTests: XCTestCase {
    func testWritesAllFiles() throws {
        let dir = try tempDir()
        let files = try Report.write(Fixture.report(), to: dir + "/runs/20261122-153012-7f3a", options: ReportOptions())
        XCTAssertEqual(files.map { ($0 as NSString).lastPathComponent },
                       ["report.md", "report.html", "summary.json", "junit.xml", "roc.svg", "roc-log.svg",
                        "hist-loss.svg", "hist-minkpp_0.2.svg", "exposure.svg", "extraction.svg"])
        for f in files { XCTAssertTrue(FileManager.default.fileExists(atPath: f), f) }
        let md = try String(contentsOfFile: files[0], encoding: .utf8)
        XCTAssertTrue(md.contains("](roc.svg)"))
    }

    func testReplacesExistingDirectoryAndCleansUp() throws {
        let dir = try tempDir()
        let target = dir + "/report"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try Data("stale".utf8).write(to: URL(fileURLWithPath: target + "/stale.txt"))
        try Data("stale".utf8).write(to: URL(fileURLWithPath: target + "/report.md"))

        _ = try Report.write(Fixture.report(), to: target, options: ReportOptions())
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/stale.txt"))
        XCTAssertTrue(try String(contentsOfFile: target + "/report.md", encoding: .utf8).hasPrefix("# Privacy audit:"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["report"])

        _ = try Report.write(Fixture.report(), to: target, options: ReportOptions())   // a second re-render
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["report"])
    }

    func testErrorNamesThePath() throws {
        let dir = try tempDir()
        let file = dir + "/not-a-dir"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try Report.write(Fixture.report(), to: file, options: ReportOptions())) { error in
            XCTAssertTrue("\(error)".contains(file), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["not-a-dir"])
    }
}

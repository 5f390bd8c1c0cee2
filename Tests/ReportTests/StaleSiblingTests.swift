// write() cleans what a writer that died midway left beside the report (hidden .NAME.tmp-* and .NAME.old-* folders),
// and writeFile names the errno of a failed write.
import Foundation
import XCTest
@testable import Report

final class StaleSiblingTests: XCTestCase {
    private func scratch() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("StaleSiblingTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    private func folder(_ path: String, holding file: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data(file.utf8).write(to: URL(fileURLWithPath: path + "/report.md"))
    }

    private func listing(_ dir: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

    func testParseSibling() {
        XCTAssertEqual(Report.parseSibling(".run-1.tmp-4242-0a1b2c3d")?.base, "run-1")
        XCTAssertEqual(Report.parseSibling(".run-1.tmp-4242-0a1b2c3d")?.kind, "tmp")
        XCTAssertEqual(Report.parseSibling(".run-1.tmp-4242-0a1b2c3d")?.pid, 4242)
        XCTAssertEqual(Report.parseSibling(".a.old-b.old-7-deadbeef")?.base, "a.old-b")   // the last marker counts
        XCTAssertEqual(Report.parseSibling(".legacy.tmp-0a1b2c3d")?.pid, nil)
        XCTAssertEqual(Report.parseSibling(".legacy.tmp-0a1b2c3d")?.base, "legacy")
        for name in [".hidden", ".x.tmp-", ".x.tmp-12-xyz", ".x.tmp-12-0A1B2C3D", ".tmp-12-0a1b2c3d", "x.tmp-0a1b2c3d",
                     ".x.tmp-0-0a1b2c3d", ".x.tmp--1-0a1b2c3d", ".x.bak-12-0a1b2c3d"] {
            XCTAssertNil(Report.parseSibling(name), name)
        }
    }

    /// Dead writers' leftovers go (an aside-moved report comes back when nothing replaced it); a live writer's stay.
    func testStaleSiblingsAreCleanedAndAMovedAsideReportRestored() throws {
        let dir = try scratch()
        try folder(dir + "/.gone.tmp-111-0a1b2c3d", holding: "partial")
        try folder(dir + "/.kept.old-111-0a1b2c3d", holding: "previous")       // the crash hit between the two renames
        try folder(dir + "/.both.old-111-0a1b2c3d", holding: "older")          // the new one did land
        try folder(dir + "/both", holding: "new")
        try folder(dir + "/.busy.tmp-222-0a1b2c3d", holding: "being written")   // pid 222 is alive
        try folder(dir + "/.legacy.tmp-0a1b2c3d", holding: "partial")           // no pid: an older build's
        try folder(dir + "/.hidden", holding: "not ours")
        Report.cleanStaleSiblings(in: URL(fileURLWithPath: dir), isAlive: { $0 == 222 })
        XCTAssertEqual(try listing(dir), [".busy.tmp-222-0a1b2c3d", ".hidden", "both", "kept"])
        XCTAssertEqual(try String(contentsOfFile: dir + "/kept/report.md", encoding: .utf8), "previous")
        XCTAssertEqual(try String(contentsOfFile: dir + "/both/report.md", encoding: .utf8), "new")
    }

    /// write() cleans its folder first: before the fix the leftovers of a killed writer stayed for ever.
    func testWriteCleansLeftoversOfAKilledWriter() throws {
        let dir = try scratch()
        // A process that has exited: its pid names no live process (pids are not reused this fast).
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = p.processIdentifier
        try folder(dir + "/.20261122-0001.tmp-\(dead)-0a1b2c3d", holding: "partial")
        try folder(dir + "/.20261122-0002.old-\(dead)-0a1b2c3d", holding: "previous")
        _ = try Report.write(Fixture.report(), to: dir + "/20261122-0003", options: ReportOptions())
        XCTAssertEqual(try listing(dir), ["20261122-0002", "20261122-0003"])
    }

    func testWriteFileNamesTheErrno() throws {
        let dir = try scratch()
        XCTAssertNil(Report.writeFile(dir + "/a", Array("x".utf8)))
        XCTAssertEqual(try String(contentsOfFile: dir + "/a", encoding: .utf8), "x")
        XCTAssertEqual(Report.writeFile(dir + "/a", [1]), "File exists")   // never overwrites
        XCTAssertEqual(Report.writeFile(dir + "/missing/b", [1]), "No such file or directory")
    }

    /// The pre-flight check: creates a missing folder, refuses a path that cannot hold one, leaves no probe behind.
    func testCheckWritable() throws {
        let dir = try scratch()
        XCTAssertNoThrow(try Report.checkWritable(folder: dir + "/new/reports"))
        XCTAssertEqual(try listing(dir + "/new/reports"), [])
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        XCTAssertThrowsError(try Report.checkWritable(folder: dir + "/file")) { e in
            XCTAssertTrue("\(e)".contains(dir + "/file"), "\(e)")
            XCTAssertTrue("\(e)".contains("cannot create the reports folder"), "\(e)")
        }
    }
}

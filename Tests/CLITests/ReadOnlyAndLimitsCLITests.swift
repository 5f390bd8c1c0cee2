// The store and the reports folder under hostile conditions, end to end with the built binary: a store on a read-only
// mount is readable by history/diff/report; an unwritable reports folder is refused before any model work; a file-size
// limit (ulimit -f) gives a clean error with nothing hidden left behind instead of a SIGXFSZ kill.
import Foundation
import Store
import XCTest

/// `makeReadOnly` of StoreTests (another test target): a read-only bind mount as root, else chmod; returns the undo.
private func readOnly(_ dir: String) throws -> () -> Void {
    func run(_ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
    if getuid() == 0 {
        guard run(["mount", "--bind", dir, dir]) == 0 else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("cannot bind-mount \(dir) as root") }
            throw XCTSkip("root without mount permission: cannot make \(dir) read-only")
        }
        guard run(["mount", "-o", "remount,bind,ro", dir]) == 0 else {
            _ = run(["umount", dir])
            XCTFail("cannot remount \(dir) read-only")
            throw XCTSkip("no read-only remount")
        }
        return { _ = run(["umount", dir]) }
    }
    let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    for f in files { chmod(dir + "/" + f, 0o444) }
    chmod(dir, 0o555)
    return { chmod(dir, 0o755); for f in files { chmod(dir + "/" + f, 0o644) } }
}

final class ReadOnlyAndLimitsCLITests: XCTestCase {
    /// A store holding one finished run (made through the Store API: no model work needed to read it back).
    private func makeStore(in dir: URL) throws -> (db: String, id: String) {
        let db = dir.appendingPathComponent("runs.sqlite").path
        let id = "20261130-120000-abcd"
        let store = try Store(path: db)
        try store.beginRun(RunRecord(id: id, name: "read-only", specPath: "audit.yml", specSHA256: String(repeating: "ab", count: 32),
                                     specText: "version: 1\nname: read-only\nreport:\n  title: On a read-only mount\n", seed: 1,
                                     auditorVersion: "test", machine: "test", host: "test-host", pid: 1,
                                     startedAt: "2026-11-30T12:00:00Z"))
        try store.finishRun(id: id, status: .passed, verdict: "all 0 thresholds hold", finishedAt: "2026-11-30T12:00:01Z",
                            durationSeconds: 1)
        return (db, id)
    }

    func testHistoryDiffAndReportReadAStoreOnAReadOnlyMount() throws {
        let dir = scratchDirectory()
        let storeDir = dir.appendingPathComponent("store")
        try FileManager.default.createDirectory(at: storeDir, withIntermediateDirectories: true)
        let (db, id) = try makeStore(in: storeDir)
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let undo = try readOnly(storeDir.path)
        defer { undo() }

        let h = run(["history", "--db", db])
        XCTAssertEqual(h.code, 0, h.err)
        XCTAssertTrue(h.out.contains(id) && h.out.contains("passed"), h.out)
        let d = run(["diff", id, id, "--db", db])
        XCTAssertEqual(d.code, 0, d.err)
        let reports = dir.appendingPathComponent("reports").path
        let r = run(["report", id, "--db", db, "--reports", reports])
        XCTAssertEqual(r.code, 0, r.err)
        let md = (try? String(contentsOfFile: reports + "/\(id)/report.md", encoding: .utf8)) ?? ""
        XCTAssertTrue(md.contains("On a read-only mount"), md)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before)
    }

    /// An audit spec of the tiny llama with every step (its report.html is about 60 KiB).
    private func writeSpec(in dir: URL) throws -> String {
        let quickstart = repoRoot.appendingPathComponent("audits/quickstart").path
        let spec = dir.appendingPathComponent("audit.yml").path
        try Data("""
            version: 1
            name: hostile conditions
            seed: 1
            target:
              checkpoint: \(fixture("tiny/llama"))
            datasets:
              members: \(quickstart)/members.jsonl
              nonmembers: \(quickstart)/nonmembers.jsonl
              extraction: \(quickstart)/members.jsonl
              canaries: \(quickstart)/canaries.json
            attacks:
              mia: {attacks: [loss, zlib, mink, minkpp], resamples: 50}
              extraction: {prefix: [4, 8], suffix: 4, n: 10}
              canary: {references: 100}
            thresholds: ['mia.loss.auc <= 1.0']

            """.utf8).write(to: URL(fileURLWithPath: spec))
        return spec
    }

    /// Before the fix the whole audit ran, was stored, and only then failed to write its report.
    func testUnwritableReportsFolderIsRefusedBeforeTheAudit() throws {
        let dir = scratchDirectory()
        let reports = dir.appendingPathComponent("reports")
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        let spec = try writeSpec(in: dir)
        let db = dir.appendingPathComponent("runs.sqlite").path
        let undo = try readOnly(reports.path)
        defer { undo() }
        let r = run(["audit", spec, "--db", db, "--reports", reports.path])
        assertNoCrash(r, "audit")
        XCTAssertEqual(r.code, 2, r.err)
        let why = getuid() == 0 ? "Read-only file system" : "Permission denied"
        XCTAssertEqual(r.err, "auditor: error: cannot write report at \(reports.path): cannot write in the reports folder "
                       + "(\(why)); choose another with --reports\n")
        XCTAssertFalse(r.err.contains("progress"), "model work started:\n\(r.err)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "a run was recorded")
    }

    /// `ulimit -f`: the write fails with EFBIG (SIGXFSZ ignored), the temporary folder goes, the error says why.
    /// Before the fix the process died of SIGXFSZ and left a hidden .RUN.tmp-* folder.
    func testFileSizeLimitGivesACleanErrorAndLeavesNothingHidden() throws {
        let dir = scratchDirectory()
        let db = dir.appendingPathComponent("runs.sqlite").path
        let made = run(["audit", try writeSpec(in: dir), "--db", db, "--reports", dir.appendingPathComponent("made").path])
        XCTAssertEqual(made.code, 0, made.err)
        let reports = dir.appendingPathComponent("reports").path
        try FileManager.default.createDirectory(atPath: reports, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        // 40 KiB (bash counts KiB): room for the 32 KiB -shm file that reading a WAL store makes, not for report.html.
        p.arguments = ["-c", "ulimit -f 40; exec \"$0\" \"$@\"", auditorBinary.path, "report", "latest", "--db", db, "--reports", reports]
        let err = dir.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let h = try FileHandle(forWritingTo: err)
        defer { try? h.close() }
        p.standardError = h
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationReason, .exit, "killed by signal \(p.terminationStatus)")
        XCTAssertEqual(p.terminationStatus, 2, stderr)
        XCTAssertTrue(stderr.hasPrefix("auditor: error: cannot write report at \(reports)/"), stderr)
        XCTAssertTrue(stderr.contains("File too large (the file-size limit, ulimit -f, is too small for the report)"), stderr)
        XCTAssertEqual(stderr.filter { $0 == "\n" }.count, 1, stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: reports), [])
    }
}

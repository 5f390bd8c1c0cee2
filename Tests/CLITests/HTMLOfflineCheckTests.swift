// scripts/check-html-offline.sh in a real headless Chromium (Debian `chromium`, installed by scripts/setup.sh): a report
// rendered by `auditor report` from a run whose names carry external images, links and scripts makes no request beyond
// an empty page's, and a page with an external image is caught. Without Chromium: a skip locally, a failure under CI.
import Foundation
import Store
import XCTest

final class HTMLOfflineCheckTests: XCTestCase {
    static let script = repoRoot.appendingPathComponent("scripts/check-html-offline.sh").path

    /// Runs the script on `files`; (exit status, stdout + stderr). The hang guard is far beyond its few seconds per page.
    private func check(_ files: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Self.script] + files
        let log = scratchDirectory().appendingPathComponent("log")
        try Data().write(to: log)
        let h = try FileHandle(forWritingTo: log)
        defer { try? h.close() }
        p.standardOutput = h; p.standardError = h
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        try p.run()
        if done.wait(timeout: .now() + .seconds(900)) == .timedOut { p.terminate(); p.waitUntilExit(); XCTFail("check-html-offline.sh hung") }
        return (p.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    private func chromiumPresent() -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/chromium") }
    }

    func testRenderedReportMakesNoRequestAndALeakIsCaught() throws {
        guard chromiumPresent() else {
            let why = "chromium is not installed (scripts/setup.sh installs it)"
            if ProcessInfo.processInfo.environment["CI"] != nil { return XCTFail("CI: \(why)") }
            throw XCTSkip(why)
        }
        let dir = scratchDirectory(), db = dir.appendingPathComponent("runs.sqlite").path
        let hostile = "<img src=\"http://leak.example.invalid/a.png\"> ![x](https://leak.example.invalid/b.png) "
            + "<script src=\"https://leak.example.invalid/c.js\"></script> [y](http://leak.example.invalid/d)"
        let store = try Store(path: db)
        let id = "20261130-120000-eeee"
        try store.beginRun(RunRecord(id: id, name: hostile, specPath: hostile, specSHA256: String(repeating: "0", count: 64),
                                     specText: "name: x\n# \(hostile)\n", seed: 0, auditorVersion: "test", machine: "test",
                                     host: "test", pid: 1, startedAt: "2026-11-30T12:00:00Z"))
        try store.commitStep(runID: id, step: StepRecord(name: "mia", finishedAt: "2026-11-30T12:00:01Z", seconds: 1),
                             metrics: [MetricRecord(step: "mia", key: "mia.loss.auc", value: 0.6, lower: 0.5, upper: 0.7, n: 40,
                                                    method: hostile, label: "LOSS attack, ROC AUC")])
        try store.finishRun(id: id, status: .passed, verdict: hostile, finishedAt: "2026-11-30T12:00:02Z", durationSeconds: 2)
        let reports = dir.appendingPathComponent("reports").path
        let r = run(["report", id, "--db", db, "--reports", reports])
        XCTAssertEqual(r.code, 0, r.err)
        let html = reports + "/\(id)/report.html"
        XCTAssertTrue(try String(contentsOfFile: html, encoding: .utf8).contains("leak.example.invalid"), "the hostile text is in the page, as text")

        let ok = try check([html])
        XCTAssertEqual(ok.0, 0, ok.1)
        XCTAssertTrue(ok.1.contains("ok   \(html)"), ok.1)

        // The same kind of page with a live external image: the check must see it (its own control is separate).
        let leaky = dir.appendingPathComponent("leaky.html")
        try Data("<!DOCTYPE html><html><body><img src=\"http://leak2.example.invalid/x.png\"></body></html>".utf8).write(to: leaky)
        let bad = try check([leaky.path])
        XCTAssertEqual(bad.0, 1, bad.1)
        XCTAssertTrue(bad.1.contains("FAIL") && bad.1.contains("leak2.example.invalid"), bad.1)
    }
}

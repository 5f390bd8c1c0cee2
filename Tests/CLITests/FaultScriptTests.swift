// Runs scripts/faults.sh (kill -9, SIGINT/SIGTERM, concurrent audits, corrupt/read-only stores, full disk, huge
// integers, a FIFO checkpoint, bad canary manifests) against the binary this test run built, so that CI runs it.
import Foundation
import XCTest

final class FaultScriptTests: XCTestCase {
    func testFaultScriptPasses() throws {
        let dir = scratchDirectory()
        let log = dir.appendingPathComponent("log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        defer { try? h.close() }
        let p = Process()
        p.executableURL = repoRoot.appendingPathComponent("scripts/faults.sh")
        p.arguments = [auditorBinary.path]
        p.standardOutput = h
        p.standardError = h
        p.standardInput = FileHandle.nullDevice
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = dir.path
        env.removeValue(forKey: "AUDITOR_MODEL")
        p.environment = env
        let finished = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in finished.signal() }
        try p.run()
        // A hang guard, not a timing test: the script takes about a minute on a quiet machine.
        if finished.wait(timeout: .now() + .seconds(900)) == .timedOut {
            p.terminate()
            p.waitUntilExit()
            XCTFail("scripts/faults.sh ran past 900 s and was stopped")
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationReason, .exit, text)
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertFalse(text.contains("FAIL"), text)
        let last = text.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("faults.sh: all ") && last.hasSuffix(" checks passed"), text)
        // Every case ran: at least the checks a non-root run makes (root adds the full tmpfs).
        let n = Int(last.dropFirst("faults.sh: all ".count).prefix { $0.isNumber }) ?? 0
        XCTAssertGreaterThanOrEqual(n, 40, text)
    }
}

// examples/ci/: the GitHub Actions and GitLab CI jobs parse as YAML and do what the README says: install with
// scripts/setup.sh, cache the model, build in release, call `auditor audit` directly (not quickstart.sh, which turns
// a breach into exit 0), and upload report.html, junit.xml and summary.json whatever the outcome.
import Foundation
import XCTest
import Yams

final class CIExamplesTests: XCTestCase {
    private func load(_ name: String) throws -> [String: Any] {
        let path = repoRoot.appendingPathComponent("examples/ci").appendingPathComponent(name).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any], "\(name): not a YAML mapping")
    }

    /// The audit command of a job: it runs `auditor audit` on a spec that exists, never quickstart.sh.
    private func checkCommands(_ commands: [String], _ what: String) {
        XCTAssertTrue(commands.contains { $0.contains("scripts/setup.sh") }, "\(what): installs with scripts/setup.sh")
        XCTAssertTrue(commands.contains { $0.contains("swift build -c release") }, "\(what): release build")
        let audit = commands.filter { $0.contains("auditor audit ") }
        XCTAssertEqual(audit.count, 1, "\(what): one `auditor audit` command in \(commands)")
        if let a = audit.first {
            XCTAssertTrue(a.hasPrefix(".build/release/auditor audit audits/quickstart.yml"), a)
            XCTAssertFalse(a.contains("||") || a.contains("; true") || a.contains("exit 0"), "\(what): the exit status must gate: \(a)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: repoRoot.appendingPathComponent("audits/quickstart.yml").path))
        XCTAssertFalse(commands.contains { $0.contains("quickstart.sh") }, "\(what): quickstart.sh turns exit 1 into 0")
    }

    private func checkArtifacts(_ paths: [String], _ what: String) {
        for f in ["report.html", "junit.xml", "summary.json"] {
            XCTAssertTrue(paths.contains("reports/*/" + f), "\(what): uploads \(f): \(paths)")
        }
    }

    func testGitHubActionsJob() throws {
        let doc = try load("github-actions.yml")
        let jobs = try XCTUnwrap(doc["jobs"] as? [String: Any])
        let job = try XCTUnwrap(jobs["audit"] as? [String: Any])
        let steps = try XCTUnwrap(job["steps"] as? [[String: Any]])
        checkCommands(steps.compactMap { $0["run"] as? String }, "github")
        let cache = try XCTUnwrap(steps.first { ($0["uses"] as? String)?.hasPrefix("actions/cache@") == true }, "a cache step")
        XCTAssertEqual((cache["with"] as? [String: Any])?["path"] as? String, "~/.cache/auditor")
        let upload = try XCTUnwrap(steps.first { ($0["uses"] as? String)?.hasPrefix("actions/upload-artifact@") == true })
        XCTAssertEqual(upload["if"] as? String, "always()", "the report is uploaded on a breach too")
        let paths = ((upload["with"] as? [String: Any])?["path"] as? String ?? "").split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        checkArtifacts(paths, "github")
        // The upload comes after the audit, so that it sees the report.
        let auditIndex = try XCTUnwrap(steps.firstIndex { ($0["run"] as? String)?.contains("auditor audit") == true })
        XCTAssertLessThan(auditIndex, try XCTUnwrap(steps.firstIndex { ($0["uses"] as? String)?.hasPrefix("actions/upload-artifact@") == true }))
    }

    func testGitLabCIJob() throws {
        let doc = try load("gitlab-ci.yml")
        let job = try XCTUnwrap(doc["privacy-audit"] as? [String: Any])
        let commands = (job["before_script"] as? [String] ?? []) + (job["script"] as? [String] ?? [])
        checkCommands(commands, "gitlab")
        let cache = try XCTUnwrap(job["cache"] as? [String: Any])
        XCTAssertEqual(cache["paths"] as? [String], [".cache/auditor/"])
        XCTAssertEqual((job["variables"] as? [String: Any])?["AUDITOR_CACHE"] as? String, "$CI_PROJECT_DIR/.cache/auditor")
        let artifacts = try XCTUnwrap(job["artifacts"] as? [String: Any])
        XCTAssertEqual(artifacts["when"] as? String, "always")
        checkArtifacts(artifacts["paths"] as? [String] ?? [], "gitlab")
        XCTAssertEqual((artifacts["reports"] as? [String: Any])?["junit"] as? String, "reports/*/junit.xml")
    }
}

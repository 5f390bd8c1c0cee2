// The commands with --endpoint against a REAL vLLM server (scripts/vllm-server.sh; AUDITOR_VLLM_URL): score agrees with
// the local folder, mia and audit report Min-K%++ unavailable, and a server that is not there is exit 2 in one line.
import Foundation
import XCTest

/// In CI a missing server fails the test (a thrown error), never a skip.
struct RemoteServerMissing: Error, CustomStringConvertible { let message: String; var description: String { message } }

final class RemoteCLITests: XCTestCase {
    /// (url, served model name, the HF folder it serves); skipped locally without a server, a failure under CI=true.
    private func server() throws -> (url: String, model: String, folder: String) {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["AUDITOR_VLLM_URL"], !url.isEmpty else {
            let why = "AUDITOR_VLLM_URL is unset: scripts/test.sh starts the vLLM server (scripts/vllm-server.sh start) and sets it"
            if env["CI"] == "true" { throw RemoteServerMissing(message: "CI=true: \(why)") }
            throw XCTSkip(why)
        }
        let cache = env["AUDITOR_CACHE"] ?? NSHomeDirectory() + "/.cache/auditor"
        return (url, env["AUDITOR_VLLM_MODEL"] ?? "smollm2", env["AUDITOR_VLLM_MODEL_DIR"] ?? cache + "/models/SmolLM2-135M-Instruct-f32-hf")
    }

    private var members: String { repoRoot.appendingPathComponent("audits/quickstart/members.jsonl").path }
    private var nonmembers: String { repoRoot.appendingPathComponent("audits/quickstart/nonmembers.jsonl").path }

    private func lines(_ out: String) throws -> [[String: Any]] {
        try out.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    func testScoreThroughServerAgreesWithLocalFolder() throws {
        let s = try server()
        let remote = run(["score", "--endpoint", s.url, "--served-model", s.model, "--concurrency", "4", "-i", members], timeout: 300)
        XCTAssertEqual(remote.code, 0, remote.err)
        let local = run(["score", s.folder, "-i", members], timeout: 300)
        XCTAssertEqual(local.code, 0, local.err)
        let a = try lines(remote.out), b = try lines(local.out)
        XCTAssertEqual(a.count, 16)
        XCTAssertEqual(a.count, b.count)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x["tokens"] as? Int, y["tokens"] as? Int)
            // Measured here: worst 9.4e-6 over 16 texts; bar 1e-4 (11x).
            XCTAssertEqual(try XCTUnwrap(x["nll"] as? Double), try XCTUnwrap(y["nll"] as? Double), accuracy: 1e-4)
        }
    }

    func testMIAThroughServerSaysMinKPlusPlusIsUnavailable() throws {
        let s = try server()
        let r = run(["mia", "--endpoint", s.url, "--served-model", s.model, "--members", members, "--nonmembers", nonmembers,
                     "--resamples", "100", "--no-lowercase"], timeout: 300)
        XCTAssertEqual(r.code, 0, r.err)
        let o = try XCTUnwrap(try lines(r.out).first)
        let names = try XCTUnwrap(o["attacks"] as? [[String: Any]]).compactMap { $0["attack"] as? String }
        XCTAssertEqual(names, ["loss", "zlib", "mink_0.2"])
        let unavailable = try XCTUnwrap(o["unavailable"] as? [String: String])
        XCTAssertTrue(unavailable["minkpp"]?.contains("whole vocabulary") == true, "\(unavailable)")
    }

    func testExtractThroughServerAgreesWithLocalFolder() throws {
        let s = try server()
        let args = ["extract", "-i", members, "--prefix", "8", "--suffix", "8", "--top-k", "40", "--n", "100"]
        let remote = run(args + ["--endpoint", s.url, "--served-model", s.model], timeout: 300)
        XCTAssertEqual(remote.code, 0, remote.err)
        let local = run(args + [s.folder], timeout: 300)
        XCTAssertEqual(local.code, 0, local.err)
        let a = try XCTUnwrap(try lines(remote.out).first), b = try XCTUnwrap(try lines(local.out).first)
        let sa = try XCTUnwrap(a["summary"] as? [String: Any]), sb = try XCTUnwrap(b["summary"] as? [String: Any])
        for key in ["exact", "approximate", "np_discoverable"] {
            XCTAssertEqual((sa[key] as? [String: Any])?["count"] as? Int, (sb[key] as? [String: Any])?["count"] as? Int, key)
        }
        let ra = try XCTUnwrap(a["samples"] as? [[String: Any]]), rb = try XCTUnwrap(b["samples"] as? [[String: Any]])
        XCTAssertEqual(ra.count, 16)
        for (x, y) in zip(ra, rb) {
            XCTAssertEqual(x["exact"] as? Bool, y["exact"] as? Bool)
            let px = x["log10_pz"] as? Double, py = y["log10_pz"] as? Double
            // Measured here: worst 1.2e-5; bar 1.5e-4, about 12x (was 1e-3).
            if let px, let py { XCTAssertEqual(px, py, accuracy: 1.5e-4) } else { XCTAssertTrue(px == nil && py == nil, "\(x) \(y)") }
        }
    }

    func testCanaryExposureThroughServerAgreesWithLocalFolder() throws {
        let s = try server()
        let dir = scratchDirectory()
        let manifest = dir.appendingPathComponent("canaries.json").path
        let g = run(["canary", "generate", "--format", "my PIN is {digits:2}", "--repetitions", "1", "--per-repetition", "2",
                     "--seed", "4", "-o", manifest])
        XCTAssertEqual(g.code, 0, g.err)
        // 100 candidates each: exact enumeration, every one scored through the server.
        let remote = run(["canary", "exposure", "--manifest", manifest, "--endpoint", s.url, "--served-model", s.model], timeout: 600)
        XCTAssertEqual(remote.code, 0, remote.err)
        let local = run(["canary", "exposure", s.folder, "--manifest", manifest], timeout: 600)
        XCTAssertEqual(local.code, 0, local.err)
        let a = try XCTUnwrap(try lines(remote.out).first?["canaries"] as? [[String: Any]])
        let b = try XCTUnwrap(try lines(local.out).first?["canaries"] as? [[String: Any]])
        XCTAssertEqual(a.count, 2)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x["method"] as? String, "exact")
            // Measured: equal (exposure moves in steps of at least log2(100/99) = 0.0145 bits here, so 1e-3 means equal).
            XCTAssertEqual(try XCTUnwrap((x["exposure"] as? [String: Any])?["value"] as? Double),
                           try XCTUnwrap((y["exposure"] as? [String: Any])?["value"] as? Double), accuracy: 1e-3)
        }
    }

    func testAuditWithEndpointReportsMinKPlusPlusUnavailable() throws {
        let s = try server()
        let dir = scratchDirectory()
        let spec = dir.appendingPathComponent("audit.yml")
        try """
            version: 1
            name: served quickstart data
            seed: 7
            target: {checkpoint: \(s.folder)}
            datasets: {members: \(members), nonmembers: \(nonmembers)}
            attacks:
              mia: {attacks: [loss, minkpp], resamples: 100}
            thresholds:
              - mia.minkpp_0.2.auc <= 0.60
            """.write(to: spec, atomically: true, encoding: .utf8)
        let r = run(["audit", spec.path, "--endpoint", s.url, "--served-model", s.model, "--db", dir.appendingPathComponent("db.sqlite").path,
                     "--reports", dir.appendingPathComponent("reports").path], timeout: 300)
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.out.contains("mia.minkpp_0.2.auc was not produced (unavailable: Min-K%++ needs whole-vocabulary statistics"), r.out)
        XCTAssertTrue(r.err.contains("its figures are reported unavailable"), r.err)
        let report = try String(contentsOf: try XCTUnwrap(FileManager.default.enumerator(at: dir.appendingPathComponent("reports"), includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.first { $0.lastPathComponent == "report.md" }), encoding: .utf8)
        XCTAssertTrue(report.contains("served model \(s.model)"), report)
        XCTAssertTrue(report.contains("could not be hashed"), report)
    }

    func testServerNotThereIsExitTwoInOneLine() throws {
        let r = run(["score", "--endpoint", "http://127.0.0.1:9", "--served-model", "x", "-i", members], timeout: 120)
        XCTAssertEqual(r.code, 2, r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        XCTAssertTrue(r.err.hasPrefix("auditor: error: http://127.0.0.1:9/v1/models: no answer"), r.err)
        let both = run(["score", "--endpoint", "http://127.0.0.1:9", "-i", members])
        XCTAssertEqual(both.code, 64, "--endpoint without --served-model is a usage error\n\(both.err)")
    }
}

// The spec's served target, `target: {endpoint: URL, model: NAME, ...}`: parsed, checked key by key with file:line:column
// errors, and the checkpoint form unchanged. No server needed.
import Audit
import Foundation
import XCTest

final class EndpointSpecTests: XCTestCase {
    private func write(_ target: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("endpoint-spec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try "{}".write(to: dir.appendingPathComponent("tokenizer.json"), atomically: true, encoding: .utf8)
        try "x".write(to: dir.appendingPathComponent("model.gguf"), atomically: true, encoding: .utf8)
        try "{\"text\": \"a b c\"}\n".write(to: dir.appendingPathComponent("t.jsonl"), atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("audit.yml").path
        try "version: 1\nname: served\ntarget: \(target)\ndatasets: {members: t.jsonl, nonmembers: t.jsonl}\nattacks: {mia: {attacks: [loss]}}\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func error(_ target: String) throws -> String {
        let path = try write(target)
        do { _ = try loadAuditSpec(path); return "no error" } catch { return "\(error)".replacingOccurrences(of: path, with: "SPEC") }
    }

    func testEndpointTargetIsParsed() throws {
        let s = try loadAuditSpec(try write("{endpoint: \"http://127.0.0.1:8000/v1\", model: smol, tokenizer: tokenizer.json, api_key_env: VLLM_KEY, concurrency: 8}"))
        let e = try XCTUnwrap(s.targetEndpoint)
        XCTAssertEqual(e.url, "http://127.0.0.1:8000/v1")
        XCTAssertEqual(e.model, "smol")
        XCTAssertTrue(e.tokenizer?.hasSuffix("/tokenizer.json") == true, "resolved against the spec's folder")
        XCTAssertEqual(e.apiKeyEnv, "VLLM_KEY")
        XCTAssertEqual(e.concurrency, 8)
        XCTAssertEqual(s.target, e.url)
        XCTAssertFalse(s.targetIsDefault)
        let plain = try loadAuditSpec(try write("{checkpoint: model.gguf}"))
        XCTAssertNil(plain.targetEndpoint)
        XCTAssertTrue(plain.target.hasSuffix("/model.gguf"))
    }

    func testBadEndpointTargetsNameThePlace() throws {
        XCTAssertEqual(try error("{endpoint: \"http://h:1\"}"),
                       "SPEC:3:9: target: missing key 'model' (the served model's name, as the server's /v1/models lists it)")
        XCTAssertEqual(try error("{endpoint: \"ftp://h\", model: m}"),
                       "SPEC:3:20: target.endpoint: expected an http(s) URL such as http://127.0.0.1:8000, got 'ftp://h'")
        XCTAssertEqual(try error("{checkpoint: model.gguf, model: m}"),
                       "SPEC:3:34: target.model: goes with 'endpoint' (a served model), not with 'checkpoint'")
        XCTAssertEqual(try error("{endpoint: \"http://h:1\", model: m, api_key_env: \"sk-abc 123\"}"),
                       "SPEC:3:57: target.api_key_env: expected the name of an environment variable (letters, digits, _), not the key itself")
        XCTAssertEqual(try error("{endpoint: \"http://h:1\", model: m, concurrency: 0}"),
                       "SPEC:3:57: target.concurrency: expected an integer in [1, 256], got 0")
        XCTAssertTrue(try error("{endpoint: \"http://h:1\", model: m, modle: x}").contains(
            "unknown key 'modle' in target; did you mean 'model'? (expected one of: checkpoint, endpoint, model, tokenizer, api_key_env, concurrency)"))
        XCTAssertEqual(try error("{endpoint: \"http://h:1\", model: m, checkpoint: model.gguf}"),
                       "SPEC:3:44: target: give either 'checkpoint' (a file on this machine) or 'endpoint' (a served model), not both")
        XCTAssertTrue(try error("{model: m}").contains("target: missing key 'checkpoint'"))
        XCTAssertTrue(try error("{}").contains("target: missing key 'checkpoint' (a GGUF file, a Hugging Face folder, or 'default') or 'endpoint' with 'model' (a served model)"))
    }
}

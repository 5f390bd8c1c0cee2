// Checkpoints that lie: missing, extra and mis-shaped tensors, broken config.json; each a clear ModelError.
import Foundation
import XCTest
import Checkpoint
import LM
import Model
import Stats

final class BadCheckpointTests: XCTestCase {
    /// A copy of the tiny Llama whose tensors pass through `edit` before being written back.
    func tamperedLlama(_ edit: (inout [(name: String, shape: [Int], data: [Float])]) -> Void,
                       config: ((inout [String: Any]) -> Void)? = nil) throws -> URL {
        let src = fixture("tiny/llama"), dst = tempDir()
        let store = try SafetensorsCheckpoint(path: src)
        var tensors = try store.tensorNames.map { (name: $0, shape: store.entry($0)!.shape, data: try store.floats($0)) }
        edit(&tensors)
        try SafetensorsWriter.write(tensors, metadata: [:], to: dst.appendingPathComponent("model.safetensors").path)
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/config.json"))) as! [String: Any]
        config?(&cfg)
        try JSONSerialization.data(withJSONObject: cfg).write(to: dst.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(atPath: src + "/tokenizer.json", toPath: dst.appendingPathComponent("tokenizer.json").path)
        return dst
    }

    func assertModelError(_ dir: URL, contains needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try LanguageModel.load(path: dir.path), file: file, line: line) { e in
            let msg = String(describing: e)
            XCTAssertTrue(msg.contains(needle), "expected '\(needle)' in: \(msg)", file: file, line: line)
            XCTAssertTrue(msg.contains(dir.lastPathComponent), "the message names the file: \(msg)", file: file, line: line)
        }
    }

    func testUntamperedCopyLoads() throws {
        XCTAssertNoThrow(try LanguageModel.load(path: try tamperedLlama { _ in }.path))
    }

    func testMissingTensor() throws {
        let d = try tamperedLlama { $0.removeAll { $0.name == "model.layers.1.mlp.up_proj.weight" } }
        assertModelError(d, contains: "missing tensor 'model.layers.1.mlp.up_proj.weight'")
    }

    func testMisShapedTensor() throws {
        let d = try tamperedLlama { t in
            let i = t.firstIndex { $0.name == "model.layers.0.self_attn.k_proj.weight" }!
            t[i].shape = [t[i].shape[1], t[i].shape[0]]
        }
        assertModelError(d, contains: "has shape")
    }

    func testExtraTensor() throws {
        let d = try tamperedLlama { $0.append((name: "model.layers.9.secret.weight", shape: [2], data: [1, 2])) }
        assertModelError(d, contains: "not used by the model")
    }

    func testConfigProblems() throws {
        assertModelError(try tamperedLlama({ _ in }, config: { $0.removeValue(forKey: "hidden_size") }), contains: "missing field 'hidden_size'")
        assertModelError(try tamperedLlama({ _ in }, config: { $0["num_key_value_heads"] = 3 }), contains: "not a multiple")
        assertModelError(try tamperedLlama({ _ in }, config: { $0["model_type"] = "bert" }), contains: "model_type 'bert' is not supported")
        assertModelError(try tamperedLlama({ _ in }, config: { $0["hidden_size"] = "sixty-four" }), contains: "must be an integer")
        let d = try tamperedLlama { _ in }
        try Data("{ not json".utf8).write(to: d.appendingPathComponent("config.json"))
        assertModelError(d, contains: "not a JSON object")
    }

    func testInputCheckpointIsNeverModified() throws {
        let p = fixture("tiny/llama-gguf/model.gguf")
        let before = try Data(contentsOf: URL(fileURLWithPath: p))
        let lm = try LanguageModel.load(path: p)
        _ = lm.model.score([lm.tokenizer.encode("some text to score")])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p)), before)
    }
}

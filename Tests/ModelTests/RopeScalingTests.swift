// A checkpoint whose config asks for RoPE scaling (llama3, yarn, linear, dynamic) is refused with the file and the
// scaling type, in both places transformers writes it; plain RoPE ("default", or no scaling) still loads.
import Foundation
import XCTest
import Model

final class RopeScalingTests: XCTestCase {
    /// A copy of the tiny Llama fixture whose config.json is changed by `edit`.
    private func tinyLlama(_ edit: (inout [String: Any]) -> Void) throws -> String {
        let dir = tempDir()
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: fixture("tiny/llama/" + f), toPath: dir.appendingPathComponent(f).path)
        }
        let url = dir.appendingPathComponent("config.json")
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: url)
        return dir.path
    }

    private func assertRefused(_ path: String, _ type: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try LanguageModel.load(path: path), file: file, line: line) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("config.json"), "names the file: \(text)", file: file, line: line)
            XCTAssertTrue(text.contains("'\(type)'") && text.contains("not supported"), "names the type: \(text)", file: file, line: line)
        }
    }

    func testScaledRopeIsRefused() throws {
        // transformers 4.x: rope_theta and a top-level rope_scaling object ("rope_type", or the older "type").
        func v4(_ scaling: [String: Any]) -> (inout [String: Any]) -> Void {
            { $0["rope_parameters"] = nil; $0["rope_theta"] = 10000.0; $0["rope_scaling"] = scaling }
        }
        do {
            assertRefused(try tinyLlama(v4(["rope_type": "llama3", "factor": 8.0])), "llama3")
            assertRefused(try tinyLlama(v4(["type": "yarn", "factor": 4.0])), "yarn")
        }
        // Both keys (a config edited by hand, or converted halfway): rope_scaling must not be ignored because
        // rope_parameters gives a theta (it was, before this test).
        let llama3: [String: Any] = ["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                     "original_max_position_embeddings": 8192]
        assertRefused(try tinyLlama { $0["rope_scaling"] = llama3 }, "llama3")
        assertRefused(try tinyLlama { $0["rope_scaling"] = ["type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096] }, "yarn")
        assertRefused(try tinyLlama { $0["rope_scaling"] = ["type": "linear", "factor": 2.0] }, "linear")
        // transformers 5.x: rope_parameters carries the type beside rope_theta.
        assertRefused(try tinyLlama { $0["rope_parameters"] = ["rope_theta": 10000.0, "rope_type": "yarn", "factor": 4.0] }, "yarn")
        assertRefused(try tinyLlama { $0["rope_parameters"] = ["rope_theta": 10000.0, "rope_type": "dynamic", "factor": 2.0] }, "dynamic")
    }

    func testUnscaledRopeStillLoads() throws {
        XCTAssertNoThrow(try LanguageModel.load(path: try tinyLlama { $0["rope_scaling"] = ["rope_type": "default"] }))
        XCTAssertNoThrow(try LanguageModel.load(path: try tinyLlama { $0["rope_scaling"] = NSNull() }))
        let plain = try LanguageModel.load(path: try tinyLlama { _ in })
        XCTAssertEqual(plain.config.ropeTheta, 10000)
    }
}

// A config.json whose sizes the checkpoint cannot hold: refused with a ModelError before anything is allocated from
// them. Before LanguageModel.checkSizes, 10^12 layers looped and allocated for ever, and a hidden size of 2^40
// overflowed Int in the parameter layout (a trap).
import Foundation
import XCTest
import Model

final class HugeConfigTests: XCTestCase {
    /// The tiny llama's weights and tokenizer with `edit` applied to its config.json.
    private func withConfig(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        let src = fixture("tiny/llama"), dst = tempDir()
        for f in ["model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: dst.appendingPathComponent(f).path)
        }
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/config.json"))) as! [String: Any]
        edit(&cfg)
        try JSONSerialization.data(withJSONObject: cfg).write(to: dst.appendingPathComponent("config.json"))
        return dst
    }

    private func assertRefused(_ dir: URL, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try LanguageModel.load(path: dir.path), file: file, line: line) { e in
            XCTAssertEqual("\(e)", dir.appendingPathComponent("config.json").path + ": " + message, file: file, line: line)
        }
    }

    func testLayerCountBeyondTheTensorsIsRefused() throws {
        let dir = try withConfig({ $0["num_hidden_layers"] = 1_000_000_000_000 })
        // The tiny llama has 2 layers of 9 tensors plus embedding, final norm and head: 21 tensors.
        assertRefused(dir, "1000000000000 layers, but the checkpoint has only 21 tensors")
    }

    func testSizesThatOverflowAreRefused() throws {
        let dir = try withConfig({
            $0["hidden_size"] = 1 << 40; $0["head_dim"] = 1 << 38
        })
        assertRefused(dir, "parameter embed.weight of shape [600, 1099511627776] is larger than the whole checkpoint (150848 values)")
    }

    func testATotalBeyondTheCheckpointIsRefused() throws {
        // Each MLP matrix alone (10000 x 64) fits the bound, 2 x 150848 + 2^20 values; the six of them do not.
        let dir = try withConfig({ $0["intermediate_size"] = 10_000 })
        assertRefused(dir, "the configuration needs more parameters than the checkpoint's 150848 values")
    }
}

// Damaged checkpoints through the built binary: each is one stderr line naming the file and the problem, exit code 2.
import Foundation
import XCTest
import Checkpoint

final class BadCheckpointCLITests: XCTestCase {
    /// Checks `inspect`, and `score --output` (which must not create its output file), on a bad checkpoint.
    func assertRejected(_ checkpoint: String, file expectedFile: String, problem: String,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        assertBadInput(["inspect", checkpoint], file: expectedFile, problem: problem, file: file, line: line)
        let dir = scratchDirectory()
        let input = try writeLines([#"{"text":"hello"}"#], to: dir.appendingPathComponent("in.jsonl"))
        let output = dir.appendingPathComponent("out.jsonl").path
        assertBadInput(["score", checkpoint, "--input", input, "--output", output], file: expectedFile, problem: problem,
                       file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["in.jsonl"],
                       "a failed score leaves no output or temporary file", file: file, line: line)
    }

    // MARK: GGUF

    func ggufCopy() throws -> (url: URL, bytes: [UInt8], layout: GGUFLayout) {
        let url = try scratchCopy("tiny/llama-gguf/model.gguf")
        let bytes = try readBytes(url)
        return (url, bytes, try GGUFLayout(bytes))
    }

    func testGGUFTruncatedAtSeveralPoints() throws {
        let (url, bytes, layout) = try ggufCopy()
        // The test's own parser agrees with the file: aligned offsets inside the data section.
        XCTAssertGreaterThan(layout.tensors.count, 0)
        XCTAssertLessThan(layout.dataStart, layout.fileSize)
        for t in layout.tensors {
            XCTAssertEqual(t.dataOffset % UInt64(layout.alignment), 0, t.name)
            XCTAssertLessThan(t.dataOffset, UInt64(layout.fileSize - layout.dataStart), t.name)
        }
        let cuts: [(String, Int)] = [
            ("inside the header (tensor count)", 12),
            ("inside the header (key/value count)", 20),
            ("inside the metadata", (layout.headerEnd + layout.metadataEnd) / 2),
            ("just before the end of the metadata", layout.metadataEnd - 1),
            ("inside the tensor infos", (layout.metadataEnd + layout.tensorInfoEnd) / 2),
            ("inside the tensor data", (layout.dataStart + layout.fileSize) / 2),
            ("one byte short", layout.fileSize - 1),
        ]
        for (what, n) in cuts {
            try writeBytes(Array(bytes.prefix(n)), to: url)
            let msg = assertBadInput(["inspect", url.path], file: url.path, problem: "truncated")
            XCTAssertTrue(msg.contains("\(n) bytes"), "cut \(what) at \(n): the message gives the file size: \(msg)")
        }
        // The score path reads the same loader; one cut through it is enough.
        try writeBytes(Array(bytes.prefix((layout.dataStart + layout.fileSize) / 2)), to: url)
        try assertRejected(url.path, file: url.path, problem: "truncated")
    }

    func testGGUFTooShortForTheMagic() throws {
        let (url, bytes, _) = try ggufCopy()
        try writeBytes(Array(bytes.prefix(3)), to: url)
        assertBadInput(["inspect", url.path], file: url.path, problem: "not a GGUF file")
        try writeBytes([], to: url)
        assertBadInput(["inspect", url.path], file: url.path, problem: "not a GGUF file")
    }

    func testGGUFTensorOffsetPastTheEnd() throws {
        var (url, bytes, layout) = try ggufCopy()
        let t = layout.tensors[layout.tensors.count / 2]
        let wild = UInt64(layout.fileSize + 4096) / UInt64(layout.alignment) * UInt64(layout.alignment)
        bytes.putU64(wild, at: t.offsetOffset)
        try writeBytes(bytes, to: url)
        try assertRejected(url.path, file: url.path, problem: "tensor '\(t.name)' (offset \(wild)")
    }

    func testGGUFTensorOffsetOverflows() throws {
        var (url, bytes, layout) = try ggufCopy()
        let t = layout.tensors[0]
        bytes.putU64(UInt64.max / UInt64(layout.alignment) * UInt64(layout.alignment), at: t.offsetOffset)
        try writeBytes(bytes, to: url)
        assertBadInput(["inspect", url.path], file: url.path, problem: "tensor '\(t.name)'")
    }

    func testGGUFUnknownGGMLType() throws {
        var (url, bytes, layout) = try ggufCopy()
        let t = layout.tensors.last!
        bytes.putU32(99, at: t.typeOffset)
        try writeBytes(bytes, to: url)
        try assertRejected(url.path, file: url.path, problem: "tensor '\(t.name)' has unknown or unsupported GGML type id 99")
    }

    func testGGUFBadMagicWithGGUFExtension() throws {
        var (url, bytes, _) = try ggufCopy()
        bytes[0] = UInt8(ascii: "X")
        try writeBytes(bytes, to: url)
        assertBadInput(["inspect", url.path], file: url.path, problem: "not a GGUF file")
    }

    // MARK: safetensors

    /// A copy of Fixtures/tiny/llama whose tensors pass through `edit` and are written back with SafetensorsWriter.
    func rewrittenLlama(_ edit: (inout [(name: String, shape: [Int], data: [Float])]) -> Void) throws -> URL {
        let dir = try scratchCopy("tiny/llama")
        let weights = dir.appendingPathComponent("model.safetensors").path
        var tensors: [(name: String, shape: [Int], data: [Float])]
        do {
            let store = try SafetensorsFile(path: weights)
            tensors = try store.tensorNames.map { (name: $0, shape: store.entry($0)!.shape, data: try store.floats($0)) }
        }
        edit(&tensors)
        try SafetensorsWriter.write(tensors, metadata: [:], to: weights)
        return dir
    }

    func testSafetensorsHeaderLengthPastTheEnd() throws {
        let dir = try scratchCopy("tiny/llama")
        let weights = dir.appendingPathComponent("model.safetensors")
        var bytes = try readBytes(weights)
        let claimed = UInt64(bytes.count + 1000)
        bytes.putU64(claimed, at: 0)
        try writeBytes(bytes, to: weights)
        try assertRejected(dir.path, file: weights.path, problem: "header length \(claimed) runs past the end of the file")
        // An absurd length is refused before anything is allocated for it.
        bytes.putU64(UInt64.max, at: 0)
        try writeBytes(bytes, to: weights)
        assertBadInput(["inspect", dir.path], file: weights.path, problem: "header length \(UInt64.max) exceeds")
    }

    func testSafetensorsTruncatedData() throws {
        let dir = try scratchCopy("tiny/llama")
        let weights = dir.appendingPathComponent("model.safetensors")
        let bytes = try readBytes(weights)
        try writeBytes(Array(bytes.prefix(bytes.count - 100)), to: weights)
        assertBadInput(["inspect", dir.path], file: weights.path, problem: "truncated")
        try writeBytes(Array(bytes.prefix(5)), to: weights)
        assertBadInput(["inspect", dir.path], file: weights.path, problem: "truncated")
    }

    func testSafetensorsUnknownDtype() throws {
        let dir = try scratchCopy("tiny/llama")
        let weights = dir.appendingPathComponent("model.safetensors")
        var bytes = try readBytes(weights)
        // Replace the first "F32" with "F7" plus a space: same length, still valid JSON.
        let needle = Array(#""F32""#.utf8), replacement = Array(#""F7" "#.utf8)
        let at = try XCTUnwrap((8..<bytes.count - needle.count).first { Array(bytes[$0..<$0 + needle.count]) == needle })
        bytes.replaceSubrange(at..<at + needle.count, with: replacement)
        try writeBytes(bytes, to: weights)
        try assertRejected(dir.path, file: weights.path, problem: "has unknown or unsupported dtype 'F7'")
    }

    func testSafetensorsHeaderNotJSON() throws {
        let dir = try scratchCopy("tiny/llama")
        let weights = dir.appendingPathComponent("model.safetensors")
        var bytes = try readBytes(weights)
        bytes[8] = UInt8(ascii: "x")   // the header's opening brace
        try writeBytes(bytes, to: weights)
        assertBadInput(["inspect", dir.path], file: weights.path, problem: "header is not valid JSON")
    }

    func testMissingTensor() throws {
        let dir = try rewrittenLlama { $0.removeAll { $0.name == "model.layers.1.mlp.up_proj.weight" } }
        try assertRejected(dir.path, file: dir.appendingPathComponent("model.safetensors").path,
                           problem: "missing tensor 'model.layers.1.mlp.up_proj.weight'")
    }

    func testMisShapedTensor() throws {
        let name = "model.layers.0.self_attn.k_proj.weight"
        let dir = try rewrittenLlama { t in
            let i = t.firstIndex { $0.name == name }!
            t[i].shape = [t[i].shape[1], t[i].shape[0]]
        }
        try assertRejected(dir.path, file: dir.appendingPathComponent("model.safetensors").path, problem: "'\(name)' has shape")
    }

    func testShardedCheckpointMissingShard() throws {
        let dir = try scratchCopy("tiny/llama-tied-sharded")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model-00002-of-00003.safetensors"))
        assertBadInput(["inspect", dir.path], file: dir.appendingPathComponent("model.safetensors.index.json").path,
                       problem: "'model-00002-of-00003.safetensors', which does not exist")
    }

    // MARK: config.json, tokenizer.json, paths

    func testConfigNotJSON() throws {
        let dir = try scratchCopy("tiny/llama")
        let config = dir.appendingPathComponent("config.json")
        try Data("{ \"model_type\": \"llama\", ".utf8).write(to: config)
        try assertRejected(dir.path, file: config.path, problem: "not a JSON object")
    }

    func testConfigMissingHiddenSize() throws {
        let dir = try scratchCopy("tiny/llama")
        let config = dir.appendingPathComponent("config.json")
        var j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
        j.removeValue(forKey: "hidden_size")
        try JSONSerialization.data(withJSONObject: j).write(to: config)
        try assertRejected(dir.path, file: config.path, problem: "missing field 'hidden_size'")
    }

    func testMissingTokenizer() throws {
        let dir = try scratchCopy("tiny/gpt2")
        let tokenizer = dir.appendingPathComponent("tokenizer.json")
        try FileManager.default.removeItem(at: tokenizer)
        assertBadInput(["inspect", dir.path], file: tokenizer.path, problem: "missing tokenizer.json")
    }

    func testPathDoesNotExist() throws {
        let missing = scratchDirectory().appendingPathComponent("no-such-model").path
        try assertRejected(missing, file: missing, problem: "no such file or directory")
        assertBadInput(["generate", missing, "--prompt", "hi"], file: missing, problem: "no such file or directory")
    }

    /// A folder without config.json is named as the folder and said not to be a checkpoint folder, with what it lacks.
    func testDirectoryWithoutConfig() throws {
        let empty = scratchDirectory()
        try assertRejected(empty.path, file: empty.path,
                           problem: "is a directory but not a checkpoint folder: it has no config.json, model.safetensors (or its index), tokenizer.json")
        let weightsOnly = try scratchCopy("tiny/neox")
        try FileManager.default.removeItem(at: weightsOnly.appendingPathComponent("config.json"))
        assertBadInput(["inspect", weightsOnly.path], file: weightsOnly.path,
                       problem: "is a directory but not a checkpoint folder: it has no config.json (")
    }

    func testFileThatIsNeitherFormat() throws {
        let dir = scratchDirectory()
        let notes = dir.appendingPathComponent("notes.txt")
        try Data("just some text\n".utf8).write(to: notes)
        assertBadInput(["inspect", notes.path], file: notes.path, problem: "not a GGUF file")
    }
}

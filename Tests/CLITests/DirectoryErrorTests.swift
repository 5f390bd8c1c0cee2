// A directory where a file is expected (spec, --input, --members, --dataset, --prompts) is bad input that says
// "is a directory"; a folder given as a checkpoint without config.json says it is not a checkpoint folder.
import Foundation
import XCTest

final class DirectoryErrorTests: XCTestCase {
    let llama = fixture("tiny/llama")

    func testDirectoryGivenAsAFile() throws {
        let dir = scratchDirectory()
        let folder = dir.appendingPathComponent("data.jsonl")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let good = try writeLines([#"{"text":"hello there, general reader"}"#], to: dir.appendingPathComponent("good.jsonl"))
        let problem = "is a directory, not a file"
        assertBadInput(["audit", folder.path, "--db", dir.appendingPathComponent("r.sqlite").path], file: folder.path, problem: problem)
        assertBadInput(["score", llama, "--input", folder.path], file: folder.path, problem: problem)
        assertBadInput(["mia", llama, "--members", folder.path, "--nonmembers", good], file: folder.path, problem: problem)
        assertBadInput(["pii", llama, "--prompts", folder.path], file: folder.path, problem: problem)
        assertBadInput(["canary", "insert", "--manifest", folder.path, "--dataset", good, "-o", dir.appendingPathComponent("o.jsonl").path],
                       file: folder.path, problem: problem)
    }

    func testFolderWithoutConfigIsNotACheckpointFolder() throws {
        let dir = scratchDirectory()
        let input = try writeLines([#"{"text":"hello"}"#], to: dir.appendingPathComponent("in.jsonl"))
        let notes = dir.appendingPathComponent("notes")
        try FileManager.default.createDirectory(at: notes, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: notes.appendingPathComponent("tokenizer.json"))
        let line = assertBadInput(["score", notes.path, "--input", input], file: notes.path,
                                  problem: "is a directory but not a checkpoint folder")
        XCTAssertTrue(line.contains("it has no config.json, model.safetensors (or its index) ("), line)
        assertBadInput(["mia", llama, "--members", input, "--nonmembers", input, "--reference", notes.path], file: notes.path,
                       problem: "is a directory but not a checkpoint folder")
        assertBadInput(["finetune", notes.path, "--data", input, "--out", dir.appendingPathComponent("out").path], file: notes.path,
                       problem: "is a directory but not a checkpoint folder")
    }
}

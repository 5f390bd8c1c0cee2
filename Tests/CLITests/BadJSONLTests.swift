// Bad JSON Lines input to `score` and `generate --prompts`: one stderr line with file and line number, exit 2, output untouched.
import Foundation
import XCTest

final class BadJSONLTests: XCTestCase {
    let model = fixture("tiny/llama")

    /// Writes `content` as the input, runs `score` with --output over an existing output file of known content,
    /// and checks the bad-input contract plus: the output file is unchanged and no temporary file is left.
    func assertScoreRejects(_ content: [UInt8], problem: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = scratchDirectory()
        let input = dir.appendingPathComponent("texts.jsonl")
        try writeBytes(content, to: input)
        // Without --output.
        assertBadInput(["score", model, "--input", input.path], file: input.path, problem: problem, file: file, line: line)
        // With --output naming a file that does not exist: it must not be created.
        let fresh = dir.appendingPathComponent("fresh.jsonl")
        assertBadInput(["score", model, "--input", input.path, "--output", fresh.path], file: input.path, problem: problem,
                       file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh.path), "output file created by a failed run", file: file, line: line)
        // With --output naming an existing file: it must be left as it was.
        let existing = dir.appendingPathComponent("existing.jsonl")
        let known = Data("{\"keep\":\"me\"}\n".utf8)
        try known.write(to: existing)
        assertBadInput(["score", model, "--input", input.path, "-o", existing.path], file: input.path, problem: problem,
                       file: file, line: line)
        XCTAssertEqual(try Data(contentsOf: existing), known, "existing output file modified by a failed run", file: file, line: line)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)), ["texts.jsonl", "existing.jsonl"],
                       "stray files after a failed run", file: file, line: line)
    }

    func testLineNotJSON() throws {
        try assertScoreRejects(Array(#"{"text":"fine"}"#.utf8) + [10] + Array(#"{"text": "cut off"#.utf8) + [10],
                               problem: "line 2: not valid JSON")
    }

    func testTwoObjectsOnOneLine() throws {
        try assertScoreRejects(Array(#"{"text":"a"} {"text":"b"}"#.utf8) + [10], problem: "line 1: not valid JSON")
    }

    func testInvalidUTF8() throws {
        let good = Array(#"{"text":"fine"}"#.utf8) + [10]
        try assertScoreRejects(good + good + Array(#"{"text":"a"#.utf8) + [0xFF, 0xFE] + Array(#"b"}"#.utf8) + [10],
                               problem: "line 3: not valid UTF-8")
    }

    func testObjectWithoutText() throws {
        try assertScoreRejects(Array(#"{"body":"no text field","id":1}"#.utf8) + [10], problem: #"line 1: missing field "text""#)
    }

    func testTextNotAString() throws {
        try assertScoreRejects(Array(#"{"text":42}"#.utf8) + [10], problem: #"line 1: field "text" is not a string"#)
    }

    func testNotAnObject() throws {
        try assertScoreRejects(Array("[1, 2, 3]\n".utf8), problem: "line 1: expected a JSON object")
    }

    func testEmptyFile() throws {
        try assertScoreRejects([], problem: "no texts")
    }

    func testOnlyBlankLines() throws {
        try assertScoreRejects(Array("\n   \n\t\n".utf8), problem: "no texts")
    }

    func testInputMissing() throws {
        let missing = scratchDirectory().appendingPathComponent("nope.jsonl").path
        assertBadInput(["score", model, "--input", missing], file: missing, problem: "cannot read the file")
    }

    func testOutputDirectoryMissing() throws {
        let dir = scratchDirectory()
        let input = try writeLines([#"{"text":"hello"}"#], to: dir.appendingPathComponent("in.jsonl"))
        let output = dir.appendingPathComponent("no-such-dir/out.jsonl").path
        assertBadInput(["score", model, "--input", input, "--output", output], file: output, problem: "cannot write the output file")
    }

    /// The output is written beside its destination and renamed at the end; when the rename fails the
    /// temporary file goes too.
    func testOutputIsADirectory() throws {
        let dir = scratchDirectory()
        let input = try writeLines([#"{"text":"hello"}"#], to: dir.appendingPathComponent("in.jsonl"))
        let output = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: false)
        assertBadInput(["score", model, "--input", input, "--output", output.path], file: output.path,
                       problem: "cannot move the output into place", afterProgress: true)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)), ["in.jsonl", "out"], "stray files")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path), [])
    }

    func testGeneratePromptsFileNotJSON() throws {
        let dir = scratchDirectory()
        let prompts = try writeLines([#"{"text":"hi"}"#, "hello?"], to: dir.appendingPathComponent("prompts.jsonl"))
        assertBadInput(["generate", model, "--prompts", prompts], file: prompts, problem: "line 2: not valid JSON")
    }
}

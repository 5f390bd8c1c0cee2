// `auditor convert`: GGUF -> Hugging Face -> GGUF through the built binary, the printed SHA-256 lines, and bad
// outputs refused with one line and exit code 2, leaving nothing behind and the input unchanged.
import Foundation
import XCTest

final class ConvertCLITests: XCTestCase {
    /// Every file under `dir` (relative path) with its SHA-256.
    func checksums(_ dir: URL) throws -> [String: String] {
        var out: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: dir.path)!
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            let p = dir.appendingPathComponent(rel).path
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue { out[rel] = try sha256sum(p) }
            else { out[rel] = "folder" }
        }
        return out
    }

    /// "SHA-256  path" lines (sha256sum's format), each checked against /usr/bin/sha256sum; returns the paths.
    func assertHashLines(_ out: String, count: Int, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, count, out, file: file, line: line)
        return try lines.map { l in
            let parts = l.components(separatedBy: "  ")
            XCTAssertEqual(parts.count, 2, l, file: file, line: line)
            XCTAssertEqual(parts[0], try sha256sum(parts[1]), l, file: file, line: line)
            return parts[1]
        }
    }

    func meanNLL(_ checkpoint: String, _ input: String) -> [Double] {
        let r = run(["score", checkpoint, "--input", input])
        XCTAssertEqual(r.code, 0, r.err)
        return jsonObjects(r.out).map { ($0["nll"] as? NSNumber)?.doubleValue ?? .nan }
    }

    func testConvertGGUFToHuggingFaceAndBack() throws {
        let dir = scratchDirectory()
        let src = try scratchCopy("tiny/llama-gguf").appendingPathComponent("model.gguf").path
        let before = try sha256sum(src)
        let texts = try writeLines([#"{"text":"Zürich <|endoftext|> costs $1,299.99"}"#, #"{"text":"def add(a, b):\n\treturn a + b"}"#],
                                   to: dir.appendingPathComponent("texts.jsonl"))

        let hf = dir.appendingPathComponent("hf").path
        let r = run(["convert", src, hf])
        assertNoCrash(r, "convert GGUF -> HF")
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try assertHashLines(r.out, count: 4).map { ($0 as NSString).lastPathComponent },
                       ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"])
        XCTAssertTrue(r.err.contains("converting \(src) (gguf, llama,"), r.err)
        XCTAssertTrue(r.err.contains("wrote \(hf): 4 file(s)"), r.err)

        let back = dir.appendingPathComponent("back.gguf").path
        let g = run(["convert", hf, back, "--type", "q8_0"])
        XCTAssertEqual(g.code, 0, g.err)
        XCTAssertEqual(try assertHashLines(g.out, count: 1), [back])
        let info = jsonObjects(run(["inspect", back, "--json"]).out).first ?? [:]
        XCTAssertEqual(info["dtypes"] as? [String: Int], ["F32": 5, "Q8_0": 16])

        // --to overrides the name; F32 GGUF and the HF folder score like the source (F32 weights are exact).
        let plain = dir.appendingPathComponent("plain").path
        let p = run(["convert", hf, plain, "--to", "gguf", "--type", "F32"])
        XCTAssertEqual(p.code, 0, p.err)
        XCTAssertEqual(try FileHandle(forReadingFrom: URL(fileURLWithPath: plain)).read(upToCount: 4), Data("GGUF".utf8))
        let nll = meanNLL(src, texts)
        for other in [hf, plain] {
            // Measured here: 7.0e-7 (HF folder), 0 (F32 GGUF); bar 1e-5 (14x).
            for (a, b) in zip(meanNLL(other, texts), nll) { XCTAssertEqual(a, b, accuracy: 1e-5, other) }
        }

        XCTAssertEqual(try sha256sum(src), before, "the input is unchanged")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)), ["texts.jsonl", "hf", "back.gguf", "plain"],
                       "no temporary files left")
    }

    func testBadOutputsAreRefusedAndLeaveNothing() throws {
        let dir = scratchDirectory()
        let hf = dir.appendingPathComponent("llama")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: fixture("tiny/llama")), to: hf)
        let gguf = dir.appendingPathComponent("model.gguf").path
        try FileManager.default.copyItem(atPath: fixture("tiny/llama-gguf/model.gguf"), toPath: gguf)
        let gpt2 = fixture("tiny/gpt2")
        let full = dir.appendingPathComponent("full")
        try FileManager.default.createDirectory(at: full, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: full.appendingPathComponent("keep.txt"))
        let before = try checksums(dir)

        var cases: [([String], String, String)] = [
            (["convert", gguf, gguf], gguf, "is the input checkpoint"),
            (["convert", hf.path, hf.path], hf.path, "is the input checkpoint"),
            (["convert", hf.path, hf.path + "/model.gguf"], hf.path + "/model.gguf", "lies inside the input checkpoint"),
            (["convert", hf.path, hf.path + "/sub"], hf.path + "/sub", "lies inside the input checkpoint"),
            (["convert", gguf, dir.path + "/missing/out"], dir.path + "/missing/out", "does not exist"),
            (["convert", gguf, full.path], full.path, "already exists and is not empty"),
            (["convert", gguf, dir.path + "/x.gguf", "--type", "q4_0"], "--type", "unknown type 'q4_0' (expected f32, f16, q8_0)"),
            (["convert", gguf, dir.path + "/x", "--type", "f16"], "--type", "applies to GGUF output only"),
            (["convert", gguf, dir.path + "/x", "--to", "onnx"], "--to", "unknown format 'onnx'"),
            (["convert", gpt2, dir.path + "/gpt2.gguf"], dir.path + "/gpt2.gguf", "llama architecture only"),
        ]
        // Not writable: a read-only folder stops everyone but root; sysfs refuses root too.
        let locked = dir.appendingPathComponent("locked")
        if geteuid() != 0 {
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o555])
            cases.append((["convert", gguf, locked.path + "/out.gguf"], locked.path + "/out.gguf", "cannot write in the folder"))
        } else if FileManager.default.fileExists(atPath: "/sys/kernel") {
            cases.append((["convert", gguf, "/sys/auditor-convert-test.gguf"], "/sys/auditor-convert-test.gguf", "cannot write in the folder /sys"))
            cases.append((["convert", hf.path, "/sys/auditor-convert-test"], "/sys/auditor-convert-test", "cannot write in the folder /sys"))
        }
        let expected = try checksums(dir)
        for (args, file, problem) in cases {
            // An error naming an option is a usage error (64); one naming a file is bad input (2).
            if file.hasPrefix("--") { assertUsageError(args, option: file, problem: problem) } else { assertBadInput(args, file: file, problem: problem) }
            XCTAssertEqual(try checksums(dir), expected, "auditor \(args.joined(separator: " ")) left something behind or changed the input")
        }
        XCTAssertEqual(before.filter { $0.key != "locked" }, expected.filter { $0.key != "locked" })
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/auditor-convert-test.gguf"))
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: locked.path)
    }
}

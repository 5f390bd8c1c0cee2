// The smaller items of issue 14, through the built binary: tiny-sample and overlap warnings, non-regular input files,
// duplicate JSON keys, control characters on the console, canary exposure --field, generate's overlong prompt, and a
// negative number after a numeric option.
import Foundation
import XCTest
@testable import AuditorCLI

final class SmallItemsTests: XCTestCase {
    let tiny = fixture("tiny/llama")

    func texts(_ n: Int, _ prefix: String) -> [String] {
        (0..<n).map { #"{"text":"\#(prefix) number \#($0) walks along the quiet river at dawn"}"# }
    }

    // MARK: tiny samples and overlap

    /// One member: the AUC intervals come with a tiny-sample warning; a text on both sides with the overlap warning.
    func testMIAWarnsAboutOneMemberAndSharedTexts() throws {
        let dir = scratchDirectory()
        let one = try writeLines(texts(1, "member"), to: dir.appendingPathComponent("m.jsonl"))
        let non = try writeLines(texts(12, "other") + texts(1, "member"), to: dir.appendingPathComponent("n.jsonl"))
        let r = run(["mia", tiny, "--members", one, "--nonmembers", non, "--resamples", "50", "--no-lowercase"])
        XCTAssertEqual(r.code, 0, r.err)
        let o = try XCTUnwrap(jsonObjects(r.out).first)
        XCTAssertEqual(o["small_sample_warning"] as? String,
                       "too few to interval: 1 members and 13 non-members; with fewer than 10 in either class a 95% bootstrap "
                       + "interval is not meaningful (it can collapse to a single point such as 1.000 [1.000, 1.000]), so read "
                       + "these AUCs as anecdotes and add texts")
        XCTAssertEqual(o["overlap_warning"] as? String, "1 text(s) appear in both --members and --nonmembers")
        let many = try writeLines(texts(10, "member"), to: dir.appendingPathComponent("m10.jsonl"))
        let ten = try writeLines(texts(10, "other"), to: dir.appendingPathComponent("n10.jsonl"))
        let r10 = run(["mia", tiny, "--members", many, "--nonmembers", ten, "--resamples", "50", "--no-lowercase"])
        XCTAssertEqual(r10.code, 0, r10.err)
        XCTAssertNil(try XCTUnwrap(jsonObjects(r10.out).first)["small_sample_warning"], "10 per class is enough")
    }

    /// 4 traps injected with repetitions 1, 2, 3: one control. Every AUC, overall and per repetition count, warns.
    func testTrapsDetectWarnsAboutTooFewControls() throws {
        let dir = scratchDirectory()
        let manifest = dir.appendingPathComponent("traps.json").path
        let g = run(["traps", "generate", tiny, "--count", "4", "--lengths", "10", "--perplexity", "1:100000", "--seed", "2", "-o", manifest])
        XCTAssertEqual(g.code, 0, g.err)
        let dataset = try writeLines((0..<5).map { #"{"text":"Record \#($0) begins. It goes on. It ends."}"# },
                                     to: dir.appendingPathComponent("docs.jsonl"))
        let injected = dir.appendingPathComponent("docs-traps.jsonl").path
        let i = run(["traps", "inject", "--manifest", manifest, "--dataset", dataset, "-o", injected, "--repetitions", "1,2,3", "--seed", "4"])
        XCTAssertEqual(i.code, 0, i.err)
        let d = run(["traps", "detect", tiny, "--manifest", injected + ".manifest.json", "--resamples", "50"])
        XCTAssertEqual(d.code, 0, d.err)
        let o = try XCTUnwrap(jsonObjects(d.out).first)
        let overall = try XCTUnwrap(o["overall"] as? [String: Any])
        XCTAssertEqual(overall["small_sample_warning"] as? String,
                       "too few to interval: 3 injected traps and 1 controls; with fewer than 10 in either class a 95% bootstrap "
                       + "interval is not meaningful (it can collapse to a single point such as 1.000 [1.000, 1.000]), so read "
                       + "these AUCs as anecdotes and add texts")
        let byRep = try XCTUnwrap(o["by_repetition"] as? [[String: Any]])
        XCTAssertEqual(byRep.count, 3)
        for b in byRep { XCTAssertNotNil(b["small_sample_warning"], "\(b)") }
    }

    // MARK: non-regular input files

    /// A FIFO, a socket or a directory where a data file, manifest, word list or spec is expected: exit 2 at once,
    /// naming the file and what it is (a FIFO used to hang for ever).
    func testNonRegularInputFilesAreRefused() throws {
        let dir = scratchDirectory()
        let fifo = dir.appendingPathComponent("pipe.jsonl").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let good = try writeLines(texts(3, "t"), to: dir.appendingPathComponent("good.jsonl"))
        let isFIFO = "is a FIFO (named pipe), not a regular file"
        let out = dir.appendingPathComponent("o.jsonl").path
        assertBadInput(["mia", tiny, "--members", fifo, "--nonmembers", good], file: fifo, problem: isFIFO)
        assertBadInput(["dataset-inference", tiny, "--suspect", good, "--validation", fifo], file: fifo, problem: isFIFO)
        assertBadInput(["score", tiny, "--input", fifo], file: fifo, problem: isFIFO)
        assertBadInput(["generate", tiny, "--prompts", fifo], file: fifo, problem: isFIFO)
        assertBadInput(["audit", fifo, "--db", dir.appendingPathComponent("r.sqlite").path], file: fifo, problem: isFIFO)
        assertBadInput(["canary", "exposure", tiny, "--manifest", fifo], file: fifo, problem: isFIFO)
        assertBadInput(["canary", "insert", "--manifest", fifo, "--dataset", good, "-o", out], file: fifo, problem: isFIFO)
        assertBadInput(["traps", "detect", tiny, "--manifest", fifo], file: fifo, problem: isFIFO)
        assertBadInput(["ghost", "test", tiny, "--manifest", fifo], file: fifo, problem: isFIFO)
        assertBadInput(["ghost", "generate", "--words", fifo, "-o", out], file: fifo, problem: isFIFO)
        let specFIFO = dir.appendingPathComponent("spec.yml").path
        XCTAssertEqual(mkfifo(specFIFO, 0o644), 0)
        assertBadInput(["unlearn", specFIFO], file: specFIFO, problem: isFIFO)
        assertBadInput(["compare", specFIFO], file: specFIFO, problem: isFIFO)
        assertBadInput(["unlearn", tiny, "--forget", fifo, "--retain", good, "--method", "ga", "--out", out], file: fifo, problem: isFIFO)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written")

        // A socket and a character device.
        let sock = dir.appendingPathComponent("s.jsonl").path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in sock.utf8.enumerated() { p[i] = b } }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        XCTAssertEqual(bound, 0)
        assertBadInput(["mia", tiny, "--members", sock, "--nonmembers", good], file: sock, problem: "is a socket, not a regular file")
        assertBadInput(["mia", tiny, "--members", "/dev/zero", "--nonmembers", good], file: "/dev/zero",
                       problem: "is a character device, not a regular file")
    }

    // MARK: duplicate JSON keys

    func testDuplicateKeysAreRefusedWithLineAndKey() throws {
        let dir = scratchDirectory()
        let good = try writeLines(texts(3, "t"), to: dir.appendingPathComponent("good.jsonl"))
        let dup = try writeLines([#"{"text":"first"}"#, #"{"text":"one","id":1,"te\u0078t":"two"}"#], to: dir.appendingPathComponent("dup.jsonl"))
        assertBadInput(["mia", tiny, "--members", dup, "--nonmembers", good], file: dup,
                       problem: "line 2: duplicate key \"text\" (a JSON object may hold each key once)")
        let nested = try writeLines([#"{"text":"first","meta":{"a":1,"a":2}}"#], to: dir.appendingPathComponent("nested.jsonl"))
        assertBadInput(["score", tiny, "--input", nested], file: nested, problem: "line 1: duplicate key \"a\" in meta")

        let manifest = dir.appendingPathComponent("canaries.json")
        try Data("""
            {"seed": 1, "canaries": [
              {"id": "c1", "format": "the code is {digits:2}", "text": "the code is 42", "repetitions": 5,
               "repetitions": 1}]}
            """.utf8).write(to: manifest)
        assertBadInput(["canary", "exposure", tiny, "--manifest", manifest.path], file: manifest.path,
                       problem: "line 3: duplicate key \"repetitions\" in canaries[0]")

        let folder = try scratchCopy("tiny/llama")
        let config = folder.appendingPathComponent("config.json")
        let text = try String(contentsOf: config, encoding: .utf8)
        try text.replacingOccurrences(of: "\"hidden_size\": 64,", with: "\"hidden_size\": 64,\n  \"hidden_size\": 32,").write(to: config, atomically: true, encoding: .utf8)
        assertBadInput(["inspect", folder.path], file: config.path, problem: "duplicate key \"hidden_size\"")

        let folder2 = try scratchCopy("tiny/llama")
        let tok = folder2.appendingPathComponent("tokenizer.json")
        var t = try String(contentsOf: tok, encoding: .utf8)
        let i = try XCTUnwrap(t.firstIndex(of: "{"))
        t.insert(contentsOf: #""version": "0.9", "#, at: t.index(after: i))
        try t.write(to: tok, atomically: true, encoding: .utf8)
        XCTAssertTrue(t.contains(#""version": "#) || t.contains(#""version":"#))
        assertBadInput(["inspect", folder2.path], file: tok.path, problem: "duplicate key \"version\"")
    }

    // MARK: control characters

    /// A path with an escape sequence in it is shown escaped in the error line, never sent raw to the terminal.
    func testControlCharactersInNamesAreEscapedOnTheConsole() throws {
        let dir = scratchDirectory()
        let bad = dir.appendingPathComponent("evil\u{1B}[2J\u{7}name.jsonl").path
        let good = try writeLines(texts(3, "t"), to: dir.appendingPathComponent("good.jsonl"))
        let r = run(["mia", tiny, "--members", bad, "--nonmembers", good])
        XCTAssertEqual(r.code, 2, r.err)
        XCTAssertFalse(r.err.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{7}" }, r.err)
        XCTAssertTrue(r.err.contains("evil\\u{1B}[2J\\u{7}name.jsonl"), r.err)
    }

    /// The argument parser's own messages quote what was typed: an option name with an escape sequence is escaped.
    func testArgumentParserMessagesAreEscaped() {
        let r = run(["mia", tiny, "--members", "m", "--nonmembers", "n", "--bogus\u{1B}[2J"])
        XCTAssertEqual(r.code, 64, r.err)
        XCTAssertFalse(r.err.unicodeScalars.contains("\u{1B}"), r.err)
        XCTAssertTrue(r.err.hasPrefix("Error: Unknown option '--bogus\\u{1B}[2J'\n"), r.err)
        let v = run(["mia", tiny, "--members", "m", "--nonmembers", "n", "--resamples", "\u{1B}x"])
        XCTAssertEqual(v.code, 64, v.err)
        XCTAssertTrue(v.err.hasPrefix("Error: The value '\\u{1B}x' is invalid for '--resamples <resamples>'"), v.err)
    }

    /// An audit whose spec name and threshold metric hold an escape sequence: the console (stdout and the progress
    /// lines on stderr) shows it escaped; the audit's console also carries the tiny-sample and overlap warnings.
    func testAuditConsoleEscapesNamesAndCarriesTheWarnings() throws {
        let dir = scratchDirectory()
        _ = try writeLines(texts(3, "member"), to: dir.appendingPathComponent("m.jsonl"))
        _ = try writeLines(texts(3, "other") + texts(1, "member"), to: dir.appendingPathComponent("n.jsonl"))
        let spec = dir.appendingPathComponent("a.yml")
        try Data("""
            version: 1
            name: "evil\\e[2J audit"
            seed: 1
            target:
              checkpoint: \(tiny)
            datasets:
              members: m.jsonl
              nonmembers: n.jsonl
            attacks:
              mia:
                attacks: [loss]
                resamples: 50
            thresholds:
              - mia.loss.auc <= 0.0
            """.utf8).write(to: spec)
        let r = run(["audit", spec.path, "--db", dir.appendingPathComponent("r.sqlite").path,
                     "--reports", dir.appendingPathComponent("reports").path])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertFalse((r.out + r.err).unicodeScalars.contains("\u{1B}"), r.out + r.err)
        XCTAssertTrue(r.err.contains("evil\\u{1B}[2J audit"), r.err)
        XCTAssertTrue(r.out.contains("warning: membership inference: too few to interval: 3 members and 4 non-members"), r.out)
        XCTAssertTrue(r.out.contains("warning: 1 text appears among both the members and the non-members"), r.out)
        let history = run(["history", "--db", dir.appendingPathComponent("r.sqlite").path])
        XCTAssertEqual(history.code, 0, history.err)
        XCTAssertFalse(history.out.unicodeScalars.contains("\u{1B}"), history.out)
        XCTAssertTrue(history.out.contains("evil\\u{1B}[2J audit"), history.out)
    }

    // MARK: canary exposure --field

    /// `canary insert --field body` then `canary exposure --dataset --field body` checks the same field (it read only
    /// "text" before, and failed on every line).
    func testCanaryExposureReadsTheInsertedField() throws {
        let dir = scratchDirectory()
        let manifest = dir.appendingPathComponent("c.json").path
        let g = run(["canary", "generate", "--format", "code {hex:2}", "--repetitions", "1,2", "--per-repetition", "1", "--seed", "3", "-o", manifest])
        XCTAssertEqual(g.code, 0, g.err)
        let dataset = try writeLines((0..<4).map { #"{"body":"note \#($0) about the weather"}"# }, to: dir.appendingPathComponent("d.jsonl"))
        let inserted = dir.appendingPathComponent("d-c.jsonl").path
        let ins = run(["canary", "insert", "--manifest", manifest, "--dataset", dataset, "--field", "body", "-o", inserted])
        XCTAssertEqual(ins.code, 0, ins.err)
        let withField = run(["canary", "exposure", tiny, "--manifest", inserted + ".manifest.json", "--dataset", inserted, "--field", "body"])
        XCTAssertEqual(withField.code, 0, withField.err)
        XCTAssertEqual((try XCTUnwrap(jsonObjects(withField.out).first)["canaries"] as? [Any])?.count, 2)
        assertBadInput(["canary", "exposure", tiny, "--manifest", inserted + ".manifest.json", "--dataset", inserted],
                       file: inserted, problem: "line 1: missing field \"text\"")
    }

    // MARK: generate

    /// A prompt longer than the context (the tiny model holds 256 tokens) is cut to its last 255 tokens with a
    /// warning that says how many were dropped.
    func testGenerateWarnsWhenItDropsPromptTokens() throws {
        let long = Array(repeating: "river", count: 400).joined(separator: " ")
        let r = run(["generate", tiny, "--prompt", long, "--max-new-tokens", "1", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        // The tokenizer gives each " river" the same tokens: two short prompts that fit fix the count of the long one.
        func count(_ words: Int) throws -> Int {
            let text = Array(repeating: "river", count: words).joined(separator: " ")
            let r = run(["score", tiny, "--input", try writeLines([#"{"text":"\#(text)"}"#], to: scratchDirectory().appendingPathComponent("l.jsonl"))])
            return try XCTUnwrap(jsonObjects(r.out).first?["tokens"] as? Int, r.out + r.err)
        }
        let c20 = try count(20), c40 = try count(40)
        let n = c20 + (c40 - c20) * (400 - 20) / 20
        XCTAssertGreaterThan(n, 255)
        let line = "auditor: warning: prompt 1: \(n - 255) of its \(n) tokens dropped from the start; the model's context holds 256 tokens, so the last 255 are kept"
        XCTAssertTrue(r.err.contains(line), "expected:\n\(line)\ngot:\n\(r.err)")
        let short = run(["generate", tiny, "--prompt", "river river", "--max-new-tokens", "1"])
        XCTAssertEqual(short.code, 0, short.err)
        XCTAssertFalse(short.err.contains("dropped"), short.err)
    }

    // MARK: negative numbers after numeric options

    func testNegativeNumberAfterAnOptionIsItsValue() throws {
        XCTAssertEqual(AuditorCommand.joiningNegativeValues(["mia", "--k", "-0.2", "--seed", "-1", "--x", "-.5", "--y", "-a", "--", "--z", "-1"]),
                       ["mia", "--k=-0.2", "--seed=-1", "--x=-.5", "--y", "-a", "--", "--z", "-1"])
        XCTAssertEqual(AuditorCommand.joiningNegativeValues(["--k=-1", "-o", "-5"]), ["--k=-1", "-o", "-5"])
        let dir = scratchDirectory()
        let good = try writeLines(texts(3, "t"), to: dir.appendingPathComponent("good.jsonl"))
        assertUsageError(["mia", tiny, "--members", good, "--nonmembers", good, "--k", "-0.2"], option: "--k",
                         problem: "expected comma-separated distinct values in (0, 1], got '-0.2'")
        for (args, message) in [(["generate", tiny, "--prompt", "a", "--temperature", "-1"], "--temperature must be >= 0"),
                                (["mia", tiny, "--members", good, "--nonmembers", good, "--target-fpr", "-0.1"], "--target-fpr must be in (0, 1)"),
                                (["mia", tiny, "--members", good, "--nonmembers", good, "--resamples", "-5"], "--resamples must be >= 1"),
                                (["dataset-inference", tiny, "--suspect", good, "--validation", good, "--alpha", "-0.5"], "--alpha must be in (0, 1)"),
                                (["canary", "exposure", tiny, "--manifest", good, "--references", "-3"], "--references must be >= 1"),
                                (["ghost", "test", tiny, "--manifest", good, "--k", "-1"], "--k must be >= 1"),
                                (["mia", tiny, "--members", good, "--nonmembers", good, "--seed", "-1"], "'--seed <seed>'")] {
            let r = run(args)
            XCTAssertEqual(r.code, 64, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains(message), "\(args): expected '\(message)' in:\n\(r.err)")
            XCTAssertFalse(r.err.contains("Unknown option"), r.err)
        }
    }
}

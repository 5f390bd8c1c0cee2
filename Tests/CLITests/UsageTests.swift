// Help text, version and usage errors of the built binary; `auditor --help` is compared with a reviewed snapshot.
import Foundation
import XCTest

final class UsageTests: XCTestCase {
    let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")

    /// Compares `actual` with Snapshots/`name`; AUDITOR_UPDATE_SNAPSHOTS=1 rewrites the file instead (review the diff).
    func assertSnapshot(_ actual: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = snapshots.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["AUDITOR_UPDATE_SNAPSHOTS"] == "1" {
            try FileManager.default.createDirectory(at: snapshots, withIntermediateDirectories: true)
            try Data(actual.utf8).write(to: url)
            print("updated snapshot \(url.path)")
            return
        }
        let update = "to accept the new text: AUDITOR_UPDATE_SNAPSHOTS=1 swift test --filter CLITests.UsageTests, then review `git diff \(url.path)`"
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            XCTFail("missing snapshot \(url.path); \(update)", file: file, line: line)
            return
        }
        guard actual != expected else { return }
        let a = actual.components(separatedBy: "\n"), e = expected.components(separatedBy: "\n")
        let first = (0..<min(a.count, e.count)).first { a[$0] != e[$0] } ?? min(a.count, e.count)
        let show = { (lines: [String]) in first < lines.count ? lines[first] : "<end of text>" }
        XCTFail("""
            \(name) differs from the snapshot at line \(first + 1):
            - snapshot: \(show(e))
            + actual:   \(show(a))
            --- full actual text ---
            \(actual)
            --- end ---
            \(update)
            """, file: file, line: line)
    }

    func testTopLevelHelpSnapshot() throws {
        let r = run(["--help"])
        assertNoCrash(r, "auditor --help")
        XCTAssertEqual(r.code, 0)
        XCTAssertEqual(r.err, "")
        try assertSnapshot(r.out, "help.txt")
        // `auditor help` and a bare `auditor` print the same overview.
        XCTAssertEqual(run(["help"]).out, r.out)
    }

    func testSubcommandHelp() throws {
        let expected: [String: [String]] = [
            "inspect": ["<checkpoint>", "--json", "--threads"],
            "score": ["<checkpoint>", "--input", "--output", "--per-token", "--vocab-stats", "--top-k", "--field", "--batch-tokens"],
            "generate": ["<checkpoint>", "--prompt", "--prompts", "--max-new-tokens", "--temperature", "--top-k", "--top-p",
                         "--seed", "--ignore-eos", "--json"],
        ]
        for (command, options) in expected {
            let r = run([command, "--help"])
            assertNoCrash(r, "auditor \(command) --help")
            XCTAssertEqual(r.code, 0, command)
            XCTAssertEqual(r.err, "", command)
            XCTAssertTrue(r.out.hasPrefix("OVERVIEW: "), command)
            XCTAssertTrue(r.out.contains("USAGE: auditor \(command)"), command)
            for o in options { XCTAssertTrue(r.out.contains(o), "`auditor \(command) --help` mentions \(o)") }
            XCTAssertEqual(run(["help", command]).out, r.out, "`auditor help \(command)` is the same text")
        }
    }

    func testVersion() {
        let r = run(["--version"])
        XCTAssertEqual(r.code, 0)
        XCTAssertEqual(r.out, "0.1.0\n")
    }

    /// Argument-parser usage errors exit with EX_USAGE (64) and say what was wrong; they are not bad-input errors.
    func testUsageErrors() {
        let llama = fixture("tiny/llama")
        let cases: [([String], String)] = [
            (["frobnicate"], "Unexpected argument 'frobnicate'"),
            (["score", llama], "Missing expected argument '--input <input>'"),
            (["score", llama, "--input", "x.jsonl", "--top-k=-1"], "--top-k must be >= 0"),
            (["score", llama, "--input", "x.jsonl", "--batch-tokens", "0"], "--batch-tokens must be positive"),
            (["generate", llama], "give --prompt or --prompts"),
            (["generate", llama, "--prompt", "hi", "--top-p", "0"], "--top-p must be in (0, 1]"),
            (["generate", llama, "--prompt", "hi", "--temperature=-1"], "--temperature must be >= 0"),
            (["generate", llama, "--prompt", "hi", "--max-new-tokens=-3"], "--max-new-tokens must be >= 0"),
            (["generate", llama, "--prompt", "hi", "--max-new-tokens", "many"], "many"),
            (["inspect", llama, "--jsn"], "--jsn"),
            (["inspect", llama, "--threads=0"], "--threads must be between 1"),
            (["score", llama, "--input", "x.jsonl", "--threads", "10000000000"], "--threads must be between 1"),
            // Option values checked after parsing are usage errors too, the same kind as --threads 0 (issue 15).
            (["mia", llama, "--members", "x.jsonl", "--nonmembers", "x.jsonl", "--k", "2"], "Error: --k: expected comma-separated"),
            (["mia", llama, "--members", "x.jsonl", "--nonmembers", "x.jsonl", "--k", "0.2", "0.5"], "Error: Unexpected argument '0.5'"),
            (["mia", "--members", "x.jsonl", "--nonmembers", "x.jsonl", "--k", "0.2", "0.5"], "CHECKPOINT '0.5' is a number"),
            (["dataset-inference", llama, "--suspect", "x.jsonl", "--validation", "x.jsonl", "--k", "0"], "Error: --k: expected"),
            (["dp", "epsilon", "--q", "1.5", "--noise", "1", "--steps", "100", "--delta", "1e-5"], "Error: --q: "),
            (["canary", "generate", "--format", "no slot here", "-o", "x.json"], "Error: --format: "),
            // An option's value is a usage error before any file is read (issue 15: these exited 2 on the file first).
            (["extract", llama, "--input", "x.jsonl", "--approx-threshold", "2"], "--approx-threshold must be in [0, 1)"),
            (["compare", "x.yml", "--threads", "0"], "--threads must be between 1"),
            (["unlearn", llama, "--forget", "f.jsonl", "--retain", "r.jsonl", "--method", "npo", "--out", "o", "--beta=-1"],
             "Error: --beta: must be > 0, got -1.0"),
        ]
        for (args, needle) in cases {
            let r = run(args)
            let what = "auditor " + args.joined(separator: " ")
            assertNoCrash(r, what)
            XCTAssertEqual(r.code, 64, "\(what)\nstderr:\n\(r.err)")
            XCTAssertEqual(r.out, "", what)
            XCTAssertTrue(r.err.contains(needle), "\(what): expected '\(needle)' in:\n\(r.err)")
        }
    }

    /// A mistyped subcommand is a usage error that names the nearest one; a word far from every subcommand keeps the
    /// parser's own message.
    func testUnknownCommandSuggestsNearest() {
        for (word, near) in [("socre", "'score'"), ("audti", "'audit'"), ("insepct", "'inspect'"), ("histroy", "'history'")] {
            let r = run([word, "x"])
            assertNoCrash(r, "auditor \(word)")
            XCTAssertEqual(r.code, 64, r.err)
            XCTAssertEqual(r.out, "", word)
            XCTAssertTrue(r.err.hasPrefix("Error: unknown command '\(word)'; did you mean \(near)?\n"), r.err)
        }
        let far = run(["frobnicate"])
        XCTAssertEqual(far.code, 64, far.err)
        XCTAssertFalse(far.err.contains("did you mean"), far.err)
    }

    /// A mistyped option is a usage error that names the nearest option of that command (issue 15: `--resample`).
    func testUnknownOptionSuggestsNearest() {
        let llama = fixture("tiny/llama")
        let cases: [([String], String)] = [
            (["mia", llama, "--members", "m.jsonl", "--nonmembers", "n.jsonl", "--resample", "5"],
             "Error: unknown option '--resample' for 'auditor mia'; did you mean '--resamples'?\nSee 'auditor mia --help'.\n"),
            // The option's value would otherwise be taken for CHECKPOINT, and the parser's own suggestion never shown.
            (["canary", "exposure", "--manifest", "m.json", "--refrences", "10"],
             "Error: unknown option '--refrences' for 'auditor canary exposure'; did you mean '--references'?\nSee 'auditor canary exposure --help'.\n"),
            (["audit", "spec.yml", "--qiet"], "Error: unknown option '--qiet' for 'auditor audit'; did you mean '--quiet'?\n"),
            (["generate", llama, "--prompt", "hi", "--max-new-token=3"], "Error: unknown option '--max-new-token' for 'auditor generate'; did you mean '--max-new-tokens'?\n"),
            (["dp", "noise", "--epsilom", "8"], "Error: unknown option '--epsilom' for 'auditor dp noise'; did you mean '--epsilon'?\n"),
        ]
        for (args, needle) in cases {
            let r = run(args)
            assertNoCrash(r, args.joined(separator: " "))
            XCTAssertEqual(r.code, 64, r.err)
            XCTAssertEqual(r.out, "")
            XCTAssertTrue(r.err.contains(needle), "\(args): expected \(needle) in\n\(r.err)")
        }
    }

    /// `generate --quiet` exists (issue 15) and writes nothing to stderr; silence on short runs without it is tested
    /// on a synthetic clock (ProgressTests.testShortRunIsSilent), since this test must not depend on the machine's speed.
    func testGenerateQuiet() {
        let r = run(["generate", fixture("tiny/llama"), "--prompt", "hello", "--max-new-tokens", "8", "--quiet"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertFalse(r.out.isEmpty)
        XCTAssertEqual(r.err, "")
    }

    /// Option values far beyond the model's sizes: clamped or refused, never a crash.
    func testExtremeOptionValues() throws {
        let llama = fixture("tiny/llama")
        let dir = scratchDirectory()
        let input = try writeLines([#"{"text":"hello world"}"#], to: dir.appendingPathComponent("in.jsonl"))
        // More than the 600-token vocabulary: the whole vocabulary, sorted.
        let r = run(["score", llama, "--input", input, "--top-k", "1000"])
        assertNoCrash(r, "score --top-k 1000")
        XCTAssertEqual(r.code, 0, r.err)
        let top = (jsonObjects(r.out).first?["top_k"] as? [[[NSNumber]]]) ?? []
        XCTAssertFalse(top.isEmpty)
        XCTAssertTrue(top.allSatisfy { $0.count == 600 }, "top-k capped at the vocabulary size")
        // A huge batch is only an upper bound.
        let big = run(["score", llama, "--input", input, "--batch-tokens", "\(Int.max)"])
        assertNoCrash(big, "score --batch-tokens Int.max")
        XCTAssertEqual(big.code, 0, big.err)
    }

    /// Absurd sizes are clamped (k to the vocabulary, new tokens to the context), never a crash.
    func testHugeTopKDoesNotCrash() throws {
        let dir = scratchDirectory()
        let input = try writeLines([#"{"text":"hello world"}"#], to: dir.appendingPathComponent("in.jsonl"))
        let r = run(["score", fixture("tiny/llama"), "--input", input, "--top-k", "100000000000000"])
        assertNoCrash(r, "score --top-k 1e14")
        XCTAssertTrue([0, 2, 64].contains(r.code), "exit code \(r.code)")
    }

    func testHugeMaxNewTokensDoesNotCrash() throws {
        let r = run(["generate", fixture("tiny/llama"), "--prompt", "hi", "--max-new-tokens", "\(Int.max)", "--json"])
        assertNoCrash(r, "generate --max-new-tokens Int.max")
        XCTAssertTrue([0, 2, 64].contains(r.code), "exit code \(r.code)")
    }

    /// A prompt that encodes to no tokens is bad input (exit 2), not a precondition failure in the model.
    func testEmptyPromptIsBadInput() {
        assertBadInput(["generate", fixture("tiny/llama"), "--prompt", "hi", "--prompt", ""], file: "prompt 2",
                       problem: "the prompt has no tokens")
    }
}

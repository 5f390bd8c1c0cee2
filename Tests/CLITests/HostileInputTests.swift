// Hostile input and faults: huge numbers refused with their bound, manifests whose canaries do not fit their format,
// a FIFO or folder where a checkpoint file is expected, Ctrl-C during an audit and during fine-tuning.
import Foundation
import Store
import XCTest

final class HostileInputTests: XCTestCase {
    let llama = fixture("tiny/llama")
    let huge = "9223372036854775807"

    /// A usage error (exit 64, nothing on stdout) whose message contains `needle`; never a trap.
    func assertUsage(_ args: [String], _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        let r = run(args, file: file, line: line)
        let what = "auditor " + args.joined(separator: " ")
        assertNoCrash(r, what, file: file, line: line)
        XCTAssertEqual(r.code, 64, "\(what)\nstderr:\n\(r.err)", file: file, line: line)
        XCTAssertEqual(r.out, "", what, file: file, line: line)
        XCTAssertTrue(r.err.contains(needle), "\(what): expected '\(needle)' in:\n\(r.err)", file: file, line: line)
    }

    func manifest(_ dir: URL, _ canaries: [[String: Any]]) throws -> String {
        let url = dir.appendingPathComponent("canaries.json")
        try JSONSerialization.data(withJSONObject: ["seed": 1, "canaries": canaries], options: [.sortedKeys]).write(to: url)
        return url.path
    }

    // MARK: 2. huge integers

    func testHugeOptionValuesAreRefusedWithTheirBound() throws {
        let dir = scratchDirectory()
        let texts = try writeLines(["{\"text\": \"hello there\"}"], to: dir.appendingPathComponent("t.jsonl"))
        let m = try manifest(dir, [["id": "c1", "format": "the code is {digits:6}", "text": "the code is 123456", "repetitions": 1]])
        assertUsage(["extract", llama, "--input", texts, "--prefix", huge, "--suffix", "1"], "--prefix must be at most 1000000")
        assertUsage(["extract", llama, "--input", texts, "--prefix", "4", "--suffix", huge], "--suffix must be at most 1000000")
        assertUsage(["extract", llama, "--input", texts, "--n", huge], "--n must be at most 1000000000")
        assertUsage(["mia", llama, "--members", texts, "--nonmembers", texts, "--resamples", huge], "--resamples must be at most 100000")
        assertUsage(["canary", "exposure", llama, "--manifest", m, "--references", huge], "--references must be at most 10000000")
        assertUsage(["canary", "exposure", llama, "--manifest", m, "--enumerate-up-to", huge], "--enumerate-up-to must be at most 10000000")
        assertUsage(["canary", "generate", "--format", "pin {digits:6}", "--per-repetition", huge, "-o", dir.appendingPathComponent("m.json").path],
                    "--per-repetition must be at most 100000")
        assertUsage(["generate", llama, "--prompt", "hi", "--max-new-tokens", huge], "--max-new-tokens must be at most 1000000")
        assertUsage(["history", "--limit", huge], "--limit must be at most 1000000")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("m.json").path))
    }

    func testHugeSpecValuesAreRefusedAtTheirLine() throws {
        let dir = scratchDirectory()
        let texts = try writeLines(["{\"text\": \"hello there\"}"], to: dir.appendingPathComponent("t.jsonl"))
        let m = try manifest(dir, [["id": "c1", "format": "the code is {digits:6}", "text": "the code is 123456", "repetitions": 1]])
        let cases: [(String, String)] = [
            ("  canary:\n    references: 1000000000000\n", "attacks.canary.references: expected an integer in [1, 10000000], got 1000000000000"),
            ("  canary:\n    enumerate_up_to: \(huge)\n", "attacks.canary.enumerate_up_to: expected an integer in [0, 10000000]"),
            ("  extraction:\n    suffix: \(huge)\n", "attacks.extraction.suffix: expected an integer in [1, 1000000]"),
            ("  extraction:\n    prefix: [\(huge)]\n", "attacks.extraction.prefix: expected an integer in [1, 1000000]"),
            ("  extraction:\n    n: 10000000000\n", "attacks.extraction.n: expected an integer in [1, 1000000000]"),
            ("  mia:\n    resamples: \(huge)\n", "attacks.mia.resamples: expected an integer in [1, 100000]"),
        ]
        for (attack, problem) in cases {
            let spec = dir.appendingPathComponent("audit.yaml")
            let text = """
                version: 1
                name: huge
                target:
                  checkpoint: \(llama)
                datasets:
                  members: \(texts)
                  nonmembers: \(texts)
                  extraction: \(texts)
                  canaries: \(m)
                attacks:

                """ + attack
            try Data(text.utf8).write(to: spec)
            // One line, exit 2, at file:line:column of the value (line 12: the key under the attack).
            let r = run(["audit", spec.path, "--db", dir.appendingPathComponent("runs.sqlite").path])
            assertNoCrash(r, attack)
            XCTAssertEqual(r.code, 2, "\(attack): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
            XCTAssertTrue(r.err.hasPrefix("auditor: error: \(spec.path):12:"), r.err)
            XCTAssertTrue(r.err.contains(problem), "expected '\(problem)' in: \(r.err)")
        }
    }

    // MARK: 3. canaries that do not fit their format

    func testCanaryManifestTextsMustFitTheirFormat() throws {
        let dir = scratchDirectory()
        let cases: [([String: Any], String)] = [
            (["id": "short", "format": "the code is {digits:6}", "text": "the code is 12", "repetitions": 1],
             "canary 'short': text 'the code is 12' does not fit its format 'the code is {digits:6}'"),
            (["id": "letter", "format": "the code is {digits:6}", "text": "the code is 12345a", "repetitions": 1],
             "canary 'letter': text 'the code is 12345a' does not fit"),
            (["id": "other", "format": "the code is {digits:6}", "text": "my PIN is 123456", "repetitions": 1],
             "canary 'other': text 'my PIN is 123456' does not fit"),
            (["id": "zero", "format": "the code is {digits:6}", "text": "the code is 123456", "repetitions": 0],
             "canary 'zero': repetitions must be >= 1, got 0"),
            (["id": "negative", "format": "the code is {digits:6}", "text": "the code is 123456", "repetitions": -3],
             "canary 'negative': repetitions must be >= 1, got -3"),
            (["id": "noslot", "format": "the code is", "text": "the code is", "repetitions": 1], "noslot: canary format 'the code is' has no"),
        ]
        for (canary, problem) in cases {
            let good: [String: Any] = ["id": "ok", "format": "the code is {digits:6}", "text": "the code is 654321", "repetitions": 2]
            let m = try manifest(dir, [good, canary])
            // Refused before the model is loaded: a checkpoint that does not exist is never reached.
            assertBadInput(["canary", "exposure", dir.appendingPathComponent("no-such-model").path, "--manifest", m], file: m, problem: problem)
        }
        // A words format is checked for its shape without the list (N space-separated words).
        let m = try manifest(dir, [["id": "w", "format": "say {words:3} now", "text": "say two words now", "repetitions": 1]])
        assertBadInput(["canary", "exposure", llama, "--manifest", m], file: m, problem: "canary 'w': text 'say two words now' does not fit")
    }

    // MARK: 4. a FIFO or a folder where a checkpoint file is expected

    func testFIFOAndFolderCheckpointsAreRefusedAtOnce() throws {
        let dir = scratchDirectory()
        let fifo = dir.appendingPathComponent("f").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        assertBadInput(["inspect", fifo], file: fifo, problem: "not a regular file")
        // A FIFO in place of a file inside a checkpoint folder.
        let copy = try scratchCopy("tiny/llama")
        for name in ["model.safetensors", "config.json", "tokenizer.json"] {
            let broken = scratchDirectory().appendingPathComponent("ckpt")
            try FileManager.default.copyItem(at: copy, to: broken)
            let f = broken.appendingPathComponent(name).path
            try FileManager.default.removeItem(atPath: f)
            XCTAssertEqual(mkfifo(f, 0o644), 0)
            assertBadInput(["inspect", broken.path], file: f, problem: "not a regular file")
            try FileManager.default.removeItem(atPath: f)
            try FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: false)
            let r = run(["inspect", broken.path])
            XCTAssertEqual(r.code, 2, "\(name) as a folder: \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("auditor: error: \(f)"), r.err)
        }
    }

    // MARK: 1. Ctrl-C

    /// Starts `auditor args` with stdout and stderr into `log`, waits for `started` in it, sends SIGINT, and returns
    /// the process once it has ended (killed, and the test failed, if it runs on 20 s: a hang guard, not a timing test).
    func interrupt(_ args: [String], log: URL, after started: String, file: StaticString = #filePath, line: UInt = #line) throws -> Process {
        let p = Process()
        p.executableURL = auditorBinary
        p.arguments = args
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h; p.standardError = h
        try p.run()
        func read() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        let deadline = Date().addingTimeInterval(120)
        while !read().contains(started) && Date() < deadline && p.isRunning { usleep(50_000) }
        XCTAssertTrue(read().contains(started), read(), file: file, line: line)
        kill(p.processIdentifier, SIGINT)
        let stop = Date().addingTimeInterval(20)
        while p.isRunning && Date() < stop { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); XCTFail("still running 20 s after SIGINT", file: file, line: line) }
        p.waitUntilExit()
        return p
    }

    /// On SmolLM2, where OpenBLAS runs worker threads: `exit` from the signal handler used to wait for them in an
    /// atexit handler while the main thread computed on, so the audit ran to its end.
    func testCtrlCStopsAnAuditPromptly() throws {
        let model = try cachedSmolLM2()
        let dir = scratchDirectory()
        // 2 x 400 texts of 150 words: minutes of scoring, far more than the 20 s allowed after the signal.
        let words = "the of and to in is was for on that with as by at from it an be this which or are".split(separator: " ")
        for (k, name) in ["m", "n"].enumerated() {
            _ = try writeLines((0..<400).map { i in
                "{\"text\": \"\((0..<150).map { j in String(words[(i * 7 + j * j * 3 + k) % words.count]) }.joined(separator: " "))\"}"
            }, to: dir.appendingPathComponent(name + ".jsonl"))
        }
        let spec = dir.appendingPathComponent("audit.yaml")
        try Data("""
            version: 1
            name: interrupted
            target:
              checkpoint: \(model)
            datasets:
              members: m.jsonl
              nonmembers: n.jsonl
            attacks:
              mia:
                resamples: 100

            """.utf8).write(to: spec)
        let db = dir.appendingPathComponent("runs.sqlite").path, log = dir.appendingPathComponent("log")
        let p = try interrupt(["audit", spec.path, "--db", db, "--reports", dir.appendingPathComponent("reports").path],
                              log: log, after: "inputs done")
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 130, text)
        XCTAssertTrue(text.contains("marked interrupted"), text)
        let h = run(["history", "--db", db, "--json"])
        XCTAssertEqual(h.code, 0, h.err)
        XCTAssertEqual(jsonObjects(h.out).map { $0["status"] as? String }, ["interrupted"])
        XCTAssertEqual(try Store(path: db).integrityCheck(), "ok")
    }

    func testCtrlCStopsFinetunePromptlyAndLeavesNoOutput() throws {
        let dir = scratchDirectory()
        let train = try writeLines(["{\"text\": \"The quick brown fox jumps over the lazy dog near the river bank.\"}"],
                                   to: dir.appendingPathComponent("train.jsonl"))
        let out = dir.appendingPathComponent("out").path, log = dir.appendingPathComponent("log")
        // A held-out loss every step, so that a progress line comes at once; 100000 steps would take far too long.
        let p = try interrupt(["finetune", llama, "--data", train, "--eval", train, "--eval-every", "1", "--steps", "100000",
                               "--out", out, "--db", dir.appendingPathComponent("runs.sqlite").path], log: log, after: "step 1/100000")
        func read() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 130, read())
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".out") }
        XCTAssertEqual(left, [], "no temporary output left behind")
    }
}

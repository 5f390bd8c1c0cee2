// The README cannot drift from the tool: every `auditor ...` line in its code blocks is parsed and validated by the
// built binary's real argument parser (AUDITOR_PARSE_ONLY=1), every option `--help` lists is documented, the blocks
// that show output are run and their output compared, and the "auditing your own model" path is executed.
//
// How each block is covered:
// - synopsis lines (`auditor mia [CHECKPOINT] --members m.jsonl ... [--k 0.2,0.5]`) are made concrete (optional parts
//   kept, the first of `a|b`, placeholders such as N given a value) and parsed: an unknown option, a wrong subcommand or
//   a value the command refuses fails the test;
// - `$ auditor inspect`, `$ auditor generate ...`, `$ auditor inspect truncated.gguf`, `$ auditor dp epsilon|noise ...`
//   run on the cached SmolLM2 and must print what the README shows;
// - the quickstart's console block and report excerpt are compared with a real run by AuditQuickstartTests
//   (`testReadmeShowsThisRun`), which runs that audit anyway;
// - the own-model path runs as written except that `finetune` trains the tiny Llama fixture instead of SmolLM2
//   (minutes of training there), so the canaries, the training, the audit and the gate are all exercised;
// - the example audit spec of "Audits" (every key) goes through the real spec reader with stand-in files;
// - long runs (the SmolLM2 fine-tunes, `compare audits/compare.yml`, the unlearning demonstration, the served-model
//   commands) are parsed only; their figures are the measured records the README says they are.
import Foundation
import XCTest

final class ReadmeCommandsTests: XCTestCase {
    static let readme = repoRoot.appendingPathComponent("README.md")

    struct Block { let info: String; let lines: [String]; let firstLine: Int }

    /// The fenced code blocks of the README, with their info string and the line number of their first line.
    static func blocks() throws -> [Block] {
        let text = try String(contentsOf: readme, encoding: .utf8)
        var out: [Block] = [], current: [String]? = nil, info = "", start = 0
        for (i, line) in text.components(separatedBy: "\n").enumerated() {
            if line.hasPrefix("```") {
                if let c = current { out.append(Block(info: info, lines: c, firstLine: start)); current = nil }
                else { current = []; info = String(line.dropFirst(3)); start = i + 2 }
            } else if current != nil {
                current!.append(line)
            }
        }
        return out
    }

    /// Every auditor command line of the README's code blocks, as written (continuation lines joined), with its line.
    static func commandLines() throws -> [(text: String, line: Int)] {
        var out: [(String, Int)] = []
        for b in try blocks() where b.info == "sh" || b.info == "" {
            var i = 0
            while i < b.lines.count {
                var l = b.lines[i]
                let n = b.firstLine + i
                i += 1
                if b.info == "" {
                    guard l.hasPrefix("$ ") else { continue }
                    l = String(l.dropFirst(2))
                }
                var command: String
                if l.hasPrefix("auditor ") {
                    command = l
                } else if let r = l.range(of: "/auditor ") {   // `swift build ... && .build/release/auditor compare ...`
                    command = String(l[l.index(after: r.lowerBound)...])
                } else {
                    continue
                }
                // A shell line continued with a trailing backslash, as the shell reads it.
                while command.hasSuffix("\\"), i < b.lines.count {
                    command = String(command.dropLast()).trimmingCharacters(in: .whitespaces) + " " + b.lines[i].trimmingCharacters(in: .whitespaces)
                    i += 1
                }
                // Synopsis lines continue on indented lines.
                while b.info == "sh", i < b.lines.count, b.lines[i].hasPrefix("  "), !b.lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("auditor ") {
                    command += " " + b.lines[i].trimmingCharacters(in: .whitespaces)
                    i += 1
                }
                out.append((command, n))
            }
        }
        return out
    }

    /// Shell words of `s`: whitespace-separated, with '...' and "..." quoting.
    static func words(_ s: String) -> [String] {
        var out: [String] = [], cur = "", quote: Character? = nil, any = false
        for ch in s {
            if let q = quote {
                if ch == q { quote = nil } else { cur.append(ch) }
            } else if ch == "'" || ch == "\"" {
                quote = ch; any = true
            } else if ch == " " || ch == "\t" {
                if any || !cur.isEmpty { out.append(cur) }
                cur = ""; any = false
            } else {
                cur.append(ch)
            }
        }
        if any || !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Placeholders of synopsis lines and a value of the right type for each.
    static let placeholders = ["N": "2", "K": "3", "A": "1", "B": "0.1", "M": "graddiff", "NATS": "1.5"]

    /// A synopsis made concrete: the comment cut, optional parts kept (brackets dropped), the first of `a|b`, a
    /// repetition (`[--prompt ...]`, `'EXPR' ...`) dropped, placeholders given values. `summary` is true for a line
    /// that names its subcommand and then says `...` ("see below"): only the subcommand is checked, with --help.
    static func concrete(_ command: String) -> (args: [String], summary: Bool) {
        var text = command
        if let hash = text.range(of: " #") { text = String(text[..<hash.lowerBound]) }
        text = text.replacingOccurrences(of: "\"...\"", with: "text")   // --prompt "..."
        var args: [String] = [], summary = false
        for w in words(text).dropFirst() {   // "auditor"
            if w == "...", args.allSatisfy({ !$0.hasPrefix("-") }) { summary = true; break }
            var t = w
            if !w.contains(" ") {   // quoted values with spaces are values, kept whole
                t = t.replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: "")
                if t.hasSuffix("...") {
                    t = String(t.dropLast(3))
                    // "[--prompt ...]": an option repeated, without a value of its own.
                    if t.isEmpty, let last = args.last, last.hasPrefix("--"), w.hasSuffix("]") || w == "..." { args.removeLast() }
                }
                if t.contains("|"), !t.contains(":") { t = String(t.split(separator: "|")[0]) }
            }
            if t.isEmpty { continue }
            args.append(placeholders[t] ?? t)
        }
        return (args, summary)
    }

    func testEveryCommandLineParses() throws {
        let lines = try Self.commandLines()
        XCTAssertGreaterThan(lines.count, 40, "the README's auditor lines were found")
        var subcommands = Set<String>()
        for (command, line) in lines {
            let (parsed, summary) = Self.concrete(command)
            let args = summary ? parsed + ["--help"] : parsed
            // --help, --version and --generate-completion-script print their text; everything else just parses.
            let printsText = args.contains { ["--help", "--version", "--generate-completion-script"].contains($0) }
            let r = run(args, environment: ["AUDITOR_PARSE_ONLY": "1"])
            assertNoCrash(r, command)
            XCTAssertEqual(r.code, 0, "README.md:\(line): `\(command)` as \(args) does not parse:\n\(r.err)")
            XCTAssertTrue(printsText ? !r.out.isEmpty : r.out.hasPrefix("parsed: "), "README.md:\(line): \(r.out)")
            subcommands.insert(args.first ?? "")
        }
        // Every command of the tool appears in the README at least once.
        for c in Self.topLevelCommands(run(["--help"]).out) {
            XCTAssertTrue(subcommands.contains(c), "no `auditor \(c) ...` line in the README's code blocks")
        }
    }

    /// The parse check itself fails on a wrong option, a wrong subcommand and a refused value.
    func testParseOnlyModeRefusesMistakes() {
        for args in [["mia", "--members", "m.jsonl", "--nonmembers", "n.jsonl", "--resample", "5"],
                     ["canary", "expose", "--manifest", "m.json"],
                     ["generate", "--prompt", "x", "--top-p", "0"]] {
            let r = run(args, environment: ["AUDITOR_PARSE_ONLY": "1"])
            XCTAssertEqual(r.code, 64, "\(args): \(r.err)")
            XCTAssertEqual(r.out, "")
        }
        XCTAssertEqual(run(["dp", "epsilon", "--q", "0.01", "--noise", "1", "--steps", "10", "--delta", "1e-5"], environment: ["AUDITOR_PARSE_ONLY": "1"]).out,
                       "parsed: epsilon\n")
    }

    static func topLevelCommands(_ help: String) -> [String] {
        guard let r = help.range(of: "SUBCOMMANDS:\n") else { return [] }
        // A command's line is indented by two spaces; its wrapped description continues further in.
        return help[r.upperBound...].components(separatedBy: "\n").prefix { !$0.isEmpty }.compactMap { l in
            guard l.hasPrefix("  "), !l.hasPrefix("   ") else { return nil }
            let w = l.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
            return w.flatMap { $0.first?.isLetter == true ? $0 : nil }
        }
    }

    /// Options (--long names) a command's --help lists after its usage line, --help and --version aside.
    static func options(_ help: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: "(?<![\\w-])--[a-z][a-z0-9-]*")
        let listed = help.range(of: "USAGE:").map { r in String(help[r.upperBound...].drop { $0 != "\n" }) } ?? help
        let ns = listed as NSString
        let found = pattern.matches(in: listed, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range) }
        var seen = Set<String>()
        return found.filter { !["--help", "--version"].contains($0) && seen.insert($0).inserted }
    }

    /// The README's option reference names every option of every command: its line for the command (a list item that
    /// starts with `auditor COMMAND`) lists each option `--help` shows.
    func testEveryOptionIsDocumented() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8)
        let items = text.components(separatedBy: "\n").filter { $0.hasPrefix("- **`auditor ") }
        var commands: [[String]] = []
        for c in Self.topLevelCommands(run(["--help"]).out) {
            let sub = Self.topLevelCommands(run([c, "--help"]).out)
            if sub.isEmpty { commands.append([c]) } else { commands += sub.map { [c, $0] } }
        }
        XCTAssertGreaterThan(commands.count, 25)
        for c in commands {
            let name = "auditor " + c.joined(separator: " ")
            guard let item = items.first(where: { $0.hasPrefix("- **`\(name)`**") }) else {
                XCTFail("README: no option reference item `- **`\(name)`** ...`"); continue
            }
            for o in Self.options(run(c + ["--help"]).out) {
                XCTAssertTrue(item.contains("`\(o)"), "README's item for `\(name)` does not list \(o)")
            }
        }
        for needle in ["auditor --version", "auditor --generate-completion-script bash"] {
            XCTAssertTrue(text.contains(needle), needle)
        }
    }

    /// The output blocks that show a command and what it printed, run again on the cached SmolLM2.
    func testShownOutputsMatch() throws {
        let model = try cachedSmolLM2()
        let shown = try Self.blocks().filter { $0.info == "" && $0.lines.first?.hasPrefix("$ auditor ") == true }
        var ran = 0
        for b in shown {
            // Each "$ auditor ..." line and the lines up to the next blank line or "$" line are one command and its output.
            var i = 0
            while i < b.lines.count {
                guard b.lines[i].hasPrefix("$ auditor ") else { i += 1; continue }
                let command = String(b.lines[i].dropFirst("$ auditor ".count))
                var expected: [String] = []
                i += 1
                while i < b.lines.count, !b.lines[i].isEmpty, !b.lines[i].hasPrefix("$ ") { expected.append(b.lines[i]); i += 1 }
                var args = Self.words(command)
                let dir = scratchDirectory()
                var replace: [(String, String)] = []
                if args.last == "truncated.gguf" {
                    // The README's truncated file: SmolLM2's first 1,000 bytes.
                    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: model))
                    let head = try handle.read(upToCount: 1000) ?? Data()
                    try handle.close()
                    let path = dir.appendingPathComponent("truncated.gguf")
                    try head.write(to: path)
                    args[args.count - 1] = path.path
                    replace.append((path.path, "truncated.gguf"))
                }
                replace.append((model, "/root/.cache/auditor/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
                let r = run(args, timeout: 600)
                assertNoCrash(r, command)
                var actual = (r.out + r.err.components(separatedBy: "\n").filter { $0.hasPrefix("auditor: error:") }.joined(separator: "\n"))
                for (a, b) in replace { actual = actual.replacingOccurrences(of: a, with: b) }
                let lines = actual.components(separatedBy: "\n").filter { !$0.isEmpty }
                XCTAssertEqual(lines, expected, "README.md:\(b.firstLine): `auditor \(command)`")
                ran += 1
            }
        }
        XCTAssertEqual(ran, 5, "inspect, generate, inspect truncated.gguf, dp epsilon, dp noise")
    }

    /// The "auditing your own model" path, as written, except that the fine-tune trains the tiny Llama fixture: the
    /// canaries are planted, trained on, audited, and the exit status gates.
    func testOwnModelPathRuns() throws {
        let blocks = try Self.blocks()
        let text = try String(contentsOf: Self.readme, encoding: .utf8)
        guard let section = text.range(of: "## Auditing your own model") else { return XCTFail("no own-model section") }
        let firstLine = text[..<section.lowerBound].components(separatedBy: "\n").count
        let mine = blocks.filter { $0.firstLine > firstLine }.prefix(2)
        let sh = try XCTUnwrap(mine.first { $0.info == "sh" }), yaml = try XCTUnwrap(mine.first { $0.info == "yaml" })
        let dir = scratchDirectory()
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("audits"), withDestinationURL: repoRoot.appendingPathComponent("audits"))
        try Data((yaml.lines.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent("my-audit.yml"))
        var audited = false
        for line in sh.lines {
            let code = line.components(separatedBy: " #").first!.trimmingCharacters(in: .whitespaces)
            guard code.hasPrefix("auditor ") else { continue }
            var args = Self.words(code).dropFirst().map { $0 }
            if args.first == "finetune" { args.insert(fixture("tiny/llama"), at: 1) }
            let r = run(args, timeout: 600, in: dir)
            assertNoCrash(r, code)
            if args.first == "audit" {
                // The gate: 0 when every threshold holds, 1 on a breach; either way the report is written.
                XCTAssertTrue([0, 1].contains(r.code), "\(code): \(r.err)")
                XCTAssertTrue(r.out.hasPrefix(r.code == 0 ? "PASS: " : "BREACH: "), r.out)
                XCTAssertTrue(r.out.contains("report: reports/"), r.out)
                audited = true
            } else {
                XCTAssertEqual(r.code, 0, "\(code): \(r.err)")
            }
        }
        XCTAssertTrue(audited, "the path ends in an audit")
        // The canaries were really trained on: the training data holds each one as often as its repetition count.
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("train.jsonl.manifest.json"))) as? [String: Any])
        let canaries = try XCTUnwrap(manifest["canaries"] as? [[String: Any]])
        let train = try String(contentsOf: dir.appendingPathComponent("train.jsonl"), encoding: .utf8)
        for c in canaries {
            let t = try XCTUnwrap(c["text"] as? String)
            XCTAssertEqual(train.components(separatedBy: "\"\(t)\"").count - 1, c["repetitions"] as? Int, t)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("my-model/model.safetensors").path))
    }

    /// The README's example audit spec (the "Audits" section, every key shown) is read by the real spec reader: its
    /// files are stand-ins, so the run stops at the first manifest's content, never at the spec.
    /// The README's example spec is audits/example.yml, and it runs as written on the shipped data: every attack, both
    /// checkpoints, the verdict it is meant to give (the quickstart's LOSS AUC breaches 0.60: exit 1, not 2).
    func testExampleSpecIsTheShippedFileAndRunsAsWritten() throws {
        let yaml = try XCTUnwrap(try Self.blocks().first { $0.info == "yaml" && $0.lines.contains("name: release candidate 7") })
        let file = repoRoot.appendingPathComponent("audits/example.yml")
        XCTAssertEqual(yaml.lines.joined(separator: "\n") + "\n", try String(contentsOf: file, encoding: .utf8),
                       "README.md:\(yaml.firstLine): the example spec differs from audits/example.yml")
        _ = try cachedSmolLM2()   // `checkpoint: default` is this file
        let dir = scratchDirectory()
        let r = run(["audit", file.path, "--db", dir.appendingPathComponent("runs.sqlite").path, "--reports", dir.appendingPathComponent("reports").path,
                     "--quiet"], timeout: 1200)
        assertNoCrash(r, "audit audits/example.yml")
        XCTAssertEqual(r.code, 1, "the example spec must run on the shipped data and breach only on the LOSS AUC:\n\(r.out)\n\(r.err)")
        XCTAssertTrue(r.out.contains("BREACH: 1 of 3 thresholds breached: mia.loss.auc"), r.out)
    }
}

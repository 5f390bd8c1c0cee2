// `auditor audit | history | diff | report` end to end on the tiny fixture: exit codes 0/1/2, the JUnit file, spec
// errors with file:line:column, redaction, a killed run, two audits writing one store at once.
import Foundation
import Store
import XCTest

final class AuditCLITests: XCTestCase {
    let llama = fixture("tiny/llama")

    let memberTexts = [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "A stitch in time saves nine, as the old saying goes in every village.",
        "Water boils at one hundred degrees at sea level under normal pressure.",
        "The library opens at nine and closes at five on every weekday.",
        "She planted tomatoes, beans and squash along the southern fence.",
        "Our meeting moved to Thursday because the room was double booked.",
    ]
    let nonmemberTexts = [
        "Seven lanterns hung from the bridge while the boats drifted past.",
        "He tuned the old piano before the concert started in the hall.",
        "The train to the coast leaves twice a day from the north platform.",
        "Bread rises faster in a warm kitchen than in a cold cellar.",
        "They painted the shed green and the fence a pale shade of blue.",
        "Rain is expected over the hills tonight with clearing by morning.",
    ]
    /// The planted secret: a canary the audit measures. It must never reach a report unless asked.
    let secret = "my PIN is 493817"

    /// A folder with data, a canary manifest and a spec whose thresholds are `thresholds`.
    private func setUpAudit(thresholds: [String], extraction: Bool = true, members: [String]? = nil,
                            nonmembers: [String]? = nil) throws -> (dir: URL, spec: String) {
        let dir = scratchDirectory()
        func jsonl(_ texts: [String], _ name: String) throws {
            _ = try writeLines(texts.enumerated().map { i, t in
                String(decoding: try! JSONSerialization.data(withJSONObject: ["id": "\(name)-\(i)", "text": t], options: [.sortedKeys]), as: UTF8.self)
            }, to: dir.appendingPathComponent("\(name).jsonl"))
        }
        try jsonl(members ?? memberTexts, "members")
        try jsonl(nonmembers ?? nonmemberTexts, "nonmembers")
        let manifest: [String: Any] = ["seed": 1, "canaries": [
            ["id": "c1", "format": "my PIN is {digits:6}", "text": secret, "repetitions": 10],
            ["id": "c2", "format": "my PIN is {digits:6}", "text": "my PIN is 220571", "repetitions": 1],
        ]]
        try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys]).write(to: dir.appendingPathComponent("canaries.json"))
        let spec = """
            version: 1
            name: tiny audit
            seed: 3
            target:
              checkpoint: \(llama)
            datasets:
              members: members.jsonl
              nonmembers: nonmembers.jsonl
              extraction: members.jsonl
              canaries: canaries.json
            attacks:
              mia:
                k: [0.2, 0.5]
                resamples: 200
            \(extraction ? "  extraction:\n    prefix: [4, 6]\n    suffix: 4\n" : "")  canary:
                references: 200
            thresholds:
            \(thresholds.map { "  - \($0)" }.joined(separator: "\n"))

            """
        let path = dir.appendingPathComponent("audit.yml").path
        try Data(spec.utf8).write(to: URL(fileURLWithPath: path))
        return (dir, path)
    }

    private func audit(_ spec: String, in dir: URL, _ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) -> RunResult {
        let r = run(["audit", spec, "--db", dir.appendingPathComponent("runs.sqlite").path,
                     "--reports", dir.appendingPathComponent("reports").path] + extra, file: file, line: line)
        assertNoCrash(r, "audit", file: file, line: line)
        return r
    }

    private func runID(_ r: RunResult, file: StaticString = #filePath, line: UInt = #line) -> String {
        guard let l = r.out.split(separator: "\n").first(where: { $0.hasPrefix("run: ") }) else {
            XCTFail("no 'run:' line in\n\(r.out)\n\(r.err)", file: file, line: line); return ""
        }
        return String(l.dropFirst(5).split(separator: " ")[0])
    }

    private func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    // MARK: exit codes and the JUnit file

    /// Extraction texts too short for the longest prefix + suffix are refused in the inputs step, before any model
    /// work, each named by its id with its length (issue 15: the first one only, by position, after the MIA step).
    func testShortExtractionTextsAreAllNamedBeforeAnyModelWork() throws {
        var members = memberTexts
        members[1] = "Hi."; members[3] = "Ok then."
        let (dir, spec) = try setUpAudit(thresholds: ["mia.loss.auc <= 1.0"], members: members)
        let r = audit(spec, in: dir)
        XCTAssertEqual(r.code, 2, r.err)
        let line = try XCTUnwrap(r.err.components(separatedBy: "\n").first { $0.hasPrefix("auditor: error: ") }, r.err)
        XCTAssertTrue(line.hasPrefix("auditor: error: \(dir.appendingPathComponent("members.jsonl").path): 2 of 6 texts have fewer tokens than the longest prefix + suffix = 10 that extraction needs: 'members-1' ("), line)
        XCTAssertTrue(line.contains(" tokens), 'members-3' ("), line)
        XCTAssertFalse(line.contains("members-0") || line.contains("members-2"), line)
        XCTAssertFalse(r.err.contains("audit: mia done"), "no MIA work before the check\n\(r.err)")
        let store = try Store(path: dir.appendingPathComponent("runs.sqlite").path)
        let runs = try store.runs()
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(try store.load(runID: runs[0].id).steps.map(\.name), [], "not even the inputs step was committed")
    }

    func testPassingAuditExitsZeroAndWritesEveryFile() throws {
        let (dir, spec) = try setUpAudit(thresholds: ["mia.loss.auc <= 1.0", "canary.exposure.max <= 100"])
        let r = audit(spec, in: dir)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("PASS: All 2 thresholds hold."), r.out)
        let id = runID(r)
        let rep = dir.appendingPathComponent("reports").appendingPathComponent(id)
        for f in ["report.md", "report.html", "summary.json", "junit.xml", "roc.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: rep.appendingPathComponent(f).path), "missing \(f)")
        }
        let md = read(rep.appendingPathComponent("report.md"))
        // Provenance: the spec's and the checkpoint's SHA-256, checked with sha256sum.
        XCTAssertTrue(md.contains(try sha256sum(spec)), "spec hash missing")
        XCTAssertTrue(md.contains(try sha256sum(llama + "/model.safetensors")), "checkpoint file hash missing")
        XCTAssertTrue(md.contains(try sha256sum(llama + "/tokenizer.json")), "tokenizer hash missing")
        XCTAssertTrue(md.contains(try sha256sum(dir.appendingPathComponent("members.jsonl").path)), "dataset hash missing")
        let junit = read(rep.appendingPathComponent("junit.xml"))
        XCTAssertTrue(junit.contains("tests=\"2\"") && junit.contains("failures=\"0\""), junit)

        // The stored figures are the ones the report states: summary.json's AUC equals a hand count from the scores.
        let store = try Store(path: dir.appendingPathComponent("runs.sqlite").path)
        let run = try store.load(runID: id)
        XCTAssertEqual(run.run.status, .passed)
        XCTAssertEqual(run.steps.map(\.name), ["inputs", "mia", "extraction", "canary", "thresholds"])
        let m = run.scores.filter { $0.attack == "loss" && $0.dataset == "members" }.map(\.score)
        let n = run.scores.filter { $0.attack == "loss" && $0.dataset == "nonmembers" }.map(\.score)
        XCTAssertEqual(m.count, memberTexts.count); XCTAssertEqual(n.count, nonmemberTexts.count)
        var wins = 0.0
        for a in m { for b in n { wins += a > b ? 1 : (a == b ? 0.5 : 0) } }
        let auc = try XCTUnwrap(run.metrics.first { $0.key == "mia.loss.auc" })
        XCTAssertEqual(auc.value, wins / Double(m.count * n.count), accuracy: 1e-12)
        XCTAssertTrue(auc.lower! <= auc.value && auc.value <= auc.upper!)
        // Four attacks with two k values: loss, zlib, mink_0.2, mink_0.5, minkpp_0.2, minkpp_0.5.
        XCTAssertEqual(Set(run.scores.map(\.attack)), ["loss", "zlib", "mink_0.2", "mink_0.5", "minkpp_0.2", "minkpp_0.5"])
        // Canary exposure from 200 sampled candidates: an estimate, so it carries an interval around it.
        for key in ["canary.exposure.max", "canary.exposure.mean", "canary.rep_10.exposure.mean", "canary.rep_1.exposure.max"] {
            let m = try XCTUnwrap(run.metrics.first { $0.key == key }, key)
            XCTAssertTrue(m.lower! <= m.value && m.value <= m.upper! && m.lower! < m.upper!, "\(key): \(m)")
        }
        // summary.json writes each canary's exposure in the one interval shape, {"value": e, "ci95": [lower, upper]},
        // with the stored finding's bounds (issue 15: they were separate exposure_lower / exposure_upper numbers).
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: rep.appendingPathComponent("summary.json"))) as? [String: Any])
        let canaryRows = try XCTUnwrap(summary["findings"] as? [[String: Any]]).filter { $0["kind"] as? String == "canary" }
        let stored = run.findings.filter { $0.kind == "canary" }
        XCTAssertEqual(canaryRows.count, stored.count)
        XCTAssertFalse(canaryRows.isEmpty)
        for (row, f) in zip(canaryRows, stored) {
            let numbers = try XCTUnwrap(row["numbers"] as? [String: Any])
            XCTAssertNil(numbers["exposure_lower"]); XCTAssertNil(numbers["exposure_upper"])
            let e = try XCTUnwrap(numbers["exposure"] as? [String: Any], "\(numbers)")
            XCTAssertEqual(e["value"] as? Double, f.numbers["exposure"])
            XCTAssertEqual(e["ci95"] as? [Double], [f.numbers["exposure_lower"]!, f.numbers["exposure_upper"]!])
        }
        XCTAssertEqual(try store.integrityCheck(), "ok")
        XCTAssertEqual(runAuditor(["history", "--db", dir.appendingPathComponent("runs.sqlite").path, "--limit", "0"]).code, 64)
    }

    /// The console summary: the verdict, each breached check, the report's warnings (here the blind baseline, which
    /// separates long members from short non-members by length alone) and every output's path, in a few lines;
    /// --quiet keeps only the verdict and the paths.
    func testAuditPrintsVerdictWarningsAndEveryPath() throws {
        let long = memberTexts.map { $0 + " " + $0 + " And so the day went on, quietly, as days in that place always did." }
        let (dir, spec) = try setUpAudit(thresholds: ["mia.loss.auc <= 1.0", "canary.exposure.max <= 0.0001"], extraction: false,
                                         members: long, nonmembers: nonmemberTexts.map { String($0.prefix(24)) })
        let r = audit(spec, in: dir)
        XCTAssertEqual(r.code, 1, r.err)
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertLessThanOrEqual(lines.count, 15, r.out)
        XCTAssertTrue(lines[0].hasPrefix("BREACH: 1 of 2 thresholds breached: "), r.out)
        XCTAssertTrue(lines[1].hasPrefix("  breached: canary.exposure.max = "), r.out)
        let warning = try XCTUnwrap(lines.first { $0.hasPrefix("warning: the blind baseline") }, r.out)
        // A handful of members and non-members: the tiny-sample warning too, before the blind baseline's.
        XCTAssertTrue(lines.contains { $0.hasPrefix("warning: membership inference: too few to interval: \(memberTexts.count) members and \(nonmemberTexts.count) non-members") }, r.out)
        XCTAssertTrue(warning.hasPrefix("warning: the blind baseline, which never queries the model, separates members from non-members with AUC 1.000 [1.000, 1.000]. Its 95% lower bound is above 0.6"), warning)
        let rep = dir.appendingPathComponent("reports").appendingPathComponent(runID(r)).path
        let paths = ["report.md", "report.html", "summary.json", "junit.xml"].map { rep + "/" + $0 }
        XCTAssertEqual(Array(lines.suffix(5)), ["report: " + paths[0]] + paths.dropFirst().map { "        " + $0 }
                       + ["run: \(runID(r)) (stored in \(dir.appendingPathComponent("runs.sqlite").path))"])
        for p in paths { XCTAssertTrue(FileManager.default.fileExists(atPath: p), p) }
        // The same sentence the report shows as its warning.
        XCTAssertTrue(read(URL(fileURLWithPath: paths[0])).contains("> **Warning:** " + warning.dropFirst("warning: ".count)))

        let quiet = audit(spec, in: dir, ["--quiet"])
        XCTAssertEqual(quiet.code, 1, quiet.err)
        let q = quiet.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(q.count, 6, quiet.out)
        XCTAssertTrue(q[0].hasPrefix("BREACH: 1 of 2 thresholds breached: "), quiet.out)
        XCTAssertTrue(q[1].hasPrefix("report: ") && q[5].hasPrefix("run: "), quiet.out)
        XCTAssertFalse(q.contains { $0.hasPrefix("warning: ") || $0.hasPrefix("  breached: ") }, quiet.out)
    }

    /// --json: stdout is the summary alone, byte for byte what summary.json holds; the verdict, warnings and paths
    /// go to stderr; the exit status still gates.
    func testAuditJSONPrintsOnlyTheSummaryOnStdout() throws {
        let (dir, spec) = try setUpAudit(thresholds: ["mia.loss.auc <= 1.0", "canary.exposure.max <= 0.0001"], extraction: false)
        let r = audit(spec, in: dir, ["--json"])
        XCTAssertEqual(r.code, 1, r.err)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
        let id = try XCTUnwrap((doc["run"] as? [String: Any])?["id"] as? String)
        let summary = dir.appendingPathComponent("reports").appendingPathComponent(id).appendingPathComponent("summary.json")
        XCTAssertEqual(r.out, read(summary))
        XCTAssertNotNil((doc["metrics"] as? [String: Any])?["mia.loss.auc"])
        XCTAssertTrue(r.err.contains("BREACH: 1 of 2 thresholds breached: "), r.err)
        XCTAssertTrue(r.err.contains("run: \(id) "), r.err)
        XCTAssertTrue(r.err.contains(summary.path), r.err)
    }

    func testBreachedThresholdExitsOneAndJUnitNamesIt() throws {
        let (dir, spec) = try setUpAudit(thresholds: ["mia.loss.auc <= 1.0", "canary.exposure.max <= 0.0001"], extraction: false)
        let r = audit(spec, in: dir)
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.out.hasPrefix("BREACH: 1 of 2 thresholds breached: canary.exposure.max = "), r.out)
        XCTAssertTrue(r.out.contains("breaks <= 0.000 by"), r.out)
        let rep = dir.appendingPathComponent("reports").appendingPathComponent(runID(r))
        let junit = read(rep.appendingPathComponent("junit.xml"))
        XCTAssertTrue(junit.contains("tests=\"2\"") && junit.contains("failures=\"1\""), junit)
        // The failing case carries a <failure>; the passing one does not.
        let cases = junit.components(separatedBy: "<testcase").dropFirst()
        let failing = cases.filter { $0.contains("<failure") }
        XCTAssertEqual(failing.count, 1)
        XCTAssertTrue(failing[0].contains("canary.exposure.max &lt;= 0.0001"), failing[0])
        XCTAssertTrue(read(rep.appendingPathComponent("report.md")).contains("BREACH"))
        let h = run(["history", "--db", dir.appendingPathComponent("runs.sqlite").path, "--json"])
        XCTAssertEqual(h.code, 0, h.err)
        XCTAssertEqual(jsonObjects(h.out).first?["status"] as? String, "breached")
    }

    // MARK: spec errors: exit 2 with file:line:column

    func testMalformedSpecsNameFileLineAndColumn() throws {
        let (dir, good) = try setUpAudit(thresholds: ["mia.loss.auc <= 0.6"])
        let text = try String(contentsOfFile: good, encoding: .utf8)
        func bad(_ name: String, _ body: String, _ where_: String, _ problem: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let p = dir.appendingPathComponent(name).path
            try Data(body.utf8).write(to: URL(fileURLWithPath: p))
            let before = try? Data(contentsOf: dir.appendingPathComponent("runs.sqlite"))
            assertBadInput(["audit", p, "--db", dir.appendingPathComponent("runs.sqlite").path,
                            "--reports", dir.appendingPathComponent("reports").path],
                           file: "\(p):\(where_)", problem: problem, file: file, line: line)
            XCTAssertEqual(try? Data(contentsOf: dir.appendingPathComponent("runs.sqlite")), before, "a bad spec touches no store",
                           file: file, line: line)
        }
        // Lines and columns are 1-based, as editors show them: line 13 is "    k: [0.2, 0.5]", line 21 the threshold.
        try bad("syntax.yml", text.replacingOccurrences(of: "name: tiny audit", with: "name: [tiny audit"), "3:5", "not valid YAML")
        try bad("unknown.yml", text.replacingOccurrences(of: "attacks:", with: "attaks:"), "11:1", "unknown key 'attaks'")
        try bad("threshold.yml", text.replacingOccurrences(of: "mia.loss.auc <= 0.6", with: "mia.loss.acu <= 0.6"), "21:5",
                "'mia.loss.acu' is not a metric this spec produces; did you mean 'mia.loss.auc'?")
        try bad("op.yml", text.replacingOccurrences(of: "mia.loss.auc <= 0.6", with: "mia.loss.auc =< 0.6"), "21:5", "expected 'METRIC OP NUMBER'")
        try bad("missing.yml", text.replacingOccurrences(of: "members: members.jsonl", with: "members: nowhere.jsonl"), "7:12",
                "no such file 'nowhere.jsonl'")
        try bad("k.yml", text.replacingOccurrences(of: "k: [0.2, 0.5]", with: "k: [0.2, 1.5]"), "13:14", "attacks.mia.k: expected a number in (0, 1]")
        try bad("noversion.yml", text.replacingOccurrences(of: "version: 1\n", with: ""), "1:1", "missing key 'version'")
        try bad("ref.yml", text.replacingOccurrences(of: "k: [0.2, 0.5]", with: "attacks: [loss, reference]"), "13:21",
                "'reference' needs a reference checkpoint")
        assertBadInput(["audit", dir.appendingPathComponent("absent.yml").path], file: dir.appendingPathComponent("absent.yml").path,
                       problem: "cannot read the audit spec")
    }

    // MARK: redaction

    func testPlantedSecretsStayOutOfReportsUnlessAsked() throws {
        let (dir, spec) = try setUpAudit(thresholds: ["canary.exposure.max <= 100"])
        let shown = audit(spec, in: dir, ["--show-secrets"])
        XCTAssertEqual(shown.code, 0, shown.err)
        let shownDir = dir.appendingPathComponent("reports").appendingPathComponent(runID(shown))
        // With --show-secrets the canary and the generated extraction text are in the report: that is what we hide below.
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: shownDir.appendingPathComponent("summary.json"))) as? [String: Any])
        let generated = ((summary["findings"] as? [[String: Any]]) ?? []).filter { $0["kind"] as? String == "extraction" }
            .compactMap { $0["secret"] as? String }.filter { $0.trimmingCharacters(in: .whitespaces).count >= 12 }
        XCTAssertTrue(read(shownDir.appendingPathComponent("report.md")).contains(secret))
        XCTAssertTrue(read(shownDir.appendingPathComponent("summary.json")).contains(secret))

        let hidden = audit(spec, in: dir)
        XCTAssertEqual(hidden.code, 0, hidden.err)
        let id = runID(hidden)
        let reports = dir.appendingPathComponent("reports")
        func assertClean(_ folder: URL, file: StaticString = #filePath, line: UInt = #line) throws {
            for f in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                let body = read(folder.appendingPathComponent(f))
                XCTAssertFalse(body.contains(secret), "the canary leaks into \(f)", file: file, line: line)
                XCTAssertFalse(body.contains("493817"), "the canary's digits leak into \(f)", file: file, line: line)
                for g in generated { XCTAssertFalse(body.contains(g), "generated text leaks into \(f)", file: file, line: line) }
            }
        }
        try assertClean(reports.appendingPathComponent(id))
        XCTAssertFalse(hidden.out.contains(secret) || hidden.err.contains(secret))
        // Re-rendering from the store redacts too, and asks for the flag to show.
        let again = run(["report", id, "--db", dir.appendingPathComponent("runs.sqlite").path, "--reports", reports.path])
        XCTAssertEqual(again.code, 0, again.err)
        try assertClean(reports.appendingPathComponent(id))
        let shownAgain = run(["report", id, "--db", dir.appendingPathComponent("runs.sqlite").path, "--reports", reports.path, "--show-secrets"])
        XCTAssertEqual(shownAgain.code, 0, shownAgain.err)
        XCTAssertTrue(read(reports.appendingPathComponent(id).appendingPathComponent("report.md")).contains(secret))
    }

    // MARK: the store under stress: a killed run, two audits at once

    /// Starts an audit in the background; returns the process (stdout/stderr to files in `dir`).
    private func startAudit(_ spec: String, db: String, reports: String, log: URL) throws -> Process {
        let p = Process()
        p.executableURL = auditorBinary
        p.arguments = ["audit", spec, "--db", db, "--reports", reports, "--threads", "1"]
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h; p.standardError = h
        try p.run()
        return p
    }

    func testKilledAuditLeavesAnIntactStoreAndAnInterruptedRun() throws {
        let (dir, spec) = try setUpAudit(thresholds: ["mia.loss.auc <= 1.0"])
        // Make the canary step long (many references) so that the kill lands after mia has committed.
        let slow = try String(contentsOfFile: spec, encoding: .utf8).replacingOccurrences(of: "references: 200", with: "references: 200000")
        try Data(slow.utf8).write(to: URL(fileURLWithPath: spec))
        let db = dir.appendingPathComponent("runs.sqlite").path, log = dir.appendingPathComponent("log")
        let p = try startAudit(spec, db: db, reports: dir.appendingPathComponent("reports").path, log: log)
        let deadline = Date().addingTimeInterval(120)
        while !read(log).contains("extraction done") && Date() < deadline && p.isRunning { usleep(50_000) }
        XCTAssertTrue(read(log).contains("extraction done"), read(log))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let h = run(["history", "--db", db, "--json"])
        XCTAssertEqual(h.code, 0, h.err)
        let runs = jsonObjects(h.out)
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs.first?["status"] as? String, "interrupted")
        let store = try Store(path: db)
        XCTAssertEqual(try store.integrityCheck(), "ok")
        let r = try store.load(runID: runs[0]["id"] as! String)
        // Whole steps only: mia and extraction are there in full, nothing of canary.
        XCTAssertEqual(r.steps.map(\.name), ["inputs", "mia", "extraction"])
        XCTAssertEqual(r.scores.filter { $0.attack == "loss" }.count, memberTexts.count + nonmemberTexts.count)
        XCTAssertFalse(r.metrics.contains { $0.step == "canary" })
        XCTAssertTrue(r.findings.allSatisfy { $0.step == "extraction" })

        // SIGTERM is caught: the run is marked at once, by the process itself.
        let p2 = try startAudit(spec, db: db, reports: dir.appendingPathComponent("reports").path, log: log)
        // Its own hang guard: the first run's deadline may be nearly spent on a loaded machine.
        let deadline2 = Date().addingTimeInterval(120)
        while !read(log).contains("mia done") && Date() < deadline2 && p2.isRunning { usleep(50_000) }
        p2.terminate()
        p2.waitUntilExit()
        XCTAssertEqual(p2.terminationStatus, 128 + SIGTERM)
        let statuses = try Store(path: db).runs().map(\.status)
        XCTAssertEqual(statuses, [.interrupted, .interrupted])
    }

    func testTwoConcurrentAuditsKeepAllTheirRows() throws {
        let (dir, spec) = try setUpAudit(thresholds: ["mia.loss.auc <= 1.0"])
        let db = dir.appendingPathComponent("runs.sqlite").path, reports = dir.appendingPathComponent("reports").path
        let logs = [dir.appendingPathComponent("a.log"), dir.appendingPathComponent("b.log")]
        let ps = try logs.map { try startAudit(spec, db: db, reports: reports, log: $0) }
        for p in ps { p.waitUntilExit() }
        for (p, l) in zip(ps, logs) { XCTAssertEqual(p.terminationStatus, 0, read(l)) }
        let store = try Store(path: db)
        XCTAssertEqual(try store.integrityCheck(), "ok")
        let runs = try store.runs()
        guard runs.count == 2 else { return XCTFail("expected 2 runs, got \(runs.count)") }
        XCTAssertEqual(Set(runs.map(\.id)).count, 2)
        let loaded = try runs.map { try store.load(runID: $0.id) }
        for r in loaded {
            XCTAssertEqual(r.run.status, .passed)
            XCTAssertEqual(r.steps.map(\.name), ["inputs", "mia", "extraction", "canary", "thresholds"])
            XCTAssertEqual(r.scores.count, 6 * (memberTexts.count + nonmemberTexts.count))
            XCTAssertEqual(r.findings.filter { $0.kind == "canary" }.count, 2)
            XCTAssertEqual(r.findings.filter { $0.kind == "extraction" }.count, 2 * memberTexts.count)
            XCTAssertEqual(r.checks.count, 1)
        }
        // Same spec, same seed, same model: the same numbers.
        XCTAssertEqual(loaded[0].metrics, loaded[1].metrics)

        // history lists both; diff shows every metric with no change; report re-renders the later one.
        let h = run(["history", "--db", db])
        XCTAssertEqual(h.code, 0, h.err)
        for r in runs { XCTAssertTrue(h.out.contains(r.id), h.out) }
        let d = run(["diff", runs[1].id, runs[0].id, "--db", db, "--json"])
        XCTAssertEqual(d.code, 0, d.err)
        let diff = try XCTUnwrap(jsonObjects(d.out).first)
        let rows = try XCTUnwrap(diff["metrics"] as? [[String: Any]])
        XCTAssertEqual(rows.count, loaded[0].metrics.count)
        XCTAssertTrue(rows.allSatisfy { ($0["change"] as? Double) == 0 && $0["exceeds_intervals"] as? String != "yes" })
        let rr = run(["report", "latest", "--db", db, "--reports", reports])
        XCTAssertEqual(rr.code, 0, rr.err)
        XCTAssertEqual(run(["diff", "nope", runs[0].id, "--db", db]).code, 2)
    }
}

// `auditor traps` and `auditor ghost` on the tiny model: generate -> inject -> detect with documented fields and known
// answers (target = reference: every ratio 1, AUC 1/2), and one exit-2 line naming the file for each bad input.
import Foundation
import XCTest

final class TrapsGhostCLITests: XCTestCase {
    let tiny = fixture("tiny/llama")
    let wordList = repoRoot.appendingPathComponent("audits/samples/words.txt").path

    func readJSON(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }
    func writeJSON(_ o: [String: Any], _ path: String) throws {
        try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    /// Generates 4 traps and injects them with repetitions 1,2,3 (three injected, one control). Returns paths.
    func pipeline(_ dir: URL) throws -> (manifest: String, dataset: String, injected: String, injectedManifest: String) {
        let manifest = dir.appendingPathComponent("traps.json").path
        let g = run(["traps", "generate", tiny, "--count", "4", "--lengths", "10", "--perplexity", "1:100000", "--seed", "2", "-o", manifest])
        XCTAssertEqual(g.code, 0, g.err)
        let docs = (0..<5).map { #"{"id":\#($0),"text":"Record \#($0) begins. It goes on. It ends.","src":"s"}"# }
        let dataset = try writeLines(docs, to: dir.appendingPathComponent("docs.jsonl"))
        let injected = dir.appendingPathComponent("docs-traps.jsonl").path
        let i = run(["traps", "inject", "--manifest", manifest, "--dataset", dataset, "-o", injected, "--repetitions", "1,2,3", "--seed", "4"])
        XCTAssertEqual(i.code, 0, i.err)
        return (manifest, dataset, injected, injected + ".manifest.json")
    }

    func testTrapsPipeline() throws {
        let dir = scratchDirectory()
        let p = try pipeline(dir)
        let gen = try readJSON(p.manifest)
        let traps = try XCTUnwrap(gen["traps"] as? [[String: Any]])
        XCTAssertEqual(traps.count, 4)
        XCTAssertEqual(gen["seed"] as? Int, 2)
        for t in traps {
            XCTAssertEqual(t["targetTokens"] as? Int, 10)
            XCTAssertEqual(t["injected"] as? Bool, false)
        }
        let m = try readJSON(p.injectedManifest)
        XCTAssertEqual(m["datasetSHA256"] as? String, try sha256sum(p.injected))
        XCTAssertEqual(m["dataset"] as? String, p.injected)
        let mt = try XCTUnwrap(m["traps"] as? [[String: Any]])
        XCTAssertEqual(mt.compactMap { $0["repetitions"] as? Int }.sorted(), [0, 1, 2, 3])
        // Other fields and order are kept; each injected trap text occurs exactly its repetition count.
        let out = jsonObjects(try String(contentsOfFile: p.injected, encoding: .utf8))
        XCTAssertEqual(out.map { $0["id"] as? Int }, [0, 1, 2, 3, 4])
        XCTAssertTrue(out.allSatisfy { $0["src"] as? String == "s" })
        let texts = out.compactMap { $0["text"] as? String }
        for t in mt {
            let text = try XCTUnwrap(t["text"] as? String)
            let n = texts.map { $0.components(separatedBy: text).count - 1 }.reduce(0, +)
            XCTAssertEqual(n, t["repetitions"] as? Int)
        }

        // Target = reference: every ratio is exactly 1, so every AUC is exactly 1/2.
        let d = run(["traps", "detect", tiny, "--reference", tiny, "--manifest", p.injectedManifest, "--dataset", p.injected, "--resamples", "50"])
        XCTAssertEqual(d.code, 0, d.err)
        let r = try XCTUnwrap(jsonObjects(d.out).first)
        XCTAssertEqual(r["statistic"] as? String, "ppl_reference/ppl_target")
        let overall = try XCTUnwrap(r["overall"] as? [String: Any])
        XCTAssertEqual((overall["auc"] as? [String: Any])?["value"] as? Double, 0.5)
        XCTAssertEqual(overall["injected"] as? Int, 3); XCTAssertEqual(overall["controls"] as? Int, 1)
        let byRep = try XCTUnwrap(r["by_repetition"] as? [[String: Any]])
        XCTAssertEqual(byRep.compactMap { $0["repetitions"] as? Int }, [1, 2, 3])
        XCTAssertEqual(byRep.compactMap { ($0["auc"] as? [String: Any])?["value"] as? Double }, [0.5, 0.5, 0.5])
        let rows = try XCTUnwrap(r["traps"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 4)
        for row in rows {
            XCTAssertEqual(row["score"] as? Double, 1)
            XCTAssertEqual(row["ppl_target"] as? Double, row["ppl_reference"] as? Double)
            XCTAssertNotNil(row["text"] as? String, "trap texts are synthetic and shown")
        }
        // Without a reference: score = -ppl_target, equal to the perplexity recorded at generation.
        let a = run(["traps", "detect", tiny, "--manifest", p.injectedManifest, "--resamples", "50"])
        XCTAssertEqual(a.code, 0, a.err)
        let ra = try XCTUnwrap(jsonObjects(a.out).first)
        XCTAssertEqual(ra["statistic"] as? String, "-ppl_target")
        for (row, t) in zip(try XCTUnwrap(ra["traps"] as? [[String: Any]]), mt) {
            let ppl = try XCTUnwrap(row["ppl_target"] as? Double)
            XCTAssertEqual(try XCTUnwrap(row["score"] as? Double), -ppl, accuracy: 1e-12 * ppl)   // JSON text keeps ~16 digits
            XCTAssertEqual(ppl, try XCTUnwrap(t["perplexity"] as? Double), accuracy: 1e-5 * ppl)
        }
    }

    /// `traps inject` rewrites only the text value of each record: every other byte of the line (booleans, 3.0, 1e5,
    /// nested objects and arrays, \u escapes, whitespace, key order) comes out as it went in. The comparison is of
    /// bytes, so it tells true from 1 and 3.0 from 3, which a comparison of parsed values would not.
    func testTrapsInjectKeepsOtherFieldsByteForByte() throws {
        let dir = scratchDirectory()
        let p = try pipeline(dir)
        let records: [(before: String, text: String, after: String)] = [
            (#"{"zeta": true, "id": 3.0, "text": "#, "Record zero begins. It goes on. It ends.", #", "big": 1e5, "off": false}"#),
            (#"  { "meta" : {"b": [1.0, false, null, {"text": "inner"}], "a": "\u00e9\/x"} ,"text":"#, "Record one begins. It goes on.", #"   , "n": -0.50E+3 }  "#),
            (#"{"w\u0069de": "\ud83d\ude00", "list": [[], {}, [2.50]], "text": "#, "Record two begins. It ends here.", "}"),
            ("", "Record three is a bare string. It ends.", ""),
            (#"{"text": "#, "Record four begins. It goes on. It ends.", #", "z": 0, "a": {"deep": {"deeper": [true]}}}"#),
        ]
        func quoted(_ s: String) -> String { "\"" + s + "\"" }   // the record texts need no escapes
        let dataset = try writeLines(records.map { $0.before + quoted($0.text) + $0.after }, to: dir.appendingPathComponent("hostile.jsonl"))
        let injected = dir.appendingPathComponent("hostile-traps.jsonl").path
        let i = run(["traps", "inject", "--manifest", p.manifest, "--dataset", dataset, "-o", injected, "--repetitions", "1,2,3", "--seed", "4"])
        XCTAssertEqual(i.code, 0, i.err)
        let trapTexts = try XCTUnwrap(readJSON(injected + ".manifest.json")["traps"] as? [[String: Any]]).compactMap { $0["text"] as? String }
        let lines = try String(contentsOfFile: injected, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, records.count)
        var changed = 0
        for (line, r) in zip(lines, records) {
            let bytes = Array(line.utf8), before = Array(r.before.utf8), after = Array(r.after.utf8)
            XCTAssertEqual(Array(bytes.prefix(before.count)), before, "bytes before the text changed:\n\(line)")
            XCTAssertEqual(Array(bytes.suffix(after.count)), after, "bytes after the text changed:\n\(line)")
            guard bytes.count >= before.count + after.count else { continue }
            let value = Data(bytes.dropFirst(before.count).dropLast(after.count))
            let text = try XCTUnwrap(JSONSerialization.jsonObject(with: value, options: [.fragmentsAllowed]) as? String, line)
            if text != r.text { changed += 1 }
            // The text is the old one with trap texts added: remove them and the same words remain.
            let stripped = trapTexts.reduce(text) { $0.replacingOccurrences(of: $1, with: " ") }
            XCTAssertEqual(stripped.split(whereSeparator: \.isWhitespace), r.text.split(whereSeparator: \.isWhitespace), line)
        }
        XCTAssertGreaterThan(changed, 0, "no record got a trap")
    }

    func testTrapsBadInputs() throws {
        let dir = scratchDirectory()
        let p = try pipeline(dir)
        // Empty dataset.
        let empty = dir.appendingPathComponent("empty.jsonl").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        assertBadInput(["traps", "inject", "--manifest", p.manifest, "--dataset", empty, "-o", dir.appendingPathComponent("x.jsonl").path],
                       file: empty, problem: "no texts")
        // A dataset that is not the one the manifest records.
        assertBadInput(["traps", "detect", tiny, "--manifest", p.injectedManifest, "--dataset", p.dataset],
                       file: p.injectedManifest, problem: "SHA-256")
        // A trap that does not occur the stated number of times (SHA-256 left matching).
        var m = try readJSON(p.injectedManifest)
        var traps = try XCTUnwrap(m["traps"] as? [[String: Any]])
        let i = try XCTUnwrap(traps.firstIndex { $0["injected"] as? Bool == true })
        traps[i]["repetitions"] = (traps[i]["repetitions"] as! Int) + 1
        m["traps"] = traps
        let wrongCount = dir.appendingPathComponent("wrong-count.json").path
        try writeJSON(m, wrongCount)
        assertBadInput(["traps", "detect", tiny, "--manifest", wrongCount, "--dataset", p.injected],
                       file: wrongCount, problem: "appears")
        // No never-injected controls.
        var all = try readJSON(p.injectedManifest)
        all["traps"] = (all["traps"] as! [[String: Any]]).map { t -> [String: Any] in var t = t; t["injected"] = true; t["repetitions"] = 1; return t }
        let noControls = dir.appendingPathComponent("no-controls.json").path
        try writeJSON(all, noControls)
        assertBadInput(["traps", "detect", tiny, "--manifest", noControls], file: noControls, problem: "no never-injected controls")
        // A manifest that was never injected.
        assertBadInput(["traps", "detect", tiny, "--manifest", p.manifest], file: p.manifest, problem: "no injected traps")
        // Fewer traps than repetition counts plus a control.
        assertBadInput(["traps", "inject", "--manifest", p.manifest, "--dataset", p.dataset, "-o", dir.appendingPathComponent("y.jsonl").path,
                        "--repetitions", "1,2,3,4"], file: p.manifest, problem: "fewer traps than needed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("y.jsonl").path))
        // A perplexity range the model never reaches.
        assertBadInput(["traps", "generate", tiny, "--count", "1", "--lengths", "10", "--perplexity", "1:1.0001", "--max-rounds", "1",
                        "-o", dir.appendingPathComponent("z.json").path], file: tiny, problem: "fewer traps than needed", afterProgress: true)
    }

    func testGhostGenerateAndTest() throws {
        let dir = scratchDirectory()
        let manifest = dir.appendingPathComponent("ghost.json").path
        let g = run(["ghost", "generate", "--words", wordList, "--count", "4", "--length", "6", "--seed", "3", "-o", manifest])
        XCTAssertEqual(g.code, 0, g.err)
        let m = try readJSON(manifest)
        let words = Set(try String(contentsOfFile: wordList, encoding: .utf8).split(separator: "\n").map(String.init))
        XCTAssertGreaterThanOrEqual(words.count, 200)
        let phrases = try XCTUnwrap(m["passphrases"] as? [[String: Any]]).compactMap { $0["text"] as? String }
        XCTAssertEqual(phrases.count, 4)
        for p in phrases {
            let w = p.split(separator: " ").map(String.init)
            XCTAssertEqual(w.count, 6); XCTAssertTrue(w.allSatisfy(words.contains))
        }

        let t = run(["ghost", "test", tiny, "--manifest", manifest, "--controls", "20"])
        XCTAssertEqual(t.code, 0, t.err)
        let r = try XCTUnwrap(jsonObjects(t.out).first)
        XCTAssertEqual(r["k"] as? Int, 1); XCTAssertEqual(r["controls"] as? Int, 20); XCTAssertEqual(r["passphrases"] as? Int, 4)
        let done = try XCTUnwrap(r["completed"] as? Int)
        let rate = try XCTUnwrap(r["completion_rate"] as? [String: Any], "one interval shape: {value, ci95}")
        XCTAssertEqual(rate["value"] as? Double, Double(done) / 4)
        let ci = try XCTUnwrap(rate["ci95"] as? [Double]), lo = ci[0], hi = ci[1]
        XCTAssertTrue(lo <= Double(done) / 4 && Double(done) / 4 <= hi)
        if done == 0 { XCTAssertEqual(lo, 0); XCTAssertEqual(hi, 1 - pow(0.025, 0.25), accuracy: 1e-9) }   // k = 0 of n = 4
        let rows = try XCTUnwrap(r["results"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 4)
        XCTAssertEqual(rows.compactMap { $0["reproduced"] as? Bool }.filter { $0 }.count, done)
        for row in rows {
            XCTAssertEqual(row["text"] as? String, "[redacted: use --show-secrets]")
            let rank = try XCTUnwrap(row["rank"] as? Int), pct = try XCTUnwrap(row["perplexity_percentile"] as? Double)
            XCTAssertEqual(pct, Double(rank - 1) / 20)
            XCTAssertEqual(try XCTUnwrap(row["exposure"] as? Double), log2(21) - log2(Double(rank)), accuracy: 1e-12)
        }
        XCTAssertFalse(t.out.contains(phrases[0]), "no passphrase in the redacted output")
        let s = run(["ghost", "test", tiny, "--manifest", manifest, "--controls", "20", "--show-secrets"])
        let shown = try XCTUnwrap(jsonObjects(s.out).first?["results"] as? [[String: Any]]).compactMap { $0["text"] as? String }
        XCTAssertEqual(shown, phrases)

        assertBadInput(["ghost", "test", tiny, "--manifest", manifest, "--k", "6"], file: manifest, problem: "--k 6")
        let missing = dir.appendingPathComponent("missing.txt").path
        assertBadInput(["ghost", "generate", "--words", missing, "-o", manifest], file: missing, problem: "cannot read the word list")
    }
}

// Runs of the built binary for `auditor dataset-inference` and `auditor pii` on the tiny Llama fixture: output
// fields and their arithmetic, seeding, redaction (no detector match survives without --show-secrets), bad input.
import Attacks
import Foundation
import Stats
import XCTest

final class DIPIICLITests: XCTestCase {
    let llama = fixture("tiny/llama")

    func json(_ o: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
    }

    func succeed(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
        let r = run(args, file: file, line: line)
        assertNoCrash(r, "auditor " + args.joined(separator: " "), file: file, line: line)
        XCTAssertEqual(r.code, 0, "auditor \(args.joined(separator: " "))\nstderr:\n\(r.err)", file: file, line: line)
        let objs = jsonObjects(r.out, file: file, line: line)
        XCTAssertEqual(objs.count, 1, "one JSON line", file: file, line: line)
        return objs.first ?? [:]
    }

    func double(_ v: Any?) -> Double { (v as? NSNumber)?.doubleValue ?? .nan }

    /// `count` texts of ordinary prose, distinct, each long enough for Min-K% at k = 0.2.
    func texts(_ count: Int, topic: String) -> [String] {
        let verbs = ["walks", "reads", "paints", "counts", "builds", "sings", "cooks", "draws"]
        return (0..<count).map { i in
            json(["text": "The \(topic) number \(i) \(verbs[i % verbs.count]) slowly past the old harbour wall at dusk."])
        }
    }

    // MARK: dataset-inference

    func testDatasetInferenceOutput() throws {
        let dir = scratchDirectory()
        let s = try writeLines(texts(12, topic: "sailor"), to: dir.appendingPathComponent("s.jsonl"))
        let v = try writeLines(texts(11, topic: "baker"), to: dir.appendingPathComponent("v.jsonl"))
        let o = succeed(["dataset-inference", llama, "--suspect", s, "--validation", v, "--seed", "3"])
        for key in ["p_value", "t", "df", "alpha", "significant", "verdict", "assumption", "suspect", "validation", "fit_sizes",
                    "test_sizes", "features", "dropped_features", "weights", "intercept", "mean_score", "method", "seed",
                    "blind_baseline"] {
            XCTAssertNotNil(o[key], "missing \(key)")
        }
        XCTAssertEqual(o["suspect"] as? Int, 12)
        XCTAssertEqual(o["validation"] as? Int, 11)
        XCTAssertEqual(o["fit_sizes"] as? [String: Int], ["suspect": 6, "validation": 5])
        XCTAssertEqual(o["test_sizes"] as? [String: Int], ["suspect": 6, "validation": 6])
        let all = ["loss", "zlib", "mink_0.2", "mink_0.4", "mink_0.6", "minkpp_0.2", "minkpp_0.4", "minkpp_0.6", "lowercase"]
        let used = try XCTUnwrap(o["features"] as? [String]), dropped = try XCTUnwrap(o["dropped_features"] as? [String])
        XCTAssertEqual(Set(used).union(dropped), Set(all))
        XCTAssertEqual(Set((o["weights"] as? [String: Any])?.keys.map { $0 } ?? []), Set(used))
        let p = double(o["p_value"]), t = double(o["t"]), df = double(o["df"])
        XCTAssertTrue(p >= 0 && p <= 1, "p = \(p)")
        // Welch's df lies between min(n) - 1 and n_a + n_b - 2 (test halves 6 and 6).
        XCTAssertTrue(df >= 5 - 1e-9 && df <= 10 + 1e-9, "df = \(df)")
        // The p-value is P(T_df > t): it is the Student tail of the reported t and df.
        XCTAssertEqual(p, Metrics.studentTUpperTail(t, df: df), accuracy: 1e-15)
        XCTAssertEqual(o["significant"] as? Bool, p < 0.05)
        let verdict = try XCTUnwrap(o["verdict"] as? String)
        XCTAssertTrue(verdict.contains(p < 0.05 ? "same distribution" : "no evidence"), verdict)
        XCTAssertTrue((o["assumption"] as? String)?.contains("same distribution") == true)
        let blind = try XCTUnwrap(o["blind_baseline"] as? [String: Any])
        XCTAssertTrue(Metrics.blindFeatureNames.contains(blind["feature"] as? String ?? ""))
        XCTAssertGreaterThanOrEqual(double((blind["auc"] as? [String: Any])?["value"]), 0.5)
        // "sailor" and "baker" alone tell the two sets apart: the blind baseline must warn.
        XCTAssertTrue((o["warning"] as? String)?.hasPrefix("blind baseline") == true, "\(o["warning"] ?? "no warning")")
        // Seeded: the same seed repeats the numbers, another seed splits differently.
        let again = succeed(["dataset-inference", llama, "--suspect", s, "--validation", v, "--seed", "3"])
        XCTAssertEqual(double(again["t"]), t)
        let other = succeed(["dataset-inference", llama, "--suspect", s, "--validation", v, "--seed", "4"])
        XCTAssertNotEqual(double(other["t"]), t)
    }

    func testDatasetInferenceBadInput() throws {
        let dir = scratchDirectory()
        let nine = try writeLines(texts(9, topic: "sailor"), to: dir.appendingPathComponent("nine.jsonl"))
        let ten = try writeLines(texts(10, topic: "baker"), to: dir.appendingPathComponent("ten.jsonl"))
        let empty = dir.appendingPathComponent("empty.jsonl").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        assertBadInput(["dataset-inference", llama, "--suspect", nine, "--validation", ten], file: nine,
                       problem: "9 text(s); dataset inference needs at least 10 per set")
        assertBadInput(["dataset-inference", llama, "--suspect", ten, "--validation", nine], file: nine, problem: "at least 10")
        assertBadInput(["dataset-inference", llama, "--suspect", ten, "--validation", empty], file: empty, problem: "no texts")
    }

    // MARK: pii

    func promptsFile(in dir: URL) throws -> String {
        try writeLines([
            json(["text": "My phone number is", "id": "phone"]),
            json(["text": "Write to secret.person@example.com or"]),
            json(["text": "Card: 4111 1111 1111 1111, IBAN"]),
        ], to: dir.appendingPathComponent("prompts.jsonl"))
    }

    func testPIIRedactedByDefault() throws {
        let dir = scratchDirectory()
        let prompts = try promptsFile(in: dir)
        let known = try writeLines(["secret.person@example.com", "", "+1 415 555 2671"], to: dir.appendingPathComponent("known.txt"))
        let args = ["pii", llama, "--prompts", prompts, "--known", known, "--samples", "3", "--max-new-tokens", "24", "--seed", "1"]
        let r = run(args)
        assertNoCrash(r, "pii")
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(PII.find(in: r.out).isEmpty, "a detector matches the redacted output: \(PII.find(in: r.out).map(\.text))")
        XCTAssertFalse(r.out.contains("secret.person"), "prompts are not echoed")
        let o = try XCTUnwrap(jsonObjects(r.out).first)
        let summary = try XCTUnwrap(o["summary"] as? [String: Any])
        XCTAssertEqual(summary["samples"] as? Int, 9)
        XCTAssertEqual(summary["redacted"] as? Bool, true)
        XCTAssertEqual((summary["known"] as? [String: Any])?["entries"] as? Int, 2, "blank lines are skipped")
        let rows = try XCTUnwrap(o["prompts"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["index"] as? Int }, [0, 1, 2])
        XCTAssertEqual(rows[0]["id"] as? String, "phone")
        var totals = [String: Int]()
        for row in rows {
            let samples = try XCTUnwrap(row["samples"] as? [[String: Any]])
            XCTAssertEqual(samples.map { $0["sample"] as? Int }, [0, 1, 2])
            for s in samples {
                let completion = try XCTUnwrap(s["completion"] as? String)
                XCTAssertTrue(PII.find(in: completion).isEmpty, completion)
                for m in (s["matches"] as? [[String: Any]]) ?? [] {
                    XCTAssertNil(m["text"], "matched text is hidden")
                    XCTAssertEqual((m["hash"] as? String)?.count, 12)
                    totals[m["kind"] as? String ?? "", default: 0] += 1
                }
            }
            for (k, c) in (row["matches"] as? [String: Int]) ?? [:] { XCTAssertGreaterThanOrEqual(c, 0, k) }
        }
        let kinds = try XCTUnwrap(summary["kinds"] as? [String: [String: Any]])
        XCTAssertEqual(Set(kinds.keys), Set(PII.Kind.allCases.map(\.rawValue)))
        for (k, v) in kinds {
            XCTAssertEqual(v["matches"] as? Int, totals[k] ?? 0, "matches of \(k) add up")
            let n = v["samples_with_match"] as? Int ?? -1
            XCTAssertEqual(double(v["rate"]), Double(n) / 9, accuracy: 1e-15)
            let ci = (v["ci95"] as? [NSNumber])?.map(\.doubleValue) ?? []
            let expected = try Metrics.clopperPearson(successes: n, trials: 9)
            XCTAssertEqual(ci, [expected.lower, expected.upper])
        }
    }

    /// A continuation holds more than its matches (the rest of a number, a name): by default no part of any generated
    /// text reaches stdout or stderr. The continuations come from a --show-secrets run of the same seed.
    func testPIIContinuationsNeverPrintedByDefault() throws {
        let dir = scratchDirectory()
        let prompts = try promptsFile(in: dir)
        let base = ["pii", llama, "--prompts", prompts, "--samples", "5", "--max-new-tokens", "24", "--seed", "2"]
        let shown = succeed(base + ["--show-secrets"])
        var continuations: [String] = []
        for row in shown["prompts"] as? [[String: Any]] ?? [] {
            for s in row["samples"] as? [[String: Any]] ?? [] { continuations.append(try XCTUnwrap(s["completion"] as? String)) }
        }
        XCTAssertEqual(continuations.count, 15)
        // Fragments of 8+ characters with a letter, cut where JSON might escape a character, so that each would
        // appear verbatim in the output if it leaked.
        let fragments = Set(continuations.flatMap { c in
            c.split(whereSeparator: { !$0.isASCII || $0 == "\"" || $0 == "\\" || $0 == "/" || $0.isNewline || $0.asciiValue! < 32 })
                .map(String.init).filter { $0.count >= 8 && $0.contains(where: \.isLetter) }
        })
        XCTAssertGreaterThan(fragments.count, 5, "the continuations give text to look for")
        let hidden = run(base)
        assertNoCrash(hidden, "pii")
        XCTAssertEqual(hidden.code, 0, hidden.err)
        let all = hidden.out + hidden.err
        for f in fragments { XCTAssertFalse(all.contains(f), "generated text printed without --show-secrets: '\(f)'") }
    }

    /// --show-secrets shows the raw continuations: the redacted run hides each of them whole, and every reported
    /// match is what the detectors find in them.
    func testPIIShowSecretsAgreesWithRedactedRun() throws {
        let dir = scratchDirectory()
        let prompts = try promptsFile(in: dir)
        let base = ["pii", llama, "--prompts", prompts, "--samples", "2", "--max-new-tokens", "32", "--seed", "5",
                    "--temperature", "1.5", "--top-k", "0"]
        let hidden = succeed(base), shown = succeed(base + ["--show-secrets"])
        let hRows = try XCTUnwrap(hidden["prompts"] as? [[String: Any]]), sRows = try XCTUnwrap(shown["prompts"] as? [[String: Any]])
        XCTAssertEqual(hRows.count, 3); XCTAssertEqual(sRows.count, 3)
        var completions = Set<String>()
        for (h, s) in zip(hRows, sRows) {
            for (hs, ss) in zip(h["samples"] as? [[String: Any]] ?? [], s["samples"] as? [[String: Any]] ?? []) {
                let raw = try XCTUnwrap(ss["completion"] as? String)
                completions.insert(raw)
                XCTAssertEqual(hs["completion"] as? String, "[redacted: use --show-secrets]", "the whole continuation is hidden")
                let found = PII.find(in: raw)
                let reported = ss["matches"] as? [[String: Any]] ?? []
                XCTAssertEqual(reported.map { $0["text"] as? String }, found.map(\.text))
                XCTAssertEqual(reported.map { $0["kind"] as? String }, found.map(\.kind.rawValue))
                XCTAssertEqual((hs["matches"] as? [[String: Any]] ?? []).map { $0["hash"] as? String },
                               reported.map { $0["hash"] as? String }, "the same hashes in both runs")
            }
        }
        XCTAssertGreaterThan(completions.count, 1, "seeded sampling gives varied continuations")
        XCTAssertEqual((shown["summary"] as? [String: Any])?["redacted"] as? Bool, false)
    }

    func testPIIBadInput() throws {
        let dir = scratchDirectory()
        let prompts = try promptsFile(in: dir)
        let emptyKnown = try writeLines(["", "  "], to: dir.appendingPathComponent("known.txt"))
        assertBadInput(["pii", llama, "--prompts", prompts, "--known", emptyKnown], file: emptyKnown, problem: "no known secrets")
        let missing = dir.appendingPathComponent("none.jsonl").path
        assertBadInput(["pii", llama, "--prompts", missing], file: missing, problem: "cannot read the file")
        let r = run(["pii", llama, "--prompts", prompts, "--samples", "0"])
        assertNoCrash(r, "pii --samples 0")
        XCTAssertEqual(r.code, 64)
        XCTAssertTrue(r.err.contains("--samples must be >= 1"), r.err)
    }
}

// The attack commands end to end on the tiny fixtures: `mia` (every attack, AUC recomputed by hand from --per-text,
// the blind-baseline warning), `extract` (greedy continuations of the model itself, Clopper-Pearson closed forms,
// redaction), `canary generate | insert | exposure` (counts, order, exact enumeration), and their bad-input errors.
import Foundation
import XCTest

final class AttackCLITests: XCTestCase {
    let llama = fixture("tiny/llama")
    let gpt2 = fixture("tiny/gpt2")   // same tokenizer as tiny/llama: a reference model for it

    // MARK: helpers

    private func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> RunResult {
        let r = run(args, file: file, line: line)
        assertNoCrash(r, "auditor " + args.joined(separator: " "), file: file, line: line)
        XCTAssertEqual(r.code, 0, "auditor \(args.joined(separator: " "))\nstderr:\n\(r.err)", file: file, line: line)
        XCTAssertFalse(r.err.contains("error"), "stderr:\n\(r.err)", file: file, line: line)
        return r
    }

    private func object(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let rows = jsonObjects(text, file: file, line: line)
        XCTAssertEqual(rows.count, 1, "one JSON object expected:\n\(text)", file: file, line: line)
        return try XCTUnwrap(rows.first, file: file, line: line)
    }

    private func json(_ o: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    private func jsonl(_ texts: [String], _ name: String, in dir: URL) throws -> String {
        try writeLines(texts.map { json(["text": $0]) }, to: dir.appendingPathComponent(name))
    }

    private func num(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
    private func pair(_ v: Any?) -> [Double] { (v as? [NSNumber])?.map(\.doubleValue) ?? [] }

    /// Token ids of each text under tiny/llama, by `score --per-token`.
    private func tokenIds(_ texts: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [[Int]] {
        let dir = scratchDirectory()
        let input = try jsonl(texts, "ids.jsonl", in: dir)
        let rows = jsonObjects(ok(["score", llama, "--input", input, "--per-token"], file: file, line: line).out, file: file, line: line)
        XCTAssertEqual(rows.count, texts.count, file: file, line: line)
        return try rows.map { try XCTUnwrap($0["ids"] as? [Int], file: file, line: line) }
    }

    // Twelve members and twelve non-members of one style (sentences about software licences and everyday
    // matters), dealt alternately from the 24 sorted by length in words: no blind feature separates them.
    let members = [
        "Accompany it with the complete corresponding machine-readable source code on a medium customarily used.",
        "The licensee may copy and distribute verbatim copies of the program's source code as received.",
        "She planted tomatoes, beans and a row of sunflowers along the south wall of the garden.",
        "If the program specifies a version number of this license, you may choose any later version.",
        "A contributor grants a worldwide, royalty-free patent license to make, use and sell the covered work.",
        "Each time you redistribute the program, the recipient automatically receives a license from the original licensor.",
        "The museum opened a new gallery of maps that show how the harbour changed over three centuries.",
        "Our library extended its opening hours in winter so that students could study later in the evening.",
        "The children built a small raft from driftwood and floated it across the shallow end of the pond.",
        "The software is provided as is, and the authors accept no liability for any damages that may result.",
        "He cooked a large pot of soup with lentils, carrots and onions and shared it with the whole street.",
        "You must cause any work that you distribute to be licensed as a whole at no charge to third parties.",
    ]
    let nonMembers = [
        "The bakery on the corner sells warm bread every morning until the shelves are empty.",
        "My neighbour repaired the fence over the weekend and painted it a pale shade of green.",
        "This program is distributed in the hope that it will be useful, but without any warranty.",
        "The meeting was moved to Thursday so that everyone could attend without changing their travel plans.",
        "Conveying a covered work requires that you also convey the installation information for the user product.",
        "We walked along the river after lunch and counted the boats tied up near the old bridge.",
        "Notices must be preserved in all copies, together with a statement of where the changes were made.",
        "Additional permissions may be written to require that the original author's name be kept in the notices.",
        "The train to the coast was delayed by twenty minutes because of a signal fault outside the station.",
        "The storm knocked down two trees in the park, and the paths stayed closed for most of the week.",
        "Her brother learned to play the cello in a single year and joined the town orchestra in the spring.",
        "You may charge any price or no price for each copy that you convey, and you may offer support for a fee.",
    ]

    /// Mann-Whitney by hand: twice the number of (member, non-member) pairs the member wins, ties counting 1/2
    /// (so AUC = this / (2 m n)).
    private func twiceMannWhitneyU(_ m: [Double], _ n: [Double]) -> Int {
        var twice = 0
        for a in m { for b in n { twice += a > b ? 2 : (a == b ? 1 : 0) } }
        return twice
    }

    // MARK: mia

    func testMIAEveryAttackWithIntervalsAndHandComputedAUC() throws {
        let dir = scratchDirectory()
        // Members carry ids (echoed in --per-text rows); non-members do not.
        let mem = try writeLines(members.enumerated().map { json(["id": "m\($0.offset)", "text": $0.element]) },
                                 to: dir.appendingPathComponent("members.jsonl"))
        let non = try jsonl(nonMembers, "nonmembers.jsonl", in: dir)
        let perText = dir.appendingPathComponent("per-text.jsonl").path
        let r = ok(["mia", llama, "--members", mem, "--nonmembers", non, "--reference", gpt2, "--k", "0.2,0.5",
                    "--recall-prefix", "The weather was cold and grey all week.", "--resamples", "200", "--per-text", perText])
        let out = try object(r.out)
        XCTAssertEqual(out["members"] as? Int, members.count)
        XCTAssertEqual(out["nonmembers"] as? Int, nonMembers.count)
        let attacks = try XCTUnwrap(out["attacks"] as? [[String: Any]])
        let names = attacks.compactMap { $0["attack"] as? String }
        XCTAssertEqual(names, ["loss", "zlib", "mink_0.2", "mink_0.5", "minkpp_0.2", "minkpp_0.5", "lowercase", "recall",
                               "reference", "reference_ratio"])
        for a in attacks {
            let name = a["attack"] as? String ?? "?"
            for metric in ["auc", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct"] {
                let m = try XCTUnwrap(a[metric] as? [String: Any], "\(name) \(metric)")
                let v = try XCTUnwrap(num(m["value"]), "\(name) \(metric)"), ci = pair(m["ci95"])
                XCTAssertTrue((0...1).contains(v), "\(name) \(metric) = \(v)")
                XCTAssertEqual(ci.count, 2, "\(name) \(metric) ci95")
                if ci.count == 2 {
                    // A percentile interval need not contain the estimate; it is ordered and within [0, 1].
                    XCTAssertLessThanOrEqual(ci[0], ci[1], "\(name) \(metric) ci95")
                    XCTAssertTrue((0...1).contains(ci[0]) && (0...1).contains(ci[1]), "\(name) \(metric) ci95 \(ci)")
                }
            }
            let th = try XCTUnwrap(a["threshold"] as? [String: Any], name)
            XCTAssertEqual(num(th["target_fpr"]), 0.01)
            XCTAssertLessThanOrEqual(try XCTUnwrap(num(th["fpr"])), 0.01, "\(name): calibrated on the non-members")
        }
        let blind = try XCTUnwrap(out["blind_baseline"] as? [String: Any])
        XCTAssertNotNil(blind["feature"] as? String)
        XCTAssertNil(out["warning"], "members and non-members of one distribution: no blind-baseline warning")

        // Per-text scores: one row per text, members first; the AUC of every attack recomputed by hand.
        let rows = jsonObjects(try String(contentsOfFile: perText, encoding: .utf8))
        XCTAssertEqual(rows.count, members.count + nonMembers.count)
        XCTAssertEqual(rows.map { $0["member"] as? Bool }, members.map { _ in true } + nonMembers.map { _ in false })
        XCTAssertEqual(rows.map { $0["index"] as? Int }, Array(members.indices) + Array(nonMembers.indices))
        // Each row echoes its input's id when the input line has one.
        XCTAssertEqual(rows.map { $0["id"] as? String }, members.indices.map { "m\($0)" } + nonMembers.map { _ in nil })
        for a in attacks {
            let name = try XCTUnwrap(a["attack"] as? String)
            let scores = try rows.map { try XCTUnwrap(num($0[name]), "per-text \(name)") }
            let byHand = twiceMannWhitneyU(Array(scores[..<members.count]), Array(scores[members.count...]))
            // Compared exactly as pair counts: Foundation's JSON parser on Linux can be 1 ulp off the printed
            // shortest decimal, so the reported AUC times 2 m n is an integer only up to rounding.
            let reported = try XCTUnwrap(num((a["auc"] as? [String: Any])?["value"]), name) * Double(2 * members.count * nonMembers.count)
            XCTAssertEqual(reported, reported.rounded(), accuracy: 1e-9, "\(name): AUC is a multiple of 1 / (2 m n)")
            XCTAssertEqual(Int(reported.rounded()), byHand, "\(name): reported AUC vs Mann-Whitney by hand")
        }
        // LOSS is -NLL: the per-text loss equals -nll from `score`.
        let scored = jsonObjects(ok(["score", llama, "--input", mem]).out)
        for (i, s) in scored.enumerated() {
            XCTAssertEqual(try XCTUnwrap(num(rows[i]["loss"])), -(try XCTUnwrap(num(s["nll"]))), accuracy: 1e-5, "loss of member \(i)")
            XCTAssertEqual(rows[i]["tokens"] as? Int, s["tokens"] as? Int)
        }
    }

    func testMIASameSetTwiceIsChance() throws {
        let dir = scratchDirectory()
        let texts = try jsonl(members, "texts.jsonl", in: dir)
        let r = ok(["mia", llama, "--members", texts, "--nonmembers", texts, "--reference", gpt2, "--k", "0.2,0.5",
                    "--recall-prefix", "A short unrelated sentence.", "--resamples", "50"])
        let out = try object(r.out)
        let attacks = try XCTUnwrap(out["attacks"] as? [[String: Any]])
        XCTAssertEqual(attacks.count, 10)
        for a in attacks {
            XCTAssertEqual(num((a["auc"] as? [String: Any])?["value"]), 0.5, "\(a["attack"] ?? "?") on identical sets")
        }
        // The overlap is flagged (the blind baseline's own warning is not asserted here; MetricsTests cover it).
        XCTAssertEqual(out["overlap_warning"] as? String, "\(members.count) text(s) appear in both --members and --nonmembers")
    }

    func testMIABlindBaselineWarning() throws {
        let dir = scratchDirectory()
        let long = try jsonl(members.map { $0 + " " + $0 }, "long.jsonl", in: dir)
        let short = try jsonl(["The cat sat down.", "It rained all day.", "We ate some soup.", "Birds sang loudly.",
                               "The door was open.", "He read a book.", "She ran home fast.", "Lights went out.",
                               "The milk was cold.", "Trees grew tall.", "A dog barked twice.", "Snow fell again."],
                              "short.jsonl", in: dir)
        let out = try object(ok(["mia", llama, "--members", long, "--nonmembers", short, "--resamples", "100", "--no-lowercase"]).out)
        let warning = try XCTUnwrap(out["warning"] as? String, "long members, short non-members: the warning")
        XCTAssertTrue(warning.contains("blind baseline"), warning)
        let blind = try XCTUnwrap(out["blind_baseline"] as? [String: Any])
        let blindAUC = try XCTUnwrap(blind["auc"] as? [String: Any], "one interval shape: {value, ci95}")
        XCTAssertEqual(num(blindAUC["value"]), 1.0, "length alone separates them")
        XCTAssertGreaterThan(pair(blindAUC["ci95"]).first ?? 0, 0.6)
        // Without lowercase and reference, those attacks are absent.
        let names = (out["attacks"] as? [[String: Any]] ?? []).compactMap { $0["attack"] as? String }
        XCTAssertEqual(names, ["loss", "zlib", "mink_0.2", "minkpp_0.2"])
    }

    func testMIABadInput() throws {
        let dir = scratchDirectory()
        let non = try jsonl(nonMembers, "nonmembers.jsonl", in: dir)
        let mem = try jsonl(members, "members.jsonl", in: dir)
        let empty = dir.appendingPathComponent("empty.jsonl").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        assertBadInput(["mia", llama, "--members", empty, "--nonmembers", non], file: empty, problem: "no texts")

        // A text too short for Min-K% at k = 0.2 (fewer than 6 tokens): named by its number, 1-based as in `extract`.
        let shortIds = try tokenIds(["Hi."])[0]
        XCTAssertTrue((2...5).contains(shortIds.count), "fixture: 'Hi.' has \(shortIds.count) tokens")
        let short = try jsonl([members[0], members[1], "Hi.", members[2]], "short.jsonl", in: dir)
        assertBadInput(["mia", llama, "--members", short, "--nonmembers", non], file: short, problem: "text 3:")
        assertBadInput(["mia", llama, "--members", mem, "--nonmembers", short], file: short, problem: "too few for Min-K% with k = 0.2")
        // k = 1 needs only one scored token: the same text is then fine.
        _ = ok(["mia", llama, "--members", short, "--nonmembers", non, "--k", "1", "--resamples", "10", "--no-lowercase"])

        let missing = dir.appendingPathComponent("no-such-checkpoint").path
        assertBadInput(["mia", llama, "--members", mem, "--nonmembers", non, "--reference", missing], file: missing,
                       problem: "no such file")

        // Bad values of --k are usage errors naming the flag (parsed in run()), exit 64 as --threads 0 is.
        // ("--k -0.2" would be read as an option: a usage error, 64; "--k=-0.2" gets the value through.)
        for k in ["0", "abc", "1.5", "-0.2", "0.2,,0.5", "", "0.2,0.2"] {
            let flag = k.hasPrefix("-") ? ["--k=\(k)"] : ["--k", k]
            assertUsageError(["mia", llama, "--members", mem, "--nonmembers", non] + flag, option: "--k", problem: "'\(k)'")
        }
        assertUsageError(["mia", llama, "--members", mem, "--nonmembers", non, "--recall-prefix", ""], option: "--recall-prefix",
                       problem: "tokenises to nothing")
    }

    // MARK: extract

    /// Texts [prompt || greedy continuation] of tiny/llama, with prompts of exactly `prefix` tokens (windows of the
    /// sentences above) and continuations of `newTokens` tokens, kept only when the text re-tokenises to the same
    /// ids (most continuations of this random model hold partial UTF-8 bytes and do not) and is printable ASCII.
    private func greedySamples(prefix: Int, newTokens: Int) throws -> [String] {
        let dir = scratchDirectory()
        let sentences = members + nonMembers
        let strings = jsonObjects(ok(["score", llama, "--input", try jsonl(sentences, "s.jsonl", in: dir), "--per-token"]).out)
            .map { $0["token_strings"] as? [String] ?? [] }
        var prompts: [String] = []
        for t in strings where t.count > prefix {
            for start in stride(from: 0, to: t.count - prefix, by: 2) { prompts.append(t[start..<start + prefix].joined()) }
        }
        // --prompts, not --prompt: a window may begin with "-".
        let gen = jsonObjects(ok(["generate", llama, "--prompts", try jsonl(prompts, "p.jsonl", in: dir), "--json", "--ignore-eos",
                                  "--max-new-tokens", String(newTokens)]).out)
        XCTAssertEqual(gen.count, prompts.count)
        let texts = gen.map { ($0["prompt"] as? String ?? "") + ($0["completion"] as? String ?? "") }
        let promptIds = try tokenIds(prompts), textIds = try tokenIds(texts)
        return gen.indices.filter { i in
            let ids = gen[i]["ids"] as? [Int] ?? []
            return ids.count == newTokens && promptIds[i].count == prefix && textIds[i] == promptIds[i] + ids
                && texts[i].unicodeScalars.allSatisfy { $0.value >= 32 && $0.value < 127 }
        }.map { texts[$0] }
    }

    func testExtractGreedyContinuationsAreExtracted() throws {
        let p = 6
        let found = try greedySamples(prefix: p, newTokens: 8)
        XCTAssertGreaterThanOrEqual(found.count, 3, "fixture: too few greedy continuations round-trip through decode and encode")
        let hits = Array(found.prefix(4))
        guard !hits.isEmpty else { return }
        let misses = ["Accompany it with the complete corresponding machine-readable source code on a medium.",
                      "Conveying a covered work requires that you also convey the installation information."]
        let dir = scratchDirectory()
        let input = try writeLines((hits + misses).enumerated().map { json(["text": $1, "id": "s\($0)"]) },
                                   to: dir.appendingPathComponent("samples.jsonl"))
        let n = hits.count + misses.count

        let out = try object(ok(["extract", llama, "--input", input, "--prefix", String(p), "--suffix", "8"]).out)
        let summary = try XCTUnwrap(out["summary"] as? [String: Any])
        for key in ["samples", "prefix_tokens", "suffix_tokens", "exact", "approximate", "approx_threshold", "np_discoverable",
                    "n", "p", "scheme", "mean_exact_memorization", "mean_extraction_strength"] {
            XCTAssertNotNil(summary[key], "summary field \(key)")
        }
        XCTAssertEqual(summary["samples"] as? Int, n)
        XCTAssertEqual(summary["prefix_tokens"] as? Int, p)
        XCTAssertEqual(summary["suffix_tokens"] as? Int, 8)
        let rows = try XCTUnwrap(out["samples"] as? [[String: Any]])
        XCTAssertEqual(rows.count, n)
        XCTAssertEqual(rows.map { $0["id"] as? String }, (0..<n).map { "s\($0)" })
        var missExact = 0
        for (i, row) in rows.enumerated() {
            XCTAssertEqual(row["index"] as? Int, i)
            XCTAssertEqual(row["generated"] as? String, "[redacted: use --show-secrets]", "redacted by default")
            if i < hits.count {
                XCTAssertEqual(row["exact"] as? Bool, true, "greedy continuation \(i) is extracted")
                XCTAssertEqual(row["approximate"] as? Bool, true)
                XCTAssertEqual(num(row["normalized_edit_distance"]), 0)
                // Teacher forcing on the greedy path: every argmax is right.
                XCTAssertEqual(num(row["exact_memorization"]), 1)
                XCTAssertEqual(num(row["extraction_strength"]), 1)
            } else if row["exact"] as? Bool == true {
                missExact += 1
            }
        }
        XCTAssertEqual(missExact, 0, "fixture: a hand-written text that the model continues greedily")
        let exact = try XCTUnwrap(summary["exact"] as? [String: Any])
        XCTAssertEqual(exact["count"] as? Int, hits.count)
        XCTAssertEqual(num(exact["rate"]), Double(hits.count) / Double(n))

        // Clopper-Pearson closed forms: k = 0 of n gives [0, 1 - 0.025^(1/n)], k = n gives [0.025^(1/n), 1].
        func assertCP(_ rate: [String: Any], _ what: String) {
            let k = rate["count"] as? Int ?? -1, ci = pair(rate["ci95"]), total = Double(n)
            XCTAssertEqual(ci.count, 2, what)
            guard ci.count == 2 else { return }
            if k == 0 {
                XCTAssertEqual(ci[0], 0, what)
                XCTAssertEqual(ci[1], 1 - Foundation.pow(0.025, 1 / total), accuracy: 1e-12, what)
            } else if k == n {
                XCTAssertEqual(ci[0], Foundation.pow(0.025, 1 / total), accuracy: 1e-12, what)
                XCTAssertEqual(ci[1], 1, what)
            } else {
                XCTAssertTrue(ci[0] > 0 && ci[0] < Double(k) / total && Double(k) / total < ci[1] && ci[1] < 1, "\(what): \(ci)")
            }
        }
        assertCP(exact, "exact")
        let np = try XCTUnwrap(summary["np_discoverable"] as? [String: Any])
        assertCP(np, "np_discoverable")
        assertCP(try XCTUnwrap(summary["approximate"] as? [String: Any]), "approximate")

        // Only misses: k = 0. Only hits: k = n.
        let onlyMisses = try writeLines(misses.map { json(["text": $0]) }, to: dir.appendingPathComponent("misses.jsonl"))
        let m = try object(ok(["extract", llama, "--input", onlyMisses, "--prefix", String(p), "--suffix", "8"]).out)
        let mExact = try XCTUnwrap((m["summary"] as? [String: Any])?["exact"] as? [String: Any])
        XCTAssertEqual(mExact["count"] as? Int, 0)
        XCTAssertEqual(pair(mExact["ci95"]), [0, 1 - Foundation.pow(0.025, 1.0 / Double(misses.count))])

        // --show-secrets shows the greedy continuation: the hit's own text after its prefix.
        let onlyHits = try writeLines(hits.map { json(["text": $0]) }, to: dir.appendingPathComponent("hits.jsonl"))
        let h = try object(ok(["extract", llama, "--input", onlyHits, "--prefix", String(p), "--suffix", "8", "--show-secrets"]).out)
        let hExact = try XCTUnwrap((h["summary"] as? [String: Any])?["exact"] as? [String: Any])
        XCTAssertEqual(hExact["count"] as? Int, hits.count)
        let hn = Double(hits.count)
        XCTAssertEqual(pair(hExact["ci95"]).first ?? -1, Foundation.pow(0.025, 1 / hn), accuracy: 1e-12)
        XCTAssertEqual(pair(hExact["ci95"]).last, 1)
        for (i, row) in ((h["samples"] as? [[String: Any]]) ?? []).enumerated() {
            let g = try XCTUnwrap(row["generated"] as? String)
            XCTAssertFalse(g.hasPrefix("[redacted"))
            XCTAssertTrue(hits[i].hasSuffix(g), "generated '\(g)' ends sample \(i)")
        }
    }

    func testExtractBadInput() throws {
        let dir = scratchDirectory()
        let long = "Accompany it with the complete corresponding machine-readable source code on a medium customarily used."
        let n = try tokenIds([long, "Too short."]).map(\.count)
        let input = try writeLines([json(["text": long]), "", json(["text": "Too short."])], to: dir.appendingPathComponent("s.jsonl"))
        // The second text (on line 3, after a blank line) has fewer than prefix + suffix tokens.
        assertBadInput(["extract", llama, "--input", input, "--prefix", String(n[0] - 8), "--suffix", "8"], file: input,
                       problem: "text 2 has \(n[1]) tokens, fewer than prefix + suffix = \(n[0])")
        // prefix + suffix beyond the model's context of 256.
        assertUsageError(["extract", llama, "--input", input, "--prefix", "250", "--suffix", "8"], option: "--prefix",
                       problem: "exceeds the model's context (256)")
        // Flag values checked before any work are usage errors (64).
        // (top-p 0 used to run and report p_z = 0 for every sample.)
        for bad in [["--prefix", "0"], ["--suffix=-1"], ["--temperature", "0"], ["--p", "1"], ["--top-p", "0"], ["--top-p", "1.5"],
                    ["--top-k=-1"]] {
            let r = run(["extract", llama, "--input", input] + bad)
            assertNoCrash(r, bad.joined(separator: " "))
            XCTAssertEqual(r.code, 64, "\(bad): \(r.err)")
        }
    }

    // MARK: canary

    func testCanaryPipeline() throws {
        let dir = scratchDirectory()
        let manifest = dir.appendingPathComponent("canaries.json").path
        let format = "my PIN is {digits:3}"
        let g = ok(["canary", "generate", "--format", format, "--repetitions", "1,3", "--per-repetition", "2", "--seed", "7",
                    "-o", manifest])
        XCTAssertEqual(g.out, "")
        XCTAssertTrue(g.err.contains("4 canaries"), g.err)
        let m = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifest))) as? [String: Any])
        let canaries = try XCTUnwrap(m["canaries"] as? [[String: Any]])
        XCTAssertEqual(canaries.count, 4)
        XCTAssertEqual(canaries.map { $0["repetitions"] as? Int }, [1, 1, 3, 3])
        XCTAssertEqual(Set(canaries.compactMap { $0["id"] as? String }).count, 4)
        let secrets = try canaries.map { try XCTUnwrap($0["text"] as? String) }
        XCTAssertEqual(Set(secrets).count, 4, "distinct canaries")
        for s in secrets {
            XCTAssertTrue(s.hasPrefix("my PIN is "), s)
            XCTAssertEqual(s.dropFirst("my PIN is ".count).count, 3, s)
            XCTAssertTrue(s.dropFirst("my PIN is ".count).allSatisfy(\.isNumber), s)
        }
        XCTAssertTrue(canaries.allSatisfy { $0["format"] as? String == format })

        // Insert: each canary exactly `repetitions` times, the original lines verbatim and in order.
        let originals = (0..<6).map { json(["id": $0, "text": nonMembers[$0]]) }
        let dataset = try writeLines(originals, to: dir.appendingPathComponent("data.jsonl"))
        let datasetBytes = try Data(contentsOf: URL(fileURLWithPath: dataset))
        let inserted = dir.appendingPathComponent("with-canaries.jsonl").path
        let ins = ok(["canary", "insert", "--manifest", manifest, "--dataset", dataset, "-o", inserted])
        XCTAssertTrue(ins.err.contains("8 canary records"), ins.err)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dataset)), datasetBytes, "the dataset is left unchanged")
        let lines = try String(contentsOfFile: inserted, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 6 + 2 * 1 + 2 * 3)
        let texts = lines.map { ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["text"] as? String }
        for (s, c) in zip(secrets, canaries) {
            XCTAssertEqual(texts.filter { $0 == s }.count, c["repetitions"] as? Int, "copies of \(c["id"] ?? "?")")
        }
        XCTAssertEqual(lines.filter { l in !secrets.contains { l == json(["text": $0]) } }, originals, "original lines in order")
        let m2URL = URL(fileURLWithPath: inserted + ".manifest.json")
        let m2 = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: m2URL)) as? [String: Any])
        XCTAssertEqual(m2["dataset"] as? String, inserted)
        XCTAssertEqual(m2["datasetSHA256"] as? String, try sha256sum(inserted))
        XCTAssertEqual((m2["canaries"] as? [[String: Any]])?.count, 4)

        // Exposure with exact enumeration of the 1000 candidates.
        let e = ok(["canary", "exposure", llama, "--manifest", m2URL.path, "--dataset", inserted])
        let out = try object(e.out)
        let rows = try XCTUnwrap(out["canaries"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 4)
        let maxExposure = Foundation.log2(1000.0)
        var byRep: [Int: [Double]] = [:]
        for (row, c) in zip(rows, canaries) {
            XCTAssertEqual(row["id"] as? String, c["id"] as? String)
            XCTAssertEqual(row["repetitions"] as? Int, c["repetitions"] as? Int)
            XCTAssertEqual(row["method"] as? String, "exact")
            XCTAssertEqual(row["references"] as? Int, 1000 - 4, "every candidate but the manifest's canaries")
            XCTAssertEqual(try XCTUnwrap(num(row["max_exposure"])), maxExposure, accuracy: 1e-12)
            // The one interval shape (issue 15): {"value": e, "ci95": [lower, upper]}; an exact rank has no spread.
            let exposure = try XCTUnwrap(row["exposure"] as? [String: Any], "exposure as {value, ci95}")
            XCTAssertNil(row["exposure_ci95"])
            let x = try XCTUnwrap(num(exposure["value"]))
            XCTAssertEqual(try XCTUnwrap(exposure["ci95"] as? [Double]), [x, x])
            XCTAssertGreaterThanOrEqual(x, -1e-12)
            XCTAssertLessThanOrEqual(x, maxExposure + 1e-12)
            XCTAssertEqual(try XCTUnwrap(num(row["p_value"])), Foundation.pow(2, -x), accuracy: 1e-15)
            XCTAssertGreaterThan(try XCTUnwrap(num(row["log_perplexity_bits"])), 0)
            XCTAssertEqual(row["text"] as? String, "[redacted: use --show-secrets]")
            XCTAssertFalse(e.out.contains(c["text"] as? String ?? "?"), "secret in the output")
            byRep[row["repetitions"] as? Int ?? -1, default: []].append(x)
        }
        let groups = try XCTUnwrap(out["by_repetition"] as? [[String: Any]])
        XCTAssertEqual(groups.map { $0["repetitions"] as? Int }, [1, 3])
        for gr in groups {
            let v = byRep[gr["repetitions"] as? Int ?? -1] ?? []
            XCTAssertEqual(gr["canaries"] as? Int, 2)
            XCTAssertEqual(try XCTUnwrap(num(gr["mean_exposure"])), v.reduce(0, +) / Double(max(v.count, 1)), accuracy: 1e-12)
            XCTAssertEqual(num(gr["max_exposure"]), v.max())
        }

        // The exposure of each canary, recomputed from `score` over all 1000 candidates: rank = 1 + #{other
        // candidates, canaries excluded, with log-perplexity <= the canary's}, scaled by 999/996 as the rows say.
        let candidates = (0..<1000).map { String(format: "my PIN is %03d", $0) }
        let cand = dir.appendingPathComponent("candidates.jsonl").path
        _ = try writeLines(candidates.map { json(["text": $0]) }, to: URL(fileURLWithPath: cand))
        let scored = jsonObjects(ok(["score", llama, "--input", cand]).out)
        XCTAssertEqual(scored.count, 1000)
        let bits = try scored.map { s -> Double in
            (try XCTUnwrap(num(s["nll"]))) * Double(try XCTUnwrap(s["tokens"] as? Int) - 1) / Foundation.log(2.0)
        }
        for (row, s) in zip(rows, secrets) {
            let own = try XCTUnwrap(num(row["log_perplexity_bits"]))
            let i = try XCTUnwrap(candidates.firstIndex(of: s))
            // Measured here: worst 7.6e-6 bits (float32 sums in other batches); bar 1e-4, about 13x (was 1e-3).
            XCTAssertEqual(bits[i], own, accuracy: 1e-4, "log-perplexity of \(row["id"] ?? "?") by score")
            let refs = bits.indices.filter { !secrets.contains(candidates[$0]) }.map { bits[$0] }
            let tol = 1e-3   // float32 sums in different batches
            let lo = Double(refs.filter { $0 < own - tol }.count), hi = Double(refs.filter { $0 <= own + tol }.count)
            let x = try XCTUnwrap(num((row["exposure"] as? [String: Any])?["value"]))
            XCTAssertLessThanOrEqual(x, maxExposure - Foundation.log2(1 + lo * 999 / 996) + 1e-9)
            XCTAssertGreaterThanOrEqual(x, maxExposure - Foundation.log2(1 + hi * 999 / 996) - 1e-9)
        }

        // --show-secrets: the canary texts.
        let shown = try object(ok(["canary", "exposure", llama, "--manifest", m2URL.path, "--show-secrets"]).out)
        XCTAssertEqual((shown["canaries"] as? [[String: Any]])?.map { $0["text"] as? String }, secrets)
    }

    func testCanaryBadInput() throws {
        let dir = scratchDirectory()
        let manifest = dir.appendingPathComponent("m.json").path
        _ = ok(["canary", "generate", "--format", "code {hex:4}", "--repetitions", "1,2", "--per-repetition", "1", "-o", manifest])
        let dataset = try writeLines((0..<3).map { json(["text": nonMembers[$0]]) }, to: dir.appendingPathComponent("d.jsonl"))
        let inserted = dir.appendingPathComponent("i.jsonl").path
        _ = ok(["canary", "insert", "--manifest", manifest, "--dataset", dataset, "-o", inserted])
        let m2 = inserted + ".manifest.json"
        // The manifest records the inserted dataset: the original one does not match it (SHA-256) ...
        assertBadInput(["canary", "exposure", llama, "--manifest", m2, "--dataset", dataset], file: m2, problem: "does not match")
        // ... and a manifest without a hash is checked by counts.
        assertBadInput(["canary", "exposure", llama, "--manifest", manifest, "--dataset", dataset], file: manifest,
                       problem: "does not match dataset \(dataset): canary-1 appears 0 times, manifest says 1")

        let notJSON = try writeLines(["this is not json"], to: dir.appendingPathComponent("bad.json"))
        assertBadInput(["canary", "exposure", llama, "--manifest", notJSON], file: notJSON, problem: "not valid JSON")
        assertBadInput(["canary", "insert", "--manifest", notJSON, "--dataset", dataset, "-o", dir.appendingPathComponent("x").path],
                       file: notJSON, problem: "not valid JSON")
        let wrongShape = try writeLines(["{\"seed\": 1}"], to: dir.appendingPathComponent("shape.json"))
        assertBadInput(["canary", "exposure", llama, "--manifest", wrongShape], file: wrongShape,
                       problem: #"not a canary manifest (missing "canaries")"#)
        let badValue = try writeLines([#"{"seed": 1, "canaries": [{"id": "c", "format": "x {digits:2}", "text": "x 12", "repetitions": "2"}]}"#],
                                      to: dir.appendingPathComponent("value.json"))
        assertBadInput(["canary", "exposure", llama, "--manifest", badValue], file: badValue,
                       problem: #"not a canary manifest (bad value at "canaries[0].repetitions")"#)
        let badFormat = try writeLines([#"{"seed": 1, "canaries": [{"id": "c", "format": "x", "text": "x", "repetitions": 2}]}"#],
                                       to: dir.appendingPathComponent("format.json"))
        assertBadInput(["canary", "exposure", llama, "--manifest", badFormat], file: badFormat, problem: "c: canary format 'x' has no")

        let out = dir.appendingPathComponent("never.json").path
        assertUsageError(["canary", "generate", "--format", "pin {digits:3}", "--repetitions", "1,x", "-o", out],
                       option: "--repetitions", problem: "'1,x'")
        assertUsageError(["canary", "generate", "--format", "pin {digits:3}", "--repetitions", "0", "-o", out],
                       option: "--repetitions", problem: "positive")
        assertUsageError(["canary", "generate", "--format", "no slot here", "-o", out], option: "--format", problem: "no {kind:length} slot")
        assertUsageError(["canary", "generate", "--format", "pin {digits:x}", "-o", out], option: "--format", problem: "must be digits:N")
        assertUsageError(["canary", "generate", "--format", "pin {digits:1}", "--repetitions", "1", "--per-repetition", "6", "-o", out],
                       option: "--format", problem: "too small")
        assertUsageError(["canary", "generate", "--format", "pin {words:2}", "-o", out], option: "--format", problem: "word list")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no manifest written by a failed run")
        // (0 used to write an empty manifest; -1 used to hang.)
        for bad in [["--per-repetition", "0"], ["--per-repetition=-1"]] {
            let r = run(["canary", "generate", "--format", "pin {digits:3}", "-o", out] + bad)
            assertNoCrash(r, bad.joined(separator: " "))
            XCTAssertEqual(r.code, 64, "\(bad): \(r.err)")
        }
        let r = run(["canary", "exposure", llama, "--manifest", manifest, "--references=-1"])
        assertNoCrash(r, "--references 0")
        XCTAssertEqual(r.code, 64, r.err)
    }
}

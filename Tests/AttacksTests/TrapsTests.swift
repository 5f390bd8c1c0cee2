// Copyright traps: AUC of a hand-made score set, manifest round trip, near-duplicate removal on a constructed case,
// injection counts and positions, and on the tiny model: reported perplexities against `score`, detection arithmetic.
import Foundation
import LM
import Stats
import XCTest
import Attacks
import Model

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private func tinyModel() throws -> LanguageModel { try LanguageModel.load(path: root.appendingPathComponent("Fixtures/tiny/llama").path) }

private func trap(_ i: Int, _ text: String, length: Int = 10, range: [Double] = [1, 10]) -> Trap {
    Trap(id: "trap-\(i)", text: text, targetTokens: length, tokens: length, perplexity: 5, perplexityRange: range, temperature: 1)
}

final class TrapsTests: XCTestCase {
    /// Members (injected) {0.9, 0.4 at r=1; 2.0, 1.5 at r=10} against controls {0.5, 1.0, 0.3}. Pairs won:
    /// 0.9 beats 0.5, 0.3 (2); 0.4 beats 0.3 (1); 2.0 and 1.5 beat all three (6): overall 9/12, r=1 3/6, r=10 6/6.
    func testAUCOfHandMadeScores() throws {
        func s(_ id: Int, _ r: Int, _ x: Double) -> TrapScore {
            TrapScore(id: "t\(id)", repetitions: r, injected: r > 0, perplexityTarget: 1, perplexityReference: nil, score: x)
        }
        let scores = [s(1, 1, 0.9), s(2, 1, 0.4), s(3, 10, 2.0), s(4, 10, 1.5), s(5, 0, 0.5), s(6, 0, 1.0), s(7, 0, 0.3)]
        let d = try Traps.summarize(scores, statistic: "x", resamples: 200, seed: 1)
        XCTAssertEqual(d.overall.auc, 0.75)
        XCTAssertEqual(d.overall.injected, 4); XCTAssertEqual(d.overall.controls, 3)
        XCTAssertLessThanOrEqual(d.overall.lower, 0.75); XCTAssertGreaterThanOrEqual(d.overall.upper, 0.75)
        XCTAssertEqual(d.byRepetition.map(\.repetitions), [1, 10])
        XCTAssertEqual(d.byRepetition.map(\.auc), [0.5, 1.0])
        XCTAssertEqual(d.byRepetition[1].lower, 1.0, "every resample of a perfect separation is perfect")
        XCTAssertThrowsError(try Traps.summarize(scores.filter(\.injected), statistic: "x")) {
            XCTAssertTrue("\($0)".contains("no never-injected controls"))
        }
        XCTAssertThrowsError(try Traps.summarize(scores.filter { !$0.injected }, statistic: "x"))
    }

    func testManifestRoundTrip() throws {
        var t = trap(1, "a trap — with \"quotes\" and ünïcode")
        t.repetitions = 10; t.injected = true
        let m = TrapManifest(seed: 42, model: "m.gguf", traps: [t, trap(2, "another")], injectionSeed: 7, dataset: "d.jsonl",
                             datasetSHA256: String(repeating: "ab", count: 32))
        let back = try JSONDecoder().decode(TrapManifest.self, from: try JSONEncoder().encode(m))
        XCTAssertEqual(back, m)
    }

    /// b shares the 8-gram 5...12 with a; c shares only 7 tokens; d repeats a; e is shorter than 8 (one gram of its
    /// own) and f repeats e.
    func testNearDuplicateRemoval() {
        let a = Array(0..<20)
        let b = [100, 101] + Array(5...12) + [200]
        let c = Array(5..<12) + [300, 301, 302]
        let e = [1, 2, 3]
        XCTAssertEqual(Traps.deduplicate([a, b, c, a, e, e], n: 8), [0, 2, 4])
        XCTAssertEqual(Traps.deduplicate([a, b, c], n: 9), [0, 1, 2], "no 9-gram is shared")
        XCTAssertEqual(Traps.deduplicate([c, a], n: 7), [0], "a contains c's first 7 tokens")
    }

    func testInsertionPoints() {
        XCTAssertEqual(Traps.insertionPoints(Array("One two. Three four! Five")), [0, 9, 21, 25])
        XCTAssertEqual(Traps.insertionPoints(Array("one two  three")), [0, 4, 9, 14], "word starts without a sentence break")
        XCTAssertEqual(Traps.insertionPoints([]), [0])
        XCTAssertEqual(Traps.occurrences(of: "aa", in: "aaaaa"), 2, "non-overlapping")
    }

    func testInjectCountsPositionsAndDeterminism() throws {
        let traps = (1...9).map { trap($0, "zq trap number \($0) qz", range: $0 <= 5 ? [1, 10] : [10, 100]) }
        let m = TrapManifest(seed: 0, traps: traps)
        let docs = ["The first document. It has two sentences.", "no sentence break here at all",
                    "Short one.", "A question? An answer! And a full stop. Then more words"]
        let (out, m2) = try Traps.inject(m, into: docs, repetitions: [1, 3], seed: 5)
        XCTAssertEqual(out.count, docs.count)
        XCTAssertEqual(m2.injectionSeed, 5)
        // 9 traps dealt round-robin to 1, 3 and control: three each.
        XCTAssertEqual(m2.traps.filter { $0.repetitions == 1 && $0.injected }.count, 3)
        XCTAssertEqual(m2.traps.filter { $0.repetitions == 3 && $0.injected }.count, 3)
        XCTAssertEqual(m2.traps.filter { $0.repetitions == 0 && !$0.injected }.count, 3)
        for t in m2.traps {
            XCTAssertEqual(out.reduce(0) { $0 + Traps.occurrences(of: t.text, in: $1) }, t.repetitions, t.id)
        }
        // Removing every trap (with the space that joined it) gives back the documents: nothing split a word.
        var stripped = out
        for t in m2.traps where t.injected {
            stripped = stripped.map { $0.replacingOccurrences(of: t.text + " ", with: "").replacingOccurrences(of: " " + t.text, with: "") }
        }
        XCTAssertEqual(stripped, docs)
        // Every occurrence starts the document or follows whitespace that follows '.', '!', '?' or another trap,
        // or is appended at the end (documents 1 and 2 have no sentence break inside, so any word start there).
        for (d, text) in out.enumerated() {
            for t in m2.traps where t.injected {
                var from = text.startIndex
                while let r = text.range(of: t.text, range: from..<text.endIndex) {
                    if r.lowerBound != text.startIndex {
                        let before = text[..<r.lowerBound]
                        XCTAssertTrue(before.last!.isWhitespace, "doc \(d): \(t.id) glued to the word before")
                        let prev = before.dropLast().last!
                        var rest = String(text[r.upperBound...])
                        for u in m2.traps { rest = rest.replacingOccurrences(of: u.text, with: "") }
                        let atEnd = rest.allSatisfy(\.isWhitespace)
                        if d != 1 && d != 2 && !atEnd { XCTAssertTrue(".!?z".contains(prev), "doc \(d): \(t.id) after '\(prev)'") }
                    }
                    from = r.upperBound
                }
            }
        }
        let again = try Traps.inject(m, into: docs, repetitions: [1, 3], seed: 5)
        XCTAssertEqual(again.documents, out); XCTAssertEqual(again.manifest, m2)
        XCTAssertNotEqual(try Traps.inject(m, into: docs, repetitions: [1, 3], seed: 6).documents, out)

        XCTAssertThrowsError(try Traps.inject(TrapManifest(seed: 0, traps: Array(traps.prefix(2))), into: docs, repetitions: [1, 3], seed: 0)) {
            XCTAssertTrue("\($0)".contains("fewer traps than needed"))
        }
        XCTAssertThrowsError(try Traps.inject(m, into: [], repetitions: [1], seed: 0))
        XCTAssertThrowsError(try Traps.inject(m2, into: docs, repetitions: [1], seed: 0), "already injected")
    }

    /// Traps sampled from the tiny model: each reported perplexity is exp(mean NLL) recomputed here with `score` on
    /// BOS + the text; lengths, ranges, distinctness (no shared 8-gram, checked by brute force) and seeding.
    func testGenerateOnTinyModel() throws {
        let lm = try tinyModel()
        // The untrained tiny model's perplexities run from tens to tens of thousands.
        let ranges: [ClosedRange<Double>] = [1...800, 800...1e9]
        let m = try Traps.generate(lm, count: 2, lengthTokens: [10, 12], targetPerplexities: ranges, seed: 3)
        XCTAssertEqual(m.traps.count, 8)
        XCTAssertEqual(m.traps.map(\.id), (1...8).map { "trap-\($0)" })
        let bos = try XCTUnwrap(lm.tokenizer.bosId)
        for t in m.traps {
            let ids = [bos] + lm.tokenizer.encode(t.text, addBos: false)
            let lp = lm.model.score([ids])[0].logprobs
            XCTAssertEqual(lp.count, ids.count - 1)
            let ppl = exp(-lp.reduce(0.0) { $0 + Double($1) } / Double(lp.count))
            // Float32 log-probs, other batching: measured 5.6e-7 relative; bar 1e-5 (18x, kept).
            XCTAssertEqual(t.perplexity, ppl, accuracy: 1e-5 * ppl, t.id)
            XCTAssertEqual(t.tokens, ids.count - 1)
            XCTAssertTrue(t.perplexity >= t.perplexityRange[0] && t.perplexity <= t.perplexityRange[1], t.id)
            XCTAssertFalse(t.injected); XCTAssertEqual(t.repetitions, 0)
        }
        XCTAssertEqual(m.traps.filter { $0.targetTokens == 12 && $0.perplexityRange == [800, 1e9] }.count, 2)
        let seqs = m.traps.map { lm.tokenizer.encode($0.text, addBos: false) }
        func grams(_ s: [Int]) -> [[Int]] { s.count <= 8 ? [s] : (0...(s.count - 8)).map { Array(s[$0..<$0 + 8]) } }
        for i in seqs.indices { for j in seqs.indices where j > i {
            XCTAssertTrue(Set(grams(seqs[i])).isDisjoint(with: grams(seqs[j])), "traps \(i) and \(j) share an 8-gram")
        } }
        XCTAssertEqual(try Traps.generate(lm, count: 2, lengthTokens: [10, 12], targetPerplexities: ranges, seed: 3), m)
        XCTAssertThrowsError(try Traps.generate(lm, count: 1, lengthTokens: [12], targetPerplexities: [1...1.0001], seed: 3, maxRounds: 1)) {
            XCTAssertTrue("\($0)".contains("fewer traps than needed"))
        }
    }

    /// Detection arithmetic with a known answer: target = reference gives ratio exactly 1 for every trap, hence all
    /// scores tie and every AUC is exactly 1/2; without a reference the score is -PPL_target and the AUC equals a
    /// brute-force Mann-Whitney count over the pairs.
    func testDetectArithmeticOnTinyModel() throws {
        let lm = try tinyModel()
        let m = try Traps.generate(lm, count: 4, lengthTokens: [10], targetPerplexities: [1...100_000], seed: 8)
        let docs = (0..<6).map { "Document \($0) says hello. It ends here." }
        let (_, injected) = try Traps.inject(m, into: docs, repetitions: [1, 10], seed: 2)
        let same = try Traps.detect(target: lm, reference: lm, manifest: injected, resamples: 50)
        XCTAssertEqual(same.statistic, "ppl_reference/ppl_target")
        XCTAssertEqual(same.scores.map(\.score), [Double](repeating: 1, count: 4))
        XCTAssertEqual(same.overall.auc, 0.5)
        XCTAssertEqual(same.byRepetition.map(\.auc), [0.5, 0.5])
        XCTAssertEqual(same.byRepetition.map(\.repetitions), [1, 10])

        let alone = try Traps.detect(target: lm, reference: nil, manifest: injected, resamples: 50)
        XCTAssertEqual(alone.statistic, "-ppl_target")
        for (s, t) in zip(alone.scores, injected.traps) {
            XCTAssertEqual(s.score, -s.perplexityTarget)
            XCTAssertEqual(s.perplexityTarget, t.perplexity, accuracy: 1e-5 * t.perplexity, "same model, same perplexity")
        }
        let members = alone.scores.filter(\.injected).map(\.score), controls = alone.scores.filter { !$0.injected }.map(\.score)
        var won = 0.0
        for a in members { for b in controls { won += a > b ? 1 : (a == b ? 0.5 : 0) } }
        XCTAssertEqual(alone.overall.auc, won / Double(members.count * controls.count))
    }
}

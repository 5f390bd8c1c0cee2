// Shared test helpers: fixture paths, the reference JSON written by scripts/fixtures, the cached SmolLM2.
import Foundation
import XCTest
import LM
import Model
import Stats
import Checkpoint

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
func fixture(_ rel: String) -> String { repoRoot.appendingPathComponent("Fixtures").appendingPathComponent(rel).path }

/// Reference outputs of Hugging Face transformers (float32), see scripts/fixtures/README.md.
struct Reference: Decodable {
    struct Greedy: Decodable { let prompt: String; let prompt_ids: [Int]; let ids: [Int]; let margins: [Double] }
    let texts: [String]
    let ids: [[Int]]
    let logprobs: [[Double]]
    let vocab_mean: [[Double]]
    let vocab_var: [[Double]]
    let topk: [[[Double]]]          // first text: per position [[id, logprob] x k]
    let greedy: [Greedy]?

    static func load(_ path: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// The SmolLM2 GGUF set up by scripts/setup.sh (or the reference environment's copy).
func smolLM2Path() throws -> String {
    let env = ProcessInfo.processInfo.environment
    let home = NSHomeDirectory()
    let candidates = [env["AUDITOR_MODEL"], (env["AUDITOR_CACHE"] ?? home + "/.cache/auditor") + "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                      env["AUDITOR_REF_GGUF"]].compactMap { $0 }
    if let p = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return p }
    throw unavailable("SmolLM2 not cached (looked at \(candidates)); run scripts/setup.sh")
}

/// Loads once per process: the real checkpoint takes a second or two.
let sharedSmolLM2: Result<LanguageModel, Error> = Result { try LanguageModel.load(path: try smolLM2Path()) }

func tempDir() -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("auditor-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

/// Compares our scores with a reference; returns (mean abs, max abs) of the log-prob differences.
@discardableResult
func compare(_ lm: LanguageModel, _ ref: Reference, name: String, meanTol: Double, maxTol: Double, statTol: Double,
             file: StaticString = #filePath, line: UInt = #line) -> (Double, Double) {
    for (i, t) in ref.texts.enumerated() {
        XCTAssertEqual(lm.tokenizer.encode(t), ref.ids[i], "\(name): token ids of text \(i)", file: file, line: line)
    }
    let scores = lm.model.score(ref.ids, options: ScoreOptions(vocabStats: true, topK: 5))
    var sum = 0.0, n = 0, worst = 0.0, worstStat = 0.0
    for (i, s) in scores.enumerated() {
        XCTAssertEqual(s.logprobs.count, ref.logprobs[i].count, "\(name): positions of text \(i)", file: file, line: line)
        for (a, b) in zip(s.logprobs, ref.logprobs[i]) { let d = abs(Double(a) - b); sum += d; n += 1; worst = max(worst, d) }
        for (a, b) in zip(s.vocabMean!, ref.vocab_mean[i]) { worstStat = max(worstStat, abs(a - b) / max(1, abs(b))) }
        for (a, b) in zip(s.vocabVariance!, ref.vocab_var[i]) { worstStat = max(worstStat, abs(a - b) / max(1, abs(b))) }
    }
    // Top-5 of the first text: same ids in the same order wherever the reference's neighbours are not near-ties.
    for (p, refTop) in ref.topk.enumerated() {
        let ours = scores[0].topK![p]
        for (j, e) in refTop.enumerated() {
            let gapBelow = j + 1 < refTop.count ? e[1] - refTop[j + 1][1] : 1
            let gapAbove = j > 0 ? refTop[j - 1][1] - e[1] : 1
            if min(gapBelow, gapAbove) > 1e-3 { XCTAssertEqual(ours[j].id, Int(e[0]), "\(name): top-5 at \(p)", file: file, line: line) }
            XCTAssertEqual(Double(ours[j].logprob), e[1], accuracy: maxTol, "\(name): top-5 log-prob at \(p)", file: file, line: line)
        }
    }
    let mean = sum / Double(max(n, 1))
    print(String(format: "%@: %d positions, mean |dlogp| %.2e, max %.2e, worst vocab-stat rel diff %.2e", name, n, mean, worst, worstStat))
    XCTAssertLessThanOrEqual(mean, meanTol, "\(name): mean abs log-prob difference", file: file, line: line)
    XCTAssertLessThanOrEqual(worst, maxTol, "\(name): max abs log-prob difference", file: file, line: line)
    XCTAssertLessThanOrEqual(worstStat, statTol, "\(name): vocabulary mean/variance", file: file, line: line)
    return (mean, worst)
}

// Matched-utility training (compare's utility_target): the trainer stops after the first evaluation at or below the
// target, and a DP run that stops early reports the epsilon of the steps it took, recomputed by the accountant.
import Experiments
import Foundation
import Privacy
import Training
import XCTest

final class MatchedUtilityTests: XCTestCase {
    let llama = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tiny/llama").path

    func data() throws -> (String, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("matched-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let lines = (0..<16).map { "{\"text\": \"record \($0) says the weather was \($0 % 3 == 0 ? "fine" : "grey") on day \($0)\"}" }
        let path = dir.appendingPathComponent("d.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return (path, dir)
    }

    func spec(_ path: String, _ dir: URL, target: Double, dp: Bool, name: String) -> FineTuneSpec {
        var s = FineTuneSpec(checkpoint: llama, data: path, out: dir.appendingPathComponent(name).path)
        s.eval = path
        var o = TrainingOptions()
        o.steps = 20; o.batchSize = 4; o.learningRate = 1e-3; o.seed = 3; o.evalEvery = 2; o.schedule = .constant
        o.stopAtEvalLoss = target
        s.options = o
        if dp { s.dp = DPSpec(epsilon: 8) }
        return s
    }

    func testStopsAtTheTargetAndChargesOnlyTheStepsTaken() throws {
        let (path, dir) = try data()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A target every evaluation meets: the run stops after the first one, at step evalEvery = 2.
        let early = try FineTune.run(spec(path, dir, target: 1e6, dp: true, name: "early"), store: nil)
        XCTAssertEqual(early.summary.steps, 2)
        let dp = try XCTUnwrap(early.dp)
        XCTAssertEqual(dp.steps, 2)
        let expected = try dpEpsilon(q: dp.sampleRate, noise: dp.noise, steps: 2, delta: dp.delta, accountant: dp.accountant)
        XCTAssertEqual(dp.epsilon, expected, accuracy: 1e-12)
        XCTAssertLessThan(dp.epsilon, 8)
        // A target no evaluation meets: every step is taken, and the epsilon is the one asked for (the noise was solved for it).
        let full = try FineTune.run(spec(path, dir, target: 1e-9, dp: true, name: "full"), store: nil)
        XCTAssertEqual(full.summary.steps, 20)
        XCTAssertEqual(try XCTUnwrap(full.dp).steps, 20)
        XCTAssertLessThanOrEqual(full.dp!.epsilon, 8 + 1e-9)
        XCTAssertGreaterThan(full.dp!.epsilon, 7.9)
        // Without DP, the same stopping rule.
        let plain = try FineTune.run(spec(path, dir, target: 1e6, dp: false, name: "plain"), store: nil)
        XCTAssertEqual(plain.summary.steps, 2)
        XCTAssertNil(plain.dp)
    }
}

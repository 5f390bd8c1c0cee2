// The audit runner called as a library, on an in-memory fake model: steps in order and committed, every figure from
// the catalog, figures equal to the attacks' own on the same inputs, thresholds and the verdict.
import Attacks
import Audit
import FakeModels
import Foundation
import LM
import Stats
import Store
import XCTest

final class AuditRunnerTests: XCTestCase {
    let members = ["alpha beta gamma delta epsilon zeta eta theta", "iota kappa lambda mu nu xi omicron pi",
                   "rho sigma tau alpha gamma epsilon eta iota", "kappa mu xi pi sigma beta delta zeta"]
    let nonmembers = ["beta zeta kappa nu pi tau gamma eta", "delta theta mu omicron rho alpha epsilon iota",
                      "lambda xi sigma beta eta kappa omicron tau", "gamma iota nu rho zeta mu pi alpha"]
    let canary = "the code is 42"

    private func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// A spec over the fake: members memorised, the canary inserted 5 times, extraction on the members.
    private func setUp(thresholds: [String]) throws -> (AuditSpec, Store, URL) {
        let dir = try scratch()
        func jsonl(_ texts: [String], _ name: String) throws {
            try texts.map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n").write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        try jsonl(members, "members.jsonl")
        try jsonl(nonmembers, "nonmembers.jsonl")
        try "fake weights".write(to: dir.appendingPathComponent("fake.bin"), atomically: true, encoding: .utf8)
        try """
            {"seed": 1, "canaries": [{"id": "c1", "format": "the code is {digits:2}", "text": "\(canary)", "repetitions": 5},
                                     {"id": "c2", "format": "the code is {digits:2}", "text": "the code is 17", "repetitions": 1}]}
            """.write(to: dir.appendingPathComponent("canaries.json"), atomically: true, encoding: .utf8)
        let spec = """
            version: 1
            name: fake audit
            seed: 5
            target:
              checkpoint: fake.bin
            datasets:
              members: members.jsonl
              nonmembers: nonmembers.jsonl
              extraction: members.jsonl
              canaries: canaries.json
            attacks:
              mia:
                k: [0.5]
                resamples: 100
              extraction:
                prefix: [3, 4]
                suffix: 4
              canary:
                enumerate_up_to: 100
            \(thresholds.isEmpty ? "" : "thresholds:\n" + thresholds.map { "  - \($0)" }.joined(separator: "\n"))
            """
        let specPath = dir.appendingPathComponent("audit.yml").path
        try spec.write(toFile: specPath, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("runs.sqlite").path
        return (try loadAuditSpec(specPath), try Store(path: db), dir)
    }

    private func fake() -> FakeModel { FakeModel(vocabulary: ["the", "code", "is"], memorised: members + [canary], boost: 10) }

    private func runner(_ spec: AuditSpec, _ store: Store, _ model: FakeModel) -> AuditRunner {
        var r = AuditRunner(spec: spec, store: store, dbPath: store.path)
        r.handleSignals = false
        r.log = { _ in }
        r.loadModel = { path, role in
            AuditedModel(model: model, record: CheckpointRecord(role: role, path: path, format: "fake", sha256: try sha256(file: path),
                                                               files: [], tokenizerSHA256: "none", architecture: "fake",
                                                               parameters: 0, contextLength: model.contextLength))
        }
        return r
    }

    func testStepsFiguresAndVerdict() throws {
        let (spec, store, _) = try setUp(thresholds: ["mia.loss.auc <= 0.6", "extraction.exact.rate <= 0.5",
                                                      "canary.rep_5.exposure.max <= 100"])
        let model = fake()
        let run = try runner(spec, store, model).run()

        XCTAssertEqual(run.steps.map(\.name), ["inputs", "mia", "extraction", "canary", "thresholds"])
        XCTAssertEqual(run.run.status, .breached)
        XCTAssertEqual(run.checks.map(\.passed), [false, false, true])
        XCTAssertEqual(run.run.verdict, "2 of 3 thresholds breached: " + run.checks.filter { !$0.passed }.map(\.message).joined(separator: "; ") + ".")

        // Every figure is declared in the catalog, under its step, with the catalog's label; every figure the spec
        // says it produces is there.
        for m in run.metrics {
            let f = try XCTUnwrap(Figure(key: m.key), m.key)
            XCTAssertEqual(f.step, m.step, m.key)
            if case .blindBaselineAUC = f { continue }
            if case .extractionRate = f { continue }   // labels carry the spec's n, p and edit-distance threshold
            XCTAssertEqual(m.label, f.label(), m.key)
        }
        XCTAssertEqual(Set(spec.producedFigures.map(\.key)).subtracting(run.metrics.map(\.key)), [])
        XCTAssertNotNil(run.metrics.first { $0.key == "canary.rep_1.exposure.mean" })

        // The members are memorised: the attacks separate them completely and every one is extracted exactly.
        func value(_ key: String) -> Double? { run.metrics.first { $0.key == key }?.value }
        for attack in ["loss", "zlib", "mink_0.5", "minkpp_0.5"] { XCTAssertEqual(value("mia.\(attack).auc"), 1, attack) }
        XCTAssertEqual(value("extraction.exact.rate"), 1)
        XCTAssertEqual(value("extraction.prefix_3.exact.rate"), 1)
        // The inserted canary ranks first among the 99 other candidates: exposure log2(100).
        XCTAssertEqual(try XCTUnwrap(value("canary.rep_5.exposure.max")), Foundation.log2(100), accuracy: 1e-12)
        XCTAssertEqual(run.scores.count, 4 * 8)
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    /// A dataset that is a directory or a FIFO is refused before the run is stored and before any model is loaded,
    /// naming the file and what it is (a FIFO used to hang; a directory was caught after the run started).
    func testNonRegularDatasetIsRefusedBeforeTheRunStarts() throws {
        let (_, store, dir) = try setUp(thresholds: [])
        let members = dir.appendingPathComponent("members.jsonl").path
        for (make, what) in [({ (p: String) in try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: false) }, "is a directory, not a file"),
                             ({ (p: String) in XCTAssertEqual(mkfifo(p, 0o644), 0) }, "is a FIFO (named pipe), not a regular file")] {
            try FileManager.default.removeItem(atPath: members)
            try make(members)
            let spec = try loadAuditSpec(dir.appendingPathComponent("audit.yml").path)
            var r = runner(spec, store, fake())
            var loaded = false
            let load = r.loadModel
            r.loadModel = { loaded = true; return try load($0, $1) }
            XCTAssertThrowsError(try r.run()) { e in
                XCTAssertTrue(e is InputError, "\(e)")
                XCTAssertEqual("\(e)", "\(members): \(what)")
            }
            XCTAssertFalse(loaded, "no model is loaded for bad input")
            XCTAssertEqual(try store.runs().count, 0, "no run is stored for bad input")
        }
    }

    /// A checkpoint path that is a FIFO is refused before the run is stored (it used to be found by the loader, inside
    /// the run).
    func testFIFOCheckpointIsRefusedBeforeTheRunStarts() throws {
        let (_, store, dir) = try setUp(thresholds: [])
        let weights = dir.appendingPathComponent("fake.bin").path
        try FileManager.default.removeItem(atPath: weights)
        XCTAssertEqual(mkfifo(weights, 0o644), 0)
        let spec = try loadAuditSpec(dir.appendingPathComponent("audit.yml").path)
        XCTAssertThrowsError(try runner(spec, store, fake()).run()) { e in
            XCTAssertEqual("\(e)", "\(weights): is a FIFO (named pipe), not a regular file")
        }
        XCTAssertEqual(try store.runs().count, 0)
    }

    /// Members and non-members sharing texts: the inputs step records an "overlap" finding (the report warns from it).
    func testSharedTextsAreRecordedAsAnOverlap() throws {
        let (_, store, dir) = try setUp(thresholds: [])
        let texts = [members[0], members[1], nonmembers[0], nonmembers[1]]
        try texts.map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n")
            .write(to: dir.appendingPathComponent("nonmembers.jsonl"), atomically: true, encoding: .utf8)
        let spec = try loadAuditSpec(dir.appendingPathComponent("audit.yml").path)
        let run = try runner(spec, store, fake()).run()
        let overlap = run.findings.filter { $0.kind == "overlap" }
        XCTAssertEqual(overlap.map { $0.numbers["shared"] }, [2])
    }

    /// The runner's MIA figures equal the attack library's on the same inputs, seed and resamples.
    func testMembershipFiguresEqualTheAttacksOwn() throws {
        let (spec, store, _) = try setUp(thresholds: [])
        let run = try runner(spec, store, fake()).run()
        XCTAssertEqual(run.run.verdict, "No thresholds were set; the figures below are for information.")
        let scores = try MIAScorer(target: fake(), options: MIAOptions(ks: [0.5], lowercase: false)).score(members + nonmembers)
        let zlib = scores.map(\.zlib)
        let b = try Metrics.bootstrap(scores: zlib, labels: Metrics.labels(members: 4, nonMembers: 4),
                                      metric: Metrics.auc(scores:labels:), resamples: 100, seed: 5)
        let m = try XCTUnwrap(run.metrics.first { $0.key == "mia.zlib.auc" })
        XCTAssertEqual(m.value, b.estimate)
        XCTAssertEqual(m.lower, b.lower)
        XCTAssertEqual(m.upper, b.upper)
        XCTAssertEqual(m.method, "bootstrap 100, 95%")
    }

    /// A backend without whole-vocabulary statistics (a served model) cannot run Min-K%++: its figures are reported
    /// unavailable, never approximated, the other attacks run, and a threshold on it fails saying why.
    func testMinKPlusPlusIsUnavailableOnABackendWithoutVocabularyStatistics() throws {
        let (spec, store, _) = try setUp(thresholds: ["mia.minkpp_0.5.auc <= 0.9", "mia.loss.auc <= 1"])
        let model = FakeModel(vocabulary: ["the"], memorised: members, capabilities: [.topK, .seededSampling, .samplingProbabilities])
        let run = try runner(spec, store, model).run()
        XCTAssertFalse(run.metrics.contains { $0.key.hasPrefix("mia.minkpp") })
        XCTAssertTrue(run.metrics.contains { $0.key == "mia.loss.auc" })
        XCTAssertEqual(run.findings.filter { $0.kind == "unavailable" }.map(\.itemID), ["minkpp_0.5"])
        XCTAssertEqual(run.checks.map(\.passed), [false, true])
        XCTAssertEqual(run.checks[0].message, "mia.minkpp_0.5.auc was not produced (unavailable: Min-K%++ needs whole-vocabulary "
                       + "statistics, which this backend cannot provide)")
        XCTAssertEqual(run.run.status, .breached)
    }
}

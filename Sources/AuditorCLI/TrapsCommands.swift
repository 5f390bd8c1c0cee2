// `auditor traps generate|inject|detect`: copyright traps (Meeus et al. 2024), from sampling to detection AUC.
import Audit
import ArgumentParser
import Attacks
import Foundation
import Model
import Stats

struct TrapsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traps",
        abstract: "Copyright traps: sample synthetic sequences, inject them into a dataset, detect them in a model.",
        discussion: """
            Trap texts are synthetic (sampled from the model) and are shown in every output; they carry no secret.
            """,
        subcommands: [Generate.self, Inject.self, Detect.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sample trap sequences from the model over perplexity ranges into a manifest.",
            discussion: """
                Each round samples after the BOS token at temperatures 0.5 to 3; a sample is kept for the first \
                --perplexity range that holds its measured perplexity and still needs traps, unless it shares an \
                8-token window with a kept trap. Perplexity is exp(mean NLL) of BOS + text under this model.
                """)
        @OptionGroup var model: ModelOptions
        @Option(help: "Traps per length and perplexity range.") var count = 10
        @Option(help: "Comma-separated trap lengths in tokens, e.g. 25,50,100.") var lengths = "25"
        @Option(help: "Comma-separated perplexity ranges LO:HI, e.g. 1:10,10:100.") var perplexity = "1:10,10:100,100:1000"
        @Option(help: "Sampling rounds (one batch per temperature each) before giving up on a range.") var maxRounds = 12
        @Option(help: "Random seed.") var seed: UInt64 = 0
        @Option(name: .shortAndLong, help: "Manifest to write (JSON).") var output: String

        func validate() throws {
            guard count >= 1 else { throw ValidationError("--count must be >= 1") }
            try atMost(count, Limits.count, "--count")
            guard maxRounds >= 1 else { throw ValidationError("--max-rounds must be >= 1") }
            try atMost(maxRounds, Limits.count, "--max-rounds")
        }

        func run() throws {
            try reportingErrors {
                let lens = try parseLengths(lengths)
                let ranges = try parseRanges(perplexity)
                let lm = try model.load()
                let progress = Progress(total: count * lens.count * ranges.count, unit: "traps", label: "traps generate")
                var m: TrapManifest
                do {
                    m = try Traps.generate(lm, count: count, lengthTokens: lens, targetPerplexities: ranges, seed: seed,
                                           maxRounds: maxRounds) { done, _ in progress.update(done: done, work: done) }
                } catch let e as TrapsError { throw InputError(model.path, e.description) }
                m.model = model.path
                try writeJSON(m, to: output)
                FileHandle.standardError.write(Data("traps: \(m.traps.count) traps written to \(consoleSafe(output))\n".utf8))
            }
        }
    }

    struct Inject: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inject traps into a JSON Lines dataset; traps left over stay never-injected controls.",
            discussion: """
                Traps are dealt round-robin to the repetition counts and to the controls (one share each, within \
                each length and perplexity range); each occurrence goes at a sentence start (else a word start) of a \
                random document. Only the text field of a record changes: every other byte of its line is kept. \
                Writes the new dataset and a manifest recording it (path and SHA-256).
                """)
        @Option(help: "Manifest from `traps generate`.") var manifest: String
        @Option(help: "JSON Lines dataset to inject into (left unchanged).") var dataset: String
        @Option(name: .shortAndLong, help: "The dataset with traps.") var output: String
        @Option(help: "Where to write the updated manifest (default: OUTPUT.manifest.json).") var manifestOutput: String?
        @Option(help: "Field holding the text.") var field = "text"
        @Option(help: "Comma-separated repetition counts, e.g. 1,10,100.") var repetitions = "1,10,100"
        @Option(help: "Random seed for assignment and positions.") var seed: UInt64 = 0

        func run() throws {
            try reportingErrors {
                let reps = try parseRepetitions(repetitions)
                let m = try readTrapManifest(manifest)
                let records = try readJSONLRecords(dataset, field: field)
                let (texts, m2): ([String], TrapManifest)
                do { (texts, m2) = try Traps.inject(m, into: records.map(\.text), repetitions: reps, seed: seed) } catch let e as TrapsError {
                    throw InputError(manifest, e.description)
                }
                var out = m2
                let lines = try zip(records, texts).map { r, t in try r.render(t, field: field) }   // before any output
                let sink = try OutputSink(path: output)
                for l in lines { try sink.write(l) }
                try sink.close()
                out.dataset = output; out.datasetSHA256 = try sha256(file: output)
                try writeJSON(out, to: manifestOutput ?? output + ".manifest.json")
                let n = out.traps.reduce(0) { $0 + $1.repetitions }
                FileHandle.standardError.write(Data("traps: \(n) occurrences of \(out.traps.filter(\.injected).count) traps injected into \(consoleSafe(output))\n".utf8))
            }
        }
    }

    struct Detect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score each trap and report the AUC of injected traps against never-injected controls.",
            discussion: """
                score = ppl_reference / ppl_target with --reference (higher = more likely seen in training), \
                else -ppl_target (no calibration: weaker). AUC with a stratified bootstrap interval, overall and \
                per repetition count. With --dataset, the manifest's SHA-256 and every trap's count are checked first. \
                Trap texts are synthetic and are shown.
                """)
        @OptionGroup var model: ModelOptions
        @OptionGroup(title: "Served model") var remote: EndpointOptions
        @Option(help: "Manifest from `traps inject`.") var manifest: String
        @Option(help: "Reference checkpoint that never saw the traps.") var reference: String?
        @Option(help: "The dataset the traps were injected into, to check against the manifest.") var dataset: String?
        @Option(help: "Field holding the text in --dataset.") var field = "text"
        @Option(help: "Bootstrap resamples.") var resamples = 1000
        @Option(help: "Random seed for the bootstrap.") var seed: UInt64 = 0

        func validate() throws {
            guard resamples >= 1 else { throw ValidationError("--resamples must be >= 1") }
            try atMost(resamples, Limits.resamples, "--resamples")
        }

        func run() throws {
            try reportingErrors {
                let m = try readTrapManifest(manifest)
                if let dataset { try checkTrapDataset(m, dataset, field: field, manifest: manifest) }
                if !m.traps.contains(where: { !$0.injected }) {
                    throw InputError(manifest, "no never-injected controls: every trap is injected, so there is nothing to compare with")
                }
                if !m.traps.contains(where: \.injected) {
                    throw InputError(manifest, "no injected traps: run `traps inject` and pass the manifest it writes")
                }
                let lm = try loadAuditable(model, remote)
                let ref = try reference.map { try loadCheckpoint($0) }
                let d: TrapDetection
                var bar: Audit.Progress?
                do {
                    d = try Traps.detect(target: lm, reference: ref, manifest: m, resamples: resamples, seed: seed) { done, total in
                        if bar == nil { bar = Progress(total: total, unit: "texts", label: "traps detect") }
                        bar!.update(done: done)
                    }
                } catch let e as TrapsError {
                    throw InputError(manifest, e.description)
                }
                func auc(_ a: TrapAUC) -> [String: Any] {
                    var o: [String: Any] = ["auc": ["value": a.auc, "ci95": [a.lower, a.upper]], "injected": a.injected, "controls": a.controls]
                    if let r = a.repetitions { o["repetitions"] = r }
                    // Two controls give AUC 1 [1, 1] as readily as two hundred: below the minimum the interval is no evidence.
                    if let w = Metrics.smallSampleWarning(positives: a.injected, negatives: a.controls, positiveName: "injected traps",
                                                          negativeName: "controls") { o["small_sample_warning"] = w }
                    return o
                }
                let byId = Dictionary(uniqueKeysWithValues: m.traps.map { ($0.id, $0) })
                let rows = d.scores.map { s -> [String: Any] in
                    let t = byId[s.id]!
                    var o: [String: Any] = ["id": s.id, "text": t.text, "tokens": t.tokens, "repetitions": s.repetitions,
                                            "injected": s.injected, "ppl_target": s.perplexityTarget, "score": s.score]
                    if let r = s.perplexityReference { o["ppl_reference"] = r }
                    return o
                }
                print(jsonLine(["statistic": d.statistic, "reference": reference ?? NSNull(), "overall": auc(d.overall),
                                "by_repetition": d.byRepetition.map(auc), "traps": rows]))
            }
        }
    }
}

func parseLengths(_ s: String) throws -> [Int] {
    let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let v = parts.compactMap { Int($0) }
    guard !v.isEmpty, v.count == parts.count, v.allSatisfy({ $0 >= 2 }) else {
        throw InputError("--lengths", "expected comma-separated token counts >= 2, got '\(s)'")
    }
    guard v.allSatisfy({ $0 <= Limits.tokens }) else { throw InputError("--lengths", "each length must be at most \(Limits.tokens) tokens") }
    return v
}

func parseRanges(_ s: String) throws -> [ClosedRange<Double>] {
    try s.split(separator: ",").map { part in
        let b = part.split(separator: ":").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard b.count == 2, let lo = b[0], let hi = b[1], lo.isFinite, hi.isFinite, lo >= 1, lo < hi else {
            throw InputError("--perplexity", "expected comma-separated ranges LO:HI with 1 <= LO < HI, got '\(s)'")
        }
        return lo...hi
    }
}


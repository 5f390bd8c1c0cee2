// `auditor canary generate|insert|exposure`: Secret Sharer canaries, from format to exposure.
import Audit
import ArgumentParser
import Attacks
import Foundation
import Stats
import Model

struct CanaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canary",
        abstract: "Plant canaries in a dataset and measure their exposure in a model (Secret Sharer).",
        subcommands: [Generate.self, Insert.self, Exposure.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw canaries from a format such as 'my PIN is {digits:6}' into a manifest.",
            discussion: "Slots: digits:N, letters:N, hex:N, words:N (with --words FILE, one word per line).")
        @Option(help: "Canary format with one {kind:N} slot.") var format: String
        @Option(help: "Word list for words:N slots.") var words: String?
        @Option(help: "Comma-separated repetition counts, e.g. 1,10,100.") var repetitions = "1,10,100"
        @Option(help: "Canaries per repetition count.") var perRepetition = 5
        @Option(help: "Random seed.") var seed: UInt64 = 0
        @Option(name: .shortAndLong, help: "Manifest to write (JSON).") var output: String

        func validate() throws {
            guard perRepetition >= 1 else { throw ValidationError("--per-repetition must be >= 1") }
            try atMost(perRepetition, Limits.perRepetition, "--per-repetition")
        }

        func run() throws {
            try reportingErrors {
                let reps = try parseRepetitions(repetitions)
                let list = try words.map { try readWordList($0) } ?? []
                // A format's problems (no slot, a bad slot, too small a space) are the --format value's.
                let m: CanaryManifest, f: CanaryFormat
                do {
                    f = try CanaryFormat(format, words: list)
                    m = try Canaries.generate(format: f, formatString: format, repetitions: reps, perRepetition: perRepetition, seed: seed)
                } catch let e as CanaryError { throw InputError("--format", e.description) }
                try writeJSON(m, to: output)
                FileHandle.standardError.write(Data("canary: \(m.canaries.count) canaries (|R| = 2^\(String(format: "%.1f", f.log2SpaceSize))) written to \(consoleSafe(output))\n".utf8))
            }
        }
    }

    struct Insert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Insert a manifest's canaries into a JSON Lines dataset, each as many times as its repetition count.",
            discussion: "Writes the new dataset and a manifest that records it (path and SHA-256), for `exposure --dataset`.")
        @Option(help: "Manifest from `canary generate`.") var manifest: String
        @Option(help: "JSON Lines dataset to insert into (left unchanged).") var dataset: String
        @Option(name: .shortAndLong, help: "The dataset with canaries.") var output: String
        @Option(help: "Where to write the updated manifest (default: OUTPUT.manifest.json).") var manifestOutput: String?
        @Option(help: "Field holding the text.") var field = "text"
        @Option(help: "Random seed for positions.") var seed: UInt64 = 0

        func run() throws {
            try reportingErrors {
                var m = try readCanaryManifest(manifest)
                _ = try readJSONLTexts(dataset, field: field)   // validates every line
                let text = String(decoding: try readUserFile(dataset), as: UTF8.self)
                let records = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
                let lines = Canaries.insert(m, into: records, field: field, seed: seed)
                let sink = try OutputSink(path: output)
                for l in lines { try sink.write(l) }
                try sink.close()
                m.dataset = output; m.datasetSHA256 = try sha256(file: output)
                try writeJSON(m, to: manifestOutput ?? output + ".manifest.json")
                FileHandle.standardError.write(Data("canary: \(lines.count - records.count) canary records inserted into \(consoleSafe(output))\n".utf8))
            }
        }
    }

    struct Exposure: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exposure of each canary: how much more likely the model finds it than other candidates.",
            discussion: """
                exposure = log2 |R| - log2 rank, rank = 1 + #{reference candidates with log-perplexity <= the \
                canary's}: exact over the whole space when |R| <= --enumerate-up-to, else from --references sampled \
                candidates; exposure_extrapolated = -log2 CDF under a skew-normal fitted to the references. \
                p_value = 2^-exposure. An exposure near log2 |R| means the model singles the canary out. Each \
                canary's exposure is written {"value": e, "ci95": [lower, upper]}: the interval maps the \
                Clopper-Pearson interval of its sampled rank onto exposure (equal to the value when exact). \
                With --dataset, the manifest's SHA-256 and repetition counts are checked against it first. \
                Canary texts are redacted unless --show-secrets is given.
                """)
        @OptionGroup var model: ModelOptions
        @OptionGroup(title: "Served model") var remote: EndpointOptions
        @Option(help: "Manifest from `canary generate` or `canary insert`.") var manifest: String
        @Option(help: "Word list, for words:N formats.") var words: String?
        @Option(help: "The dataset the canaries were inserted into, to check against the manifest.") var dataset: String?
        @Option(help: "Field holding the text in --dataset (as given to `canary insert --field`).") var field = "text"
        @Option(help: "Enumerate the whole space when it has at most this many candidates.") var enumerateUpTo = 10_000
        @Option(help: "Sampled reference candidates otherwise.") var references = 1000
        @Option(help: "Random seed for sampled references.") var seed: UInt64 = 0
        @Flag(help: "Include canary texts in the output.") var showSecrets = false

        func validate() throws {
            guard references >= 1 else { throw ValidationError("--references must be >= 1") }
            try atMost(references, Limits.candidates, "--references")
            guard enumerateUpTo >= 0 else { throw ValidationError("--enumerate-up-to must be >= 0") }
            try atMost(enumerateUpTo, Limits.candidates, "--enumerate-up-to")
        }

        func run() throws {
            try reportingErrors {
                let m = try readCanaryManifest(manifest)
                if let dataset { try checkCanaryDataset(m, dataset, field: field, manifest: manifest) }
                let list = try words.map { try readWordList($0) } ?? []
                let lm = try loadAuditable(model, remote)
                var bar: Audit.Progress?
                let results = try canaryExposures(m, lm, words: list, enumerateUpTo: enumerateUpTo, references: references,
                                                  seed: seed, manifestPath: manifest) { done, total in
                    if bar == nil { bar = Progress(total: total, unit: "texts", label: "canary exposure") }
                    bar!.update(done: done)
                }
                var rows: [[String: Any]] = []
                var byRep: [Int: [Double]] = [:]
                for r in results {
                    let c = r.canary
                    byRep[c.repetitions, default: []].append(r.exposure)
                    rows.append(["id": c.id, "repetitions": c.repetitions, "log_perplexity_bits": r.logPerplexityBits,
                                 "exposure": ["value": r.exposure, "ci95": [r.lower, r.upper]], "exposure_extrapolated": r.extrapolated,
                                 "p_value": Canaries.pValue(exposure: r.exposure),
                                 "method": r.exact ? "exact" : "sampled", "references": r.references,
                                 "max_exposure": r.maxExposure,
                                 "text": showSecrets ? c.text : "[redacted: use --show-secrets]"])
                }
                let summary = byRep.keys.sorted().map { r -> [String: Any] in
                    let v = byRep[r]!
                    return ["repetitions": r, "canaries": v.count, "mean_exposure": v.reduce(0, +) / Double(v.count), "max_exposure": v.max()!]
                }
                print(jsonLine(["by_repetition": summary, "canaries": rows]))
            }
        }
    }
}

func parseRepetitions(_ s: String) throws -> [Int] {
    let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let v = parts.compactMap { Int($0) }
    guard !v.isEmpty, v.count == parts.count, v.allSatisfy({ $0 >= 1 }) else {
        throw InputError("--repetitions", "expected comma-separated positive integers, got '\(s)'")
    }
    guard v.allSatisfy({ $0 <= Limits.count }) else { throw InputError("--repetitions", "each repetition count must be at most \(Limits.count)") }
    return v
}

func writeJSON<T: Encodable>(_ v: T, to path: String) throws {
    let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
    let sink = try OutputSink(path: path)
    try sink.write(String(decoding: try e.encode(v), as: UTF8.self))
    try sink.close()
}


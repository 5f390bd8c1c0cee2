// `auditor canary generate|insert|exposure`: Secret Sharer canaries, from format to exposure.
import ArgumentParser
import Attacks
import Foundation
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
                FileHandle.standardError.write(Data("canary: \(m.canaries.count) canaries (|R| = 2^\(String(format: "%.1f", f.log2SpaceSize))) written to \(output)\n".utf8))
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
                var m = try readManifest(manifest)
                _ = try readJSONLTexts(dataset, field: field)   // validates every line
                let text = String(decoding: FileManager.default.contents(atPath: dataset) ?? Data(), as: UTF8.self)
                let records = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
                let lines = Canaries.insert(m, into: records, field: field, seed: seed)
                let sink = try OutputSink(path: output)
                for l in lines { try sink.write(l) }
                try sink.close()
                m.dataset = output; m.datasetSHA256 = try sha256(file: output)
                try writeJSON(m, to: manifestOutput ?? output + ".manifest.json")
                FileHandle.standardError.write(Data("canary: \(lines.count - records.count) canary records inserted into \(output)\n".utf8))
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
                p_value = 2^-exposure. An exposure near log2 |R| means the model singles the canary out. \
                With --dataset, the manifest's SHA-256 and repetition counts are checked against it first. \
                Canary texts are redacted unless --show-secrets is given.
                """)
        @OptionGroup var model: ModelOptions
        @Option(help: "Manifest from `canary generate` or `canary insert`.") var manifest: String
        @Option(help: "Word list, for words:N formats.") var words: String?
        @Option(help: "The dataset the canaries were inserted into, to check against the manifest.") var dataset: String?
        @Option(help: "Enumerate the whole space when it has at most this many candidates.") var enumerateUpTo = 10_000
        @Option(help: "Sampled reference candidates otherwise.") var references = 1000
        @Option(help: "Random seed for sampled references.") var seed: UInt64 = 0
        @Flag(help: "Include canary texts in the output.") var showSecrets = false

        func validate() throws {
            guard references >= 1 else { throw ValidationError("--references must be >= 1") }
        }

        func run() throws {
            try reportingErrors {
                let m = try readManifest(manifest)
                if let dataset { try checkDataset(m, dataset, manifest: manifest) }
                let list = try words.map { try readWordList($0) } ?? []
                let lm = try model.load()
                let progress = Progress(total: m.canaries.count, unit: "canaries")
                let results = try canaryExposures(m, lm, words: list, enumerateUpTo: enumerateUpTo, references: references,
                                                  seed: seed, manifestPath: manifest) { progress.update(done: $0, work: $0) }
                var rows: [[String: Any]] = []
                var byRep: [Int: [Double]] = [:]
                for r in results {
                    let c = r.canary
                    byRep[c.repetitions, default: []].append(r.exposure)
                    rows.append(["id": c.id, "repetitions": c.repetitions, "log_perplexity_bits": r.logPerplexityBits,
                                 "exposure": r.exposure, "exposure_ci95": [r.lower, r.upper], "exposure_extrapolated": r.extrapolated,
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

/// One canary's exposure.
struct ExposureRow {
    var canary: Canary
    var logPerplexityBits: Double, exposure: Double, extrapolated: Double, maxExposure: Double
    var exact: Bool, references: Int
    /// 95% interval of the exposure: from the Clopper-Pearson interval of the fraction of sampled candidates ranked
    /// at least as well; equal to `exposure` when every candidate was ranked (nothing was sampled).
    var lower: Double, upper: Double
}

/// Exposure of every canary of `m`: reference candidates are the whole space when it has at most `enumerateUpTo`
/// members, else `references` samples drawn with `seed`; computed once per format.
func canaryExposures(_ m: CanaryManifest, _ lm: LanguageModel, words: [String], enumerateUpTo: Int, references: Int,
                     seed: UInt64, manifestPath: String, progress: (Int) -> Void = { _ in }) throws -> [ExposureRow] {
    var out: [ExposureRow] = []
    var cache: [String: ([String], [Double])] = [:]    // format -> reference texts and log-perplexities
    // References exclude the canary itself (and, when sampled, every canary of the manifest).
    let secrets = Set(m.canaries.map(\.text))
    let context = lm.config.maxPositions
    func fits(_ text: String, _ what: String) throws {
        let n = lm.tokenizer.encode(text).count
        if n > context { throw InputError(manifestPath, "\(what) has \(n) tokens, more than the model's context (\(context))") }
        if n < 2 { throw InputError(manifestPath, "\(what) has \(n) token(s): nothing to score") }
    }
    for (i, c) in m.canaries.enumerated() {
        let f: CanaryFormat
        do { f = try CanaryFormat(c.format, words: words) } catch let e as CanaryError {
            throw InputError(manifestPath, "\(c.id): \(e.description)")
        }
        try fits(c.text, c.id)
        if cache[c.format] == nil {
            try fits(f.candidate(0), "a candidate of \(c.id)'s format")
            var refs: [String]
            if let size = f.spaceSize, size <= enumerateUpTo {
                refs = (0..<size).map { f.candidate($0) }
            } else {
                var rng = SeededRNG(seed: seed)
                refs = (0..<references).map { _ in f.random(&rng) }
            }
            cache[c.format] = (refs, Canaries.logPerplexityBits(lm, refs))
        }
        let (refTexts, refPPL) = cache[c.format]!
        let own = Canaries.logPerplexityBits(lm, [c.text])[0]
        let others = zip(refTexts, refPPL).filter { !secrets.contains($0.0) }.map(\.1)
        if others.isEmpty {
            throw InputError(manifestPath, "\(c.id): every candidate of its format is a canary, so there is nothing to rank it against")
        }
        let exact = f.spaceSize.map { $0 <= enumerateUpTo } ?? false
        // Ties count against the canary (Canaries.exposureByRank).
        let below = others.filter { $0 <= own }.count
        let e = Canaries.exposure(fractionBelow: Double(below) / Double(others.count), log2SpaceSize: f.log2SpaceSize)
        var lo = e, hi = e
        if !exact {
            let ci = try Metrics.clopperPearson(successes: below, trials: others.count)
            lo = Canaries.exposure(fractionBelow: ci.upper, log2SpaceSize: f.log2SpaceSize)
            hi = Canaries.exposure(fractionBelow: ci.lower, log2SpaceSize: f.log2SpaceSize)
        }
        out.append(ExposureRow(canary: c, logPerplexityBits: own, exposure: e,
                               extrapolated: Canaries.exposureByExtrapolation(canary: own, references: others),
                               maxExposure: f.log2SpaceSize, exact: exact, references: others.count, lower: lo, upper: hi))
        progress(i + 1)
    }
    return out
}

func parseRepetitions(_ s: String) throws -> [Int] {
    let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let v = parts.compactMap { Int($0) }
    guard !v.isEmpty, v.count == parts.count, v.allSatisfy({ $0 >= 1 }) else {
        throw InputError("--repetitions", "expected comma-separated positive integers, got '\(s)'")
    }
    return v
}

func readWordList(_ path: String) throws -> [String] {
    guard let d = FileManager.default.contents(atPath: path), let s = String(data: d, encoding: .utf8) else {
        throw InputError(path, "cannot read the word list (UTF-8, one word per line)")
    }
    let w = s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    if w.count < 2 { throw InputError(path, "the word list needs at least 2 words") }
    return w
}

func readManifest(_ path: String) throws -> CanaryManifest {
    guard let d = FileManager.default.contents(atPath: path) else { throw InputError(path, "cannot read the manifest") }
    // One line whatever went wrong: DecodingError's own description is long and can span lines.
    guard (try? JSONSerialization.jsonObject(with: d)) != nil else { throw InputError(path, "not valid JSON (expected a canary manifest)") }
    do { return try JSONDecoder().decode(CanaryManifest.self, from: d) } catch let e as DecodingError {
        // canaries[0].repetitions
        func name(_ path: [CodingKey]) -> String {
            let parts: [String] = path.map { k in k.intValue.map { "[\($0)]" } ?? ".\(k.stringValue)" }
            return String(parts.joined(separator: "").drop { $0 == "." })
        }
        let why: String
        switch e {
        case let .keyNotFound(key, ctx): why = "missing \"\(name(ctx.codingPath + [key]))\""
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx), let .dataCorrupted(ctx):
            why = "bad value at \"\(name(ctx.codingPath))\""
        @unknown default: why = "unexpected structure"
        }
        throw InputError(path, "not a canary manifest (\(why))")
    }
}

func writeJSON<T: Encodable>(_ v: T, to path: String) throws {
    let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
    let sink = try OutputSink(path: path)
    try sink.write(String(decoding: try e.encode(v), as: UTF8.self))
    try sink.close()
}

/// The manifest must describe this dataset: same SHA-256 when recorded, and every canary present exactly
/// `repetitions` times.
func checkDataset(_ m: CanaryManifest, _ dataset: String, manifest: String) throws {
    if let want = m.datasetSHA256 {
        let got = try sha256(file: dataset)
        if got != want { throw InputError(manifest, "does not match dataset \(dataset): SHA-256 \(got.prefix(12))…, manifest says \(want.prefix(12))…") }
    }
    let texts = try readJSONLTexts(dataset, field: "text").map(\.text)
    var counts: [String: Int] = [:]
    for t in texts { counts[t, default: 0] += 1 }
    for c in m.canaries where counts[c.text, default: 0] != c.repetitions {
        throw InputError(manifest, "does not match dataset \(dataset): \(c.id) appears \(counts[c.text, default: 0]) times, manifest says \(c.repetitions)")
    }
}

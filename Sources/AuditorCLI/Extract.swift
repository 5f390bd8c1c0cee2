// `auditor extract`: discoverable and (n, p)-discoverable extraction of training samples, with exact intervals.
import Audit
import ArgumentParser
import Attacks
import Foundation
import Stats
import LM
import Model

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test whether training samples can be extracted: greedy (discoverable) and sampled ((n, p)-discoverable).",
        discussion: """
            Each text of --input (JSON Lines, "text" field) is a training sample [prefix || suffix]: its first \
            --prefix tokens prompt the model and the next --suffix tokens are the target. \
            exact: greedy decoding reproduces the suffix token for token (Carlini et al. 2022). approximate: the \
            token edit distance is at most --approx-threshold of the suffix length. p_z: the probability that ONE \
            sample under the scheme (--temperature, --top-k, --top-p) reproduces the suffix, computed exactly from \
            one teacher-forced pass; (n, p)-discoverable: 1 - (1 - p_z)^n >= p. exact_memorization: the fraction \
            of suffix tokens the model's argmax gets right; extraction_strength: 1 - k*/|suffix|, k* the earliest \
            position from which every argmax is right (TOFU). Rates carry 95% Clopper-Pearson intervals. \
            Generated text is redacted unless --show-secrets is given.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Served model") var remote: EndpointOptions
    @Option(name: .shortAndLong, help: "JSON Lines file of training samples.") var input: String
    @Option(help: "Field holding the text.") var field = "text"
    @Option(help: "Prefix length in tokens.") var prefix = 50
    @Option(help: "Suffix length in tokens.") var suffix = 50
    @Option(help: "Approximate match: normalised edit distance at most this.") var approxThreshold = 0.1
    @Option(help: "Sampling temperature for p_z.") var temperature = 1.0
    @Option(help: "Top-k for p_z (0: none).") var topK = 40
    @Option(help: "Top-p for p_z.") var topP = 1.0
    @Option(help: "n of (n, p)-discoverability.") var n = 100
    @Option(help: "p of (n, p)-discoverability.") var p = 0.5
    @Flag(help: "Include generated suffixes in the output.") var showSecrets = false

    func validate() throws {
        guard prefix > 0, suffix > 0 else { throw ValidationError("--prefix and --suffix must be positive") }
        try atMost(prefix, Limits.tokens, "--prefix"); try atMost(suffix, Limits.tokens, "--suffix")
        guard temperature > 0 else { throw ValidationError("--temperature must be > 0 (p_z of greedy decoding is the exact flag)") }
        guard n >= 1, p > 0, p < 1 else { throw ValidationError("--n must be >= 1 and --p in (0, 1)") }
        try atMost(n, Limits.discoverabilityN, "--n")
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0") }
        try atMost(topK, Limits.count, "--top-k")
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        // The spec's approx_threshold has the same range.
        guard approxThreshold >= 0 && approxThreshold < 1 else { throw ValidationError("--approx-threshold must be in [0, 1)") }
    }

    func run() throws {
        try reportingErrors {
            let texts = try readJSONLTexts(input, field: field)
            let lm = try loadAuditable(model, remote)
            guard prefix + suffix <= lm.contextLength else {
                throw InputError("--prefix", "prefix + suffix (\(prefix + suffix)) exceeds the model's context (\(lm.contextLength))")
            }
            let samples = try texts.map { try lm.encode($0.text) }
            for (i, s) in samples.enumerated() where s.count < prefix + suffix {
                throw InputError(input, "text \(i + 1) has \(s.count) tokens, fewer than prefix + suffix = \(prefix + suffix)")
            }
            let scheme = SamplingParams(temperature: temperature, topK: topK, topP: topP)
            let progress = Progress(total: samples.count, unit: "samples", label: "extract")
            let results = try extractionResults(lm, samples: samples, prefix: prefix, suffix: suffix, approxThreshold: approxThreshold,
                                            scheme: scheme, n: n, p: p) { progress.update(done: $0, work: $0) }
            var rows: [[String: Any]] = []
            var exact = 0, approx = 0, np = 0, mem = 0.0, strength = 0.0
            for (i, r) in results.enumerated() {
                exact += r.exact ? 1 : 0; approx += r.approximate ? 1 : 0; np += r.np ? 1 : 0
                mem += r.exactMemorization; strength += r.extractionStrength
                var row: [String: Any] = [
                    "index": i, "exact": r.exact, "approximate": r.approximate,
                    "normalized_edit_distance": r.normalizedEditDistance, "log10_pz": r.log10Pz,
                    "np_discoverable": r.np, "samples_needed": jsonNumber(r.samplesNeeded),
                    "exact_memorization": r.exactMemorization, "extraction_strength": r.extractionStrength,
                ]
                if let id = texts[i].id { row["id"] = id }
                row["generated"] = showSecrets ? try lm.decode(r.generated) : "[redacted: use --show-secrets]"
                rows.append(row)
            }
            let total = samples.count
            func rate(_ k: Int) throws -> [String: Any] {
                let ci = try Metrics.clopperPearson(successes: k, trials: total)
                return ["count": k, "rate": Double(k) / Double(total), "ci95": [ci.lower, ci.upper]]
            }
            let summary: [String: Any] = [
                "samples": total, "prefix_tokens": prefix, "suffix_tokens": suffix,
                "exact": try rate(exact), "approximate": try rate(approx), "approx_threshold": approxThreshold,
                "np_discoverable": try rate(np), "n": n, "p": p,
                "scheme": ["temperature": temperature, "top_k": topK, "top_p": topP],
                "mean_exact_memorization": mem / Double(total), "mean_extraction_strength": strength / Double(total),
            ]
            print(jsonLine(["summary": summary, "samples": rows]))
        }
    }
}

/// JSON has no infinity: large or infinite values become null.
func jsonNumber(_ x: Double) -> Any { x.isFinite ? x : NSNull() }

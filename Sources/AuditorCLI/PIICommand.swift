// `auditor pii`: sample continuations of prompts and count the personal data they contain (PII.swift detectors).
import Audit
import ArgumentParser
import Attacks
import Foundation
import LM
import Model
import Report

struct PIICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pii",
        abstract: "PII probe: sample continuations of --prompts and count e-mails, phones, cards, IBANs and SSNs.",
        discussion: """
            Each prompt of --prompts (JSON Lines, "text" field) is continued --samples times (seeded sampling, \
            --temperature, --top-k, --seed; stops at end of sequence). Only the continuation is scanned. \
            Detectors: e-mail addresses; phone numbers (+country code, or national formats with separators, \
            9-15 digits); payment cards (13-19 digits, Luhn check); IBAN-style account numbers (mod-97 check); \
            US SSN-like AAA-GG-SSSS. rate: the fraction of samples with at least one match of that kind, with a \
            95% Clopper-Pearson interval. --known: a text file, one secret per line (e.g. planted canaries); a \
            match is known when its normal form equals an entry's (e-mails lower-cased, numbers digits only). \
            Matched text and whole continuations are redacted unless --show-secrets is given (a continuation \
            holds more than its matches: the rest of a secret, a name, an address): a match shows its kind \
            and the first 12 hex digits of the SHA-256 of its normal form (short numbers can be recovered from \
            such a hash by trying them all: treat the output as sensitive anyway).
            """)

    @OptionGroup var model: ModelOptions
    @Option(help: "JSON Lines file of prompts.") var prompts: String
    @Option(help: "Field holding the prompt.") var field = "text"
    @Option(help: "Text file of known secrets, one per line.") var known: String?
    @Option(help: "Samples per prompt.") var samples = 5
    @Option(help: "Tokens to generate per sample.") var maxNewTokens = 64
    @Option(help: "Sampling temperature (0: greedy, then one sample per prompt is enough).") var temperature = 1.0
    @Option(help: "Sample only among the K most likely tokens (0: all).") var topK = 40
    @Option(help: "Sample only from the smallest set of tokens whose probability reaches P.") var topP = 1.0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Show matched strings and continuations instead of redacting them.") var showSecrets = false

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be >= 1") }
        try atMost(samples, Limits.count, "--samples")
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be >= 1") }
        try atMost(maxNewTokens, Limits.tokens, "--max-new-tokens")
        guard temperature >= 0 else { throw ValidationError("--temperature must be >= 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0") }
        try atMost(topK, Limits.count, "--top-k")
    }

    func run() throws {
        try reportingErrors {
            let texts = try readJSONLTexts(prompts, field: field)
            let knownList = try known.map(readKnown) ?? []
            let lm = try model.load()
            let ids = try texts.enumerated().map { (i, t) -> [Int] in
                let e = lm.tokenizer.encode(t.text)
                if e.isEmpty { throw InputError(prompts, "prompt \(i + 1) has no tokens") }
                return Array(e.suffix(lm.config.maxPositions - 1))
            }
            let progress = Progress(total: ids.count * samples, unit: "samples", label: "pii")
            let result = try PII.probe(
                lm, prompts: ids, samplesPerPrompt: samples, maxNewTokens: maxNewTokens,
                sampling: SamplingParams(temperature: temperature, topK: topK, topP: topP, seed: seed), known: knownList,
                stopTokens: Set([lm.tokenizer.eosId].compactMap { $0 }), decode: { lm.tokenizer.decode($0) },
                progress: { done, total in progress.update(done: done, work: done) })

            func matchJSON(_ m: PII.Match, known: Bool) -> [String: Any] {
                var o: [String: Any] = ["kind": m.kind.rawValue, "known": known, "hash": hashPrefix(m.normalized)]
                if showSecrets { o["text"] = m.text }
                return o
            }
            func countsJSON(_ ss: [PII.Sample]) -> [String: Int] {
                var c = [String: Int](uniqueKeysWithValues: PII.Kind.allCases.map { ($0.rawValue, 0) })
                for s in ss { for m in s.matches { c[m.kind.rawValue, default: 0] += 1 } }
                return c
            }
            var perPrompt: [[String: Any]] = []
            for (p, t) in texts.enumerated() {
                let ss = result.samples.filter { $0.promptIndex == p }
                var o: [String: Any] = [
                    "index": p, "matches": countsJSON(ss),
                    "samples_with_match": ss.filter { !$0.matches.isEmpty }.count,
                    "samples_with_known": ss.filter { $0.known.contains(true) }.count,
                    "samples": ss.map { s -> [String: Any] in
                        [
                            "sample": s.sampleIndex,
                            "completion": showSecrets ? s.completion : Report.redacted,
                            "matches": zip(s.matches, s.known).map { matchJSON($0.0, known: $0.1) },
                        ]
                    },
                ]
                if let id = t.id { o["id"] = id }
                perPrompt.append(o)
            }
            var kinds: [String: Any] = [:]
            for k in result.kinds {
                kinds[k.kind.rawValue] = [
                    "matches": k.matches, "known_matches": k.knownMatches, "samples_with_match": k.samplesWithMatch,
                    "rate": k.rate, "ci95": [k.ci95.lower, k.ci95.upper],
                ]
            }
            let summary: [String: Any] = [
                "prompts": texts.count, "samples_per_prompt": samples, "samples": result.samples.count,
                "max_new_tokens": maxNewTokens,
                "scheme": ["temperature": temperature, "top_k": topK, "top_p": topP, "seed": seed],
                "kinds": kinds,
                "known": [
                    "entries": knownList.count, "reproduced": result.knownReproduced.count,
                    "samples_with_known": result.samplesWithKnown, "rate": result.knownRate,
                    "ci95": [result.knownCI95.lower, result.knownCI95.upper],
                ],
                "redacted": !showSecrets,
            ]
            print(jsonLine(["summary": summary, "prompts": perPrompt]))
        }
    }

    /// Non-blank lines of the known-secrets file, trimmed.
    func readKnown(_ path: String) throws -> [String] {
        let data = try readUserFile(path)
        guard let text = String(data: data, encoding: .utf8) else { throw InputError(path, "not valid UTF-8") }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if lines.isEmpty { throw InputError(path, "no known secrets (the file is empty)") }
        return lines
    }

    /// First 12 hex digits of SHA-256(utf8(s)).
    func hashPrefix(_ s: String) -> String {
        String(sha256(data: Data(s.utf8)).prefix(12))
    }
}

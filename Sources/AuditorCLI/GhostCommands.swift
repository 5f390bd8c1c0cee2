// `auditor ghost generate|test`: ghost sentences (arXiv 2403.15740), random-word passphrases and their tests.
import Audit
import ArgumentParser
import Attacks
import Foundation
import Stats
import Model

struct GhostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ghost",
        abstract: "Ghost sentences: random-word passphrases users hide in their text, and whether a model learnt them.",
        subcommands: [Generate.self, Test.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw passphrases of random words into a manifest (which keeps the word list).")
        @Option(help: "Word list, one word per line.") var words: String
        @Option(help: "Passphrases to draw.") var count = 10
        @Option(help: "Words per passphrase.") var length = 8
        @Option(help: "Random seed.") var seed: UInt64 = 0
        @Option(name: .shortAndLong, help: "Manifest to write (JSON).") var output: String

        func validate() throws {
            guard count >= 1 else { throw ValidationError("--count must be >= 1") }
            try atMost(count, Limits.count, "--count")
            guard length >= 2 else { throw ValidationError("--length must be >= 2") }
            try atMost(length, Limits.count, "--length")
        }

        func run() throws {
            try reportingErrors {
                let list = try readWordList(words)
                let m: GhostManifest
                do { m = try Ghost.generate(words: list, count: count, length: length, seed: seed) } catch let e as GhostError {
                    throw InputError(words, e.description)
                }
                try writeJSON(m, to: output)
                FileHandle.standardError.write(Data("ghost: \(m.passphrases.count) passphrases written to \(consoleSafe(output))\n".utf8))
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Last-k-words and perplexity tests of each passphrase.",
            discussion: """
                last_k: greedy decoding from the passphrase minus its last k words (after --context) must give those \
                k words exactly; completion_rate with a Clopper-Pearson 95% interval. perplexity_percentile: the \
                fraction of --controls fresh passphrases from the same word list with perplexity <= the passphrase's \
                (near 0 = learnt); exposure = log2(controls + 1) - log2 rank; auc of -perplexity against the controls. \
                Passphrases are redacted unless --show-secrets is given.
                """)
        @OptionGroup var model: ModelOptions
        @Option(help: "Manifest from `ghost generate`.") var manifest: String
        @Option(help: "Words to leave for the model to complete.") var k = 1
        @Option(help: "Control passphrases for the perplexity test.") var controls = 100
        @Option(help: "Text to put before each prompt.") var context: String?
        @Option(help: "Random seed for the controls.") var seed: UInt64 = 0
        @Flag(help: "Include passphrases and completions in the output.") var showSecrets = false

        func validate() throws {
            guard k >= 1 else { throw ValidationError("--k must be >= 1") }
            try atMost(k, Limits.count, "--k")
            guard controls >= 1 else { throw ValidationError("--controls must be >= 1") }
            try atMost(controls, Limits.count, "--controls")
        }

        func run() throws {
            try reportingErrors {
                let m = try readGhostManifest(manifest)
                let texts = m.passphrases.map(\.text)
                for (p, t) in zip(m.passphrases, texts) where t.split(whereSeparator: \.isWhitespace).count <= k {
                    throw InputError(manifest, "\(p.id) has \(t.split(whereSeparator: \.isWhitespace).count) words; --k \(k) must leave at least one word as the prompt")
                }
                let ctl: [String]
                do {
                    ctl = try Ghost.passphrases(words: m.words, count: controls, length: m.length, seed: seed, excluding: Set(texts))
                } catch let e as GhostError { throw InputError(manifest, e.description) }
                let lm = try model.load()
                var generating: Audit.Progress?, scoring: Audit.Progress?
                let lastK = try Ghost.lastKTest(lm, passphrases: texts, context: context, k: k) { step, steps in
                    if generating == nil { generating = Progress(total: steps, unit: "steps", label: "ghost test: last-k generation") }
                    generating!.update(done: step)
                }
                let ppl = try Ghost.perplexityTest(lm, passphrases: texts, controls: ctl) { done, total in
                    if scoring == nil { scoring = Progress(total: total, unit: "texts", label: "ghost test: perplexities") }
                    scoring!.update(done: done)
                }
                let redacted = "[redacted: use --show-secrets]"
                let rows = m.passphrases.indices.map { i -> [String: Any] in
                    ["id": m.passphrases[i].id, "text": showSecrets ? texts[i] : redacted,
                     "completion": showSecrets ? lastK[i].generated.joined(separator: " ") : redacted,
                     "reproduced": lastK[i].reproduced, "perplexity": ppl.perplexities[i],
                     "perplexity_percentile": ppl.percentiles[i], "rank": ppl.ranks[i], "exposure": ppl.exposures[i]]
                }
                let done = lastK.filter(\.reproduced).count
                let ci = try Metrics.clopperPearson(successes: done, trials: texts.count)
                print(jsonLine(["k": k, "controls": ctl.count, "completed": done, "passphrases": texts.count,
                                "completion_rate": ["value": Double(done) / Double(texts.count), "ci95": [ci.lower, ci.upper]],
                                "perplexity_auc": ppl.auc, "results": rows]))
            }
        }
    }
}


// `auditor generate`: continue prompts with the KV-cached model, greedy or sampled, batched.
import Audit
import ArgumentParser
import Foundation
import LM
import Model

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue one or more prompts (greedy by default; seeded sampling with --temperature).",
        discussion: "Several --prompt options, or --prompts FILE (JSON Lines, \"text\" field), run as one batch.")

    @OptionGroup var model: ModelOptions
    @Option(name: .long, help: "A prompt (repeatable).") var prompt: [String] = []
    @Option(help: "JSON Lines file of prompts.") var prompts: String?
    @Option(help: "Tokens to generate per prompt.") var maxNewTokens = 64
    @Option(help: "Sampling temperature; 0 means greedy.") var temperature = 0.0
    @Option(help: "Sample only among the K most likely tokens (0: all).") var topK = 0
    @Option(help: "Sample only from the smallest set of tokens whose probability reaches P.") var topP = 1.0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Keep going past the end-of-sequence token.") var ignoreEos = false
    @Flag(help: "Print JSON Lines (prompt, completion, token ids) instead of text.") var json = false
    @Flag(help: "No progress on stderr (a run of under 2 s shows none anyway).") var quiet = false

    func validate() throws {
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be >= 0") }
        try atMost(maxNewTokens, Limits.tokens, "--max-new-tokens")
        guard temperature >= 0 else { throw ValidationError("--temperature must be >= 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0") }
        try atMost(topK, Limits.count, "--top-k")
        guard !prompt.isEmpty || prompts != nil else { throw ValidationError("give --prompt or --prompts") }
    }

    func run() throws {
        try reportingErrors {
            var texts = prompt
            if let prompts { texts += try readJSONLTexts(prompts, field: "text").map(\.text) }
            let lm = try model.load()
            let ids = try texts.enumerated().map { (i, t) -> [Int] in
                let e = lm.tokenizer.encode(t)
                if e.isEmpty { throw InputError("prompt \(i + 1)", "the prompt has no tokens") }
                let keep = lm.config.maxPositions - 1
                if e.count > keep {
                    // Kept as before (the end of the prompt is what the continuation follows), but never silently.
                    let note = "auditor: warning: prompt \(i + 1): \(e.count - keep) of its \(e.count) tokens dropped from the start; "
                        + "the model's context holds \(lm.config.maxPositions) tokens, so the last \(keep) are kept\n"
                    FileHandle.standardError.write(Data(note.utf8))
                }
                return Array(e.suffix(keep))
            }
            let progress = Progress(total: maxNewTokens, unit: "steps", label: "generate", quiet: quiet)
            let stop: Set<Int> = ignoreEos ? [] : Set([lm.tokenizer.eosId].compactMap { $0 })
            let out = lm.model.generate(prompts: ids, maxNewTokens: maxNewTokens,
                                        sampling: SamplingParams(temperature: temperature, topK: topK, topP: topP, seed: seed),
                                        stopTokens: stop) { step in progress.update(done: step, work: step) }
            for (i, o) in out.enumerated() {
                let completion = lm.tokenizer.decode(o)
                if json {
                    print(jsonLine(["index": i, "prompt": texts[i], "completion": completion, "ids": o]))
                } else {
                    print(texts[i] + completion)
                    if i + 1 < out.count { print("---") }
                }
            }
        }
    }
}

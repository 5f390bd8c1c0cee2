// `auditor score`: per-text negative log-likelihood and perplexity of a JSON Lines file, JSON Lines out.
import Audit
import ArgumentParser
import Foundation
import LM
import Model

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score texts: per-text token count, mean negative log-likelihood (nats) and perplexity.",
        discussion: """
            Input: JSON Lines, one object per line with a "text" field (or --field), or a JSON string per line. \
            An "id" field (any JSON value) is echoed. Output: one JSON object per input line, in order: index, id, \
            tokens (count), nll (mean of -ln p over tokens 2..n, in nats), perplexity (exp nll), truncated (longer \
            than the context). With --per-token, also ids, token_strings and logprobs (ln p of each token given \
            the ones before; the first \
            token has none). --vocab-stats adds the mean and variance of ln p over the whole vocabulary at each \
            position (Min-K%++), --top-k K the K most likely next tokens. The tokenizer's own BOS setting applies.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Served model") var remote: EndpointOptions
    @Option(name: .shortAndLong, help: "JSON Lines file of texts.") var input: String
    @Option(name: .shortAndLong, help: "Write here instead of stdout (replaced only when scoring finished).") var output: String?
    @Option(help: "Field holding the text.") var field = "text"
    @Flag(help: "Include per-token ids, token strings and log-probabilities.") var perToken = false
    @Flag(help: "Include per-token mean and variance of ln p over the vocabulary (implies --per-token).") var vocabStats = false
    @Option(help: "Include the K most likely next tokens per position (implies --per-token).") var topK = 0
    @Option(help: "Tokens per forward pass (memory grows with it).") var batchTokens = 4096

    func validate() throws {
        guard batchTokens > 0 else { throw ValidationError("--batch-tokens must be positive") }
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0") }
        try atMost(topK, Limits.count, "--top-k")
    }

    func run() throws {
        try reportingErrors {
            let texts = try readJSONLTexts(input, field: field)
            let lm = try loadAuditable(model, remote)
            let sink = try OutputSink(path: output)
            let progress = Progress(total: texts.count, unit: "texts", rateUnit: "tokens", label: "score")
            let opts = ScoreOptions(vocabStats: vocabStats, topK: topK, maxBatchTokens: batchTokens)
            // Longer texts are cut at the context (and flagged truncated), as the local engine's scoreTexts does.
            let encoded = try texts.map { try lm.encode($0.text) }
            let ids = encoded.map { Array($0.prefix(lm.contextLength)) }
            let scores = try lm.score(ids, options: opts) { done, tokens in progress.update(done: done, work: tokens) }
            let results = ids.indices.map { (ids: ids[$0], truncated: encoded[$0].count > lm.contextLength, scores: scores[$0]) }
            let detail = perToken || vocabStats || topK > 0
            for (i, r) in results.enumerated() {
                var o: [String: Any] = ["index": i, "tokens": r.ids.count, "truncated": r.truncated]
                if let id = texts[i].id { o["id"] = id }
                let nll = r.scores.nll
                o["nll"] = nll.isNaN ? NSNull() : nll
                o["perplexity"] = nll.isNaN ? NSNull() : Foundation.exp(nll)
                if detail {
                    o["ids"] = r.ids
                    o["token_strings"] = try r.ids.map { try lm.decode([$0]) }
                    o["logprobs"] = r.scores.logprobs.map { Double($0) }
                    if let m = r.scores.vocabMean { o["vocab_mean"] = m }
                    if let v = r.scores.vocabVariance { o["vocab_var"] = v }
                    if let k = r.scores.topK { o["top_k"] = k.map { $0.map { [$0.id, Double($0.logprob)] as [Any] } } }
                }
                try sink.write(jsonLine(o))
            }
            try sink.close()
        }
    }
}

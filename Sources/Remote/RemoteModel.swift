// A model served behind an OpenAI-compatible completions API (vLLM) as the attacks' model interface: teacher-forced
// log-probs from `prompt_logprobs` with the prompt sent as token ids, generation through `/v1/completions`, and the
// tokenizer from the server's `/tokenize` and `/detokenize` or from a local tokenizer.json checked against them.
import Foundation
import LM
import Tokenizer

/// Where the model is served and how to talk to it.
public struct RemoteConfig: Sendable {
    /// The server's base URL (`http://host:port`; a trailing `/v1` is accepted and dropped).
    public var endpoint: String
    /// The served model's name, as the server's /v1/models lists it.
    public var model: String
    /// A local tokenizer.json to tokenize with (checked against the server); nil: the server's tokenizer.
    public var tokenizer: String?
    /// The name of the environment variable holding the API key; the key itself is never stored.
    public var apiKeyEnv: String?
    public var http: HTTPSettings
    public init(endpoint: String, model: String, tokenizer: String? = nil, apiKeyEnv: String? = nil,
                http: HTTPSettings = HTTPSettings()) {
        self.endpoint = endpoint; self.model = model; self.tokenizer = tokenizer; self.apiKeyEnv = apiKeyEnv; self.http = http
    }
}

/// The text both tokenizers must agree on before a local tokenizer is used.
public let tokenizerProbeText = "Probe: The quick brown fox jumps over 13 lazy dogs; café, naïve, 東京, emoji 🦊 and  spaces.\n"

public final class RemoteModel: AuditableModel {
    public let config: RemoteConfig
    /// What the server reports about the model: its id, `root` (the weights it loaded), owner, max_model_len.
    public let servedIdentity: [String: String]
    public let contextLength: Int
    public let bosId: Int?
    public let eosId: Int?
    public let padId: Int?
    private let client: HTTPClient
    private let local: BPETokenizer?

    /// Exact from `prompt_logprobs` for greedy and for top-k sampling with k up to the server's logprob cap; the
    /// whole-vocabulary mean and variance are not served, so Min-K%++ is refused.
    public var capabilities: ModelCapabilities { [.topK, .samplingProbabilities, .seededSampling] }
    public var identity: String { "\(config.model) at \(client.base.absoluteString)" }

    /// Connects: checks that the server serves `config.model`, reads its context length, and loads and checks the
    /// local tokenizer if one is named. Throws RemoteError (the server, or a local tokenizer that tokenizes the probe
    /// text differently) or TokenizerError (an unreadable tokenizer.json).
    public init(_ config: RemoteConfig) throws {
        var raw = config.endpoint.trimmingCharacters(in: .whitespaces)
        while raw.hasSuffix("/") { raw.removeLast() }
        if raw.hasSuffix("/v1") { raw.removeLast(3) }
        guard let url = URL(string: raw), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw RemoteError(endpoint: config.endpoint, "not an http(s) URL")
        }
        var key: String? = nil
        if let env = config.apiKeyEnv {
            guard let v = ProcessInfo.processInfo.environment[env], !v.isEmpty else {
                throw RemoteError(endpoint: raw, "the API key's environment variable \(env) is not set")
            }
            key = v
        }
        self.config = config
        client = HTTPClient(base: url, settings: config.http, apiKey: key)

        let models = try client.json("v1/models")
        let listed = (models["data"] as? [[String: Any]]) ?? []
        guard let card = listed.first(where: { ($0["id"] as? String) == config.model }) else {
            let names = listed.compactMap { $0["id"] as? String }
            throw RemoteError(endpoint: client.name("v1/models"),
                              "the server does not serve a model named '\(config.model)' (it serves: \(names.joined(separator: ", ")))")
        }
        var ident: [String: String] = [:]
        for k in ["id", "root", "owned_by", "parent", "max_model_len", "created"] {
            if let v = card[k], !(v is NSNull) { ident[k] = "\(v)" }
        }
        // The server's own fingerprint (vLLM: its version and build) comes only with a completion: one token of one.
        if let probe = try? client.json("v1/completions", ["model": config.model, "prompt": [0], "max_tokens": 1, "temperature": 0],
                                        retrying: false),
           let fingerprint = probe["system_fingerprint"] as? String {
            ident["system_fingerprint"] = fingerprint
        }
        servedIdentity = ident
        // One position stays free: vLLM generates at least one token after the prompt when it scores it.
        let served = (card["max_model_len"] as? Int) ?? 2048
        contextLength = served - 1

        if let path = config.tokenizer {
            let t = try BPETokenizer(tokenizerJSON: path)
            local = t
            bosId = t.bosId; eosId = t.eosId; padId = t.padId
        } else {
            local = nil
            // The server's tokenizer: its special tokens from /tokenizer_info (vLLM's --enable-tokenizer-info-endpoint),
            // each looked up with /tokenize; without that endpoint, BOS is what it adds to an empty text and EOS
            // and padding are unknown.
            var special: [String: Int] = [:]
            if let info = try? client.json("tokenizer_info", retrying: false) {
                for key in ["bos_token", "eos_token", "pad_token"] {
                    guard let text = info[key] as? String, !text.isEmpty else { continue }
                    let ids = try Self.serverTokenize(client, config.model, text, special: false)
                    if ids.count == 1 { special[key] = ids[0] }
                }
            } else {
                let empty = try Self.serverTokenize(client, config.model, "", special: true)
                if empty.count == 1 { special["bos_token"] = empty[0] }
            }
            bosId = special["bos_token"]; eosId = special["eos_token"]; padId = special["pad_token"]
        }
        if let local {
            for special in [false, true] {
                let mine = local.encode(tokenizerProbeText, addBos: special ? nil : false)
                let theirs = try Self.serverTokenize(client, config.model, tokenizerProbeText, special: special)
                guard mine == theirs else {
                    let at = zip(mine, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(mine.count, theirs.count)
                    throw RemoteError(endpoint: client.name("tokenize"),
                                      "the tokenizer \(config.tokenizer!) does not match the server's on the probe text: "
                                      + "\(mine.count) vs \(theirs.count) ids, first difference at position \(at)")
                }
            }
        }
    }

    private static func serverTokenize(_ client: HTTPClient, _ model: String, _ text: String, special: Bool) throws -> [Int] {
        let r = try client.json("tokenize", ["model": model, "prompt": text, "add_special_tokens": special])
        guard let ids = r["tokens"] as? [Int] else {
            throw RemoteError(endpoint: client.name("tokenize"), "the answer has no 'tokens' list")
        }
        return ids
    }

    // MARK: tokenizer

    public func encode(_ text: String, addBos: Bool?) throws -> [Int] {
        if let local { return local.encode(text, addBos: addBos) }
        switch addBos {
        case nil: return try Self.serverTokenize(client, config.model, text, special: true)
        case false?: return try Self.serverTokenize(client, config.model, text, special: false)
        case true?:
            guard let bosId else { throw ModelInterfaceError(model: identity, "the server's tokenizer has no BOS token to add") }
            return [bosId] + (try Self.serverTokenize(client, config.model, text, special: false))
        }
    }

    public func decode(_ ids: [Int], skipSpecial: Bool) throws -> String {
        if let local { return local.decode(ids, skipSpecial: skipSpecial) }
        // /detokenize has no switch for special tokens: the ones this model knows (BOS, EOS, padding) are dropped here.
        let special = Set([bosId, eosId, padId].compactMap { $0 })
        let kept = skipSpecial ? ids.filter { !special.contains($0) } : ids
        if kept.isEmpty { return "" }
        let r = try client.json("detokenize", ["model": config.model, "tokens": kept])
        guard let text = r["prompt"] as? String else {
            throw RemoteError(endpoint: client.name("detokenize"), "the answer has no 'prompt' text")
        }
        return text
    }

    // MARK: scoring

    /// One completions request per sequence, `concurrency` in flight: the prompt as ids, one generated token, and
    /// the prompt's own log-probs with the top `topK` at each position.
    public func score(_ sequences: [[Int]], options: ScoreOptions, progress: ((Int, Int) -> Void)?) throws -> [SequenceScores] {
        if options.vocabStats { try require(.vocabularyStatistics, for: "whole-vocabulary statistics") }
        try checkLengths(sequences)
        let k = options.topK
        let rows = try client.parallel(sequences.count, progress: { done in progress?(done, 0) }) { [self] i -> [PositionLogprobs] in
            sequences[i].count < 2 ? [] : try promptLogprobs(sequences[i], top: k)
        }
        var tokens = 0
        let out = rows.enumerated().map { i, positions -> SequenceScores in
            tokens += sequences[i].count
            var s = SequenceScores(logprobs: positions.map { Float($0.actual) })
            if k > 0 { s.topK = positions.map { p in p.top.prefix(k).map { TopToken(id: $0.id, logprob: Float($0.logprob)) } } }
            return s
        }
        progress?(sequences.count, tokens)
        return out
    }

    private func checkLengths(_ sequences: [[Int]]) throws {
        if let long = sequences.firstIndex(where: { $0.count > contextLength }) {
            throw ModelInterfaceError(model: identity, "sequence \(long + 1) has \(sequences[long].count) tokens; "
                                      + "the server accepts at most \(contextLength) for scoring")
        }
    }

    /// Log-probs at one predicted position: of the actual next token, its rank, and the top ones (most likely first).
    struct PositionLogprobs: Sendable {
        var actual: Double, rank: Int
        var top: [(id: Int, logprob: Double)]
    }

    /// Positions 1..n-1 of `ids` (position 0 has no prediction).
    func promptLogprobs(_ ids: [Int], top k: Int) throws -> [PositionLogprobs] {
        let body: [String: Any] = ["model": config.model, "prompt": ids, "max_tokens": 1, "temperature": 0,
                                   "prompt_logprobs": k]
        let r = try client.json("v1/completions", body)
        let endpoint = client.name("v1/completions")
        guard let choice = (r["choices"] as? [[String: Any]])?.first, let lists = choice["prompt_logprobs"] as? [Any] else {
            throw RemoteError(endpoint: endpoint, "the answer has no choices[0].prompt_logprobs (is the server vLLM?)")
        }
        guard lists.count == ids.count else {
            throw RemoteError(endpoint: endpoint, "prompt_logprobs has \(lists.count) entries for \(ids.count) prompt tokens")
        }
        return try (1..<ids.count).map { p in
            guard let entry = lists[p] as? [String: Any] else {
                throw RemoteError(endpoint: endpoint, "prompt_logprobs[\(p)] is not a map of token ids")
            }
            var actual: (Double, Int)? = nil
            var top: [(id: Int, logprob: Double, rank: Int)] = []
            for (key, value) in entry {
                guard let id = Int(key), let v = value as? [String: Any], let lp = (v["logprob"] as? NSNumber)?.doubleValue else {
                    throw RemoteError(endpoint: endpoint, "prompt_logprobs[\(p)] has an unreadable entry '\(key)'")
                }
                let rank = (v["rank"] as? Int) ?? Int.max
                if id == ids[p] { actual = (lp, rank) }
                if rank <= k { top.append((id, lp, rank)) }
            }
            guard let actual else {
                throw RemoteError(endpoint: endpoint, "prompt_logprobs[\(p)] lacks the prompt's own token \(ids[p])")
            }
            // Most likely first; equal log-probs by id, as the local engine orders them.
            top.sort { $0.logprob > $1.logprob || ($0.logprob == $1.logprob && $0.id < $1.id) }
            return PositionLogprobs(actual: actual.0, rank: actual.1, top: top.prefix(k).map { ($0.id, $0.logprob) })
        }
    }

    // MARK: generation

    /// One completions request per prompt. Greedy is temperature 0; a sampled prompt i gets the seed derived from
    /// (sampling.seed, i), so its continuation does not depend on the batch. EOS does not stop generation unless it
    /// is among `stopTokens` (as in the local engine).
    public func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams, stopTokens: Set<Int>,
                         progress: ((Int) -> Void)?) throws -> [[Int]] {
        try checkLengths(prompts)
        let out = try client.parallel(prompts.count) { [self] i -> [Int] in
            let room = min(maxNewTokens, contextLength + 1 - prompts[i].count)
            guard room > 0 else { return [] }
            var body: [String: Any] = ["model": config.model, "prompt": prompts[i], "max_tokens": room,
                                       "temperature": sampling.temperature, "logprobs": 0,
                                       "return_tokens_as_token_ids": true, "ignore_eos": true, "skip_special_tokens": false]
            if !stopTokens.isEmpty { body["stop_token_ids"] = stopTokens.sorted() }
            if !sampling.isGreedy {
                body["top_k"] = sampling.topK > 0 ? sampling.topK : 0
                body["top_p"] = sampling.topP
                body["seed"] = Int(truncatingIfNeeded: (sampling.seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15) >> 33)
            }
            return try generated(client.json("v1/completions", body), stopTokens)
        }
        progress?(maxNewTokens)
        return out
    }

    /// The generated ids from `logprobs.tokens` ("token_id:N"), the stop token included.
    private func generated(_ r: [String: Any], _ stopTokens: Set<Int>) throws -> [Int] {
        let endpoint = client.name("v1/completions")
        guard let choice = (r["choices"] as? [[String: Any]])?.first,
              let lp = choice["logprobs"] as? [String: Any], let tokens = lp["tokens"] as? [String] else {
            throw RemoteError(endpoint: endpoint, "the answer has no choices[0].logprobs.tokens")
        }
        var ids = try tokens.map { t -> Int in
            guard t.hasPrefix("token_id:"), let id = Int(t.dropFirst(9)) else {
                throw RemoteError(endpoint: endpoint, "generated token '\(t)' is not 'token_id:N' (return_tokens_as_token_ids)")
            }
            return id
        }
        if let stop = choice["stop_reason"] as? Int, stopTokens.contains(stop), ids.last != stop { ids.append(stop) }
        return ids
    }

    // MARK: probabilities under a sampling scheme

    /// q from the served top-k log-probs: exact for greedy (q is 1 on the rank-1 token) and for temperature with
    /// top-k up to the server's logprob cap (softmax over the top k at temperature T, then the top-p prefix; the
    /// normaliser of the whole vocabulary cancels). Without a top-k bound q needs the whole vocabulary: refused.
    public func suffixProbabilities(_ pairs: [(prefix: [Int], suffix: [Int])], sampling: SamplingParams) throws
        -> [(logQ: [Double], argmaxMatches: [Bool])] {
        if !sampling.isGreedy && sampling.topK <= 0 {
            throw ModelInterfaceError(model: identity, "probabilities under sampling without a top-k bound need the whole "
                                      + "vocabulary's distribution, which the server does not return; set top_k (up to its --max-logprobs)")
        }
        let k = sampling.isGreedy ? 1 : sampling.topK
        let joined = pairs.map { $0.prefix + $0.suffix }
        try checkLengths(joined)
        let sendablePairs = pairs.map { [$0.prefix, $0.suffix] }
        return try client.parallel(pairs.count) { [self] i -> [Double] in
            let (prefix, suffix) = (sendablePairs[i][0], sendablePairs[i][1])
            precondition(!prefix.isEmpty && !suffix.isEmpty, "empty prefix or suffix")
            let rows = try promptLogprobs(prefix + suffix, top: k)
            // rows[j] predicts token j + 1: the suffix's tokens are predicted by rows prefix.count - 1 ..< end.
            var out: [Double] = []
            for (t, row) in rows[(prefix.count - 1)...].enumerated() {
                let match = row.rank == 1 ? 1.0 : 0.0
                out.append(match)
                out.append(Self.logQ(row, label: suffix[t], sampling))
            }
            return out
        }.map { flat in
            (logQ: stride(from: 1, to: flat.count, by: 2).map { flat[$0] }, argmaxMatches: stride(from: 0, to: flat.count, by: 2).map { flat[$0] == 1 })
        }
    }

    /// ln q(label) under `sampling` from one position's top tokens (most likely first).
    static func logQ(_ row: PositionLogprobs, label: Int, _ sampling: SamplingParams) -> Double {
        if sampling.isGreedy { return row.rank == 1 ? 0 : -.infinity }
        let kept = Array(row.top.prefix(sampling.topK))
        guard let first = kept.first else { return -.infinity }
        var w = kept.map { Foundation.exp(($0.logprob - first.logprob) / sampling.temperature) }
        var z = w.reduce(0, +)
        if sampling.topP < 1 {
            var cum = 0.0, keep = w.count
            for (i, x) in w.enumerated() { cum += x / z; if cum >= sampling.topP { keep = i + 1; break } }
            w.removeLast(w.count - keep); z = w.reduce(0, +)
        }
        guard let j = kept.prefix(w.count).firstIndex(where: { $0.id == label }) else { return -.infinity }
        return Foundation.log(w[j] / z)
    }
}

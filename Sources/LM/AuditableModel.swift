// The model interface every attack sees: tokenize, score, generate, and what the backend can do. A checkpoint on
// disk (Model's LanguageModel), a served model and a model in the middle of training each implement it, so the
// attacks and audits run unchanged on all of them.

/// What a backend can compute. Attacks that need more than a backend offers refuse with `ModelInterfaceError`
/// instead of approximating silently.
public struct ModelCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Mean and variance of ln p over the whole vocabulary at each position (Min-K%++ needs them).
    public static let vocabularyStatistics = ModelCapabilities(rawValue: 1 << 0)
    /// The k most likely next tokens with their log-probabilities.
    public static let topK = ModelCapabilities(rawValue: 1 << 1)
    /// Teacher-forced probabilities of given tokens under a sampling scheme (temperature, top-k, top-p), which
    /// needs the full next-token distribution: (n, p)-discoverable extraction uses them.
    public static let samplingProbabilities = ModelCapabilities(rawValue: 1 << 2)
    /// Sampled generation that gives the same tokens for the same seed.
    public static let seededSampling = ModelCapabilities(rawValue: 1 << 3)

    public static let all: ModelCapabilities = [.vocabularyStatistics, .topK, .samplingProbabilities, .seededSampling]

    /// The names used in messages, in a fixed order.
    public var names: [String] {
        [(ModelCapabilities.vocabularyStatistics, "whole-vocabulary statistics"), (.topK, "top-k log-probabilities"),
         (.samplingProbabilities, "probabilities under a sampling scheme"), (.seededSampling, "seeded sampling")]
            .filter { contains($0.0) }.map(\.1)
    }
}

/// A request the backend cannot serve; says what was asked, of which model, and why it is refused.
public struct ModelInterfaceError: Error, CustomStringConvertible, Equatable {
    public let model: String
    public let message: String
    public init(model: String, _ message: String) { self.model = model; self.message = message }
    public var description: String { "\(model): \(message)" }
}

/// A language model as the attacks use it. Token ids are the backend's own; sequences passed to `score` must fit
/// in `contextLength` (callers check and report that as the user's input problem).
public protocol AuditableModel: AnyObject, Sendable {
    /// How the model is named in messages and reports (a path, or an endpoint and model name).
    var identity: String { get }
    var capabilities: ModelCapabilities { get }
    /// Longest token sequence `score` and `generate` accept.
    var contextLength: Int { get }
    var bosId: Int? { get }
    var eosId: Int? { get }
    var padId: Int? { get }

    /// Token ids of a text: with the tokenizer's own BOS setting when `addBos` is nil.
    func encode(_ text: String, addBos: Bool?) throws -> [Int]
    func decode(_ ids: [Int], skipSpecial: Bool) throws -> String

    /// Teacher-forced scores of each sequence (one forward pass each); `progress(sequencesDone, tokensDone)`.
    /// Options a backend lacks the capability for throw `ModelInterfaceError`.
    func score(_ sequences: [[Int]], options: ScoreOptions, progress: ((Int, Int) -> Void)?) throws -> [SequenceScores]

    /// Continues each prompt by up to `maxNewTokens` tokens; a sequence stops early at any of `stopTokens`, which
    /// is included. Sequence i samples from its own generator seeded from (sampling.seed, i), so the output does not
    /// depend on the batch. `progress(step)` after each generated position.
    func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams, stopTokens: Set<Int>,
                  progress: ((Int) -> Void)?) throws -> [[Int]]

    /// For each (prefix, suffix) pair, teacher-forced: ln q(suffix_t | prefix, suffix_<t) under `sampling` (−inf
    /// where q gives 0; greedy puts q = 1 on the argmax) and whether the argmax equals suffix_t.
    func suffixProbabilities(_ pairs: [(prefix: [Int], suffix: [Int])], sampling: SamplingParams) throws
        -> [(logQ: [Double], argmaxMatches: [Bool])]
}

extension AuditableModel {
    public func encode(_ text: String) throws -> [Int] { try encode(text, addBos: nil) }
    public func decode(_ ids: [Int]) throws -> String { try decode(ids, skipSpecial: false) }
    public func score(_ sequences: [[Int]], options: ScoreOptions = ScoreOptions()) throws -> [SequenceScores] {
        try score(sequences, options: options, progress: nil)
    }
    public func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams = SamplingParams(),
                         stopTokens: Set<Int> = []) throws -> [[Int]] {
        try generate(prompts: prompts, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens, progress: nil)
    }

    /// Throws unless the backend has every capability in `needed`; `purpose` says what needs it (e.g. "Min-K%++").
    public func require(_ needed: ModelCapabilities, for purpose: String) throws {
        let missing = needed.subtracting(capabilities)
        guard missing.isEmpty else {
            throw ModelInterfaceError(model: identity, "\(purpose) needs \(missing.names.joined(separator: " and ")), "
                + "which this backend cannot provide")
        }
    }
}

public struct ScoreOptions: Sendable {
    /// Mean and variance of ln p over the vocabulary at each position (what Min-K%++ needs).
    public var vocabStats = false
    /// The k most likely next tokens at each position.
    public var topK = 0
    /// Upper bound on rows (tokens) per forward pass; memory grows with it.
    public var maxBatchTokens = 4096
    public init(vocabStats: Bool = false, topK: Int = 0, maxBatchTokens: Int = 4096) {
        self.vocabStats = vocabStats; self.topK = topK; self.maxBatchTokens = maxBatchTokens
    }
}

public struct TopToken: Sendable, Equatable {
    public let id: Int
    public let logprob: Float
    public init(id: Int, logprob: Float) { self.id = id; self.logprob = logprob }
}

/// Scores of one sequence x1..xn: entry i (0-based) is about predicting x_{i+2} from x_1..x_{i+1}.
public struct SequenceScores: Sendable, Equatable {
    public var logprobs: [Float] = []          // ln p(x_i | x_<i), i = 2..n
    public var vocabMean: [Double]? = nil      // sum_v p_v ln p_v at each of those positions
    public var vocabVariance: [Double]? = nil  // sum_v p_v (ln p_v - mean)^2
    public var topK: [[TopToken]]? = nil
    public init(logprobs: [Float] = [], vocabMean: [Double]? = nil, vocabVariance: [Double]? = nil, topK: [[TopToken]]? = nil) {
        self.logprobs = logprobs; self.vocabMean = vocabMean; self.vocabVariance = vocabVariance; self.topK = topK
    }
    public var nll: Double { logprobs.isEmpty ? .nan : -logprobs.reduce(0.0) { $0 + Double($1) } / Double(logprobs.count) }
}

/// How the next token is chosen. temperature 0 means greedy (argmax).
public struct SamplingParams: Sendable, Equatable {
    public var temperature: Double = 0
    public var topK: Int = 0          // 0: no limit
    public var topP: Double = 1       // 1: no limit
    public var seed: UInt64 = 0
    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.seed = seed
    }
    public var isGreedy: Bool { temperature == 0 }
}

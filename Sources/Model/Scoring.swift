// Per-token log-probabilities of texts under the model, with optional whole-vocabulary statistics and top-k,
// computed in row chunks so that batch x length x vocab logits never exist at once.
import Foundation
import Tensor

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
}

/// Scores of one sequence x1..xn: entry i (0-based) is about predicting x_{i+2} from x_1..x_{i+1}.
public struct SequenceScores: Sendable {
    public var logprobs: [Float] = []          // ln p(x_i | x_<i), i = 2..n
    public var vocabMean: [Double]? = nil      // sum_v p_v ln p_v at each of those positions
    public var vocabVariance: [Double]? = nil  // sum_v p_v (ln p_v - mean)^2
    public var topK: [[TopToken]]? = nil
    public init(logprobs: [Float] = [], vocabMean: [Double]? = nil, vocabVariance: [Double]? = nil, topK: [[TopToken]]? = nil) {
        self.logprobs = logprobs; self.vocabMean = vocabMean; self.vocabVariance = vocabVariance; self.topK = topK
    }
    public var nll: Double { logprobs.isEmpty ? .nan : -logprobs.reduce(0.0) { $0 + Double($1) } / Double(logprobs.count) }
}

extension TransformerModel {
    /// Scores many token sequences. Sequences are packed into forward passes of at most `maxBatchTokens` rows
    /// (a longer sequence gets a pass of its own). Every sequence must fit in the context (maxPositions).
    /// `progress` is called with the number of sequences finished so far.
    public func score(_ sequences: [[Int]], options: ScoreOptions = ScoreOptions(), scratch: Scratch = Scratch(),
                      progress: ((Int, Int) -> Void)? = nil) -> [SequenceScores] {
        var results = [SequenceScores](repeating: SequenceScores(), count: sequences.count)
        var i = 0, tokensDone = 0
        while i < sequences.count {
            var batch: [Int] = [], rows = 0
            while i < sequences.count {
                let n = sequences[i].count
                precondition(n <= config.maxPositions, "sequence of \(n) tokens exceeds the context of \(config.maxPositions)")
                if !batch.isEmpty && rows + n > options.maxBatchTokens { break }
                batch.append(i); rows += n; i += 1
            }
            let out = scoreBatch(batch.map { sequences[$0] }, options: options, scratch: scratch)
            for (j, idx) in batch.enumerated() { results[idx] = out[j] }
            tokensDone += rows
            progress?(i, tokensDone)
        }
        return results
    }

    func scoreBatch(_ seqs: [[Int]], options: ScoreOptions, scratch: Scratch) -> [SequenceScores] {
        var tokens: [Int32] = [], segments: [Segment] = []
        for s in seqs {
            segments.append(Segment(start: tokens.count, count: s.count, pos0: 0, cache: nil))
            tokens.append(contentsOf: s.map { Int32($0) })
        }
        if tokens.isEmpty { return seqs.map { _ in SequenceScores() } }
        let xf = forward(tokens: tokens, segments: segments, scratch: scratch)
        let C = config.dModel, V = config.vocabSize
        let chunk = 64
        let logits = scratch.get("logits", chunk * V)   // [chunk, V]
        let workers = max(1, Kernels.threads)
        let tmp = scratch.get("softmax", workers * V)   // one exp row per worker
        var out: [SequenceScores] = []
        for (si, seg) in segments.enumerated() {
            var r = SequenceScores()
            let n = seg.count - 1   // predicted positions
            if n > 0 {
                var lps = [Float](repeating: 0, count: n)
                var means = [Double](repeating: 0, count: options.vocabStats ? n : 0)
                var vars = means
                var tops = [[TopToken]](repeating: [], count: options.topK > 0 ? n : 0)
                var p = 0
                while p < n {
                    let m = min(chunk, n - p)
                    // logits[m, V] = xf[rows, C] · head[V, C]^T
                    Kernels.matmulForward(logits, xf + (seg.start + p) * C, head, nil, N: m, IC: C, OC: V)
                    let seq = seqs[si], p0 = p
                    lps.withUnsafeMutableBufferPointer { lpb in
                    means.withUnsafeMutableBufferPointer { mb in
                    vars.withUnsafeMutableBufferPointer { vb in
                    tops.withUnsafeMutableBufferPointer { tb in
                        let chunkSize = (m + workers - 1) / workers
                        Kernels.parallelRanges(m, minPerThread: max(1, chunkSize)) { rows in
                            let w = rows.lowerBound / max(1, chunkSize)
                            let t = tmp + w * V
                            for row in rows {
                                let l = logits + row * V, i = p0 + row
                                let lse = LogSoftmax.logSumExp(l, V, tmp: t)
                                lpb[i] = Float(Double(l[seq[i + 1]]) - lse)
                                if options.vocabStats {
                                    let mo = LogSoftmax.moments(l, t, V, lse: lse)
                                    mb[i] = mo.mean; vb[i] = mo.variance
                                }
                                if options.topK > 0 {
                                    tb[i] = LogSoftmax.topK(l, V, k: options.topK).map { TopToken(id: $0.0, logprob: Float(Double($0.1) - lse)) }
                                }
                            }
                        }
                    }}}}
                    p += m
                }
                r.logprobs = lps
                if options.vocabStats { r.vocabMean = means; r.vocabVariance = vars }
                if options.topK > 0 { r.topK = tops }
            }
            out.append(r)
        }
        return out
    }
}

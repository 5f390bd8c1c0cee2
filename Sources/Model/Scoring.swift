// Per-token log-probabilities of texts under the model, with optional whole-vocabulary statistics and top-k,
// computed in row chunks so that batch x length x vocab logits never exist at once.
import Foundation
import LM
import Tensor

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
        // The head runs over chunks of `chunk` consecutive rows of the packed batch, across sequence boundaries:
        // many short sequences (canary candidates) then share one matrix product instead of each paying for a
        // pass over the [V, C] head. Row r predicts the next token of its sequence; a sequence's last row has no
        // next token and its logits are left unused.
        let R = tokens.count
        var owner = [Int](repeating: 0, count: R)       // row -> sequence
        for (si, seg) in segments.enumerated() { for i in 0..<seg.count { owner[seg.start + i] = si } }
        var lps = [Float](repeating: 0, count: R)
        var means = [Double](repeating: 0, count: options.vocabStats ? R : 0)
        var vars = means
        var tops = [[TopToken]](repeating: [], count: options.topK > 0 ? R : 0)
        var p = 0
        while p < R {
            let m = min(chunk, R - p)
            // logits[m, V] = xf[p..<p+m, C] · head[V, C]^T
            Kernels.matmulForward(logits, xf + p * C, head, nil, N: m, IC: C, OC: V)
            let p0 = p
            lps.withUnsafeMutableBufferPointer { lpb in
            means.withUnsafeMutableBufferPointer { mb in
            vars.withUnsafeMutableBufferPointer { vb in
            tops.withUnsafeMutableBufferPointer { tb in
                let chunkSize = (m + workers - 1) / workers
                Kernels.parallelRanges(m, minPerThread: max(1, chunkSize)) { rows in
                    let w = rows.lowerBound / max(1, chunkSize)
                    let t = tmp + w * V
                    for row in rows {
                        let g = p0 + row, si = owner[g], seg = segments[si], i = g - seg.start
                        if i == seg.count - 1 { continue }
                        let l = logits + row * V
                        let lse = LogSoftmax.logSumExp(l, V, tmp: t)
                        lpb[g] = Float(Double(l[seqs[si][i + 1]]) - lse)
                        if options.vocabStats {
                            let mo = LogSoftmax.moments(l, t, V, lse: lse)
                            mb[g] = mo.mean; vb[g] = mo.variance
                        }
                        if options.topK > 0 {
                            tb[g] = LogSoftmax.topK(l, V, k: options.topK).map { TopToken(id: $0.0, logprob: Float(Double($0.1) - lse)) }
                        }
                    }
                }
            }}}}
            p += m
        }
        var out: [SequenceScores] = []
        for seg in segments {
            var r = SequenceScores()
            let n = seg.count - 1   // predicted positions
            if n > 0 {
                let range = seg.start..<(seg.start + n)
                r.logprobs = Array(lps[range])
                if options.vocabStats { r.vocabMean = Array(means[range]); r.vocabVariance = Array(vars[range]) }
                if options.topK > 0 { r.topK = Array(tops[range]) }
            }
            out.append(r)
        }
        return out
    }
}

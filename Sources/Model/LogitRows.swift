// Teacher-forced logit rows of one sequence, handed out a chunk at a time (never [length, vocab] at once).
import Tensor

extension TransformerModel {
    /// Runs `tokens` through the model and calls `body(p, logits)` for every position p in `positions`, where
    /// `logits` (V floats, valid only during the call) is the distribution of token p + 1 given tokens 0...p.
    public func forEachLogitRow(_ tokens: [Int], positions: Range<Int>, scratch: Scratch = Scratch(),
                                _ body: (Int, UnsafePointer<Float>) -> Void) {
        precondition(positions.lowerBound >= 0 && positions.upperBound <= tokens.count, "positions outside the sequence")
        precondition(tokens.count <= config.maxPositions, "sequence exceeds the context")
        if positions.isEmpty { return }
        let xf = forward(tokens: tokens.map { Int32($0) }, segments: [Segment(start: 0, count: tokens.count, pos0: 0, cache: nil)],
                         scratch: scratch)
        let C = config.dModel, V = config.vocabSize, chunk = 64
        let logits = scratch.get("row_logits", chunk * V)
        var p = positions.lowerBound
        while p < positions.upperBound {
            let m = min(chunk, positions.upperBound - p)
            Kernels.matmulForward(logits, xf + p * C, head, nil, N: m, IC: C, OC: V)
            for r in 0..<m { body(p + r, logits + r * V) }
            p += m
        }
    }
}

// BPE merging of one pre-token: repeatedly merge the adjacent pair of lowest rank, leftmost on ties
// (the order of huggingface/tokenizers' `Word::merge_all`); a heap-based fast path and its naive twin.

/// Merge rules keyed by the ids of the pair: (left << 32 | right) -> (rank << 32 | merged id).
struct MergeTable {
    private(set) var rules: [UInt64: UInt64] = [:]

    mutating func add(left: Int, right: Int, merged: Int, rank: Int) {
        rules[UInt64(left) << 32 | UInt64(right)] = UInt64(rank) << 32 | UInt64(merged)  // a duplicate: the last wins, as in HF
    }

    @inline(__always) func lookup(_ a: Int32, _ b: Int32) -> (rank: UInt32, id: Int32)? {
        guard let v = rules[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))] else { return nil }
        return (UInt32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v))
    }

    /// Fast path: symbols in a linked list, candidate merges in a min-heap keyed by (rank, position);
    /// stale candidates (a side already merged away or the pair changed) are skipped when popped.
    func merge(_ word: [Int32]) -> [Int32] {
        let n = word.count
        if n < 2 { return word }
        var sym = word
        var prev = [Int32](unsafeUninitializedCapacity: n) { b, c in for i in 0..<n { b[i] = Int32(i - 1) }; c = n }
        var next = [Int32](unsafeUninitializedCapacity: n) { b, c in for i in 0..<n { b[i] = Int32(i + 1) }; c = n }
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            if let m = lookup(sym[i], sym[i + 1]) { heap.push(UInt64(m.rank) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = UInt32(truncatingIfNeeded: top >> 32), p = Int(top & 0xFFFF_FFFF)
            let q = Int(next[p])
            guard alive[p], q < n, let m = lookup(sym[p], sym[q]), m.rank == rank else { continue }
            sym[p] = m.id
            alive[q] = false
            let r = Int(next[q])
            next[p] = Int32(r)
            if r < n { prev[r] = Int32(p) }
            let l = Int(prev[p])
            if l >= 0, let ml = lookup(sym[l], sym[p]) { heap.push(UInt64(ml.rank) << 32 | UInt64(l)) }
            if r < n, let mr = lookup(sym[p], sym[r]) { heap.push(UInt64(mr.rank) << 32 | UInt64(p)) }
        }
        var out = [Int32]()
        var i = 0
        while i < n { out.append(sym[i]); i = Int(next[i]) }
        return out
    }

    /// The obvious O(n^2) version, kept for tests.
    func mergeNaive(_ word: [Int32]) -> [Int32] {
        var w = word
        while w.count > 1 {
            var best: (rank: UInt32, pos: Int, id: Int32)?
            for i in 0..<(w.count - 1) {
                if let m = lookup(w[i], w[i + 1]), best == nil || m.rank < best!.rank { best = (m.rank, i, m.id) }
            }
            guard let b = best else { break }
            w[b.pos] = b.id
            w.remove(at: b.pos + 1)
        }
        return w
    }
}

/// A binary min-heap of UInt64 keys.
private struct MinHeap {
    private var a: [UInt64] = []

    mutating func push(_ x: UInt64) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if a[p] <= x { break }
            a[i] = a[p]
            i = p
        }
        a[i] = x
    }

    mutating func pop() -> UInt64? {
        guard let last = a.popLast() else { return nil }
        guard !a.isEmpty else { return last }
        let top = a[0]
        let n = a.count
        var i = 0
        while true {
            var c = 2 * i + 1
            if c >= n { break }
            if c + 1 < n && a[c + 1] < a[c] { c += 1 }
            if last <= a[c] { break }
            a[i] = a[c]
            i = c
        }
        a[i] = last
        return top
    }
}

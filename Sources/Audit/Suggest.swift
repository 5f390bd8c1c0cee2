// "Did you mean": the candidates nearest a mistyped name by optimal-string-alignment distance (Levenshtein plus
// adjacent transpositions, so "socre" is one edit from "score").

/// The candidates at the smallest edit distance from `name`, in their given order, when that distance is small
/// enough to be a typo: at most max(2, |name| / 4) edits, and fewer than |name| (so "x" suggests nothing). Empty when
/// `name` is itself a candidate or nothing is close.
public func suggestions(for name: String, among candidates: [String]) -> [String] {
    guard !candidates.contains(name) else { return [] }
    let a = Array(name)
    let limit = min(max(2, a.count / 4), a.count - 1)
    var best = Int.max, nearest: [String] = []
    for c in candidates {
        let d = editDistance(a, Array(c))
        if d < best { best = d; nearest = [c] } else if d == best, !nearest.contains(c) { nearest.append(c) }
    }
    return best <= limit ? nearest : []
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of adjacent characters, each 1.
public func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    // d[i][j]: distance between a[..<i] and b[..<j]; (|a|+1) x (|b|+1).
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
        }
    }
    return d[a.count][b.count]
}

/// "; did you mean 'a'?" or "; did you mean 'a' or 'b'?" for `suggestions`; "" when there are none.
public func didYouMean(_ suggestions: [String]) -> String {
    guard !suggestions.isEmpty else { return "" }
    let quoted = suggestions.prefix(3).map { "'\($0)'" }
    return "; did you mean " + (quoted.count == 1 ? quoted[0] : quoted.dropLast().joined(separator: ", ") + " or " + quoted.last!) + "?"
}

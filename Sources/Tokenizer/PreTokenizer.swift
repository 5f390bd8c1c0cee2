// Pre-tokenizers of byte-level BPE, hand-written from the regexes that Hugging Face `tokenizers` runs
// (GPT-2 ByteLevel, SmolLM's Digits + ByteLevel, Llama-3's Split), evaluated with Oniguruma's semantics.

/// The character classes the regexes tell apart: \p{L}, \p{N}, \s (Unicode White_Space), anything else.
enum CharClass: UInt8 { case letter, number, space, other }

private let apostrophe: UInt32 = 0x27, spaceChar: UInt32 = 0x20, cr: UInt32 = 0x0D, lf: UInt32 = 0x0A

private let asciiClasses: [CharClass] = (0..<128).map { v in
    switch UInt8(v) {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
    case 0x09...0x0D, 0x20: return .space
    default: return .other
    }
}

/// Classes as of Unicode 16.0, the tables of the Oniguruma inside `tokenizers` 0.2x (checked with 0.23.3):
/// the Swift runtime may know a newer Unicode, whose new letters (CJK Extension J, ...) the reference still
/// treats as unassigned, that is, as `other`.
@inline(__always) func classify(_ v: UInt32) -> CharClass {
    if v < 128 { return asciiClasses[Int(v)] }
    let p = Unicode.Scalar(v)!.properties
    if p.isWhitespace { return .space }
    let c: CharClass
    switch p.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: c = .letter
    case .decimalNumber, .letterNumber, .otherNumber: c = .number  // Rust's char::is_numeric, too
    default: return .other
    }
    guard let age = p.age, age.major <= 16 else { return .other }
    return c
}

/// Rust's char::is_numeric, which the Digits pre-tokenizer uses: Nd, Nl or No in the newest Unicode (17.0 in the
/// Rust that built `tokenizers` 0.23.3, as in the Swift runtime), so it also isolates digits the regex calls other.
@inline(__always) private func isDigitsNumeric(_ v: UInt32, _ c: CharClass) -> Bool {
    if c == .number { return true }
    guard c == .other, v >= 128 else { return false }
    switch Unicode.Scalar(v)!.properties.generalCategory {
    case .decimalNumber, .letterNumber, .otherNumber: return true
    default: return false
    }
}

extension BPETokenizer.PreTokenizer {
    /// Appends to `ends` the exclusive end index of every pre-token of `s` (scalar values, classes `c`).
    func split(_ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<CharClass>, into ends: inout [Int]) {
        let n = s.count
        var i = 0
        switch self {
        case .gpt2:
            while i < n { i = gpt2End(s, c, i, n); ends.append(i) }
        case .llama3:
            while i < n { i = llama3End(s, c, i, n); ends.append(i) }
        case .smollm:
            // Digits(individual_digits: true) isolates every numeric char; the GPT-2 regex then runs on each
            // piece between them as if it were the whole text (so `(?!\S)` sees the piece's end).
            while i < n {
                if isDigitsNumeric(s[i], c[i]) { i += 1; ends.append(i); continue }
                var j = i
                while j < n && !isDigitsNumeric(s[j], c[j]) { j += 1 }
                while i < j { i = gpt2End(s, c, i, j); ends.append(i) }
            }
        }
    }
}

@inline(__always) private func run(_ c: UnsafeBufferPointer<CharClass>, _ k: CharClass, _ i: Int, _ n: Int) -> Int {
    var j = i
    while j < n && c[j] == k { j += 1 }
    return j
}

/// Length of `'s|'t|'re|'ve|'m|'ll|'d` at i, 0 if none. Under `(?i:...)` Oniguruma case-folds, so upper case
/// and U+017F 'ſ' (folds to s) count too.
@inline(__always)
private func contraction(_ s: UnsafeBufferPointer<UInt32>, _ i: Int, _ n: Int, ignoreCase: Bool) -> Int {
    guard s[i] == apostrophe, i + 1 < n else { return 0 }
    func fold(_ v: UInt32) -> UInt32 {
        guard ignoreCase else { return v }
        if v >= 0x41 && v <= 0x5A { return v + 0x20 }
        return v == 0x17F ? 0x73 : v
    }
    let a = fold(s[i + 1])
    if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
    guard i + 2 < n else { return 0 }
    let b = fold(s[i + 2])
    if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 }  // re ve ll
    return 0
}

/// `\s+(?!\S)|\s+` at a whitespace char: a run followed by a non-space gives back its last char (when it has
/// two or more) so that the next word can take it as its prefix.
@inline(__always) private func whitespaceEnd(_ c: UnsafeBufferPointer<CharClass>, _ i: Int, _ n: Int) -> Int {
    let j = run(c, .space, i, n)
    return j < n && j - i >= 2 ? j - 1 : j
}

/// End of the match at i of `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
private func gpt2End(_ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<CharClass>, _ i: Int, _ n: Int) -> Int {
    let k = contraction(s, i, n, ignoreCase: false)
    if k > 0 { return i + k }
    if s[i] == spaceChar && i + 1 < n && c[i + 1] != .space { return run(c, c[i + 1], i + 1, n) }
    if c[i] != .space { return run(c, c[i], i, n) }
    return whitespaceEnd(c, i, n)
}

/// End of the match at i of `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
/// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
private func llama3End(_ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<CharClass>, _ i: Int, _ n: Int) -> Int {
    let k = contraction(s, i, n, ignoreCase: true)
    if k > 0 { return i + k }
    let ci = c[i], si = s[i]
    if ci == .letter { return run(c, .letter, i, n) }
    if ci != .number && si != cr && si != lf && i + 1 < n && c[i + 1] == .letter { return run(c, .letter, i + 1, n) }
    if ci == .number { return run(c, .number, i, min(n, i + 3)) }
    let o = si == spaceChar && i + 1 < n && c[i + 1] == .other ? i + 1 : i
    if c[o] == .other {
        var j = run(c, .other, o, n)
        while j < n && (s[j] == cr || s[j] == lf) { j += 1 }
        return j
    }
    // c[i] == .space. `\s*[\r\n]+` ends just after the last \r or \n of the whitespace run, if it has one.
    let j = run(c, .space, i, n)
    var p = j
    while p > i && s[p - 1] != cr && s[p - 1] != lf { p -= 1 }
    return p > i ? p : whitespaceEnd(c, i, n)
}

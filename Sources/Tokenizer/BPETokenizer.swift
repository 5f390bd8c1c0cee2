// Byte-level BPE tokenizer (GPT-2 family): added-token split, pre-tokenization, BPE merges, byte-level decode.
import Foundation

public struct TokenizerError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
}

/// A token matched verbatim in the text before pre-tokenization (HF `added_tokens`, GGUF types 3 and 4).
/// `normalized` tokens are matched in a second pass over what the first left, as HF does; lstrip, rstrip and
/// single_word are not supported (the tokenizers this tool reads leave them false).
struct AddedToken {
    let content: String
    let id: Int
    let special: Bool
    let normalized: Bool
}

/// Immutable after init apart from `cache`, which locks; Sendable checked by the compiler.
public final class BPETokenizer: Sendable {
    public enum PreTokenizer: String, Sendable { case gpt2, smollm, llama3 }

    public let bosId: Int?
    public let eosId: Int?
    public let padId: Int?
    public let addBos: Bool
    public let preTokenizer: PreTokenizer

    let tokens: [String?]                   // id -> byte-level token, or the raw text of an added token
    private let tokenBytes: [[UInt8]]       // id -> the bytes it decodes to
    let vocab: [String: Int]                // byte-level token -> id (the BPE model's vocabulary)
    private let addedIds: [String: Int]
    private let merges: MergeTable
    let mergePairs: [(String, String)]      // in rank order, as read (for writing the tokenizer out again)
    let addedTokens: [AddedToken]           // as read, in file order
    private let byteIds: [Int32]            // byte -> id of its one-symbol token, -1 when the vocab lacks it
    let ignoreMerges: Bool
    private let isSpecial: [Bool]           // skipped by decode(skipSpecial: true)
    private let passes: [AddedTokenMatcher]
    public let specialTokens: [String]
    private let cache = WordCache()

    /// From GGUF metadata (tokenizer.ggml.tokens / merges / token_type / pre ...). `source` names the file for errors.
    /// Token types 3 (control) and 4 (user-defined) are added tokens, matched verbatim; control ones are special.
    public convenience init(tokens: [String], merges: [String], tokenTypes: [Int]?, preTokenizer: PreTokenizer,
                            bosId: Int?, eosId: Int?, padId: Int?, addBos: Bool, source: String) throws {
        if let types = tokenTypes, types.count != tokens.count {
            throw TokenizerError(file: source, "tokenizer.ggml.token_type has \(types.count) entries, tokens \(tokens.count)")
        }
        var added = [AddedToken]()
        for (id, type) in (tokenTypes ?? []).enumerated() where type == 3 || type == 4 {
            added.append(AddedToken(content: tokens[id], id: id, special: type == 3, normalized: false))
        }
        var vocab = [String: Int](minimumCapacity: tokens.count)
        for (id, t) in tokens.enumerated() { vocab[t] = id }  // a duplicate: the last wins, as in llama.cpp
        var pairs = [(String, String)]()
        pairs.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() {
            guard let pair = splitMerge(m) else {
                throw TokenizerError(file: source, "tokenizer.ggml.merges[\(i)] \"\(m)\" is not \"left right\"")
            }
            pairs.append(pair)
        }
        try self.init(vocab: vocab, merges: pairs, added: added, preTokenizer: preTokenizer, ignoreMerges: false,
                      bosId: bosId, eosId: eosId, padId: padId, addBos: addBos, source: source, mergesKey: "tokenizer.ggml.merges")
    }

    /// `vocab`: the BPE model's byte-level tokens; `merges` in rank order; `added` may use ids outside `vocab`.
    init(vocab: [String: Int], merges: [(String, String)], added: [AddedToken], preTokenizer: PreTokenizer,
         ignoreMerges: Bool, bosId: Int?, eosId: Int?, padId: Int?, addBos: Bool, source: String, mergesKey: String) throws {
        let count = max(vocab.values.max() ?? -1, added.map(\.id).max() ?? -1) + 1
        guard count > 0, count < Int(Int32.max) else { throw TokenizerError(file: source, "the vocabulary is empty or too large") }
        var table = MergeTable()
        for (rank, (a, b)) in merges.enumerated() {
            guard let l = vocab[a], let r = vocab[b], let m = vocab[a + b] else {
                let missing = [a, b, a + b].first { vocab[$0] == nil }!
                throw TokenizerError(file: source, "\(mergesKey)[\(rank)] \"\(a) \(b)\" names \"\(missing)\", which is not in the vocabulary")
            }
            table.add(left: l, right: r, merged: m, rank: rank)
        }
        var tokens = [String?](repeating: nil, count: count)
        var bytes = [[UInt8]](repeating: [], count: count)
        for (t, id) in vocab {
            tokens[id] = t
            bytes[id] = ByteLevel.decode(t) ?? Array(t.utf8)  // HF's ByteLevel decoder keeps unmappable tokens as text
        }
        var special = [Bool](repeating: false, count: count)
        var addedIds = [String: Int]()
        for t in added {
            guard t.id >= 0 else { throw TokenizerError(file: source, "added token \"\(t.content)\" has id \(t.id)") }
            tokens[t.id] = t.content
            bytes[t.id] = Array(t.content.utf8)
            special[t.id] = t.special
            addedIds[t.content] = t.id
        }
        self.tokens = tokens
        self.tokenBytes = bytes
        self.vocab = vocab
        self.addedIds = addedIds
        self.merges = table
        self.mergePairs = merges
        self.addedTokens = added
        self.byteIds = ByteLevel.byteToScalar.map { s in vocab[String(Character(s))].map(Int32.init) ?? -1 }
        self.ignoreMerges = ignoreMerges
        self.isSpecial = special
        self.passes = [AddedTokenMatcher(added.filter { !$0.normalized }), AddedTokenMatcher(added.filter(\.normalized))]
            .filter { !$0.isEmpty }
        self.specialTokens = added.sorted { $0.id < $1.id }.map(\.content)
        self.preTokenizer = preTokenizer
        self.bosId = bosId
        self.eosId = eosId
        self.padId = padId
        self.addBos = addBos
    }

    /// Maps GGUF `tokenizer.ggml.pre` names to the pre-tokenizers implemented here.
    /// (llama.cpp's "default" is a different regex set and is refused.)
    public static func preTokenizer(ggufName: String, source: String) throws -> PreTokenizer {
        switch ggufName {
        case "smollm": return .smollm
        case "gpt-2", "gpt2": return .gpt2
        case "llama-bpe", "llama3", "llama-v3": return .llama3
        default:
            throw TokenizerError(file: source, "tokenizer.ggml.pre \"\(ggufName)\" is not supported (known: smollm, gpt-2, llama-bpe)")
        }
    }

    public var vocabSize: Int { tokens.count }
    public func token(_ id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }
    public func id(of token: String) -> Int? { addedIds[token] ?? vocab[token] }

    /// The text split into pre-tokens (raw text, no added-token matching).
    public func preTokenize(_ text: String) -> [String] { preTokenizer.preTokenize(text) }

    /// Token ids of `text`. `addBos` nil uses the tokenizer's own setting. Added tokens in the text are matched
    /// verbatim (leftmost, then longest), the rest is pre-tokenized and merged.
    public func encode(_ text: String, addBos: Bool? = nil) -> [Int] {
        var ids = [Int]()
        ids.reserveCapacity(text.utf8.count / 3 + 1)
        if addBos ?? self.addBos, let bos = bosId { ids.append(bos) }
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { b in
            var pieces: [Piece] = [.text(0..<b.count)]
            for pass in passes { pieces = pass.split(b, pieces) }
            var scalars = [UInt32](), classes = [CharClass](), offsets = [Int](), ends = [Int]()
            for piece in pieces {
                switch piece {
                case .token(let id): ids.append(id)
                case .text(let r):
                    decodeScalars(b, r, &scalars, &classes, &offsets)
                    ends.removeAll(keepingCapacity: true)
                    scalars.withUnsafeBufferPointer { s in
                        classes.withUnsafeBufferPointer { c in preTokenizer.split(s, c, into: &ends) }
                    }
                    var start = 0
                    for end in ends {
                        appendWord(UnsafeBufferPointer(rebasing: b[offsets[start]..<offsets[end]]), to: &ids)
                        start = end
                    }
                }
            }
        }
        return ids
    }

    /// Concatenated bytes of the tokens, decoded as UTF-8 (invalid sequences become U+FFFD). Unknown ids are skipped.
    public func decode(_ ids: [Int], skipSpecial: Bool = false) -> String {
        var bytes = [UInt8]()
        for id in ids where id >= 0 && id < tokenBytes.count && !(skipSpecial && isSpecial[id]) {
            bytes.append(contentsOf: tokenBytes[id])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// BPE of one pre-token (raw bytes), through the cache.
    private func appendWord(_ bytes: UnsafeBufferPointer<UInt8>, to ids: inout [Int]) {
        let cacheable = bytes.count <= WordCache.maxKeyBytes
        let key = WordCache.Key(cacheable ? String(decoding: bytes, as: UTF8.self) : "")
        if cacheable, let hit = cache[key] { ids.append(contentsOf: hit); return }
        let word = encodeWord(bytes)
        if cacheable { cache[key] = word }
        ids.append(contentsOf: word)
    }

    private func encodeWord(_ bytes: UnsafeBufferPointer<UInt8>) -> [Int] {
        if ignoreMerges, let id = vocab[ByteLevel.encode(bytes)] { return [id] }
        // A byte without a one-symbol token is dropped, as HF's BPE does without an unk token.
        let symbols = bytes.compactMap { byteIds[Int($0)] >= 0 ? byteIds[Int($0)] : nil }
        return merges.merge(symbols).map(Int.init)
    }
}

extension BPETokenizer.PreTokenizer {
    /// The text split into pre-tokens (raw text).
    public func preTokenize(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { b in
            var scalars = [UInt32](), classes = [CharClass](), offsets = [Int](), ends = [Int]()
            decodeScalars(b, 0..<b.count, &scalars, &classes, &offsets)
            scalars.withUnsafeBufferPointer { s in classes.withUnsafeBufferPointer { c in split(s, c, into: &ends) } }
            var start = 0
            return ends.map { end in
                defer { start = end }
                return String(decoding: b[offsets[start]..<offsets[end]], as: UTF8.self)
            }
        }
    }
}

/// "left right" -> ("left", "right"); byte-level tokens never contain U+0020, so the first space from index 1 on
/// separates them (as in llama.cpp).
func splitMerge(_ s: String) -> (String, String)? {
    let u = Array(s.utf8)
    guard u.count >= 3, let sp = u[1...].firstIndex(of: 0x20) else { return nil }
    return (String(decoding: u[..<sp], as: UTF8.self), String(decoding: u[(sp + 1)...], as: UTF8.self))
}

/// Decodes the (valid) UTF-8 of `b[r]` into scalar values, their classes and their byte offsets (plus the end).
private func decodeScalars(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ scalars: inout [UInt32],
                           _ classes: inout [CharClass], _ offsets: inout [Int]) {
    scalars.removeAll(keepingCapacity: true)
    classes.removeAll(keepingCapacity: true)
    offsets.removeAll(keepingCapacity: true)
    var i = r.lowerBound
    while i < r.upperBound {
        let b0 = UInt32(b[i])
        let v: UInt32, len: Int
        if b0 < 0x80 {
            v = b0; len = 1
        } else if b0 < 0xE0 {
            v = (b0 & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F); len = 2
        } else if b0 < 0xF0 {
            v = (b0 & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F); len = 3
        } else {
            v = (b0 & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12 | UInt32(b[i + 2] & 0x3F) << 6 | UInt32(b[i + 3] & 0x3F)
            len = 4
        }
        scalars.append(v)
        classes.append(classify(v))
        offsets.append(i)
        i += len
    }
    offsets.append(r.upperBound)
}

/// A stretch of the text: ordinary bytes to pre-tokenize, or an added token already matched.
enum Piece { case text(Range<Int>), token(Int) }

/// Leftmost-longest verbatim matching of added tokens over UTF-8 bytes (the split of HF's aho-corasick).
/// Matches of valid UTF-8 in valid UTF-8 always fall on scalar boundaries.
struct AddedTokenMatcher {
    private var byFirstByte = [[(bytes: [UInt8], id: Int)]](repeating: [], count: 256)  // longest first
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        for t in tokens where !t.content.isEmpty {
            let u = Array(t.content.utf8)
            byFirstByte[Int(u[0])].append((u, t.id))
        }
        for i in 0..<256 { byFirstByte[i].sort { $0.bytes.count > $1.bytes.count } }
        isEmpty = tokens.allSatisfy { $0.content.isEmpty }
    }

    func split(_ b: UnsafeBufferPointer<UInt8>, _ pieces: [Piece]) -> [Piece] {
        var out = [Piece]()
        for piece in pieces {
            guard case .text(let r) = piece else { out.append(piece); continue }
            var start = r.lowerBound, i = r.lowerBound
            scan: while i < r.upperBound {
                for (u, id) in byFirstByte[Int(b[i])] where u.count <= r.upperBound - i {
                    if u.withUnsafeBufferPointer({ memcmp($0.baseAddress!, b.baseAddress! + i, u.count) == 0 }) {
                        if start < i { out.append(.text(start..<i)) }
                        out.append(.token(id))
                        i += u.count
                        start = i
                        continue scan
                    }
                }
                i += 1
            }
            if start < r.upperBound { out.append(.text(start..<r.upperBound)) }
        }
        return out
    }
}

/// Pre-token -> ids, shared by all threads that use the tokenizer.
/// Unchecked, and safe because every access to `map` holds `lock`.
private final class WordCache: @unchecked Sendable {
    static let maxKeyBytes = 128, maxEntries = 200_000
    private let lock = NSLock()
    private var map = [Key: [Int]]()

    /// Compared and hashed by UTF-8 bytes: String's own == is canonical equivalence, which would give
    /// U+FA78 the ids of U+559D.
    struct Key: Hashable {
        let text: String
        init(_ text: String) { self.text = text }
        static func == (a: Key, b: Key) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }
        func hash(into h: inout Hasher) {
            var t = text
            t.withUTF8 { h.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    subscript(key: Key) -> [Int]? {
        get { lock.lock(); defer { lock.unlock() }; return map[key] }
        set {
            lock.lock(); defer { lock.unlock() }
            if map.count >= Self.maxEntries { map.removeAll(keepingCapacity: true) }
            map[key] = newValue
        }
    }
}

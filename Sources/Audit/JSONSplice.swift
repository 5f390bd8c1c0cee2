// Rewrites one field of a JSON Lines record in place: only the bytes of that field's value change, so every other
// field keeps its exact spelling (true stays true, 3.0 stays 3.0, key order, whitespace, \u escapes).

/// A small JSON scanner over one line's bytes, for splicing a new string into a top-level field.
public enum JSONSplice {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// The JSON text of `s`: quotes, backslashes and control characters escaped, everything else as UTF-8.
    public static func encode(_ s: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        let hex = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [92, 34]
            case 92: out += [92, 92]
            case 10: out += [92, UInt8(ascii: "n")]
            case 13: out += [92, UInt8(ascii: "r")]
            case 9: out += [92, UInt8(ascii: "t")]
            case 8: out += [92, UInt8(ascii: "b")]
            case 12: out += [92, UInt8(ascii: "f")]
            case 0..<0x20: out += [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }

    /// `line` with the top-level string field `key` set to `newText`. Where `key` occurs more than once, every
    /// occurrence whose value is the string `oldText` is replaced (the one a parser read is among them, whichever
    /// a parser keeps). A line that is one JSON string is replaced whole.
    public static func replacing(_ key: String, in line: [UInt8], oldText: String, with newText: String) throws -> [UInt8] {
        var s = Scanner(b: line)
        s.skipSpace()
        guard s.i < line.count else { throw Failure("empty line") }
        if line[s.i] == UInt8(ascii: "\"") {
            _ = try s.string()
            s.skipSpace()
            guard s.i == line.count else { throw Failure("unexpected bytes after the string at byte \(s.i)") }
            return encode(newText)
        }
        let spans = try s.topLevelValues(of: key)
        let hits = try spans.filter { r in
            guard line[r.lowerBound] == UInt8(ascii: "\"") else { return false }
            var v = Scanner(b: line, i: r.lowerBound)
            return try v.string() == oldText
        }
        guard !hits.isEmpty else { throw Failure("no top-level string field \"\(key)\" holding the text read") }
        var out = line
        let new = encode(newText)
        for r in hits.reversed() { out.replaceSubrange(r, with: new) }
        return out
    }

    struct Scanner {
        let b: [UInt8]
        var i = 0

        mutating func skipSpace() {
            while i < b.count, b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 { i += 1 }
        }

        mutating func expect(_ c: Character) throws {
            guard i < b.count, b[i] == c.asciiValue! else { throw Failure("expected '\(c)' at byte \(i)") }
            i += 1
        }

        /// The spans of every value of top-level member `key` of the object at `i`; checks the whole line.
        mutating func topLevelValues(of key: String) throws -> [Range<Int>] {
            try expect("{")
            var found: [Range<Int>] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    let k = try string()
                    skipSpace()
                    try expect(":")
                    skipSpace()
                    let start = i
                    try skipValue()
                    if k == key { found.append(start..<i) }
                    skipSpace()
                    guard i < b.count else { throw Failure("unterminated object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect("}")
                    break
                }
            }
            skipSpace()
            guard i == b.count else { throw Failure("unexpected bytes after the object at byte \(i)") }
            return found
        }

        /// Decodes the string at `i` (escapes, surrogate pairs) and moves past it.
        mutating func string() throws -> String {
            try expect("\"")
            var bytes: [UInt8] = []
            while true {
                guard i < b.count else { throw Failure("unterminated string") }
                let c = b[i]
                i += 1
                if c == UInt8(ascii: "\"") { break }
                if c < 0x20 { throw Failure("control character in a string at byte \(i - 1)") }
                if c != 92 { bytes.append(c); continue }
                guard i < b.count else { throw Failure("unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), 92, UInt8(ascii: "/"): bytes.append(e)
                case UInt8(ascii: "b"): bytes.append(8)
                case UInt8(ascii: "f"): bytes.append(12)
                case UInt8(ascii: "n"): bytes.append(10)
                case UInt8(ascii: "r"): bytes.append(13)
                case UInt8(ascii: "t"): bytes.append(9)
                case UInt8(ascii: "u"):
                    var u = try hex4()
                    if (0xD800..<0xDC00).contains(u), i + 1 < b.count, b[i] == 92, b[i + 1] == UInt8(ascii: "u") {
                        let save = i
                        i += 2
                        let lo = try hex4()
                        if (0xDC00..<0xE000).contains(lo) { u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00) } else { i = save }
                    }
                    // A lone surrogate has no UTF-8 form; it decodes as U+FFFD, as a lenient parser would.
                    let scalar = Unicode.Scalar(u) ?? "\u{FFFD}"
                    bytes += Array(String(Character(scalar)).utf8)
                default: throw Failure("bad escape at byte \(i - 2)")
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw Failure("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 65...70: d = UInt32(c - 55)
                case 97...102: d = UInt32(c - 87)
                default: throw Failure("bad \\u escape at byte \(i)")
                }
                v = v * 16 + d
                i += 1
            }
            return v
        }

        /// Moves past one value: a string, number, literal, or (without recursion) a nested object or array.
        mutating func skipValue() throws {
            var closers: [UInt8] = []
            repeat {
                skipSpace()
                guard i < b.count else { throw Failure("unexpected end of line") }
                let c = b[i]
                switch c {
                case UInt8(ascii: "\""):
                    _ = try string()
                    // A string inside an object may be a key: its ':' and the value follow.
                    if let last = closers.last, last == UInt8(ascii: "}") {
                        skipSpace()
                        if i < b.count, b[i] == UInt8(ascii: ":") { i += 1; continue }
                    }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    i += 1
                    closers.append(c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]"))
                    skipSpace()
                    guard i < b.count, b[i] == closers.last! else { continue }
                    i += 1
                    closers.removeLast()
                case UInt8(ascii: "t"): try literal("true")
                case UInt8(ascii: "f"): try literal("false")
                case UInt8(ascii: "n"): try literal("null")
                case UInt8(ascii: "-"), 48...57: try number()
                default: throw Failure("unexpected '\(Character(Unicode.Scalar(c)))' at byte \(i)")
                }
                // After a value inside a container: ',' for the next one, or the container's closer(s).
                while let last = closers.last {
                    skipSpace()
                    guard i < b.count else { throw Failure("unterminated \(last == UInt8(ascii: "}") ? "object" : "array")") }
                    if b[i] == UInt8(ascii: ",") {
                        i += 1
                        if last == UInt8(ascii: "}") { skipSpace(); guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw Failure("expected a key at byte \(i)") } }
                        break
                    }
                    guard b[i] == last else { throw Failure("expected ',' or '\(Character(Unicode.Scalar(last)))' at byte \(i)") }
                    i += 1
                    closers.removeLast()
                }
            } while !closers.isEmpty
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else { throw Failure("bad literal at byte \(i)") }
            i += w.count
        }

        mutating func number() throws {
            let start = i
            func digits() -> Int { let s = i; while i < b.count, (48...57).contains(b[i]) { i += 1 }; return i - s }
            if b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw Failure("bad number at byte \(start)") }
            if i < b.count, b[i] == UInt8(ascii: ".") { i += 1; guard digits() > 0 else { throw Failure("bad number at byte \(start)") } }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() > 0 else { throw Failure("bad number at byte \(start)") }
            }
        }
    }
}

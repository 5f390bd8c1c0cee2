// Finds a key repeated within one JSON object (RFC 8259 leaves the meaning open; JSONSerialization and most
// parsers silently keep the last one), so that readers of the user's JSON can refuse it with its line and key.

public enum JSONDuplicateKeys {
    /// A key that occurs twice in one object: the key (escapes decoded), the 1-based line of its second occurrence
    /// and where the object sits ("" for the top level, else e.g. "model.vocab" or "canaries[2]").
    public struct Duplicate: Equatable, Sendable, CustomStringConvertible {
        public let key: String
        public let line: Int
        public let path: String
        public var description: String {
            "line \(line): duplicate key \"\(key)\"" + (path.isEmpty ? "" : " in \(path)") + " (a JSON object may hold each key once)"
        }
    }

    private struct Frame {
        var isObject: Bool
        var keys = Set<String>()
        var expectingKey = true
        var key: String?
        var index = 0
    }

    /// The first duplicate key in `bytes`, which must already have been accepted by a JSON parser (this scanner
    /// does not validate). Iterative, so nesting depth costs no stack.
    public static func first<C: Collection>(in bytes: C) -> Duplicate? where C.Element == UInt8 {
        let b = Array(bytes)
        var stack: [Frame] = []
        var i = 0, line = 1
        while i < b.count {
            let c = b[i]
            switch c {
            case 10: line += 1; i += 1
            case UInt8(ascii: "{"): stack.append(Frame(isObject: true)); i += 1
            case UInt8(ascii: "["): stack.append(Frame(isObject: false)); i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): if !stack.isEmpty { stack.removeLast() }; i += 1
            case UInt8(ascii: ","):
                if !stack.isEmpty {
                    if stack[stack.count - 1].isObject { stack[stack.count - 1].expectingKey = true } else { stack[stack.count - 1].index += 1 }
                }
                i += 1
            case UInt8(ascii: "\""):
                let (s, end) = string(b, from: i)
                i = end
                if let top = stack.last, top.isObject, top.expectingKey {
                    if stack[stack.count - 1].keys.insert(s).inserted {
                        stack[stack.count - 1].key = s
                        stack[stack.count - 1].expectingKey = false
                    } else {
                        return Duplicate(key: s, line: line, path: path(stack.dropLast()))
                    }
                }
            default: i += 1
            }
        }
        return nil
    }

    private static func path(_ frames: ArraySlice<Frame>) -> String {
        var out = ""
        for f in frames {
            if f.isObject { out += (out.isEmpty ? "" : ".") + (f.key ?? "") } else { out += "[\(f.index)]" }
        }
        return out
    }

    /// The string starting at the quote at `start`, escapes decoded, and the index after its closing quote.
    private static func string(_ b: [UInt8], from start: Int) -> (String, Int) {
        var i = start + 1, out: [UInt8] = []
        func hex4() -> UInt32? {
            guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else { return nil }
            i += 4
            return v
        }
        while i < b.count {
            let c = b[i]
            i += 1
            if c == UInt8(ascii: "\"") { break }
            guard c == 92, i < b.count else { out.append(c); continue }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                guard var u = hex4() else { continue }
                if (0xD800..<0xDC00).contains(u), i + 1 < b.count, b[i] == 92, b[i + 1] == UInt8(ascii: "u") {
                    let save = i
                    i += 2
                    if let lo = hex4(), (0xDC00..<0xE000).contains(lo) { u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00) } else { i = save }
                }
                out += Array(String(Character(Unicode.Scalar(u) ?? "\u{FFFD}")).utf8)
            default: out.append(e)  // \" \\ \/
            }
        }
        return (String(decoding: out, as: UTF8.self), i)
    }
}

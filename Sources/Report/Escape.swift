// Escaping of untrusted text for Markdown, HTML/XML and JSON, and deterministic number formatting.
import Foundation

enum Escape {
    /// Untrusted text as inert Markdown inline content: it cannot open links, images, HTML, emphasis, code,
    /// headings, lists or GFM autolinks. Newlines and other control characters become spaces.
    /// `|` is always escaped, so the result is also safe in a table cell.
    /// CommonMark lets any ASCII punctuation be backslash-escaped; we escape the characters that Markdown
    /// (and GFM's autolink extension: `http://`, `www.`) would interpret, and leave `/ , ; : = ? % ' " .` alone
    /// (except where they would start a list or an autolink) so paths, times and numbers stay readable.
    static func markdown(_ text: String) -> String {
        let always: Set<Character> = ["\\", "`", "*", "_", "{", "}", "[", "]", "<", ">", "(", ")", "#", "!", "|",
                                      "~", "&", "@", "$", "^"]
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let chars = Array(singleLine(text))
        for (i, c) in chars.enumerated() {
            if always.contains(c) {
                out.append("\\"); out.append(c)
            } else if c == ":" && i + 2 < chars.count && chars[i + 1] == "/" && chars[i + 2] == "/" {
                out.append("\\:") // breaks GFM's `http://` / `https://` / `ftp://` autolinks
            } else if c == "." && i >= 3 && String(chars[(i - 3)..<i]).lowercased() == "www" {
                out.append("\\."); // breaks GFM's `www.` autolink
            } else if i == 0 && (c == "-" || c == "+" || c == "=") {
                out.append("\\"); out.append(c) // list marker / setext underline at the start of a line
            } else if (c == "." || c == ")") && i > 0 && chars[0..<i].allSatisfy({ $0.isASCII && $0.isNumber })
                        && (i + 1 == chars.count || chars[i + 1] == " ") {
                out.append("\\"); out.append(c) // "1." / "1)" ordered-list marker at the start of a line
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Text on one line: CR, LF, tabs and other control characters become single spaces.
    static func singleLine(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                out.append(" ")
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A fenced code block holding `text` verbatim: the fence is longer than any backtick run inside.
    static func fenced(_ text: String, info: String = "") -> String {
        var longest = 0, run = 0
        for c in text {
            if c == "`" { run += 1; longest = max(longest, run) } else { run = 0 }
        }
        let fence = String(repeating: "`", count: max(3, longest + 1))
        var body = text
        if !body.hasSuffix("\n") { body += "\n" }
        return fence + info + "\n" + body + fence + "\n"
    }

    /// Text for HTML/XML element content and double- or single-quoted attribute values. Characters XML 1.0
    /// forbids are dropped; newlines and tabs in attributes survive as character references.
    static func xml(_ text: String, attribute: Bool = false) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n": out += attribute ? "&#10;" : "\n"
            case "\r": out += attribute ? "&#13;" : "\n"
            case "\t": out += attribute ? "&#9;" : "\t"
            default:
                let v = scalar.value
                if v < 0x20 || v == 0xFFFE || v == 0xFFFF || (0x7F...0x9F).contains(v) { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A JSON string literal.
    static func json(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A file name made only of `[A-Za-z0-9._-]`, for chart files named after attacks.
    static func fileComponent(_ text: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let s = String(text.map { allowed.contains($0) ? $0 : "_" })
        return s.isEmpty || s.hasPrefix(".") ? "_" + s : s
    }
}

/// Deterministic number formatting: fixed decimals, POSIX decimal point, no "-0".
enum Fmt {
    static func fixed(_ x: Double, _ decimals: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "n/a" : (x > 0 ? "inf" : "-inf") }
        var s = String(format: "%.\(decimals)f", x)
        if s.hasPrefix("-"), s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { s.removeFirst() }
        return s
    }

    /// Decimals for a metric's key: exposures in bits get 1, rates, AUCs and scores 3.
    static func decimals(forKey key: String) -> Int { key.contains("exposure") ? 1 : 3 }

    /// "124,439,808".
    static func grouped(_ n: Int64) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    /// "754.2 s (12 min 34.2 s)".
    static func duration(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite else { return "not recorded" }
        if s < 60 { return fixed(s, 1) + " s" }
        let total = Int(s.rounded(.down))
        let h = total / 3600, m = (total % 3600) / 60
        let rest = s - Double(h * 3600 + m * 60)
        let parts = (h > 0 ? "\(h) h " : "") + "\(m) min " + fixed(rest, 1) + " s"
        return fixed(s, 1) + " s (" + parts + ")"
    }

    /// "0.734 [0.650, 0.810]", or "12.3 (max over 15 canaries)" where no interval exists.
    static func valueCI(_ value: Double?, _ lower: Double?, _ upper: Double?, decimals d: Int, method: String?,
                        escape: (String) -> String = { $0 }) -> String {
        guard let value else { return "not produced" }
        if let lower, let upper, lower.isFinite, upper.isFinite {
            return "\(fixed(value, d)) [\(fixed(lower, d)), \(fixed(upper, d))]"
        }
        let m = (method ?? "").isEmpty ? "no interval" : method!
        return "\(fixed(value, d)) (\(escape(m)))"
    }

    /// A percentage label from a key suffix: "1pct" -> "1%", "0.1pct" -> "0.1%".
    static func percent(fromSuffix s: String) -> String {
        s.hasSuffix("pct") ? String(s.dropLast(3)) + "%" : s
    }

    /// Is `s` lowercase hex (a digest we may show in a code span)?
    static func isHex(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) || ("A"..."F").contains($0) }
    }
}

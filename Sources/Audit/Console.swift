// Text bound for a terminal: names the user chose (file paths, dataset ids, spec names, metric names) may hold
// control characters, which a terminal would obey (clear the screen, move the cursor, retitle the window).
import Foundation

/// `text` with every control character (C0, DEL, C1), line or paragraph separator and bidirectional override
/// written as a visible escape `\u{1B}`: the result is one line that a terminal only displays. Reports have their
/// own escaping (Markdown, HTML, JSON); this is for the console.
public func consoleSafe(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    var out = ""
    for u in text.unicodeScalars {
        if needsEscape(u) { out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}" } else { out.unicodeScalars.append(u) }
    }
    return out
}

private func needsEscape(_ u: Unicode.Scalar) -> Bool {
    u.properties.generalCategory == .control || u == "\u{2028}" || u == "\u{2029}"
        || (0x202A...0x202E).contains(u.value) || (0x2066...0x2069).contains(u.value)
}

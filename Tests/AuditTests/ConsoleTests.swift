// consoleSafe: control characters, separators and bidirectional overrides in names are shown as escapes, never obeyed.
import Audit
import XCTest

final class ConsoleTests: XCTestCase {
    func testControlCharactersAreEscaped() {
        XCTAssertEqual(consoleSafe("a\u{1B}[2Jb\nc\u{9B}d\u{7F}e\u{202E}f\u{2028}g"),
                       "a\\u{1B}[2Jb\\u{A}c\\u{9B}d\\u{7F}e\\u{202E}f\\u{2028}g")
        XCTAssertEqual(consoleSafe("plain — ünïcode, 中文 and emoji 🙂"), "plain — ünïcode, 中文 and emoji 🙂")
    }
}

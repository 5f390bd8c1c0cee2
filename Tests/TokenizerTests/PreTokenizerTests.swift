// Pre-tokenizers on tricky cases; expected splits printed by Hugging Face `tokenizers` 0.23 (Split with each regex).
import XCTest
@testable import Tokenizer

final class PreTokenizerTests: XCTestCase {
    /// (text, gpt2, smollm, llama3)
    let cases: [(String, [String], [String], [String])] = [
        ("Hello  world", ["Hello", " ", " world"], ["Hello", " ", " world"], ["Hello", " ", " world"]),
        ("a\n\n  b", ["a", "\n\n ", " b"], ["a", "\n\n ", " b"], ["a", "\n\n", " ", " b"]),
        ("   x", ["  ", " x"], ["  ", " x"], ["  ", " x"]),
        ("it's", ["it", "'s"], ["it", "'s"], ["it", "'s"]),
        ("12345", ["12345"], ["1", "2", "3", "4", "5"], ["123", "45"]),
        ("你好世界", ["你好世界"], ["你好世界"], ["你好世界"]),
        ("I ❤️ 🦀s!", ["I", " ❤️", " 🦀", "s", "!"], ["I", " ❤️", " 🦀", "s", "!"], ["I", " ❤️", " 🦀", "s", "!"]),
        ("\t\tfoo", ["\t", "\t", "foo"], ["\t", "\t", "foo"], ["\t", "\tfoo"]),
        ("trailing  ", ["trailing", "  "], ["trailing", "  "], ["trailing", "  "]),
        ("x   ", ["x", "   "], ["x", "   "], ["x", "   "]),
        ("'S 'RE it'LL", ["'", "S", " '", "RE", " it", "'", "LL"], ["'", "S", " '", "RE", " it", "'", "LL"],
         ["'S", " '", "RE", " it", "'LL"]),
        ("a\r\n\r\nb  \n c", ["a", "\r\n\r", "\n", "b", "  \n", " c"], ["a", "\r\n\r", "\n", "b", "  \n", " c"],
         ["a", "\r\n\r\n", "b", "  \n", " c"]),
        ("(hello) ((x)) ?!\n\nz", ["(", "hello", ")", " ((", "x", "))", " ?!", "\n", "\n", "z"],
         ["(", "hello", ")", " ((", "x", "))", " ?!", "\n", "\n", "z"], ["(hello", ")", " ((", "x", "))", " ?!\n\n", "z"]),
        ("x²³4 ½Ⅻ", ["x", "²³4", " ½Ⅻ"], ["x", "²", "³", "4", " ", "½", "Ⅻ"], ["x", "²³4", " ", "½Ⅻ"]),
        ("don't\u{a0}\u{a0}go", ["don", "'t", "\u{a0}", "\u{a0}", "go"], ["don", "'t", "\u{a0}", "\u{a0}", "go"],
         ["don", "'t", "\u{a0}", "\u{a0}go"]),
        ("'ſam x'ſ", ["'", "ſam", " x", "'", "ſ"], ["'", "ſam", " x", "'", "ſ"], ["'ſ", "am", " x", "'ſ"]),  // ſ folds to s
        ("", [], [], []),
    ]

    func testKnownSplits() {
        for (text, gpt2, smollm, llama3) in cases {
            XCTAssertEqual(BPETokenizer.PreTokenizer.gpt2.preTokenize(text), gpt2, "gpt2 \(text.debugDescription)")
            XCTAssertEqual(BPETokenizer.PreTokenizer.smollm.preTokenize(text), smollm, "smollm \(text.debugDescription)")
            XCTAssertEqual(BPETokenizer.PreTokenizer.llama3.preTokenize(text), llama3, "llama3 \(text.debugDescription)")
        }
    }

    /// The reference regexes know Unicode 16 (Oniguruma in tokenizers 0.23), its Digits split the newest Unicode
    /// (Rust's char::is_numeric); checked against tokenizers 0.23.3 over every code point.
    func testUnicodeVersions() {
        // U+323B0, CJK Extension J (Unicode 17): a letter to a Unicode 17 runtime, unassigned to the regex.
        XCTAssertEqual(BPETokenizer.PreTokenizer.gpt2.preTokenize("a\u{323B0}a"), ["a", "\u{323B0}", "a"])
        // U+11DE1, Tolong Siki digit one (Unicode 17): `other` to the regex, yet isolated by Digits.
        if Unicode.Scalar(0x11DE1)!.properties.age != nil {
            XCTAssertEqual(BPETokenizer.PreTokenizer.smollm.preTokenize(".\u{11DE1}."), [".", "\u{11DE1}", "."])
            XCTAssertEqual(BPETokenizer.PreTokenizer.gpt2.preTokenize(".\u{11DE1}."), [".\u{11DE1}."])
        }
    }

    /// Pre-tokens always tile the text.
    func testPiecesConcatenateToText() {
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("aZ 09\t\n\r'sS.,!é你²Ⅻ\u{a0}🦀\u{301}")
        for _ in 0..<500 {
            let text = String((0..<Int(rng.next() % 24)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            for p in [BPETokenizer.PreTokenizer.gpt2, .smollm, .llama3] {
                let pieces = p.preTokenize(text)
                XCTAssertEqual(pieces.joined(), text)
                XCTAssertFalse(pieces.contains(""))
            }
        }
    }

    func testClasses() {
        XCTAssertEqual(classify(0x41), .letter)
        XCTAssertEqual(classify(0x4F60), .letter)      // 你
        XCTAssertEqual(classify(0x0661), .number)      // Arabic-Indic one (Nd)
        XCTAssertEqual(classify(0x216B), .number)      // Ⅻ (Nl)
        XCTAssertEqual(classify(0x00B2), .number)      // ² (No)
        XCTAssertEqual(classify(0x3000), .space)       // ideographic space
        XCTAssertEqual(classify(0x0085), .space)       // NEL
        XCTAssertEqual(classify(0x200B), .other)       // zero-width space is not White_Space
        XCTAssertEqual(classify(0x0301), .other)       // combining acute (Mn)
    }
}

/// Deterministic generator for tests.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

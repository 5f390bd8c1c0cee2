// Rewriting a JSON Lines record's text (`JSONLRecord.render`, used by `traps inject`) keeps every other byte of the
// line: booleans, number spellings (3.0, 1e5), nested values, \u escapes, whitespace and key order as they were.
import Audit
import Foundation
import XCTest

final class JSONLRewriteTests: XCTestCase {
    private func file(_ lines: [String]) throws -> String {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("jsonl-rewrite-\(UUID().uuidString).jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: u)
        addTeardownBlock { try? FileManager.default.removeItem(at: u) }
        return u.path
    }

    /// Each case: the bytes before the text value, the text value as spelled, the bytes after it.
    let cases: [(before: String, value: String, after: String)] = [
        (#"{"id": 1, "flag": true, "off": false, "none": null, "x": 3.0, "big": 1e5, "neg": -0.50E-3, "text": "#, #""plain text.""#, "}"),
        (#"  {  "zeta" :[1.0 , {"a":true,"text":"inner"}, [], {}],"text"  :  "#, #""esc \u00e9 \"q\" \/ \n end""#, #"  , "alpha": {"b": [false, 2.50]}  }  "#),
        (#"{"nested": {"text": "not me", "deep": [[[{"k": "v\\"}]]]}, "t\u0065xt": "#, #""escaped key""#, "}"),
        (#"{"text": "#, #""first""#, #", "unicode": "\ud83d\ude00 and 😀", "e": 1E+2, "z": 0}"#),
    ]

    func testRenderChangesOnlyTheTextValue() throws {
        let path = try file(cases.map { $0.before + $0.value + $0.after })
        let records = try readJSONLRecords(path, field: "text")
        XCTAssertEqual(records.count, cases.count)
        let newText = "new \"quoted\" / back\\slash\nline\ttab \u{1} é 😀"
        for (r, c) in zip(records, cases) {
            let out = try r.render(newText, field: "text")
            XCTAssertTrue(out.hasPrefix(c.before), "bytes before the value changed:\n\(out)")
            XCTAssertTrue(out.hasSuffix(c.after), "bytes after the value changed:\n\(out)")
            guard out.utf8.count >= c.before.utf8.count + c.after.utf8.count else { continue }
            let middle = String(decoding: Array(out.utf8).dropFirst(c.before.utf8.count).dropLast(c.after.utf8.count), as: UTF8.self)
            XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(middle.utf8), options: [.fragmentsAllowed]) as? String, newText)
            // The whole line still parses, with the new text in the field.
            let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
            XCTAssertEqual(o["text"] as? String, newText)
        }
        // The text as read, where it was spelled without escapes, gives back the line as it was.
        XCTAssertEqual(try records[0].render("plain text.", field: "text"), cases[0].before + cases[0].value + cases[0].after)
    }

    func testBareStringLineIsReplacedWhole() throws {
        let path = try file([#""a bare \u00e9 string""#, #"{"text": "obj", "n": 1.0}"#])
        let records = try readJSONLRecords(path, field: "text")
        XCTAssertEqual(try records[0].render("x/y \"z\"", field: "text"), #""x/y \"z\"""#)
        XCTAssertEqual(try records[1].render("new", field: "text"), #"{"text": "new", "n": 1.0}"#)
    }

    func testOtherFieldNameAndCRLF() throws {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("jsonl-rewrite-\(UUID().uuidString).jsonl")
        try Data("{\"body\": \"b\", \"text\": 2.0}\r\n{\"body\":\"c\",\"ok\":true}\r\n".utf8).write(to: u)
        addTeardownBlock { try? FileManager.default.removeItem(at: u) }
        let records = try readJSONLRecords(u.path, field: "body")
        XCTAssertEqual(try records.map { try $0.render("N", field: "body") }, [#"{"body": "N", "text": 2.0}"#, #"{"body":"N","ok":true}"#])
    }

    /// Duplicate keys: reading refuses them, naming the line and key; a record built over such a line still rewrites
    /// the occurrence holding the text that was read, whichever one a parser keeps.
    func testDuplicateKeys() throws {
        let lines = [#"{"text": "a", "k": 1.0, "text": "a"}"#, #"{"text": "b", "text": "c"}"#]
        let path = try file(lines)
        XCTAssertThrowsError(try readJSONLRecords(path, field: "text")) { e in
            XCTAssertEqual("\(e)", "\(path): line 1: duplicate key \"text\" (a JSON object may hold each key once)")
        }
        let records = zip(lines, ["a", "c"]).enumerated().map { i, lt in
            JSONLRecord(object: nil, text: lt.1, line: Array(lt.0.utf8), lineNumber: i + 1, path: path)
        }
        XCTAssertEqual(try records[0].render("Z", field: "text"), #"{"text": "Z", "k": 1.0, "text": "Z"}"#)
        let out = try records[1].render("Z", field: "text")
        XCTAssertEqual(out.components(separatedBy: "\"Z\"").count - 1, 1, out)
        let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(o["text"] as? String, "Z", out)
    }

    /// A line that does not hold the text read (the file changed, or a scanner gap): a thrown error naming the
    /// file and line, never a crash.
    func testUnsplicableLineThrowsNamingFileAndLine() {
        let bad = [#"{"text": "other"}"#, #"{"text": "a""#, #"{"nottext": "a"}"#, "[1, 2]", "", #"{"text": "a"} x"#]
        for line in bad {
            let r = JSONLRecord(object: nil, text: "a", line: Array(line.utf8), lineNumber: 7, path: "/data/x.jsonl")
            XCTAssertThrowsError(try r.render("b", field: "text"), line) { e in
                XCTAssertTrue("\(e)".hasPrefix("/data/x.jsonl: line 7: cannot rewrite field \"text\""), "\(e)")
            }
        }
    }
}

// JSONDuplicateKeys on hand-made documents: keys compared after escapes are decoded, one key set per object, strings'
// contents never taken for structure, the line of the second occurrence and the object's place.
@testable import Checkpoint
import XCTest

final class JSONDuplicateKeysTests: XCTestCase {
    func find(_ s: String) -> JSONDuplicateKeys.Duplicate? { JSONDuplicateKeys.first(in: Array(s.utf8)) }

    func testDuplicatesAndNonDuplicates() {
        XCTAssertNil(find(#"{"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}"#), "equal keys in different objects")
        XCTAssertNil(find(#"[{"a": 1}, {"a": 2}]"#))
        XCTAssertNil(find(#"{"a": "{\"a\": 1, \"a\": 2}"}"#), "a string's content is no object")
        XCTAssertNil(find(#""just a string""#))
        XCTAssertEqual(find(#"{"a": "x\"y", "a": 2}"#), .init(key: "a", line: 1, path: ""))
        XCTAssertEqual(find(#"{"x": [1, {"k": 1, "k": 2}]}"#), .init(key: "k", line: 1, path: "x[1]"))
        XCTAssertEqual(find(#"{"m": {"v": {"ab": 1, "a\u0062": 2}}}"#), .init(key: "ab", line: 1, path: "m.v"))
        XCTAssertEqual(find("{\"\\ud83d\\ude00\": 1,\n \"\u{1F600}\": 2}"), .init(key: "\u{1F600}", line: 2, path: ""))
        XCTAssertEqual(find("{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": 1,\n  \"a\": 3\n}"), .init(key: "a", line: 7, path: ""))
        XCTAssertEqual(find(#"{"a": 1, "A": 2, "a ": 3}"#), nil, "keys are compared exactly")
        XCTAssertEqual(find(#"{"a": 1, "a": 2}"#)?.description, "line 1: duplicate key \"a\" (a JSON object may hold each key once)")
    }
}

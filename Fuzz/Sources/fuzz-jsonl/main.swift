// Fuzz target: the JSON Lines reader (every line validated, the text field of each record) and the splice that
// rewrites one field of a line while keeping every other byte.
import Audit
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONL(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write("input.jsonl", fuzzBytes(data, size))
    if let records = try? readJSONLRecords(path, field: "text") {
        for r in records {
            _ = try? r.render("replaced \"text\" \\ \u{00e9}\n", field: "text")
        }
    }
    _ = try? readJSONLTexts(path, field: "id")
    return 0
}

runFuzzer(fuzzJSONL)

// Fuzz target: the audit spec parser (YAML, allowed keys, types, bounds, paths, thresholds). The quickstart's data
// files sit beside the input, so that a spec naming them gets past the path checks.
import Audit
import FuzzSupport

private let folder: String = {
    let d = Scratch.mkdir("spec")
    _ = Scratch.mkdir("spec/quickstart")
    for f in ["members.jsonl", "nonmembers.jsonl", "canaries.json"] {
        Scratch.copy("audits/quickstart/\(f)", to: "spec/quickstart/\(f)")
    }
    return d
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = folder
    let path = Scratch.write("spec/audit.yml", fuzzBytes(data, size))
    if let spec = try? loadAuditSpec(path) {
        _ = spec.producedFigures
    }
    return 0
}

runFuzzer(fuzzSpec)

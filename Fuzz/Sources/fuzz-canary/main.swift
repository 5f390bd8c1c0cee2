// Fuzz target: the canary manifest reader (JSON shape, repetitions, each text against its format), then the candidate
// space of every format it accepted.
import Attacks
import Audit
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCanary(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write("canaries.json", fuzzBytes(data, size))
    if let m = try? readCanaryManifest(path) {
        for c in m.canaries {
            guard let f = try? CanaryFormat(c.format, words: ["alpha", "beta"]) else { continue }
            _ = f.log2SpaceSize
            if let s = f.spaceSize, s > 0 { _ = f.candidate(s - 1) }
            _ = f.fits(c.text)
        }
    }
    return 0
}

runFuzzer(fuzzCanary)

// Fuzz target: the GGUF reader (header, key/values, tensor infos, byte ranges), dequantisation of every tensor, and the
// whole model load from GGUF (config from metadata, tokenizer.ggml.*, tensor shapes against the config).
import Checkpoint
import FuzzSupport
import Model

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write("input.gguf", fuzzBytes(data, size))
    if let g = try? GGUFFile(path: path) {
        for name in g.tensorNames {
            // Bounded so that a valid but large tensor is not a false out-of-memory.
            guard let e = g.entry(name), e.elementCount <= 1 << 20 else { continue }
            _ = try? g.floats(name)
        }
    }
    if let m = try? LanguageModel.load(path: path) {
        _ = m.tokenizer.decode(m.tokenizer.encode("Hello, world! 123 \u{00e9}\u{4e2d}"))
    }
    return 0
}

runFuzzer(fuzzGGUF)

// Fuzz target: the safetensors reader (header length, JSON header, tensor table, coverage of the data buffer) with its
// config.json, through the whole model load. The input is config.json, a NUL byte, then model.safetensors; the
// tokenizer.json beside them is the tiny llama fixture's (its own target fuzzes that).
import Checkpoint
import FuzzSupport
import Model

private let folder: String = {
    let d = Scratch.mkdir("safetensors")
    Scratch.copy("Fixtures/tiny/llama/tokenizer.json", to: "safetensors/tokenizer.json")
    return d
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let (config, weights) = splitAtNUL(fuzzBytes(data, size))
    _ = folder
    Scratch.write("safetensors/config.json", config)
    let file = Scratch.write("safetensors/model.safetensors", weights)
    if let f = try? SafetensorsFile(path: file) {
        for name in f.tensorNames {
            guard let e = f.entry(name), e.elementCount <= 1 << 20 else { continue }
            _ = try? f.floats(name)
        }
    }
    _ = try? ModelConfig.fromHuggingFace(path: folder + "/config.json")
    _ = try? LanguageModel.load(path: folder)
    return 0
}

runFuzzer(fuzzSafetensors)

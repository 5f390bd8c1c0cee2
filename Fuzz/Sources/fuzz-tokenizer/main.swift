// Fuzz target: tokenizer.json (model.vocab, merges in both spellings, added_tokens, pre_tokenizer, post_processor),
// then an encode/decode round of a fixed text through whatever was loaded.
import FuzzSupport
import Tokenizer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let dir = Scratch.mkdir("tokenizer")
    Scratch.write("tokenizer/tokenizer.json", fuzzBytes(data, size))
    if let t = try? BPETokenizer(tokenizerJSON: dir + "/tokenizer.json") {
        let ids = t.encode("Hello, world!  It's 2024\n\tcaf\u{00e9} \u{4e2d}\u{6587} <|endoftext|> \u{1F600}")
        _ = t.decode(ids)
        _ = t.decode(ids, skipSpecial: true)
        _ = t.decode([-1, 0, 1, Int.max])
    }
    return 0
}

runFuzzer(fuzzTokenizer)

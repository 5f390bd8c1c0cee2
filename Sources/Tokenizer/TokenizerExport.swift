// Writing a byte-level BPE tokenizer out again: Hugging Face tokenizer.json + tokenizer_config.json, or the GGUF
// tokenizer.ggml.* vocabulary. Both read back (here, in `tokenizers`, in llama.cpp) to the same ids as this one.
import Foundation

extension BPETokenizer {
    /// `tokenizer.ggml.pre`: llama.cpp's name for this pre-tokenizer.
    public var ggufPreTokenizerName: String {
        switch preTokenizer {
        case .gpt2: return "gpt-2"
        case .smollm: return "smollm"
        case .llama3: return "llama-bpe"
        }
    }

    /// `tokenizer.ggml.tokens`, `token_type` and `merges`. Tokens by id, padded to `count` (the model's vocabulary,
    /// which llama.cpp wants to equal the token count) with "[PAD<id>]" of type 5 (unused), as llama.cpp's converter
    /// does. Types: 3 (control) for special added tokens, 4 (user-defined) for the other added ones, 1 otherwise.
    public func ggufVocabulary(count: Int) -> (tokens: [String], types: [Int], merges: [String]) {
        precondition(count >= vocabSize, "the vocabulary has \(vocabSize) tokens, more than \(count)")
        var types = [Int](repeating: 1, count: count), out = [String]()
        out.reserveCapacity(count)
        for id in 0..<count {
            if id < tokens.count, let t = tokens[id] { out.append(t) } else { out.append("[PAD\(id)]"); types[id] = 5 }
        }
        for t in addedTokens { types[t.id] = t.special ? 3 : 4 }
        return (out, types, mergePairs.map { $0.0 + " " + $0.1 })
    }

    /// tokenizer.json for Hugging Face `tokenizers`: model BPE (byte-level, the vocabulary and merges as read),
    /// added tokens with their special/normalized flags, the pre-tokenizer in the exact form the reader here
    /// recognises (ByteLevel; Digits + ByteLevel; Split(Llama-3 regex) + ByteLevel), a TemplateProcessing that
    /// puts the BOS first when the tokenizer adds one (else a ByteLevel post-processor, which adds nothing), and
    /// the ByteLevel decoder. Merges are "left right" strings (read by every `tokenizers` version), or [left, right]
    /// pairs when a token holds a space.
    public func huggingFaceTokenizerJSON() throws -> Data {
        let byteLevel: (Bool) -> [String: Any] = { regex in
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex]
        }
        let pre: [String: Any]
        switch preTokenizer {
        case .gpt2: pre = byteLevel(true)
        case .smollm:
            pre = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel(true)]]
        case .llama3:
            pre = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": llama3Pattern], "behavior": "Isolated", "invert": false],
                byteLevel(false)]]
        }
        let post: [String: Any]
        if addBos, let bos = bosId, let name = token(bos) {
            let special: (Int) -> [String: Any] = { ["SpecialToken": ["id": name, "type_id": $0]] }
            let sequence: (String, Int) -> [String: Any] = { ["Sequence": ["id": $0, "type_id": $1]] }
            post = ["type": "TemplateProcessing", "single": [special(0), sequence("A", 0)],
                    "pair": [special(0), sequence("A", 0), special(1), sequence("B", 1)],
                    "special_tokens": [name: ["id": name, "ids": [bos], "tokens": [name]]]]
        } else {
            post = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true]
        }
        let pairs = mergePairs.contains { $0.0.contains(" ") || $0.1.contains(" ") }
        let merges: [Any] = pairs ? mergePairs.map { [$0.0, $0.1] } : mergePairs.map { $0.0 + " " + $0.1 }
        let model: [String: Any] = [
            "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
            "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignoreMerges,
            "vocab": vocab, "merges": merges,
        ]
        let added: [[String: Any]] = addedTokens.map {
            ["id": $0.id, "content": $0.content, "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": $0.normalized, "special": $0.special]
        }
        let root: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": pre, "post_processor": post,
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true], "model": model,
        ]
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// tokenizer_config.json: the BOS, EOS and pad tokens by name (how transformers and the reader here learn
    /// them), the generic fast tokenizer class, and the context length.
    public func huggingFaceTokenizerConfigJSON(modelMaxLength: Int) throws -> Data {
        var config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": modelMaxLength,
            "clean_up_tokenization_spaces": false, "add_bos_token": addBos, "add_eos_token": false,
        ]
        for (key, id) in [("bos_token", bosId), ("eos_token", eosId), ("pad_token", padId)] {
            if let id, let name = token(id) { config[key] = name }
        }
        return try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}

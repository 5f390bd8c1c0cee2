// Loading a Hugging Face tokenizer.json (byte-level BPE) and, when present, the tokenizer_config.json beside it.
import Checkpoint
import Foundation

let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

extension BPETokenizer {
    /// From a Hugging Face tokenizer.json (model.type "BPE", byte-level), with its added_tokens and pre_tokenizer.
    ///
    /// BOS: the special token that a TemplateProcessing post_processor puts first (then addBos is true), else
    /// `bos_token` of a tokenizer_config.json in the same folder, else the first present of <|begin_of_text|>,
    /// <s>, <bos>, <|startoftext|>, <|endoftext|>. EOS: `eos_token` of tokenizer_config.json, else the first
    /// present of <|end_of_text|>, </s>, <eos>, <|endoftext|>. Pad: `pad_token` of tokenizer_config.json, else none.
    /// The decoder is taken to be ByteLevel whatever the file says.
    public convenience init(tokenizerJSON path: String) throws {
        func fail(_ m: String) -> TokenizerError { TokenizerError(file: path, m) }
        let root = try readJSONObject(path)
        guard let model = root["model"] as? [String: Any] else { throw fail("no \"model\" object") }
        let type = model["type"] as? String ?? "(none)"
        guard type == "BPE" else { throw fail("model.type is \"\(type)\"; only byte-level \"BPE\" is supported") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key] as? String, !s.isEmpty { throw fail("model.\(key) \"\(s)\" is not supported") }
        }
        if boolValue(model["byte_fallback"]) == true { throw fail("model.byte_fallback is not supported (not byte-level BPE)") }
        if let n = root["normalizer"], !(n is NSNull) { throw fail("normalizer \(brief(n)) is not supported") }

        guard let rawVocab = model["vocab"] as? [String: Any] else { throw fail("model.vocab is missing or not an object") }
        var vocab = [String: Int](minimumCapacity: rawVocab.count)
        for (token, v) in rawVocab {
            guard let id = intValue(v), id >= 0 else { throw fail("model.vocab[\"\(token)\"] is not a non-negative integer") }
            vocab[token] = id
        }
        guard let rawMerges = model["merges"] as? [Any] else { throw fail("model.merges is missing or not an array") }
        var merges = [(String, String)]()
        merges.reserveCapacity(rawMerges.count)
        for (i, m) in rawMerges.enumerated() {
            if let s = m as? String, let pair = splitMerge(s) {
                merges.append(pair)
            } else if let a = m as? [Any], a.count == 2, let l = a[0] as? String, let r = a[1] as? String {
                merges.append((l, r))
            } else {
                throw fail("model.merges[\(i)] is neither \"left right\" nor [left, right]")
            }
        }

        var added = [AddedToken]()
        for (i, t) in (root["added_tokens"] as? [[String: Any]] ?? []).enumerated() {
            guard let content = t["content"] as? String, let id = intValue(t["id"]), id >= 0 else {
                throw fail("added_tokens[\(i)] lacks a content string or an id")
            }
            let special = boolValue(t["special"]) ?? false
            added.append(AddedToken(content: content, id: id, special: special,
                                    normalized: boolValue(t["normalized"]) ?? !special))
        }
        func lookup(_ name: String?) -> Int? {
            guard let name else { return nil }
            return added.last { $0.content == name }?.id ?? vocab[name]
        }

        let config = try readConfig(besides: path)
        let template = templateBos(root["post_processor"])
        let bos = template.flatMap { $0.id ?? lookup($0.name) } ?? lookup(config.bos)
            ?? ["<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>", "<|endoftext|>"].lazy.compactMap(lookup).first
        let eos = lookup(config.eos) ?? ["<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>"].lazy.compactMap(lookup).first
        try self.init(vocab: vocab, merges: merges, added: added,
                      preTokenizer: try parsePreTokenizer(root["pre_tokenizer"], path: path),
                      ignoreMerges: boolValue(model["ignore_merges"]) ?? false,
                      bosId: bos, eosId: eos, padId: lookup(config.pad), addBos: template != nil,
                      source: path, mergesKey: "model.merges")
    }
}

private func readJSONObject(_ path: String) throws -> [String: Any] {
    // A FIFO, socket or device would block or never end: refused before it is opened.
    if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType, type != .typeRegular {
        throw TokenizerError(file: path, type == .typeDirectory ? "is a directory, not a file" : "not a regular file (a FIFO, socket or device)")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw TokenizerError(file: path, "cannot read the file")
    }
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: data) } catch {
        throw TokenizerError(file: path, "not valid JSON (\(error.localizedDescription))")
    }
    guard let dict = object as? [String: Any] else { throw TokenizerError(file: path, "the top level is not a JSON object") }
    if let d = JSONDuplicateKeys.first(in: data) { throw TokenizerError(file: path, d.description) }
    return dict
}

private func intValue(_ v: Any?) -> Int? {
    if let i = v as? Int { return i }
    if let n = v as? NSNumber, !(v is Bool) { return n.intValue }
    return nil
}

private func boolValue(_ v: Any?) -> Bool? { v as? Bool }

/// Compact JSON of a value, cut to 200 characters, for error messages.
private func brief(_ v: Any?) -> String {
    guard let v, JSONSerialization.isValidJSONObject([v]),
          let data = try? JSONSerialization.data(withJSONObject: [v], options: [.sortedKeys]) else { return "null" }
    let s = String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    return s.count > 200 ? String(s.prefix(200)) + "..." : s
}

private func parsePreTokenizer(_ v: Any?, path: String) throws -> BPETokenizer.PreTokenizer {
    func isByteLevel(_ o: [String: Any], useRegex: Bool) -> Bool {
        o["type"] as? String == "ByteLevel" && (boolValue(o["add_prefix_space"]) ?? false) == false
            && (boolValue(o["use_regex"]) ?? true) == useRegex
    }
    if let o = v as? [String: Any] {
        if isByteLevel(o, useRegex: true) { return .gpt2 }
        if o["type"] as? String == "Sequence", let seq = o["pretokenizers"] as? [[String: Any]], seq.count == 2 {
            let (first, second) = (seq[0], seq[1])
            if first["type"] as? String == "Digits", boolValue(first["individual_digits"]) == true,
               isByteLevel(second, useRegex: true) { return .smollm }
            if first["type"] as? String == "Split", first["behavior"] as? String == "Isolated",
               (boolValue(first["invert"]) ?? false) == false, isByteLevel(second, useRegex: false),
               let regex = (first["pattern"] as? [String: Any])?["Regex"] as? String {
                if regex == gpt2Pattern { return .gpt2 }
                if regex == llama3Pattern { return .llama3 }
            }
        }
    }
    throw TokenizerError(file: path, "pre_tokenizer \(brief(v)) is not supported: expected ByteLevel (GPT-2), "
        + "Sequence[Digits(individual_digits), ByteLevel] (SmolLM) or Sequence[Split(GPT-2 or Llama-3 regex), "
        + "ByteLevel(use_regex: false)]")
}

/// The special token a TemplateProcessing (alone or in a Sequence) puts before the text, with its id if given.
private func templateBos(_ v: Any?) -> (name: String, id: Int?)? {
    guard let o = v as? [String: Any] else { return nil }
    if o["type"] as? String == "Sequence" {
        return (o["processors"] as? [Any] ?? []).lazy.compactMap(templateBos).first
    }
    guard o["type"] as? String == "TemplateProcessing", let single = o["single"] as? [[String: Any]],
          let name = (single.first?["SpecialToken"] as? [String: Any])?["id"] as? String else { return nil }
    let ids = ((o["special_tokens"] as? [String: Any])?[name] as? [String: Any])?["ids"] as? [Any]
    return (name, ids?.first.flatMap(intValue))
}

/// bos_token / eos_token / pad_token of the tokenizer_config.json beside `path`, when there is one.
private func readConfig(besides path: String) throws -> (bos: String?, eos: String?, pad: String?) {
    let config = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
    guard FileManager.default.fileExists(atPath: config) else { return (nil, nil, nil) }
    let o = try readJSONObject(config)
    func name(_ key: String) -> String? {  // a string, or an AddedToken object {"content": ...}
        o[key] as? String ?? (o[key] as? [String: Any])?["content"] as? String
    }
    return (name("bos_token"), name("eos_token"), name("pad_token"))
}

// Writing a loaded model out: a Hugging Face folder (config.json, F32 safetensors, tokenizer.json) or a llama.cpp
// GGUF file. Our parameter names map back to each format's names, the inverse of Llama.swift, GPT2.swift and
// GPTNeoX.swift; Q/K rows move between the two RoPE layouts (llama.cpp convert_hf_to_gguf.py LlamaModel.permute).
import Foundation
import Checkpoint
import Tokenizer

public enum ExportFormat: String, Sendable, CaseIterable { case huggingFace = "hf", gguf }

/// What a GGUF output stores its 2-D weights as; 1-D tensors (norms, biases) stay F32, and a Q8_0 weight whose rows
/// are not a multiple of 32 long falls back to F16, as llama.cpp's converter does.
public enum GGUFOutputType: String, Sendable, CaseIterable {
    case f32, f16, q8_0

    var dtype: DType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .q8_0: return .q8_0
        }
    }

    /// llama.cpp's `general.file_type` (enum llama_ftype): ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7.
    var fileType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q8_0: return 7
        }
    }
}

/// Once before the first tensor (done 0), then after each: tensors written, tensors in all, data bytes written.
public typealias ExportProgress = (_ done: Int, _ total: Int, _ bytes: Int) -> Void

extension LanguageModel {
    /// The shard size of Hugging Face output unless told otherwise: 2 GiB.
    public static let defaultShardBytes = 2 << 30

    /// Throws a CheckpointError naming `output` when it cannot receive a `format` output written from the
    /// checkpoint at `input` (see OutputPath.check). Cheap: call it before loading the model.
    public static func checkOutput(_ output: String, format: ExportFormat, input: String) throws {
        try OutputPath.check(output, kind: format == .gguf ? .file : .folder, inputs: [input])
    }

    /// Throws a ModelError naming `path` when this model cannot be written in `format`: GGUF is written for Llama
    /// only (the GGUF reader here loads nothing else back).
    public func checkExportable(as format: ExportFormat, to path: String) throws {
        guard format == .gguf, config.architecture != .llama else { return }
        throw ModelError(file: path, "GGUF output is written for the llama architecture only, and this checkpoint is "
                         + "\(config.architecture.rawValue) (which the GGUF reader here cannot load back); write a Hugging Face folder instead")
    }

    /// Writes a Hugging Face folder at `path`: config.json, model.safetensors (F32; shards of at most `shardBytes`
    /// plus model.safetensors.index.json when larger), tokenizer.json and tokenizer_config.json. The folder is
    /// built under a temporary name beside `path` and renamed into place. Returns the files written.
    @discardableResult
    public func writeHuggingFace(to path: String, shardBytes: Int = defaultShardBytes, metadata: [String: String] = [:],
                                 progress: ExportProgress? = nil) throws -> [String] {
        precondition(shardBytes > 0, "shardBytes must be positive")
        try OutputPath.check(path, kind: .folder, inputs: files + [self.path])
        let tensors = try huggingFaceTensors(file: path)
        let configJSON = try JSONSerialization.data(withJSONObject: huggingFaceConfig(),
                                                    options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        let tokenizerJSON = try tokenizer.huggingFaceTokenizerJSON()
        let tokenizerConfig = try tokenizer.huggingFaceTokenizerConfigJSON(modelMaxLength: config.maxPositions)
        var names: [String] = []
        progress?(0, tensors.count, 0)
        try OutputPath.writeFolder(path) { folder in
            names = try SafetensorsWriter.writeCheckpoint(tensors, metadata: metadata.merging(["format": "pt"]) { _, pt in pt }, into: folder, shardBytes: shardBytes) {
                progress?($0, tensors.count, $1)
            }
            for (name, data) in [("config.json", configJSON + Data("\n".utf8)), ("tokenizer.json", tokenizerJSON),
                                 ("tokenizer_config.json", tokenizerConfig + Data("\n".utf8))] {
                do { try data.write(to: URL(fileURLWithPath: folder + "/" + name)) } catch {
                    throw ModelError(file: path, "cannot write \(name): \(error.localizedDescription)")
                }
                names.append(name)
            }
        }
        return names.map { path + "/" + $0 }
    }

    /// Writes a GGUF v3 file at `path` (temporary file, then rename) with llama.cpp's metadata keys and tensor
    /// names; Llama only. 2-D weights are stored as `type`, 1-D tensors as F32. Returns the file written.
    @discardableResult
    public func writeGGUF(to path: String, type: GGUFOutputType = .f32, progress: ExportProgress? = nil) throws -> [String] {
        try checkExportable(as: .gguf, to: path)
        try OutputPath.check(path, kind: .file, inputs: files + [self.path])
        let tensors = try ggufTensors(type: type)
        progress?(0, tensors.count, 0)
        try GGUFWriter.write(metadata: try ggufMetadata(type: type), tensors: tensors, to: path) { progress?($0, tensors.count, $1) }
        return [path]
    }
}

// MARK: - Tensors

extension LanguageModel {
    /// A parameter under another name, optionally transformed (rows permuted, transposed, ...).
    private func tensor(_ name: String, _ ours: String, shape: [Int]? = nil, type: DType = .f32,
                        _ transform: (([Float]) -> [Float])? = nil) -> WritableTensor {
        let p = model.params
        guard let r = p.ref(ours) else { preconditionFailure("no parameter \(ours)") }
        return WritableTensor(name: name, shape: shape ?? r.shape, type: type) {
            let v = p.values(ours)
            return transform.map { $0(v) } ?? v
        }
    }

    /// A tensor assembled from several parameters.
    private func tensor(_ name: String, shape: [Int], _ build: @escaping (Parameters) -> [Float]) -> WritableTensor {
        let p = model.params
        return WritableTensor(name: name, shape: shape) { build(p) }
    }

    /// Hugging Face names and layouts (the inverse of the loaders), F32.
    func huggingFaceTensors(file: String) throws -> [WritableTensor] {
        let c = config, C = c.dModel, NH = c.nHeads, NKV = c.nKVHeads, HD = c.headDim, F = c.ffnDim
        var out: [WritableTensor] = []
        switch c.architecture {
        case .llama:
            guard c.attentionBias == c.outputBias, !c.mlpBias else {
                throw ModelError(file: file, "Hugging Face Llama has one attention_bias for q, k, v and o and no MLP bias here; "
                                 + "this checkpoint's biases (q/k/v \(c.attentionBias), o \(c.outputBias), MLP \(c.mlpBias)) do not fit")
            }
            // GGUF-loaded weights are in the interleaved RoPE layout; Hugging Face wants halves.
            let toHalves = c.ropeStyle == .interleaved
            func qk(_ heads: Int) -> (([Float]) -> [Float])? { toHalves ? { ropeRows($0, heads: heads, headDim: HD, toInterleaved: false) } : nil }
            out.append(tensor("model.embed_tokens.weight", "embed.weight"))
            for l in 0..<c.nLayers {
                let s = "model.layers.\(l).", d = "blk.\(l)."
                out.append(tensor(s + "input_layernorm.weight", d + "norm1.weight"))
                out.append(tensor(s + "self_attn.q_proj.weight", d + "q.weight", qk(NH)))
                out.append(tensor(s + "self_attn.k_proj.weight", d + "k.weight", qk(NKV)))
                out.append(tensor(s + "self_attn.v_proj.weight", d + "v.weight"))
                out.append(tensor(s + "self_attn.o_proj.weight", d + "o.weight"))
                if c.attentionBias {
                    out.append(tensor(s + "self_attn.q_proj.bias", d + "q.bias", qk(NH)))
                    out.append(tensor(s + "self_attn.k_proj.bias", d + "k.bias", qk(NKV)))
                    out.append(tensor(s + "self_attn.v_proj.bias", d + "v.bias"))
                    out.append(tensor(s + "self_attn.o_proj.bias", d + "o.bias"))
                }
                out.append(tensor(s + "post_attention_layernorm.weight", d + "norm2.weight"))
                for (hf, ours) in [("gate_proj", "gate"), ("up_proj", "up"), ("down_proj", "down")] {
                    out.append(tensor(s + "mlp.\(hf).weight", d + "\(ours).weight"))
                }
            }
            out.append(tensor("model.norm.weight", "final_norm.weight"))
            if !c.tiedEmbeddings { out.append(tensor("lm_head.weight", "head.weight")) }
        case .gpt2:
            // Conv1D weights are [in, out]: the transposes of ours; c_attn fuses q, k, v along the output.
            out.append(tensor("transformer.wte.weight", "embed.weight"))
            out.append(tensor("transformer.wpe.weight", "pos.weight"))
            for l in 0..<c.nLayers {
                let s = "transformer.h.\(l).", d = "blk.\(l)."
                out.append(tensor(s + "ln_1.weight", d + "norm1.weight"))
                out.append(tensor(s + "ln_1.bias", d + "norm1.bias"))
                out.append(tensor(s + "attn.c_attn.weight", shape: [C, 3 * C]) { p in
                    var w = [Float](repeating: 0, count: 3 * C * C)
                    for (j, name) in ["q", "k", "v"].enumerated() {
                        let src = p.ptr(d + "\(name).weight")
                        for o in 0..<C { for i in 0..<C { w[i * 3 * C + j * C + o] = src[o * C + i] } }
                    }
                    return w
                })
                out.append(tensor(s + "attn.c_attn.bias", shape: [3 * C]) { p in ["q", "k", "v"].flatMap { p.values(d + "\($0).bias") } })
                out.append(tensor(s + "attn.c_proj.weight", d + "o.weight", shape: [C, C]) { transpose($0, rows: C, cols: C) })
                out.append(tensor(s + "attn.c_proj.bias", d + "o.bias"))
                out.append(tensor(s + "ln_2.weight", d + "norm2.weight"))
                out.append(tensor(s + "ln_2.bias", d + "norm2.bias"))
                out.append(tensor(s + "mlp.c_fc.weight", d + "up.weight", shape: [C, F]) { transpose($0, rows: F, cols: C) })
                out.append(tensor(s + "mlp.c_fc.bias", d + "up.bias"))
                out.append(tensor(s + "mlp.c_proj.weight", d + "down.weight", shape: [F, C]) { transpose($0, rows: C, cols: F) })
                out.append(tensor(s + "mlp.c_proj.bias", d + "down.bias"))
            }
            out.append(tensor("transformer.ln_f.weight", "final_norm.weight"))
            out.append(tensor("transformer.ln_f.bias", "final_norm.bias"))
        case .gptNeoX:
            guard c.attentionBias == c.outputBias else {
                throw ModelError(file: file, "Hugging Face GPT-NeoX has one attention_bias for query_key_value and dense; this checkpoint's differ")
            }
            out.append(tensor("gpt_neox.embed_in.weight", "embed.weight"))
            for l in 0..<c.nLayers {
                let s = "gpt_neox.layers.\(l).", d = "blk.\(l)."
                out.append(tensor(s + "input_layernorm.weight", d + "norm1.weight"))
                out.append(tensor(s + "input_layernorm.bias", d + "norm1.bias"))
                // query_key_value rows are [NH, 3, HD]: head h's q, then its k, then its v.
                out.append(tensor(s + "attention.query_key_value.weight", shape: [3 * C, C]) { p in
                    var w = [Float](repeating: 0, count: 3 * C * C)
                    for (j, name) in ["q", "k", "v"].enumerated() {
                        let src = p.ptr(d + "\(name).weight")
                        for h in 0..<NH { for e in 0..<HD {
                            let row = (h * 3 + j) * HD + e
                            for i in 0..<C { w[row * C + i] = src[(h * HD + e) * C + i] }
                        } }
                    }
                    return w
                })
                if c.attentionBias {
                    out.append(tensor(s + "attention.query_key_value.bias", shape: [3 * C]) { p in
                        var b = [Float](repeating: 0, count: 3 * C)
                        for (j, name) in ["q", "k", "v"].enumerated() {
                            let src = p.ptr(d + "\(name).bias")
                            for h in 0..<NH { for e in 0..<HD { b[(h * 3 + j) * HD + e] = src[h * HD + e] } }
                        }
                        return b
                    })
                }
                out.append(tensor(s + "attention.dense.weight", d + "o.weight"))
                if c.outputBias { out.append(tensor(s + "attention.dense.bias", d + "o.bias")) }
                out.append(tensor(s + "post_attention_layernorm.weight", d + "norm2.weight"))
                out.append(tensor(s + "post_attention_layernorm.bias", d + "norm2.bias"))
                out.append(tensor(s + "mlp.dense_h_to_4h.weight", d + "up.weight"))
                out.append(tensor(s + "mlp.dense_h_to_4h.bias", d + "up.bias"))
                out.append(tensor(s + "mlp.dense_4h_to_h.weight", d + "down.weight"))
                out.append(tensor(s + "mlp.dense_4h_to_h.bias", d + "down.bias"))
            }
            out.append(tensor("gpt_neox.final_layer_norm.weight", "final_norm.weight"))
            out.append(tensor("gpt_neox.final_layer_norm.bias", "final_norm.bias"))
            if !c.tiedEmbeddings { out.append(tensor("embed_out.weight", "head.weight")) }
        }
        return out
    }

    /// llama.cpp names (Llama); Q and K rows in the interleaved RoPE layout that GGUF files use.
    func ggufTensors(type: GGUFOutputType) throws -> [WritableTensor] {
        let c = config, HD = c.headDim
        precondition(c.architecture == .llama)
        let toInterleaved = c.ropeStyle == .halves
        func qk(_ heads: Int) -> (([Float]) -> [Float])? {
            toInterleaved ? { ropeRows($0, heads: heads, headDim: HD, toInterleaved: true) } : nil
        }
        func weight(_ name: String, _ ours: String, _ transform: (([Float]) -> [Float])? = nil) -> WritableTensor {
            let shape = model.params.ref(ours)!.shape
            let t: DType = shape.count < 2 ? .f32 : type == .q8_0 && shape.last! % 32 != 0 ? .f16 : type.dtype
            return tensor(name, ours, type: t, transform)
        }
        var out = [weight("token_embd.weight", "embed.weight")]
        for l in 0..<c.nLayers {
            let s = "blk.\(l).", d = "blk.\(l)."
            out.append(weight(s + "attn_norm.weight", d + "norm1.weight"))
            let projections: [(String, String, (([Float]) -> [Float])?)] =
                [("attn_q", "q", qk(c.nHeads)), ("attn_k", "k", qk(c.nKVHeads)), ("attn_v", "v", nil), ("attn_output", "o", nil)]
            for (g, ours, transform) in projections {
                out.append(weight(s + "\(g).weight", d + "\(ours).weight", transform))
                if ours == "o" ? c.outputBias : c.attentionBias { out.append(weight(s + "\(g).bias", d + "\(ours).bias", transform)) }
            }
            out.append(weight(s + "ffn_norm.weight", d + "norm2.weight"))
            for (g, ours) in [("ffn_gate", "gate"), ("ffn_up", "up"), ("ffn_down", "down")] {
                out.append(weight(s + "\(g).weight", d + "\(ours).weight"))
            }
        }
        out.append(weight("output_norm.weight", "final_norm.weight"))
        if !c.tiedEmbeddings { out.append(weight("output.weight", "head.weight")) }
        return out
    }
}

/// Moves the rows of a Q or K projection ([heads * HD, cols], or a bias) between RoPE layouts. Within a head,
/// Hugging Face rotates pairs (i, i + HD/2) and GGUF pairs (2i, 2i + 1): halves row s * HD/2 + i is interleaved
/// row 2i + s (llama.cpp's permute: reshape(heads, 2, HD/2, cols).swapaxes(1, 2)).
func ropeRows(_ w: [Float], heads: Int, headDim HD: Int, toInterleaved: Bool) -> [Float] {
    precondition(HD % 2 == 0 && w.count % (heads * HD) == 0)
    let cols = w.count / (heads * HD), half = HD / 2
    var out = [Float](repeating: 0, count: w.count)
    w.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for h in 0..<heads {
                for s in 0..<2 {
                    for i in 0..<half {
                        let halves = h * HD + s * half + i, interleaved = h * HD + 2 * i + s
                        let (from, to) = toInterleaved ? (halves, interleaved) : (interleaved, halves)
                        for j in 0..<cols { dst[to * cols + j] = src[from * cols + j] }
                    }
                }
            }
        }
    }
    return out
}

/// [rows, cols] -> [cols, rows].
func transpose(_ w: [Float], rows: Int, cols: Int) -> [Float] {
    precondition(w.count == rows * cols)
    var out = [Float](repeating: 0, count: w.count)
    for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = w[r * cols + c] } }
    return out
}

// MARK: - Metadata

extension LanguageModel {
    /// config.json with the keys transformers (4.x and 5.x spellings of the RoPE fields) and
    /// ModelConfig.fromHuggingFace read.
    func huggingFaceConfig() throws -> [String: Any] {
        let c = config, t = tokenizer
        /// The shortest decimal that reads back as the same Float (1e-05, not 9.999999747378752e-06).
        func decimal(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }
        var j: [String: Any] = ["vocab_size": c.vocabSize, "initializer_range": 0.02, "use_cache": true,
                                "torch_dtype": "float32", "dtype": "float32"]
        if let b = t.bosId { j["bos_token_id"] = b }
        if let e = t.eosId { j["eos_token_id"] = e }
        if let p = t.padId { j["pad_token_id"] = p }
        switch c.architecture {
        case .llama:
            j.merge(["architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": c.dModel,
                     "intermediate_size": c.ffnDim, "num_hidden_layers": c.nLayers, "num_attention_heads": c.nHeads,
                     "num_key_value_heads": c.nKVHeads, "head_dim": c.headDim, "hidden_act": "silu",
                     "max_position_embeddings": c.maxPositions, "rms_norm_eps": decimal(c.normEps),
                     "rope_theta": c.ropeTheta, "rope_parameters": ["rope_theta": c.ropeTheta, "rope_type": "default"],
                     "tie_word_embeddings": c.tiedEmbeddings, "attention_bias": c.attentionBias, "attention_dropout": 0.0,
                     "mlp_bias": false, "pretraining_tp": 1]) { $1 }
        case .gpt2:
            j.merge(["architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": c.dModel, "n_layer": c.nLayers,
                     "n_head": c.nHeads, "n_inner": c.ffnDim, "n_positions": c.maxPositions, "n_ctx": c.maxPositions,
                     "activation_function": c.mlp == .geluErf ? "gelu" : "gelu_new",
                     "layer_norm_epsilon": decimal(c.normEps), "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
                     "scale_attn_weights": true, "tie_word_embeddings": true]) { $1 }
        case .gptNeoX:
            let pct = Double(c.rotaryDims) / Double(c.headDim)
            guard Int(Double(c.headDim) * pct) & ~1 == c.rotaryDims else {
                throw ModelError(file: path, "rotary dimensions \(c.rotaryDims) of \(c.headDim) cannot be written as a rotary_pct")
            }
            j.merge(["architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": c.dModel,
                     "intermediate_size": c.ffnDim, "num_hidden_layers": c.nLayers, "num_attention_heads": c.nHeads,
                     "max_position_embeddings": c.maxPositions, "layer_norm_eps": decimal(c.normEps),
                     "hidden_act": c.mlp == .geluErf ? "gelu" : "gelu_new", "rotary_pct": pct, "rotary_emb_base": c.ropeTheta,
                     "rope_theta": c.ropeTheta,
                     "rope_parameters": ["rope_theta": c.ropeTheta, "rope_type": "default", "partial_rotary_factor": pct],
                     "use_parallel_residual": c.parallelResidual, "tie_word_embeddings": c.tiedEmbeddings,
                     "attention_bias": c.attentionBias, "hidden_dropout": 0.0, "attention_dropout": 0.0]) { $1 }
        }
        return j
    }

    /// llama.cpp's keys: general.*, llama.* (hyper-parameters), tokenizer.ggml.* (byte-level BPE, "gpt2").
    func ggufMetadata(type: GGUFOutputType) throws -> [(key: String, value: GGUFValue)] {
        let c = config, t = tokenizer
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        var m: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("general.name", .string(name)),
            ("general.file_type", .u32(type.fileType)),
            ("general.quantization_version", .u32(2)),
            ("llama.context_length", .u32(UInt32(c.maxPositions))),
            ("llama.embedding_length", .u32(UInt32(c.dModel))),
            ("llama.block_count", .u32(UInt32(c.nLayers))),
            ("llama.feed_forward_length", .u32(UInt32(c.ffnDim))),
            ("llama.attention.head_count", .u32(UInt32(c.nHeads))),
            ("llama.attention.head_count_kv", .u32(UInt32(c.nKVHeads))),
            ("llama.rope.freq_base", .f32(Float(c.ropeTheta))),
            ("llama.attention.layer_norm_rms_epsilon", .f32(c.normEps)),
            ("llama.rope.dimension_count", .u32(UInt32(c.rotaryDims))),
            ("llama.vocab_size", .u32(UInt32(c.vocabSize))),
        ]
        if c.headDim != c.dModel / c.nHeads {
            m.append(("llama.attention.key_length", .u32(UInt32(c.headDim))))
            m.append(("llama.attention.value_length", .u32(UInt32(c.headDim))))
        }
        let v = t.ggufVocabulary(count: c.vocabSize)
        m += [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(t.ggufPreTokenizerName)),
            ("tokenizer.ggml.tokens", .array(v.tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(v.types.map { .i32(Int32($0)) })),
            ("tokenizer.ggml.merges", .array(v.merges.map { .string($0) })),
        ]
        if let b = t.bosId { m.append(("tokenizer.ggml.bos_token_id", .u32(UInt32(b)))) }
        if let e = t.eosId { m.append(("tokenizer.ggml.eos_token_id", .u32(UInt32(e)))) }
        if let p = t.padId { m.append(("tokenizer.ggml.padding_token_id", .u32(UInt32(p)))) }
        m.append(("tokenizer.ggml.add_bos_token", .bool(t.addBos)))
        m.append(("tokenizer.ggml.add_eos_token", .bool(false)))
        return m
    }
}

// The Llama family (SmolLM2, Llama 2/3, Mistral): tensor names of Hugging Face and GGUF checkpoints.
import Checkpoint
import Tensor

enum LlamaLoader {
    /// Hugging Face layout: model.layers.N.self_attn.q_proj.weight, ... RoPE pairs are (i, i + HD/2).
    static func loadHF(_ t: TensorLoader, _ c: ModelConfig, _ p: Parameters) throws {
        try t.load("model.embed_tokens.weight", into: p, "embed.weight")
        for l in 0..<c.nLayers {
            let s = "model.layers.\(l).", d = "blk.\(l)."
            try t.load(s + "input_layernorm.weight", into: p, d + "norm1.weight")
            for (hf, ours) in [("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v"), ("o_proj", "o")] {
                try t.load(s + "self_attn.\(hf).weight", into: p, d + "\(ours).weight")
            }
            if c.attentionBias {
                for (hf, ours) in [("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v"), ("o_proj", "o")] {
                    try t.load(s + "self_attn.\(hf).bias", into: p, d + "\(ours).bias")
                }
            }
            try t.load(s + "post_attention_layernorm.weight", into: p, d + "norm2.weight")
            for (hf, ours) in [("gate_proj", "gate"), ("up_proj", "up"), ("down_proj", "down")] {
                try t.load(s + "mlp.\(hf).weight", into: p, d + "\(ours).weight")
                if c.mlpBias && ours != "gate" { try t.load(s + "mlp.\(hf).bias", into: p, d + "\(ours).bias") }
            }
        }
        try t.load("model.norm.weight", into: p, "final_norm.weight")
        if !c.tiedEmbeddings { try t.load("lm_head.weight", into: p, "head.weight") }
        try t.finish { $0.hasSuffix("rotary_emb.inv_freq") }
    }

    /// GGUF layout (llama.cpp names). Its converter permuted the rows of Q and K so that RoPE pairs are
    /// adjacent, (2i, 2i + 1); the config's ropeStyle is .interleaved for these files.
    static func loadGGUF(_ t: TensorLoader, _ c: ModelConfig, _ p: Parameters) throws {
        try t.load("token_embd.weight", into: p, "embed.weight")
        for l in 0..<c.nLayers {
            let s = "blk.\(l).", d = "blk.\(l)."
            try t.load(s + "attn_norm.weight", into: p, d + "norm1.weight")
            for (g, ours) in [("attn_q", "q"), ("attn_k", "k"), ("attn_v", "v"), ("attn_output", "o")] {
                try t.load(s + "\(g).weight", into: p, d + "\(ours).weight")
                if c.attentionBias { try t.load(s + "\(g).bias", into: p, d + "\(ours).bias") }
            }
            try t.load(s + "ffn_norm.weight", into: p, d + "norm2.weight")
            for (g, ours) in [("ffn_gate", "gate"), ("ffn_up", "up"), ("ffn_down", "down")] {
                try t.load(s + "\(g).weight", into: p, d + "\(ours).weight")
            }
        }
        try t.load("output_norm.weight", into: p, "final_norm.weight")
        if !c.tiedEmbeddings { try t.load("output.weight", into: p, "head.weight") }
        try t.finish { $0 == "rope_freqs.weight" }
    }
}

extension ModelConfig {
    /// Reads llama.* metadata of a GGUF file (REFERENCES.md §1).
    static func fromGGUF(_ g: GGUFFile) throws -> ModelConfig {
        let file = g.path
        guard let arch = g.string("general.architecture") else {
            throw ModelError(file: file, "missing metadata key 'general.architecture'")
        }
        guard arch == "llama" else {
            throw ModelError(file: file, "GGUF architecture '\(arch)' is not supported (supported: llama)")
        }
        func int(_ k: String) throws -> Int {
            guard let v = g.int("llama." + k) else { throw ModelError(file: file, "missing metadata key 'llama.\(k)'") }
            return v
        }
        let C = try int("embedding_length"), NH = try int("attention.head_count")
        let HD = g.int("llama.attention.key_length") ?? (C / max(NH, 1))
        guard let emb = g.entry("token_embd.weight"), emb.shape.count == 2 else {
            throw ModelError(file: file, "missing tensor 'token_embd.weight'")
        }
        let V = g.int("llama.vocab_size") ?? emb.shape[0]
        let hasBias = g.entry("blk.0.attn_q.bias") != nil
        var c = ModelConfig(architecture: .llama, vocabSize: V, dModel: C, nLayers: try int("block_count"), nHeads: NH,
                            nKVHeads: g.int("llama.attention.head_count_kv") ?? NH, headDim: HD,
                            ffnDim: try int("feed_forward_length"), maxPositions: g.int("llama.context_length") ?? 2048,
                            norm: .rms, normEps: Float(g.double("llama.attention.layer_norm_rms_epsilon") ?? 1e-5),
                            mlp: .swiglu, ropeTheta: g.double("llama.rope.freq_base") ?? 10000,
                            rotaryDims: g.int("llama.rope.dimension_count") ?? HD, ropeStyle: .interleaved,
                            parallelResidual: false, tiedEmbeddings: g.entry("output.weight") == nil,
                            attentionBias: hasBias, outputBias: g.entry("blk.0.attn_output.bias") != nil, mlpBias: false)
        if c.rotaryDims != HD { c.rotaryDims = HD }
        try c.validate(file: file)
        return c
    }
}

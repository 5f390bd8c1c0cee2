// GPT-NeoX / Pythia: parallel residual, partial rotary, fused QKV laid out per head as [NH, 3, HD] rows.
import Checkpoint

enum GPTNeoXLoader {
    static func load(_ t: TensorLoader, _ c: ModelConfig, _ p: Parameters) throws {
        let C = c.dModel, NH = c.nHeads, HD = c.headDim
        try t.load("gpt_neox.embed_in.weight", into: p, "embed.weight")
        for l in 0..<c.nLayers {
            let s = "gpt_neox.layers.\(l).", d = "blk.\(l)."
            try t.load(s + "input_layernorm.weight", into: p, d + "norm1.weight")
            try t.load(s + "input_layernorm.bias", into: p, d + "norm1.bias")
            let w = try t.take(s + "attention.query_key_value.weight", [3 * C, C])
            let b = c.attentionBias ? try t.take(s + "attention.query_key_value.bias", [3 * C]) : []
            for (j, name) in ["q", "k", "v"].enumerated() {
                let dst = p.ptr(d + "\(name).weight"), db = p.optionalPtr(d + "\(name).bias")
                for h in 0..<NH {
                    for e in 0..<HD {
                        let src = (h * 3 + j) * HD + e, row = h * HD + e
                        for i in 0..<C { dst[row * C + i] = w[src * C + i] }
                        db?[row] = b[src]
                    }
                }
            }
            try t.load(s + "attention.dense.weight", into: p, d + "o.weight")
            if c.outputBias { try t.load(s + "attention.dense.bias", into: p, d + "o.bias") }
            try t.load(s + "post_attention_layernorm.weight", into: p, d + "norm2.weight")
            try t.load(s + "post_attention_layernorm.bias", into: p, d + "norm2.bias")
            try t.load(s + "mlp.dense_h_to_4h.weight", into: p, d + "up.weight")
            try t.load(s + "mlp.dense_h_to_4h.bias", into: p, d + "up.bias")
            try t.load(s + "mlp.dense_4h_to_h.weight", into: p, d + "down.weight")
            try t.load(s + "mlp.dense_4h_to_h.bias", into: p, d + "down.bias")
        }
        try t.load("gpt_neox.final_layer_norm.weight", into: p, "final_norm.weight")
        try t.load("gpt_neox.final_layer_norm.bias", into: p, "final_norm.bias")
        if !c.tiedEmbeddings { try t.load("embed_out.weight", into: p, "head.weight") }
        try t.finish { $0.hasSuffix(".attention.bias") || $0.hasSuffix(".attention.masked_bias") || $0.hasSuffix("rotary_emb.inv_freq") }
    }
}

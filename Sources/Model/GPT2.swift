// GPT-2: learned positions, LayerNorm, tanh-GELU, fused QKV in Conv1D layout ([in, out], hence the transposes).
import Checkpoint

enum GPT2Loader {
    static func load(_ t: TensorLoader, _ c: ModelConfig, _ p: Parameters) throws {
        // Checkpoints saved from GPT2LMHeadModel prefix "transformer."; the original OpenAI conversion does not.
        let pre = t.has("transformer.wte.weight") ? "transformer." : ""
        let C = c.dModel
        try t.load(pre + "wte.weight", into: p, "embed.weight")
        try t.load(pre + "wpe.weight", into: p, "pos.weight")
        for l in 0..<c.nLayers {
            let s = pre + "h.\(l).", d = "blk.\(l)."
            try t.load(s + "ln_1.weight", into: p, d + "norm1.weight"); try t.load(s + "ln_1.bias", into: p, d + "norm1.bias")
            // c_attn.weight is [C, 3C] (in, out): columns 0..<C are q, then k, then v.
            let w = try t.take(s + "attn.c_attn.weight", [C, 3 * C])
            let b = try t.take(s + "attn.c_attn.bias", [3 * C])
            for (j, name) in ["q", "k", "v"].enumerated() {
                let dst = p.ptr(d + "\(name).weight"), db = p.ptr(d + "\(name).bias")
                for o in 0..<C {
                    for i in 0..<C { dst[o * C + i] = w[i * 3 * C + j * C + o] }
                    db[o] = b[j * C + o]
                }
            }
            try t.load(s + "attn.c_proj.weight", into: p, d + "o.weight", transpose: true)
            try t.load(s + "attn.c_proj.bias", into: p, d + "o.bias")
            try t.load(s + "ln_2.weight", into: p, d + "norm2.weight"); try t.load(s + "ln_2.bias", into: p, d + "norm2.bias")
            try t.load(s + "mlp.c_fc.weight", into: p, d + "up.weight", transpose: true)
            try t.load(s + "mlp.c_fc.bias", into: p, d + "up.bias")
            try t.load(s + "mlp.c_proj.weight", into: p, d + "down.weight", transpose: true)
            try t.load(s + "mlp.c_proj.bias", into: p, d + "down.bias")
        }
        try t.load(pre + "ln_f.weight", into: p, "final_norm.weight"); try t.load(pre + "ln_f.bias", into: p, "final_norm.bias")
        // A saved lm_head is the tied embedding; older files carry the causal-mask buffers.
        try t.finish { $0 == "lm_head.weight" || $0.hasSuffix(".attn.bias") || $0.hasSuffix(".attn.masked_bias") }
    }
}

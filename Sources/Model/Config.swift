// Model hyper-parameters, read from a Hugging Face config.json or from GGUF llama.* metadata (REFERENCES.md §1).
import Foundation
import Checkpoint
import Tensor

/// Bad input in a model description: names the file and the problem.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
}

public enum Architecture: String, Sendable {
    case llama, gpt2, gptNeoX = "gpt_neox"
}

public enum NormKind: String, Sendable { case rms, layer }
public enum MLPKind: String, Sendable { case swiglu, geluTanh = "gelu_tanh", geluErf = "gelu" }

/// Everything the forward pass needs to know about the shapes and the variant of the architecture.
public struct ModelConfig: Sendable, Equatable {
    public var architecture: Architecture
    public var vocabSize: Int          // V
    public var dModel: Int             // C
    public var nLayers: Int            // L
    public var nHeads: Int             // NH
    public var nKVHeads: Int           // NKV (grouped-query attention when < NH)
    public var headDim: Int            // HD
    public var ffnDim: Int             // F
    public var maxPositions: Int
    public var norm: NormKind
    public var normEps: Float
    public var mlp: MLPKind
    public var ropeTheta: Double
    public var rotaryDims: Int         // 0: learned absolute positions (GPT-2)
    public var ropeStyle: RoPEStyle
    public var parallelResidual: Bool  // GPT-NeoX: x + attn(ln1 x) + mlp(ln2 x)
    public var tiedEmbeddings: Bool
    public var attentionBias: Bool     // biases on q, k, v
    public var outputBias: Bool        // bias on the attention output projection
    public var mlpBias: Bool

    public var qDim: Int { nHeads * headDim }
    public var kvDim: Int { nKVHeads * headDim }

    /// Number of multiply-adds per token in the linear layers and the head (what the benchmark counts).
    public var linearMACsPerToken: Int {
        let attn = dModel * qDim * 2 + dModel * kvDim * 2
        let mlpMACs = (mlp == .swiglu ? 3 : 2) * dModel * ffnDim
        return nLayers * (attn + mlpMACs) + dModel * vocabSize
    }

    func validate(file: String) throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ModelError(file: file, msg) } }
        try need(vocabSize > 0, "vocab size must be positive")
        try need(dModel > 0 && nLayers > 0 && nHeads > 0 && ffnDim > 0, "hidden size, layers, heads and FFN size must be positive")
        try need(nKVHeads > 0 && nHeads % nKVHeads == 0, "\(nHeads) attention heads are not a multiple of \(nKVHeads) key/value heads")
        try need(headDim > 0 && headDim % 2 == 0, "head dimension \(headDim) must be positive and even")
        try need(rotaryDims % 2 == 0 && rotaryDims <= headDim, "rotary dimensions \(rotaryDims) must be even and at most the head dimension \(headDim)")
        try need(maxPositions > 0, "maximum positions must be positive")
        try need(normEps > 0 && normEps < 1, "norm epsilon \(normEps) out of range")
    }
}

// MARK: - config.json

extension ModelConfig {
    /// Reads a Hugging Face config.json (llama/mistral, gpt2, gpt_neox).
    public static func fromHuggingFace(path: String) throws -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(file: path, "cannot read config.json")
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data), let j = obj as? [String: Any] else {
            throw ModelError(file: path, "config.json is not a JSON object")
        }
        if let d = JSONDuplicateKeys.first(in: data) { throw ModelError(file: path, d.description) }
        return try fromHuggingFace(j, file: path)
    }

    /// JSON true/false (JSONSerialization gives NSNumber for both numbers and booleans; `is Bool` can't tell).
    static func isJSONBool(_ v: Any) -> Bool {
        if let n = v as? NSNumber { return String(cString: n.objCType) == "c" }
        return v is Bool
    }

    static func fromHuggingFace(_ j: [String: Any], file: String) throws -> ModelConfig {
        func int(_ k: String) throws -> Int {
            guard let v = j[k] else { throw ModelError(file: file, "missing field '\(k)'") }
            guard let n = v as? NSNumber, !isJSONBool(v), n.doubleValue == n.doubleValue.rounded() else {
                throw ModelError(file: file, "field '\(k)' must be an integer, found \(v)")
            }
            return n.intValue
        }
        func optInt(_ k: String) throws -> Int? { (j[k] == nil || j[k] is NSNull) ? nil : try int(k) }
        func num(_ k: String) throws -> Double? {
            guard let v = j[k], !(v is NSNull) else { return nil }
            guard let n = v as? NSNumber, !isJSONBool(v) else { throw ModelError(file: file, "field '\(k)' must be a number, found \(v)") }
            return n.doubleValue
        }
        func bool(_ k: String, _ def: Bool) throws -> Bool {
            guard let v = j[k], !(v is NSNull) else { return def }
            guard isJSONBool(v), let b = v as? Bool else { throw ModelError(file: file, "field '\(k)' must be true or false, found \(v)") }
            return b
        }
        guard let type = j["model_type"] as? String else { throw ModelError(file: file, "missing field 'model_type'") }
        // RoPE base: top level (transformers 4.x) or inside rope_parameters (transformers 5.x).
        func ropeTheta(_ def: Double, key: String = "rope_theta") throws -> Double {
            // Scaling is refused wherever it is written, before rope_parameters can supply a theta.
            if let s = j["rope_scaling"] as? [String: Any] {
                let t = (s["rope_type"] ?? s["type"]) as? String ?? "?"
                if t != "default" { throw ModelError(file: file, "rope scaling '\(t)' is not supported") }
            }
            if let p = j["rope_parameters"] as? [String: Any] {
                if let t = p["rope_type"] as? String, t != "default" {
                    throw ModelError(file: file, "rope type '\(t)' is not supported (only 'default')")
                }
                if let n = p["rope_theta"] as? NSNumber { return n.doubleValue }
            }
            return try num(key) ?? def
        }
        var c: ModelConfig
        switch type {
        case "llama", "mistral":
            let C = try int("hidden_size"), NH = try int("num_attention_heads")
            let HD = try optInt("head_dim") ?? (C / max(NH, 1))
            let act = j["hidden_act"] as? String ?? "silu"
            guard act == "silu" else { throw ModelError(file: file, "hidden_act '\(act)' is not supported for \(type) (only silu)") }
            let bias = try bool("attention_bias", false)
            c = ModelConfig(architecture: .llama, vocabSize: try int("vocab_size"), dModel: C,
                            nLayers: try int("num_hidden_layers"), nHeads: NH,
                            nKVHeads: try optInt("num_key_value_heads") ?? NH, headDim: HD,
                            ffnDim: try int("intermediate_size"), maxPositions: try optInt("max_position_embeddings") ?? 2048,
                            norm: .rms, normEps: Float(try num("rms_norm_eps") ?? 1e-6), mlp: .swiglu,
                            ropeTheta: try ropeTheta(10000), rotaryDims: HD, ropeStyle: .halves, parallelResidual: false,
                            tiedEmbeddings: try bool("tie_word_embeddings", false), attentionBias: bias, outputBias: bias,
                            mlpBias: try bool("mlp_bias", false))
        case "gpt2":
            let C = try int("n_embd")
            let act = j["activation_function"] as? String ?? "gelu_new"
            guard ["gelu_new", "gelu_pytorch_tanh", "gelu"].contains(act) else {
                throw ModelError(file: file, "activation_function '\(act)' is not supported for gpt2")
            }
            c = ModelConfig(architecture: .gpt2, vocabSize: try int("vocab_size"), dModel: C, nLayers: try int("n_layer"),
                            nHeads: try int("n_head"), nKVHeads: try int("n_head"), headDim: C / max(try int("n_head"), 1),
                            ffnDim: try optInt("n_inner") ?? 4 * C, maxPositions: try int("n_positions"),
                            norm: .layer, normEps: Float(try num("layer_norm_epsilon") ?? 1e-5),
                            mlp: act == "gelu" ? .geluErf : .geluTanh, ropeTheta: 0, rotaryDims: 0, ropeStyle: .halves,
                            parallelResidual: false, tiedEmbeddings: true, attentionBias: true, outputBias: true, mlpBias: true)
        case "gpt_neox":
            let C = try int("hidden_size"), NH = try int("num_attention_heads")
            let HD = C / max(NH, 1)
            var pct = try num("rotary_pct") ?? 0.25
            if let p = j["rope_parameters"] as? [String: Any], let f = p["partial_rotary_factor"] as? NSNumber { pct = f.doubleValue }
            if let f = try num("partial_rotary_factor") { pct = f }
            let act = j["hidden_act"] as? String ?? "gelu"
            let mlp: MLPKind
            switch act {
            case "gelu": mlp = .geluErf
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": mlp = .geluTanh
            default: throw ModelError(file: file, "hidden_act '\(act)' is not supported for gpt_neox")
            }
            let bias = try bool("attention_bias", true)
            c = ModelConfig(architecture: .gptNeoX, vocabSize: try int("vocab_size"), dModel: C,
                            nLayers: try int("num_hidden_layers"), nHeads: NH, nKVHeads: NH, headDim: HD,
                            ffnDim: try int("intermediate_size"), maxPositions: try optInt("max_position_embeddings") ?? 2048,
                            norm: .layer, normEps: Float(try num("layer_norm_eps") ?? 1e-5), mlp: mlp,
                            ropeTheta: try ropeTheta(10000, key: j["rotary_emb_base"] != nil ? "rotary_emb_base" : "rope_theta"),
                            rotaryDims: Int(Double(HD) * pct) & ~1, ropeStyle: .halves,
                            parallelResidual: try bool("use_parallel_residual", true),
                            tiedEmbeddings: try bool("tie_word_embeddings", false), attentionBias: bias, outputBias: bias,
                            mlpBias: true)
        default:
            throw ModelError(file: file, "model_type '\(type)' is not supported (supported: llama, mistral, gpt2, gpt_neox)")
        }
        try c.validate(file: file)
        return c
    }
}

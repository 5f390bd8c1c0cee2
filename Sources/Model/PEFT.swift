// LoRA adapters in PEFT's format (shared/REFERENCES.md section 1): adapter_config.json + adapter_model.safetensors
// with PEFT's tensor names, so that a PEFT user loads ours and we load theirs. Llama-family models only.
import Checkpoint
import Foundation

extension LoRA {
    /// PEFT's module path of a slot in block l of a Llama model.
    static func peftModule(_ l: Int, _ s: LinearSlot) -> String {
        let sub = [.q, .k, .v, .o].contains(s) ? "self_attn" : "mlp"
        return "base_model.model.model.layers.\(l).\(sub).\(s.rawValue)_proj"
    }

    /// Rows of a q or k output in the Hugging Face order for a GGUF-loaded model, whose converter interleaved each
    /// head's rotary halves: HF row h*HD + j*HD/2 + i is GGUF row h*HD + 2i + j (identity for other layouts).
    static func hfRow(_ row: Int, _ s: LinearSlot, _ c: ModelConfig) -> Int {
        guard c.ropeStyle == .interleaved, s == .q || s == .k else { return row }
        let HD = c.headDim, h = row / HD, r = row % HD, i = r / 2, j = r % 2
        return h * HD + j * (HD / 2) + i
    }

    /// Writes `dir`/adapter_config.json and adapter_model.safetensors (F32), into a temporary folder renamed at the end.
    public func writePEFT(to dir: String, baseModel: String) throws {
        guard modelConfig.architecture == .llama else {
            throw ModelError(file: dir, "PEFT adapters are written for Llama-family models only (this is \(modelConfig.architecture.rawValue))")
        }
        var tensors: [(name: String, shape: [Int], data: [Float])] = []
        for l in 0..<modelConfig.nLayers {
            for s in config.targets {
                let m = LoRA.peftModule(l, s), (inp, out) = s.shape(modelConfig)!, r = config.rank
                tensors.append((m + ".lora_A.weight", [r, inp], params.values("blk.\(l).\(s.rawValue).lora_A")))
                let b = params.values("blk.\(l).\(s.rawValue).lora_B")
                var hf = [Float](repeating: 0, count: b.count)
                for row in 0..<out { for k in 0..<r { hf[LoRA.hfRow(row, s, modelConfig) * r + k] = b[row * r + k] } }
                tensors.append((m + ".lora_B.weight", [out, r], hf))
            }
        }
        let cfg: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": config.rank, "lora_alpha": config.alpha,
            "lora_dropout": config.dropout, "use_rslora": config.rsLoRA, "bias": "none", "fan_in_fan_out": false,
            "target_modules": config.targets.map { "\($0.rawValue)_proj" }, "base_model_name_or_path": baseModel,
            "inference_mode": true, "modules_to_save": NSNull(),
        ]
        let fm = FileManager.default
        let tmp = (dir as NSString).deletingLastPathComponent.appending("/.\((dir as NSString).lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(atPath: tmp)
        do {
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            let json = try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try json.write(to: URL(fileURLWithPath: tmp + "/adapter_config.json"))
            try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: tmp + "/adapter_model.safetensors")
            if fm.fileExists(atPath: dir) { try fm.removeItem(atPath: dir) }
            try fm.moveItem(atPath: tmp, toPath: dir)
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw ModelError(file: dir, "cannot write the adapter: \(error.localizedDescription)")
        }
    }

    /// Reads a PEFT LoRA adapter for a model with `modelConfig`; every shape and target is checked against the model.
    public static func readPEFT(_ dir: String, modelConfig c: ModelConfig) throws -> LoRA {
        let cfgPath = (dir as NSString).appendingPathComponent("adapter_config.json")
        try LanguageModel.requireRegularFile(cfgPath)
        guard let data = FileManager.default.contents(atPath: cfgPath),
              let j = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError(file: cfgPath, "missing or not a JSON object (expected PEFT's adapter_config.json)")
        }
        if let d = JSONDuplicateKeys.first(in: data) { throw ModelError(file: cfgPath, d.description) }
        guard (j["peft_type"] as? String) == "LORA" else { throw ModelError(file: cfgPath, "peft_type is not LORA") }
        guard c.architecture == .llama else {
            throw ModelError(file: cfgPath, "PEFT adapters are read for Llama-family models only (this is \(c.architecture.rawValue))")
        }
        guard let r = j["r"] as? Int, r >= 1 else { throw ModelError(file: cfgPath, "missing or invalid 'r'") }
        let alpha = (j["lora_alpha"] as? NSNumber)?.doubleValue ?? Double(r)
        let names: [String]
        switch j["target_modules"] {
        case let list as [String]: names = list
        case let s as String where s == "all-linear": names = ["all-linear"]
        default: throw ModelError(file: cfgPath, "target_modules must be a list of module names or \"all-linear\"")
        }
        if (j["bias"] as? String ?? "none") != "none" { throw ModelError(file: cfgPath, "bias '\(j["bias"]!)' is not supported (only \"none\")") }
        if j["fan_in_fan_out"] as? Bool == true { throw ModelError(file: cfgPath, "fan_in_fan_out adapters are not supported") }
        let targets: [LinearSlot]
        do { targets = try LoRAConfig.targets(names, config: c) } catch let e as ModelError { throw ModelError(file: cfgPath, e.message) }
        let config = LoRAConfig(rank: r, alpha: alpha, dropout: (j["lora_dropout"] as? NSNumber)?.doubleValue ?? 0,
                                rsLoRA: j["use_rslora"] as? Bool ?? false, targets: targets)
        let lora = LoRA(modelConfig: c, config: config, seed: 0)
        let file = (dir as NSString).appendingPathComponent("adapter_model.safetensors")
        let st = try SafetensorsFile(path: file)
        var used = Set<String>()
        for l in 0..<c.nLayers {
            for s in targets {
                let m = peftModule(l, s), (inp, out) = s.shape(c)!
                for (suffix, shape) in [("lora_A", [r, inp]), ("lora_B", [out, r])] {
                    let name = "\(m).\(suffix).weight"
                    guard let e = st.entry(name) else { throw ModelError(file: file, "missing tensor '\(name)'") }
                    guard e.shape == shape else {
                        throw ModelError(file: file, "tensor '\(name)' has shape \(e.shape), the model needs \(shape)")
                    }
                    let values = try st.floats(name)
                    let dst = lora.params.ptr("blk.\(l).\(s.rawValue).\(suffix)")
                    if suffix == "lora_A" {
                        for i in 0..<values.count { dst[i] = values[i] }
                    } else {
                        for row in 0..<out { for k in 0..<r { dst[row * r + k] = values[hfRow(row, s, c) * r + k] } }
                    }
                    used.insert(name)
                }
            }
        }
        if let extra = st.tensorNames.first(where: { !used.contains($0) }) {
            throw ModelError(file: file, "tensor '\(extra)' does not belong to any target module of this model")
        }
        return lora
    }
}

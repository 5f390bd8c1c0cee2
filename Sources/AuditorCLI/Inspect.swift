// `auditor inspect`: what a checkpoint is (architecture, sizes, dtypes, tokenizer) and the SHA-256 of its files.
import Audit
import ArgumentParser
import Foundation
import Model

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: architecture, sizes, stored dtypes, tokenizer and file hashes.",
        discussion: "Loads the whole checkpoint, so every tensor is checked for presence, shape and readability.")

    @OptionGroup var model: ModelOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() throws {
        try reportingErrors {
            let lm = try model.load()
            let c = lm.config, t = lm.tokenizer
            var hashes: [[String: Any]] = []
            for f in lm.files {
                let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
                hashes.append(["path": f, "bytes": size, "sha256": try sha256(file: f)])
            }
            let info: [String: Any] = [
                "path": lm.path, "format": lm.format.rawValue, "architecture": c.architecture.rawValue,
                "parameters": lm.model.params.count, "tensors": lm.tensorCount, "dtypes": lm.dtypeCounts,
                "vocab_size": c.vocabSize, "d_model": c.dModel, "layers": c.nLayers, "heads": c.nHeads,
                "kv_heads": c.nKVHeads, "head_dim": c.headDim, "ffn_dim": c.ffnDim, "context": c.maxPositions,
                "norm": c.norm.rawValue, "norm_eps": Double(c.normEps), "mlp": c.mlp.rawValue,
                "rope_theta": c.ropeTheta, "rotary_dims": c.rotaryDims, "rope_style": c.ropeStyle.rawValue,
                "tied_embeddings": c.tiedEmbeddings, "parallel_residual": c.parallelResidual,
                "tokenizer": ["pre_tokenizer": t.preTokenizer.rawValue, "vocab_size": t.vocabSize,
                              "bos_id": t.bosId as Any, "eos_id": t.eosId as Any, "pad_id": t.padId as Any,
                              "add_bos": t.addBos, "special_tokens": t.specialTokens.count],
                "files": hashes,
            ]
            if json { print(jsonLine(info)); return }
            print("checkpoint   \(lm.path) (\(lm.format.rawValue))")
            print("architecture \(c.architecture.rawValue): \(c.nLayers) layers, d_model \(c.dModel), \(c.nHeads) heads (\(c.nKVHeads) key/value), head dim \(c.headDim), FFN \(c.ffnDim) (\(c.mlp.rawValue))")
            print("             \(c.norm.rawValue) norm eps \(c.normEps), " + (c.rotaryDims > 0
                ? "RoPE base \(c.ropeTheta) on \(c.rotaryDims) dims (\(c.ropeStyle.rawValue))" : "learned positions")
                + ", context \(c.maxPositions)" + (c.tiedEmbeddings ? ", tied embeddings" : "")
                + (c.parallelResidual ? ", parallel residual" : ""))
            print("parameters   \(lm.model.params.count) in \(lm.tensorCount) tensors; stored as " +
                  lm.dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
            print("tokenizer    byte-level BPE, \(t.vocabSize) tokens, pre-tokenizer \(t.preTokenizer.rawValue), " +
                  "BOS \(t.bosId.map(String.init) ?? "-") (added: \(t.addBos ? "yes" : "no")), EOS \(t.eosId.map(String.init) ?? "-"), \(t.specialTokens.count) special tokens")
            for h in hashes { print("sha256       \(h["sha256"]!)  \(h["path"]!) (\(h["bytes"]!) bytes)") }
        }
    }
}

// LoRA adapters (Hu et al. 2021; PEFT's conventions, shared/REFERENCES.md section 1): y = W x + b + s · B (A x), with
// s = alpha / r (alpha / sqrt(r) with rsLoRA), A [r, in] ~ U(-1/sqrt(in), 1/sqrt(in)), B [out, r] = 0 at the start.
import Foundation
import Stats
import Tensor

/// The linear layers of a block, by the names users and PEFT configs use.
public enum LinearSlot: String, Sendable, CaseIterable {
    case q, k, v, o, gate, up, down

    /// The input and output widths of this slot's weight in `config` (nil: the architecture has no such layer).
    func shape(_ c: ModelConfig) -> (inp: Int, out: Int)? {
        switch self {
        case .q: return (c.dModel, c.qDim)
        case .k, .v: return (c.dModel, c.kvDim)
        case .o: return (c.qDim, c.dModel)
        case .gate: return c.mlp == .swiglu ? (c.dModel, c.ffnDim) : nil
        case .up: return (c.dModel, c.ffnDim)
        case .down: return (c.ffnDim, c.dModel)
        }
    }
}

public struct LoRAConfig: Sendable, Equatable {
    public var rank: Int
    public var alpha: Double
    public var dropout: Double
    public var rsLoRA: Bool
    public var targets: [LinearSlot]
    public init(rank: Int = 8, alpha: Double = 8, dropout: Double = 0, rsLoRA: Bool = false, targets: [LinearSlot] = [.q, .v]) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.rsLoRA = rsLoRA; self.targets = targets
    }
    /// The factor s of the adapter's product.
    public var scaling: Double { rsLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank) }

    /// Target names as users write them: q, k, v, o, gate, up, down, the PEFT module names for Llama
    /// (q_proj, ..., down_proj), or "all-linear".
    public static func targets(_ names: [String], config: ModelConfig) throws -> [LinearSlot] {
        var out: [LinearSlot] = []
        for n in names {
            if n == "all-linear" { out += LinearSlot.allCases.filter { $0.shape(config) != nil }; continue }
            let short = n.hasSuffix("_proj") ? String(n.dropLast(5)) : n
            guard let s = LinearSlot(rawValue: short), s.shape(config) != nil else {
                let known = LinearSlot.allCases.filter { $0.shape(config) != nil }.map(\.rawValue)
                throw ModelError(file: "LoRA targets", "unknown target module '\(n)' for \(config.architecture.rawValue) "
                                 + "(expected some of: \(known.joined(separator: ", ")), or all-linear)")
            }
            if !out.contains(s) { out.append(s) }
        }
        guard !out.isEmpty else { throw ModelError(file: "LoRA targets", "no target modules given") }
        return out
    }
}

/// The adapters of one model: every target slot of every block, A and B in one buffer (the trainable parameters).
public final class LoRA: @unchecked Sendable {   // params is written only by the optimiser, from one thread at a time
    public let config: LoRAConfig
    public let modelConfig: ModelConfig
    /// "blk.{l}.{slot}.lora_A" [r, in] and "blk.{l}.{slot}.lora_B" [out, r].
    public let params: Parameters

    public init(modelConfig: ModelConfig, config: LoRAConfig, seed: UInt64) {
        self.config = config; self.modelConfig = modelConfig
        var specs: [(String, [Int])] = []
        for l in 0..<modelConfig.nLayers {
            for s in config.targets {
                let (i, o) = s.shape(modelConfig)!
                specs += [("blk.\(l).\(s.rawValue).lora_A", [config.rank, i]), ("blk.\(l).\(s.rawValue).lora_B", [o, config.rank])]
            }
        }
        params = Parameters(specs)
        var rng = SeededRNG(seed: seed)
        for r in params.refs where r.name.hasSuffix("lora_A") {
            let bound = 1 / Double(r.shape[1]).squareRoot(), p = params.ptr(r)
            for j in 0..<r.count { p[j] = Float((rng.uniform() * 2 - 1) * bound) }
        }
    }

    func a(_ l: Int, _ s: LinearSlot) -> UnsafeMutablePointer<Float>? { params.optionalPtr("blk.\(l).\(s.rawValue).lora_A") }
    func b(_ l: Int, _ s: LinearSlot) -> UnsafeMutablePointer<Float>? { params.optionalPtr("blk.\(l).\(s.rawValue).lora_B") }

    /// W += s · B A for every adapter: the model then computes what model + adapters computed.
    public func merge(into model: TransformerModel) {
        let r = config.rank, scale = Float(config.scaling)
        for l in 0..<modelConfig.nLayers {
            for s in config.targets {
                let (inp, out) = s.shape(modelConfig)!
                let w = model.params.ptr("blk.\(l).\(s.rawValue).weight")
                // W[out, in] += scale · B[out, r] · A[r, in]
                BLAS.sgemm(m: out, n: inp, k: r, alpha: scale, a: b(l, s)!, lda: r, b: a(l, s)!, ldb: inp, beta: 1, c: w, ldc: inp)
            }
        }
    }
}

// All trainable parameters in one contiguous Float32 buffer with named, shaped views (llm.c layout).
import Tensor

/// A named slice of the parameter buffer.
public struct ParamRef: Sendable, Equatable {
    public let name: String
    public let offset: Int
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// Unchecked: `storage` is written only by the loaders, before the `TransformerModel` that shares it is built;
/// from then on every path only reads it. The layout (`refs`, `index`) is immutable.
public final class Parameters: @unchecked Sendable {
    public let storage: FloatBuffer
    public let refs: [ParamRef]             // in layout order
    private let index: [String: Int]

    /// Lays out `specs` back to back; every view starts on a 16-float boundary.
    public init(_ specs: [(String, [Int])]) {
        var refs: [ParamRef] = []
        var off = 0
        for (name, shape) in specs {
            refs.append(ParamRef(name: name, offset: off, shape: shape))
            off += (shape.reduce(1, *) + 15) & ~15
        }
        storage = FloatBuffer(count: off)
        self.refs = refs
        var idx: [String: Int] = [:]
        for (i, r) in refs.enumerated() { precondition(idx[r.name] == nil, "duplicate parameter \(r.name)"); idx[r.name] = i }
        index = idx
    }

    public var count: Int { refs.reduce(0) { $0 + $1.count } }
    public func ref(_ name: String) -> ParamRef? { index[name].map { refs[$0] } }
    public func ptr(_ r: ParamRef) -> UnsafeMutablePointer<Float> { storage.ptr + r.offset }
    public func ptr(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let r = ref(name) else { preconditionFailure("no parameter \(name)") }
        return ptr(r)
    }
    public func optionalPtr(_ name: String) -> UnsafeMutablePointer<Float>? { ref(name).map { ptr($0) } }
    public func values(_ name: String) -> [Float] {
        let r = ref(name)!; return Array(UnsafeBufferPointer(start: ptr(r), count: r.count))
    }
}

/// Pointers to one block's parameters, resolved once (nil where the architecture has no such tensor).
struct BlockParams {
    let norm1W: UnsafeMutablePointer<Float>, norm1B: UnsafeMutablePointer<Float>?
    let qW: UnsafeMutablePointer<Float>, qB: UnsafeMutablePointer<Float>?
    let kW: UnsafeMutablePointer<Float>, kB: UnsafeMutablePointer<Float>?
    let vW: UnsafeMutablePointer<Float>, vB: UnsafeMutablePointer<Float>?
    let oW: UnsafeMutablePointer<Float>, oB: UnsafeMutablePointer<Float>?
    let norm2W: UnsafeMutablePointer<Float>, norm2B: UnsafeMutablePointer<Float>?
    let gateW: UnsafeMutablePointer<Float>?
    let upW: UnsafeMutablePointer<Float>, upB: UnsafeMutablePointer<Float>?
    let downW: UnsafeMutablePointer<Float>, downB: UnsafeMutablePointer<Float>?

    init(_ p: Parameters, layer l: Int) {
        func r(_ s: String) -> UnsafeMutablePointer<Float> { p.ptr("blk.\(l).\(s)") }
        func o(_ s: String) -> UnsafeMutablePointer<Float>? { p.optionalPtr("blk.\(l).\(s)") }
        norm1W = r("norm1.weight"); norm1B = o("norm1.bias")
        qW = r("q.weight"); qB = o("q.bias"); kW = r("k.weight"); kB = o("k.bias"); vW = r("v.weight"); vB = o("v.bias")
        oW = r("o.weight"); oB = o("o.bias")
        norm2W = r("norm2.weight"); norm2B = o("norm2.bias")
        gateW = o("gate.weight"); upW = r("up.weight"); upB = o("up.bias"); downW = r("down.weight"); downB = o("down.bias")
    }
}

extension ModelConfig {
    /// The canonical parameter layout every architecture loads into. Linear weights are [out, in].
    func parameterSpecs() -> [(String, [Int])] {
        let C = dModel, F = ffnDim
        var s: [(String, [Int])] = [("embed.weight", [vocabSize, C])]
        if rotaryDims == 0 { s.append(("pos.weight", [maxPositions, C])) }
        let layerNorm = norm == .layer
        for l in 0..<nLayers {
            let b = "blk.\(l)."
            s.append((b + "norm1.weight", [C])); if layerNorm { s.append((b + "norm1.bias", [C])) }
            s.append((b + "q.weight", [qDim, C])); if attentionBias { s.append((b + "q.bias", [qDim])) }
            s.append((b + "k.weight", [kvDim, C])); if attentionBias { s.append((b + "k.bias", [kvDim])) }
            s.append((b + "v.weight", [kvDim, C])); if attentionBias { s.append((b + "v.bias", [kvDim])) }
            s.append((b + "o.weight", [C, qDim])); if outputBias { s.append((b + "o.bias", [C])) }
            s.append((b + "norm2.weight", [C])); if layerNorm { s.append((b + "norm2.bias", [C])) }
            if mlp == .swiglu { s.append((b + "gate.weight", [F, C])) }
            s.append((b + "up.weight", [F, C])); if mlpBias { s.append((b + "up.bias", [F])) }
            s.append((b + "down.weight", [C, F])); if mlpBias { s.append((b + "down.bias", [C])) }
        }
        s.append(("final_norm.weight", [C])); if layerNorm { s.append(("final_norm.bias", [C])) }
        if !tiedEmbeddings { s.append(("head.weight", [vocabSize, C])) }
        return s
    }
}

// Moves checkpoint tensors into the parameter buffer, checking that each is used exactly once with its shape.
import Checkpoint

/// Hands out a store's tensors by name; remembers which were taken so that leftovers can be reported.
final class TensorLoader {
    let store: TensorStore
    let file: String
    private(set) var used: Set<String> = []

    init(_ store: TensorStore, file: String) { self.store = store; self.file = file }

    func has(_ name: String) -> Bool { store.entry(name) != nil }

    /// The tensor as Float32, row-major, after checking its shape.
    func take(_ name: String, _ shape: [Int]) throws -> [Float] {
        guard let e = store.entry(name) else { throw ModelError(file: file, "missing tensor '\(name)' (expected shape \(shape))") }
        guard !used.contains(name) else { throw ModelError(file: file, "tensor '\(name)' used twice") }
        guard e.shape == shape else {
            throw ModelError(file: file, "tensor '\(name)' has shape \(e.shape), expected \(shape)")
        }
        used.insert(name)
        return try store.floats(name)
    }

    /// Copies a tensor into a parameter, optionally transposing a [rows, cols] matrix (GPT-2 Conv1D is [in, out]).
    func load(_ name: String, into p: Parameters, _ param: String, transpose: Bool = false) throws {
        guard let r = p.ref(param) else { preconditionFailure("no parameter \(param)") }
        let shape = transpose ? [r.shape[1], r.shape[0]] : r.shape
        let v = try take(name, shape)
        copy(v, into: p.ptr(r), transposeRows: transpose ? shape[0] : nil, cols: transpose ? shape[1] : 0)
    }

    func copy(_ v: [Float], into dst: UnsafeMutablePointer<Float>, transposeRows rows: Int? = nil, cols: Int = 0) {
        v.withUnsafeBufferPointer { src in
            if let rows {  // src [rows, cols] -> dst [cols, rows]
                for i in 0..<rows { for j in 0..<cols { dst[j * rows + i] = src[i * cols + j] } }
            } else {
                dst.update(from: src.baseAddress!, count: v.count)
            }
        }
    }

    /// Fails when the file holds tensors the architecture did not use (apart from known non-parameter buffers).
    func finish(ignoring ignorable: (String) -> Bool) throws {
        let left = store.tensorNames.filter { !used.contains($0) && !ignorable($0) }
        if !left.isEmpty {
            let shown = left.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
            throw ModelError(file: file, "\(left.count) tensor(s) not used by the model: \(shown)\(left.count > 5 ? ", ..." : "")")
        }
    }
}

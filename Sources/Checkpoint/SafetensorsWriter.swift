// safetensors writer (huggingface/safetensors README "Format"): F32/F16 files written atomically, and whole checkpoints
// sharded as transformers does (model-0000k-of-0000n.safetensors + model.safetensors.index.json) above a size limit.
import Foundation

#if _endian(big)
#error("SafetensorsWriter writes host-order floats; safetensors is little-endian")
#endif

/// Header: sorted-key JSON padded with spaces to a multiple of 8; data in the order given.
public enum SafetensorsWriter {
    /// Called after each tensor with the tensors and the data bytes written so far.
    public typealias Progress = (_ tensorsDone: Int, _ bytesDone: Int) -> Void

    /// F32 tensors already in memory; see the other `write`.
    public static func write(_ tensors: [(name: String, shape: [Int], data: [Float])], metadata: [String: String], to path: String) throws {
        try write(tensors.map { t in WritableTensor(name: t.name, shape: t.shape) { t.data } }, metadata: metadata, to: path)
    }

    /// Writes one file (types F32 or F16) to a temporary file in the same folder, then renames it over `path`.
    public static func write(_ tensors: [WritableTensor], metadata: [String: String], to path: String,
                             progress: Progress? = nil) throws {
        var done = 0, bytes = 0
        try write(tensors, metadata: metadata, to: path) { n in done += 1; bytes += n; progress?(done, bytes) }
    }

    private static func write(_ tensors: [WritableTensor], metadata: [String: String], to path: String,
                              wrote: (Int) -> Void) throws {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: path, message) }
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            guard t.name != "__metadata__", header[t.name] == nil else { throw fail("duplicate or reserved tensor name '\(t.name)'") }
            guard t.type == .f32 || t.type == .f16 else { throw fail("tensor '\(t.name)': safetensors output holds F32 or F16, not \(t.type.rawValue)") }
            guard t.shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(t.name)' has shape \(t.shape)") }
            header[t.name] = ["dtype": t.type.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.byteCount]] as [String: Any]
            offset += t.byteCount
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))

        let file = try AtomicFile(path)
        var length = UInt64(json.count).littleEndian
        try withUnsafeBytes(of: &length) { try file.write($0) }
        try json.withUnsafeBytes { try file.write($0) }
        for t in tensors {
            let values = try t.values()
            guard values.count == t.elementCount else { throw fail("tensor '\(t.name)' has shape \(t.shape) but \(values.count) values") }
            if t.type == .f32 {
                try values.withUnsafeBytes { try file.write($0) }  // host order is little-endian (see the #error above)
            } else {
                try file.write(values.withUnsafeBufferPointer { Quantize.encode($0, as: t.type) })
            }
            wrote(t.byteCount)
        }
        try file.commit()
    }

    public static let indexName = "model.safetensors.index.json"

    /// Writes the tensors into the existing `folder` as transformers' `save_pretrained` lays them out:
    /// `model.safetensors` when the data fits in `shardBytes`, else shards `model-0000k-of-0000n.safetensors`
    /// (tensors in order, a new shard whenever the next tensor would push the current one past `shardBytes`; a
    /// larger tensor gets a shard of its own) plus `model.safetensors.index.json`. Returns the file names written.
    @discardableResult
    public static func writeCheckpoint(_ tensors: [WritableTensor], metadata: [String: String], into folder: String,
                                       shardBytes: Int, progress: Progress? = nil) throws -> [String] {
        precondition(shardBytes > 0, "shardBytes must be positive")
        var shards: [[WritableTensor]] = [], current: [WritableTensor] = [], currentBytes = 0
        for t in tensors {
            if !current.isEmpty && currentBytes + t.byteCount > shardBytes {
                shards.append(current); current = []; currentBytes = 0
            }
            current.append(t); currentBytes += t.byteCount
        }
        if !current.isEmpty || shards.isEmpty { shards.append(current) }

        var done = 0, bytes = 0
        func wrote(_ n: Int) { done += 1; bytes += n; progress?(done, bytes) }
        if shards.count == 1 {
            try write(shards[0], metadata: metadata, to: folder + "/model.safetensors", wrote: wrote)
            return ["model.safetensors"]
        }
        var names: [String] = [], weightMap: [String: String] = [:]
        for (k, shard) in shards.enumerated() {
            let name = String(format: "model-%05d-of-%05d.safetensors", k + 1, shards.count)
            try write(shard, metadata: metadata, to: folder + "/" + name, wrote: wrote)
            for t in shard { weightMap[t.name] = name }
            names.append(name)
        }
        let index: [String: Any] = [
            "metadata": ["total_size": tensors.reduce(0) { $0 + $1.byteCount },
                         "total_parameters": tensors.reduce(0) { $0 + $1.elementCount }],
            "weight_map": weightMap,
        ]
        let file = try AtomicFile(folder + "/" + indexName)
        try file.write([UInt8](try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])))
        try file.write([0x0A])
        try file.commit()
        return names + [indexName]
    }
}

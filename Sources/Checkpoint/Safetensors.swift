// safetensors reader for one file or a sharded directory (huggingface/safetensors README "Format"; transformers' index.json).
import Foundation

/// One .safetensors file: u64 header length N, N bytes of JSON, then the data buffer the header describes.
/// Immutable after init; Sendable checked by the compiler.
public final class SafetensorsFile: TensorStore, Sendable {
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]
    /// Sorted by data offset, which is the order of the data in the file.
    public let tensorNames: [String]
    private let entries: [String: TensorEntry]
    private let map: MappedFile

    public var files: [String] { [path] }

    public init(path: String) throws {
        self.path = path
        let map = try MappedFile(path: path)
        self.map = map
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: path, message) }

        var r = ByteReader(map.bytes, file: path)
        let n = try r.u64("the 8-byte header length")
        guard n <= UInt64(Self.maxHeaderBytes) else {
            throw fail("header length \(n) exceeds the \(Self.maxHeaderBytes)-byte limit; not a safetensors file?")
        }
        guard n <= UInt64(r.remaining) else {
            throw fail("truncated: header length \(n) runs past the end of the file (header needs bytes 8..\(8 + n) but the file has \(map.count) bytes)")
        }
        let headerEnd = 8 + Int(n)
        let header = Data(UnsafeRawBufferPointer(rebasing: map.bytes[8..<headerEnd]))
        guard String(data: header, encoding: .utf8) != nil else { throw fail("header is not valid UTF-8") }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw fail("header is not valid JSON (\(error.localizedDescription))")
        }
        guard let object = json as? [String: Any] else { throw fail("header is not a JSON object") }

        var metadata: [String: String] = [:]
        if let m = object["__metadata__"] {
            guard let m = m as? [String: Any] else { throw fail("__metadata__ is not an object") }
            for (k, v) in m {
                guard let s = v as? String else { throw fail("__metadata__ value for '\(k)' is not a string") }
                metadata[k] = s
            }
        }
        self.metadata = metadata

        // Parse every entry, then check the ranges cover the buffer exactly.
        let bufferSize = map.count - headerEnd
        var ranges: [(name: String, begin: Int, end: Int)] = []
        var entries: [String: TensorEntry] = [:]
        for (name, value) in object where name != "__metadata__" {
            guard let info = value as? [String: Any] else { throw fail("tensor '\(name)': entry is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw fail("tensor '\(name)': missing dtype") }
            guard let dtype = DType(safetensors: dtypeName) else {
                throw fail("tensor '\(name)' has unknown or unsupported dtype '\(dtypeName)'")
            }
            guard let rawShape = info["shape"] as? [Any] else { throw fail("tensor '\(name)': missing shape") }
            let shape = rawShape.compactMap(nonNegativeInt)
            guard shape.count == rawShape.count else { throw fail("tensor '\(name)': shape \(rawShape) is not a list of non-negative integers") }
            guard let rawOffsets = info["data_offsets"] as? [Any], rawOffsets.count == 2,
                  let begin = nonNegativeInt(rawOffsets[0]), let end = nonNegativeInt(rawOffsets[1]), begin <= end
            else { throw fail("tensor '\(name)': data_offsets must be [begin, end] with 0 <= begin <= end") }
            guard end <= bufferSize else {
                throw fail("truncated: tensor '\(name)' data_offsets [\(begin), \(end)] run past the end of the \(bufferSize)-byte data buffer "
                           + "(needs bytes \(headerEnd + begin)..\(headerEnd + end) but the file has \(map.count) bytes)")
            }
            let elements = try GGUFFile.elementCount(shape, name: name, file: path)
            let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.blockBytes)
            guard !overflow, expected == end - begin else {
                throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] span \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(elements) x \(dtype.blockBytes) bytes")
            }
            ranges.append((name, begin, end))
            entries[name] = TensorEntry(name: name, shape: shape, dtype: dtype, offset: headerEnd + begin, byteCount: end - begin, file: path)
        }
        ranges.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0, previous = ""
        for t in ranges {
            guard t.begin >= covered else {
                throw fail("tensors '\(previous)' and '\(t.name)' overlap (data_offsets \(t.begin) < \(covered))")
            }
            guard t.begin == covered else {
                throw fail("bytes \(covered)..\(t.begin) of the data buffer belong to no tensor (a hole before '\(t.name)')")
            }
            covered = t.end
            previous = t.name
        }
        guard covered == bufferSize else {
            throw fail("bytes \(covered)..\(bufferSize) of the data buffer belong to no tensor (a hole at the end)")
        }
        self.entries = entries
        tensorNames = ranges.map(\.name)
    }

    public func entry(_ name: String) -> TensorEntry? { entries[name] }

    public func floats(_ name: String) throws -> [Float] {
        guard let e = entries[name] else { throw unknownTensor(name, in: path) }
        return try convertToFloats(e, in: map)
    }
}

/// A Hugging Face checkpoint: a directory with model.safetensors, or model.safetensors.index.json plus shards;
/// or a single .safetensors file. Immutable after init; Sendable checked by the compiler.
public final class SafetensorsCheckpoint: TensorStore, Sendable {
    public static let indexName = "model.safetensors.index.json"
    public static let singleName = "model.safetensors"

    public let directory: String
    /// The index (when sharded), then the shards sorted by file name.
    public let files: [String]
    public let tensorNames: [String]
    private let owner: [String: SafetensorsFile]

    /// `path` is a directory (model.safetensors, or model.safetensors.index.json + shards) or a single .safetensors file.
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(file: path, "no such file or directory")
        }
        guard isDirectory.boolValue else {
            let file = try SafetensorsFile(path: path)
            directory = (path as NSString).deletingLastPathComponent
            files = [path]
            tensorNames = file.tensorNames
            owner = Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, file) })
            return
        }
        directory = path
        let index = (path as NSString).appendingPathComponent(Self.indexName)
        guard FileManager.default.fileExists(atPath: index) else {
            let single = (path as NSString).appendingPathComponent(Self.singleName)
            guard FileManager.default.fileExists(atPath: single) else {
                throw CheckpointError(file: path, "found neither \(Self.singleName) nor \(Self.indexName) in this directory")
            }
            let file = try SafetensorsFile(path: single)
            files = [single]
            tensorNames = file.tensorNames
            owner = Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, file) })
            return
        }

        // Sharded: read the weight map, open each shard once, check the map against the shards.
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: index, message) }
        let weightMap: [String: String]
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: index))
            let json = try JSONSerialization.jsonObject(with: data)
            guard let map = (json as? [String: Any])?["weight_map"] as? [String: Any] else {
                throw fail("no \"weight_map\" object")
            }
            weightMap = try map.mapValues { v in
                guard let s = v as? String else { throw fail("weight_map value \(v) is not a file name") }
                return s
            }
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw fail("cannot read the index as JSON (\(error.localizedDescription))")
        }

        var shardOrder: [String] = []
        for shard in Set(weightMap.values).sorted() {
            guard !shard.contains("/"), shard != "..", shard != "." else {
                throw fail("weight_map names '\(shard)', which is not a file in this directory")
            }
            let shardPath = (path as NSString).appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardPath) else {
                throw fail("weight_map names shard '\(shard)', which does not exist in \(path)")
            }
            shardOrder.append(shard)
        }
        var shards: [String: SafetensorsFile] = [:]
        var owner: [String: SafetensorsFile] = [:]
        var names: [String] = []
        for shard in shardOrder {
            let file = try SafetensorsFile(path: (path as NSString).appendingPathComponent(shard))
            shards[shard] = file
            for name in file.tensorNames {
                if let other = owner[name] {
                    throw fail("tensor '\(name)' appears in both \((other.path as NSString).lastPathComponent) and \(shard)")
                }
                owner[name] = file
                names.append(name)
            }
        }
        for (name, shard) in weightMap.sorted(by: { $0.key < $1.key }) where shards[shard]?.entry(name) == nil {
            throw fail("weight_map puts tensor '\(name)' in \(shard), but that shard does not contain it")
        }
        files = [index] + shardOrder.map { (path as NSString).appendingPathComponent($0) }
        tensorNames = names
        self.owner = owner
    }

    public func entry(_ name: String) -> TensorEntry? { owner[name]?.entry(name) }

    public func floats(_ name: String) throws -> [Float] {
        guard let file = owner[name] else { throw unknownTensor(name, in: directory) }
        return try file.floats(name)
    }
}

/// A JSON number that is a non-negative integer (JSONSerialization hands back NSNumber).
func nonNegativeInt(_ v: Any) -> Int? {
    guard let n = v as? NSNumber else { return nil }
    let d = n.doubleValue
    guard d >= 0, d == d.rounded(), d < 9.0e15 else { return nil }
    return n.intValue
}
